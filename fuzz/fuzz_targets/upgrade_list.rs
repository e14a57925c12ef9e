//! Post-quantum upgrade lists from untrusted bytes (a host's store),
//! verified against a post-quantum vault: an accepted list keeps the
//! limits the writer keeps (sorted, one envelope a snapshot, bounded).
#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seif::descriptor::{Custodian, Descriptor, KeyWrapping, Protection, SetStatus, ShareSet};
use seif::snapshot::upgrade_list::{ENVELOPES_MAX, UpgradeList};

fn vault() -> &'static Descriptor {
    static VAULT: OnceLock<Descriptor> = OnceLock::new();
    VAULT.get_or_init(|| {
        let set = ShareSet {
            id: "07".repeat(16),
            generation: 1,
            status: SetStatus::Active,
            threshold: 2,
            custodians: (1..=3u8)
                .map(|i| Custodian {
                    index: i,
                    label: format!("c{i}"),
                    protection: Protection::Passphrase,
                    key: None,
                    commitment: format!("{i:02x}").repeat(32),
                    ack_check: format!("{i:02x}").repeat(32),
                })
                .collect(),
        };
        let keys = common::vault_keys();
        Descriptor::genesis_with("fuzz", &keys, set, vec![], None, KeyWrapping::PostQuantum)
            .expect("a valid descriptor")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(list) = UpgradeList::verify(data, vault()) else { return };
    let e = &list.body.envelopes;
    assert!(e.len() <= ENVELOPES_MAX);
    assert!(e.windows(2).all(|w| w[0].snapshot_id < w[1].snapshot_id));
});

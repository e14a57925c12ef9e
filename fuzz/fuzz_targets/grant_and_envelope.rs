//! Grants and snapshot key envelopes from untrusted bytes, unwrapped with a
//! fixed identity.
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;
use seif::ceremony::grant::{Grant, Target};
use seif::snapshot::key_envelope::KeyEnvelope;

fuzz_target!(|data: &[u8]| {
    let keys = common::vault_keys();
    if let Ok(g) = Grant::from_json(data) {
        let t = g.body.target.clone();
        let _ = g.unwrap_for(&t, &[0; 32], &[0; 32], &[keys.age_identity()]);
        let _ = Target::Snapshot { snapshot_id: String::new() };
    }
    if let Ok(e) = KeyEnvelope::parse(data) {
        let _ = e.unwrap(&[keys.age_identity()], &seif::ids::Commitment([0; 32]));
        let again = KeyEnvelope::parse(&e.to_bytes()).expect("re-reads");
        assert_eq!(again, e);
    }
});

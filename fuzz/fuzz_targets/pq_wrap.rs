//! The post-quantum layer from untrusted bytes: a wrapped key (an age
//! header with `mlkem768x25519` stanzas, as a store or a sealed file holds
//! it) unwrapped with the vault's hybrid and classic identities, the
//! keyless PQ-only check that `seif verify` runs on it, and the `age1pq1…`
//! recipient and `AGE-SECRET-KEY-PQ-1…` identity parsers (vault.json, a
//! grant's `--to`, an identity file).
#![no_main]
mod common;

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use seif::pq::{HybridIdentity, HybridRecipient};

fuzz_target!(|data: &[u8]| {
    let keys = common::vault_keys();
    // Whatever the header says, the check and the unwrap must agree with
    // each other's reading of it and never panic.
    let pq_only = seif::wrap::is_pq_only(data);
    let opened = seif::wrap::unwrap(data, &keys.identities(), &[0; 32]);
    if opened.is_ok() {
        // A key that opened was wrapped to one of our identities, so its
        // header was an age header.
        assert!(pq_only.is_some());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = HybridRecipient::from_str(text) {
            // What parses prints back to something that parses to the same key.
            let again = HybridRecipient::from_str(&r.to_string()).expect("re-parses");
            assert_eq!(again.as_bytes(), r.as_bytes());
            let _ = seif::wrap::parse_recipient(text);
        }
        if let Ok(id) = HybridIdentity::from_str(text) {
            let again = HybridIdentity::from_str(id.to_bech32().as_str()).expect("re-parses");
            assert_eq!(again.to_public().as_bytes(), id.to_public().as_bytes());
        }
    }
});

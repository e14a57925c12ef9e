//! Manifest parts from untrusted plaintext; entries round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seif::snapshot::manifest::{Entry, Reader};

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new("00112233445566778899aabbccddeeff");
    if let Ok(entries) = r.part(data) {
        for e in entries {
            let json = serde_json::to_vec(&e).expect("serializes");
            let back: Entry = serde_json::from_slice(&json).expect("re-reads");
            assert_eq!(back, e);
            back.validate().expect("still valid");
        }
        let _ = r.finish();
    }
});

//! Snapshot records from untrusted bytes, and chain analysis over them.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use seif::snapshot::record::{Record, ancestry, chain};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Record::parse(data, None) else { return };
    let mut m = BTreeMap::new();
    m.insert(r.hash, r.clone());
    let c = chain(&m);
    let _ = ancestry(&m, &r.hash);
    assert_eq!(c.heads.len(), 1);
    assert_eq!(c.broken.len(), r.body.previous.len());
});

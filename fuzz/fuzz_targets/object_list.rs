//! Object lists from untrusted bytes: parsed, put together, and cut into
//! lists again with the same tables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seif::ids::BlobId;
use seif::snapshot::list::{ObjectList, Tables};

fuzz_target!(|data: &[u8]| {
    let Ok(l) = ObjectList::parse(data, &BlobId::of(data)) else { return };
    let Ok(t) = Tables::assemble(l.snapshot_id, std::slice::from_ref(&l)) else { return };
    let lists = t.clone().into_lists(l.snapshot_id);
    let back = Tables::assemble(l.snapshot_id, &lists).expect("re-reads");
    assert_eq!(back.packs, t.packs);
    assert_eq!(back.manifest, t.manifest);
});

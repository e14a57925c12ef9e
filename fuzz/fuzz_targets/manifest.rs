//! Manifest parts from untrusted plaintext: whatever the reader accepts,
//! the writer writes back to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seif::ids::SnapshotId;
use seif::snapshot::manifest::{Reader, Writer};

fuzz_target!(|data: &[u8]| {
    let sid = SnapshotId([0x11; 16]);
    let mut r = Reader::new(sid);
    let Ok(entries) = r.part(data) else { return };
    if r.finish().is_err() {
        return;
    }
    let mut w = Writer::new(sid);
    let mut later = Vec::new();
    for e in &entries {
        e.validate().expect("still valid");
        later.extend(w.push(e).expect("the writer takes what the reader took"));
    }
    let (first, last, _) = w.finish().expect("finishes");
    let mut back = Reader::new(sid);
    let mut again = back.part(&first).expect("re-reads");
    for p in later.iter().chain(last.iter()) {
        again.extend(back.part(p).expect("re-reads"));
    }
    back.finish().expect("ends");
    assert_eq!(again, entries);
});

//! Snapshot objects from untrusted bytes: header decode/encode round trip,
//! whole-object opening and ranged chunk opening under a fixed key.
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;
use seif::snapshot::object::{self, Kind, ObjectHeader};

fuzz_target!(|data: &[u8]| {
    let key = common::data_key();
    if let Ok(h) = ObjectHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..object::HEADER_LEN]);
        let _ = object::open(data, h.kind, &h.vault_id, &h.snapshot_id, &key);
        let size = data.len() as u64;
        if let Some(plain) = object::plain_len(size)
            && let Some((span, first)) = object::chunk_span(size, plain / 3..plain / 2)
        {
            let _ = object::open_chunks(&h, &key, size, first, &data[span.start as usize..span.end as usize]);
        }
        let _ = object::check_header(data, Kind::Pack, &h.vault_id, &h.snapshot_id);
    }
});

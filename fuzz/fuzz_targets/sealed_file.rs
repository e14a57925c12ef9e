//! A whole sealed file from untrusted bytes: header, wrapped key, chunks,
//! trailer; and keyless inspection. Headers round-trip.
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;
use seif::sealed::open::{OpenOptions, Opener};

fuzz_target!(|data: &[u8]| {
    let _ = seif::sealed::inspect::inspect(data);
    let Ok(opener) = Opener::new(data) else { return };
    let header = opener.header().clone();
    let encoded = header.encode();
    assert_eq!(&data[..encoded.len()], &encoded[..], "a header re-encodes to its bytes");
    let keys = common::vault_keys();
    if let Ok(key) = opener.unwrap_key(&[keys.age_identity()]) {
        let _ = opener.decrypt_to(&key, &mut std::io::sink(), &OpenOptions { threads: 1 });
    }
});

//! The decrypted framing from untrusted plaintext: the fuzzer's bytes are
//! sealed as a raw STREAM under a known key (valid chunks, arbitrary
//! framing), so the opener's framing parser sees every shape. Also a seal
//! then open round trip of the same bytes as content.
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;
use seif::sealed::format::{Header, encode_trailer};
use seif::sealed::open::{OpenOptions, Opener};
use seif::sealed::seal::{SealOptions, SealTarget, seal};
use seif::stream::PayloadCipher;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let keys = common::vault_keys();
    let key = common::data_key();
    let header = Header {
        chunk_log2: 14,
        vault_id: [1; 32],
        sealer: None,
        nonce_prefix: [2; 19],
        commitment: seif::wrap::key_commitment(&key),
        wrapped_key: seif::wrap::wrap(&key, &[keys.public().age_recipient]).expect("wraps"),
    };
    let cipher = PayloadCipher::new(&seif::keys::hkdf32(key.expose(), seif::sealed::format::LABEL_PAYLOAD), header.nonce_prefix, header.hash());
    let mut file = header.encode();
    let chunks: Vec<&[u8]> = data.chunks(1 << 14).collect();
    for (i, c) in chunks.iter().enumerate() {
        let mut buf = c.to_vec();
        let tag = cipher.seal_chunk(i as u64, i + 1 == chunks.len(), &mut buf).expect("seals");
        file.extend_from_slice(&buf);
        file.extend_from_slice(&tag);
    }
    file.extend_from_slice(&encode_trailer(None));
    let opener = Opener::new(&file[..]).expect("a valid header");
    let mut out = Vec::new();
    let _ = opener.decrypt_to(&key, &mut out, &OpenOptions { threads: 1 });

    // Round trip: any content seals and opens to itself.
    let target = SealTarget { vault_id: [1; 32], require_pq: false, recipients: vec![keys.public().age_recipient], sealers: vec![] };
    let mut sealed = Vec::new();
    let opts = SealOptions { chunk_log2: 14, pad: data[0] & 1 == 1, threads: 1 };
    seal(data, &mut sealed, &target, None, &Default::default(), &opts).expect("seals");
    let opener = Opener::new(&sealed[..]).expect("opens");
    let k = opener.unwrap_key(&[keys.age_identity()]).expect("unwraps");
    let mut back = Vec::new();
    opener.decrypt_to(&k, &mut back, &OpenOptions { threads: 1 }).expect("decrypts");
    assert_eq!(back, data);
});

//! Writes the sealed-file test vectors under `tests/vectors/sealed/`.
//!
//! Run once when the format changes: `cargo run --example make_vectors`.
//! The vectors are committed; the tests and `tests/spec/decrypt.py` read them.
//!
//! Each vector is a text header, a blank line, then the sealed file's bytes.
//! The header states the expected outcome and, for successes, the SHA-256
//! and length of the content.

use std::io::Write;
use std::path::Path;

use seif::keys::VaultKeys;
use seif::sealed::format::TRAILER_LEN;
use seif::sealed::seal::{SealOptions, SealTarget, seal};
use seif::sealed::{Header, Metadata};
use seif::sealer::SealerSecretKey;
use seif::secrets::VaultSecret;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The test vault's secret: bytes 0x00, 0x01, …, 0x1f (FORMAT.md publishes
/// the keys derived from it).
fn test_vault() -> VaultKeys {
    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    VaultKeys::derive(&VaultSecret::from_bytes(Zeroizing::new(s)))
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

struct Writer<'a> {
    dir: &'a Path,
    identity: String,
}

impl Writer<'_> {
    fn write(
        &self,
        name: &str,
        expect: &str,
        comment: &str,
        plain: Option<&[u8]>,
        sealer: Option<&SealerSecretKey>,
        sealed: &[u8],
    ) {
        let mut head = format!("seif test vector\nexpect: {expect}\n");
        if let Some(p) = plain {
            head += &format!(
                "content-length: {}\ncontent-sha256: {}\n",
                p.len(),
                hex::encode(Sha256::digest(p))
            );
        }
        head += &format!(
            "identity: {}\nsealer: {}\ncomment: {comment}\n\n",
            self.identity,
            sealer.map_or("none".into(), |s| s.public().to_string())
        );
        let mut f = std::fs::File::create(self.dir.join(format!("{name}.vector"))).unwrap();
        f.write_all(head.as_bytes()).unwrap();
        f.write_all(sealed).unwrap();
    }
}

fn seal_bytes(
    keys: &VaultKeys,
    data: &[u8],
    sealer: Option<&SealerSecretKey>,
    meta: &Metadata,
    chunk_log2: u8,
    pad: bool,
) -> Vec<u8> {
    let target = SealTarget {
        require_pq: false,
        vault_id: seif::descriptor::vault_id_of(&keys.public().signing_key),
        recipients: vec![keys.public().age_recipient],
        sealers: sealer.map(SealerSecretKey::public).into_iter().collect(),
    };
    let mut out = Vec::new();
    let opts = SealOptions {
        chunk_log2,
        pad,
        threads: 1,
    };
    seal(data, &mut out, &target, sealer, meta, &opts).unwrap();
    out
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sealed");
    std::fs::create_dir_all(&dir).unwrap();
    let keys = test_vault();
    let w = Writer {
        dir: &dir,
        identity: keys.age_identity_text().to_string(),
    };
    let sealer = SealerSecretKey::generate();
    let other_sealer = SealerSecretKey::generate();
    let none = Metadata::default();
    let hello_meta = Metadata {
        name: Some("hello.txt".into()),
        mode: Some(0o644),
        mtime: Some(1_795_779_501),
    };

    let empty = seal_bytes(&keys, b"", Some(&sealer), &none, 16, false);
    w.write(
        "ok-empty",
        "success",
        "empty content from stdin (no metadata)",
        Some(b""),
        Some(&sealer),
        &empty,
    );
    let hello = b"hello, world\n";
    let sealed = seal_bytes(&keys, hello, Some(&sealer), &hello_meta, 16, false);
    w.write(
        "ok-hello",
        "success",
        "a small file with its name, mode and mtime",
        Some(hello),
        Some(&sealer),
        &sealed,
    );
    let three = content(40_000);
    let three_sealed = seal_bytes(&keys, &three, Some(&sealer), &none, 14, false);
    w.write(
        "ok-three-chunks",
        "success",
        "three chunks of 16 KiB",
        Some(&three),
        Some(&sealer),
        &three_sealed,
    );
    let full = content(2 * 16_384 - 14);
    let sealed = seal_bytes(&keys, &full, Some(&sealer), &none, 14, false);
    w.write(
        "ok-full-final-chunk",
        "success",
        "the framing fills exactly two 16 KiB chunks",
        Some(&full),
        Some(&sealer),
        &sealed,
    );
    let padded = content(1000);
    let sealed = seal_bytes(&keys, &padded, Some(&sealer), &none, 16, true);
    w.write(
        "ok-padded",
        "success",
        "Padme padding: 1014 framed bytes padded to 1024",
        Some(&padded),
        Some(&sealer),
        &sealed,
    );
    let zeros = vec![0u8; 3000];
    let sealed = seal_bytes(&keys, &zeros, None, &none, 16, true);
    w.write(
        "ok-unsigned-zeros",
        "success",
        "unsigned; content of zeros followed by zero padding",
        Some(&zeros),
        None,
        &sealed,
    );

    let header_len = Header::read(&mut &three_sealed[..]).unwrap().encoded_len();
    let stride = 16_384 + 16;
    let chunk = |i: usize| {
        &three_sealed[header_len + i * stride
            ..(header_len + (i + 1) * stride).min(three_sealed.len() - TRAILER_LEN)]
    };
    let trailer = &three_sealed[three_sealed.len() - TRAILER_LEN..];
    let assemble = |order: &[usize]| {
        let mut v = three_sealed[..header_len].to_vec();
        for &i in order {
            v.extend_from_slice(chunk(i));
        }
        v.extend_from_slice(trailer);
        v
    };

    let mut flipped = three_sealed.clone();
    flipped[header_len + stride + 100] ^= 0x01;
    w.write(
        "fail-flipped-payload",
        "payload failure",
        "one bit of chunk 1 flipped",
        None,
        Some(&sealer),
        &flipped,
    );
    w.write(
        "fail-truncated-at-boundary",
        "truncated",
        "the final chunk removed, the trailer kept",
        None,
        Some(&sealer),
        &assemble(&[0, 1]),
    );
    w.write(
        "fail-swapped-chunks",
        "payload failure",
        "chunks 0 and 1 swapped",
        None,
        Some(&sealer),
        &assemble(&[1, 0, 2]),
    );
    let mut cut = three_sealed.clone();
    cut.truncate(three_sealed.len() - 1000);
    w.write(
        "fail-truncated-mid-chunk",
        "truncated",
        "the last 1000 bytes cut off",
        None,
        Some(&sealer),
        &cut,
    );
    let mut appended = three_sealed.clone();
    appended.extend_from_slice(b"appended");
    w.write(
        "fail-appended",
        "truncated",
        "bytes appended after the trailer",
        None,
        Some(&sealer),
        &appended,
    );
    let mut removed = three_sealed.clone();
    let n = removed.len();
    removed[n - 64..].fill(0);
    w.write(
        "fail-signature-removed",
        "signature failure",
        "the signature zeroed",
        None,
        Some(&sealer),
        &removed,
    );
    let mut replaced = three_sealed.clone();
    replaced[n - 64..].copy_from_slice(&other_sealer.sign(b"some other message"));
    w.write(
        "fail-signature-replaced",
        "signature failure",
        "the signature replaced by another sealer's",
        None,
        Some(&sealer),
        &replaced,
    );
    let mut commitment = three_sealed.clone();
    commitment[100] ^= 0x01;
    w.write(
        "fail-commitment-changed",
        "unwrap failure",
        "the key commitment changed",
        None,
        Some(&sealer),
        &commitment,
    );
    let other_vault = VaultKeys::derive(&VaultSecret::generate());
    let foreign = seal_bytes(&other_vault, hello, Some(&sealer), &none, 16, false);
    w.write(
        "fail-other-vault",
        "unwrap failure",
        "sealed to another vault",
        None,
        Some(&sealer),
        &foreign,
    );
    let mut header = three_sealed.clone();
    header[9] = 30;
    w.write(
        "fail-bad-chunk-size",
        "header failure",
        "chunk size 2^30 is out of range",
        None,
        Some(&sealer),
        &header,
    );
    let public = keys.public();
    let secret: [u8; 32] = std::array::from_fn(|i| i as u8);
    let kdf = format!(
        "seif key-derivation vector\nvault-secret: {}\nage-identity: {}\nage-recipient: {}\npq-seed: {}\npq-identity: {}\npq-recipient: {}\nsigning-public-key: {}\nvault-id: {}\nmldsa-seed: {}\nmldsa-public-key-sha256: {}\nhybrid-vault-id: {}\n",
        hex::encode(secret),
        keys.age_identity_text().as_str(),
        public.age_recipient,
        hex::encode(*seif::keys::hkdf32(&secret, seif::keys::LABEL_AGE_PQ)),
        keys.pq_identity_text().as_str(),
        public.pq_recipient,
        hex::encode(public.signing_key.as_bytes()),
        hex::encode(seif::descriptor::vault_id_of(&public.signing_key)),
        hex::encode(*seif::keys::hkdf32(&secret, seif::keys::LABEL_MLDSA)),
        hex::encode(public.mldsa_key.fingerprint()),
        hex::encode(seif::descriptor::hybrid_vault_id_of(
            &public.signing_key,
            &public.mldsa_key
        )),
    );
    std::fs::write(dir.parent().unwrap().join("kdf.txt"), kdf).unwrap();
    println!("wrote vectors to {}", dir.display());
}

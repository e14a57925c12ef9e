//! Round trips and tamper tests of the sealed-file format through the
//! library (the CLI tests in `tests/` run the same through the binaries).

use super::format::{CHUNK_LOG2_MIN, Metadata, TRAILER_LEN};
use super::open::{OpenError, OpenOptions, Opener};
use super::seal::{SealOptions, SealTarget, seal};
use crate::keys::VaultKeys;
use crate::sealer::SealerSecretKey;
use crate::secrets::VaultSecret;

struct Vault {
    keys: VaultKeys,
    target: SealTarget,
}

fn vault() -> Vault {
    let keys = VaultKeys::derive(&VaultSecret::generate());
    let target = SealTarget {
        require_pq: false,
        vault_id: [5u8; 32],
        recipients: vec![keys.public().age_recipient],
        sealers: Vec::new(),
    };
    Vault { keys, target }
}

fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 % 251) as u8 ^ (i >> 8) as u8)
        .collect()
}

fn seal_bytes(
    v: &Vault,
    data: &[u8],
    sealer: Option<&SealerSecretKey>,
    opts: &SealOptions,
) -> Vec<u8> {
    // The vault accepts the test's sealer.
    let mut target = v.target.clone();
    target.sealers.extend(sealer.map(SealerSecretKey::public));
    let mut out = Vec::new();
    seal(data, &mut out, &target, sealer, &Metadata::default(), opts).unwrap();
    out
}

fn open_bytes(
    v: &Vault,
    sealed: &[u8],
    threads: usize,
) -> Result<(Vec<u8>, super::open::Opened), OpenError> {
    let opener = Opener::new(sealed)?;
    let key = opener.unwrap_key(&[v.keys.age_identity()])?;
    let mut out = Vec::new();
    let opened = opener.decrypt_to(&key, &mut out, &OpenOptions { threads })?;
    Ok((out, opened))
}

#[test]
fn round_trips_at_chunk_boundaries() {
    let v = vault();
    let sealer = SealerSecretKey::generate();
    let chunk = 1usize << CHUNK_LOG2_MIN;
    // Framing overhead with empty metadata: u32 + "{}" + u64 = 14 bytes.
    let framing = 14;
    let sizes = [
        0,
        1,
        chunk - 1,
        chunk,
        chunk + 1,
        3 * chunk + 7,
        chunk - framing - 1,
        chunk - framing,
        chunk - framing + 1,
        2 * chunk - framing,
        64 * chunk - framing,
        200 * chunk + 3,
    ];
    for threads in [1, 3] {
        for pad in [false, true] {
            for &len in &sizes {
                let data = content(len);
                let opts = SealOptions {
                    chunk_log2: CHUNK_LOG2_MIN,
                    pad,
                    threads,
                };
                let sealed = seal_bytes(&v, &data, Some(&sealer), &opts);
                let (out, opened) = open_bytes(&v, &sealed, threads).unwrap();
                assert_eq!(out, data, "len {len} pad {pad} threads {threads}");
                assert_eq!(opened.content_len, len as u64);
                assert_eq!(opened.signed_by, Some(sealer.public().classic()));
            }
        }
    }
}

#[test]
fn zeros_at_the_end_of_content_survive_padding() {
    let v = vault();
    for len in [1usize, 9, 100_000] {
        let data = vec![0u8; len];
        let opts = SealOptions {
            chunk_log2: CHUNK_LOG2_MIN,
            pad: true,
            threads: 2,
        };
        let sealed = seal_bytes(&v, &data, None, &opts);
        assert_eq!(open_bytes(&v, &sealed, 2).unwrap().0, data);
    }
}

#[test]
fn padding_rounds_stored_size_to_padme() {
    use super::format::{framed_len, sealed_len};
    use crate::padme::padme;
    let v = vault();
    let opts = SealOptions {
        chunk_log2: CHUNK_LOG2_MIN,
        pad: true,
        threads: 1,
    };
    let plain = SealOptions { pad: false, ..opts };
    // The wrapped key's size varies (age adds random "grease" stanzas), so
    // compare what follows the header.
    let payload = |data: &[u8], opts: &SealOptions| {
        let s = seal_bytes(&v, data, None, opts);
        (s.len() - super::Header::read(&mut &s[..]).unwrap().encoded_len()) as u64
    };
    let prefix = Metadata::default().encode_prefix().len();
    let chunk = 1usize << CHUNK_LOG2_MIN;
    for len in [0, 1, 1000, 16_000, 100_000, 100_300, 250_001] {
        let framed = framed_len(prefix, len as u64);
        let data = content(len);
        assert_eq!(
            payload(&data, &opts),
            sealed_len(0, chunk, padme(framed)),
            "{len} bytes: the padded plaintext must be padme({framed}) = {}",
            padme(framed)
        );
        assert_eq!(
            payload(&data, &plain),
            sealed_len(0, chunk, framed),
            "{len} bytes unpadded"
        );
    }
    // Lengths where Padmé rounds at all, so the checks above saw padding.
    assert!(padme(framed_len(prefix, 100_000)) > framed_len(prefix, 100_000));
    assert_eq!(
        payload(&content(100_000), &opts),
        payload(&content(100_300), &opts),
        "nearby sizes share one padded size"
    );
}

#[test]
fn metadata_is_sealed_not_visible() {
    let v = vault();
    let meta = Metadata {
        name: Some("secret-registry-name.csv".into()),
        mode: Some(0o640),
        mtime: Some(1_700_000_000),
    };
    let mut sealed = Vec::new();
    seal(
        &b"x"[..],
        &mut sealed,
        &v.target,
        None,
        &meta,
        &SealOptions::default(),
    )
    .unwrap();
    assert!(!sealed.windows(8).any(|w| w == b"registry"));
    let (_, opened) = open_bytes(&v, &sealed, 1).unwrap();
    assert_eq!(opened.metadata, meta);
}

/// The library, not only the CLI, refuses to sign with a sealer the vault
/// does not list, before it writes a byte.
#[test]
fn sealing_with_a_sealer_the_vault_does_not_accept_writes_nothing() {
    let v = vault();
    let stranger = SealerSecretKey::generate();
    let mut out = Vec::new();
    let e = seal(
        &b"x"[..],
        &mut out,
        &v.target,
        Some(&stranger),
        &Metadata::default(),
        &SealOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, super::seal::SealError::SealerNotAccepted(ref k) if **k == stranger.public()),
        "{e}"
    );
    assert!(out.is_empty());
}

/// Three chunks of 16 KiB; every single-byte change anywhere must fail.
#[test]
fn every_flipped_byte_of_a_three_chunk_file_fails() {
    let v = vault();
    let sealer = SealerSecretKey::generate();
    let opts = SealOptions {
        chunk_log2: CHUNK_LOG2_MIN,
        pad: false,
        threads: 1,
    };
    let data = content(2 * (1 << CHUNK_LOG2_MIN) + 5000);
    let sealed = seal_bytes(&v, &data, Some(&sealer), &opts);
    assert_eq!(super::inspect::inspect(&sealed[..]).unwrap().chunks, 3);
    let mut tampered = sealed.clone();
    for i in 0..sealed.len() {
        tampered[i] ^= 0x01;
        assert!(
            open_bytes(&v, &tampered, 1).is_err(),
            "flipping byte {i} went unnoticed"
        );
        tampered[i] = sealed[i];
    }
}

#[test]
fn truncation_reordering_duplication_and_appending_fail() {
    let v = vault();
    let sealer = SealerSecretKey::generate();
    let chunk = 1usize << CHUNK_LOG2_MIN;
    let stride = chunk + 16;
    let opts = SealOptions {
        chunk_log2: CHUNK_LOG2_MIN,
        pad: false,
        threads: 2,
    };
    let data = content(4 * chunk);
    let sealed = seal_bytes(&v, &data, Some(&sealer), &opts);
    let header_len = super::Header::read(&mut &sealed[..]).unwrap().encoded_len();
    let body = &sealed[header_len..sealed.len() - TRAILER_LEN];
    let trailer = &sealed[sealed.len() - TRAILER_LEN..];
    let chunk_at = |i: usize| &body[i * stride..((i + 1) * stride).min(body.len())];
    let n = body.len().div_ceil(stride);
    assert_eq!(n, 5);
    let assemble = |order: &[usize], with_trailer: bool| {
        let mut f = sealed[..header_len].to_vec();
        for &i in order {
            f.extend_from_slice(chunk_at(i));
        }
        if with_trailer {
            f.extend_from_slice(trailer);
        }
        f
    };
    // Cut at each chunk boundary, keeping the trailer: the new final chunk
    // authenticates only as a middle chunk.
    for k in 1..n {
        let cut = assemble(&(0..k).collect::<Vec<_>>(), true);
        let err = open_bytes(&v, &cut, 2).unwrap_err();
        assert!(
            matches!(err, OpenError::Truncated(_)),
            "cut after {k}: {err}"
        );
    }
    // Plain truncation anywhere.
    for cut in [
        header_len,
        header_len + 1,
        header_len + stride,
        header_len + stride + 9,
        sealed.len() - 1,
        sealed.len() - TRAILER_LEN,
    ] {
        assert!(
            open_bytes(&v, &sealed[..cut], 2).is_err(),
            "truncated at {cut}"
        );
    }
    for order in [
        vec![1, 0, 2, 3, 4],
        vec![0, 1, 1, 2, 3, 4],
        vec![0, 1, 2, 4, 3],
        vec![0, 1, 2, 3, 4, 4],
    ] {
        assert!(
            open_bytes(&v, &assemble(&order, true), 2).is_err(),
            "order {order:?}"
        );
    }
    let mut appended = sealed.clone();
    appended.extend_from_slice(b"extra");
    assert!(open_bytes(&v, &appended, 2).is_err());
}

#[test]
fn signature_removed_or_replaced_fails() {
    let v = vault();
    let sealer = SealerSecretKey::generate();
    let other = SealerSecretKey::generate();
    let opts = SealOptions {
        chunk_log2: CHUNK_LOG2_MIN,
        pad: false,
        threads: 1,
    };
    let data = content(40_000);
    let sealed = seal_bytes(&v, &data, Some(&sealer), &opts);
    let mut removed = sealed.clone();
    let at = removed.len() - 64;
    removed[at..].fill(0);
    assert!(matches!(
        open_bytes(&v, &removed, 1),
        Err(OpenError::SignatureRemoved)
    ));
    // A signature by another sealer over the same message does not verify
    // under the sealer key bound into the header.
    let mut replaced = sealed.clone();
    let inspection = super::inspect::inspect(&sealed[..]).unwrap();
    assert_eq!(
        inspection.signature,
        super::inspect::SignatureStatus::Valid(sealer.public().classic())
    );
    replaced[at..].copy_from_slice(&other.sign(b"anything"));
    assert!(matches!(
        open_bytes(&v, &replaced, 1),
        Err(OpenError::BadSignature)
    ));
}

#[test]
fn wrong_identity_and_swapped_wrapped_key_fail() {
    let v = vault();
    let w = vault();
    let sealed = seal_bytes(&v, b"data", None, &SealOptions::default());
    let opener = Opener::new(&sealed[..]).unwrap();
    assert!(opener.unwrap_key(&[w.keys.age_identity()]).is_err());
    // Swap in the wrapped key of another file of the same vault: the
    // commitment catches it.
    let other = seal_bytes(&v, b"other", None, &SealOptions::default());
    let h = super::Header::read(&mut &sealed[..]).unwrap();
    let o = super::Header::read(&mut &other[..]).unwrap();
    let mut swapped = super::Header {
        wrapped_key: o.wrapped_key,
        ..h.clone()
    }
    .encode();
    swapped.extend_from_slice(&sealed[h.encoded_len()..]);
    let err = open_bytes(&v, &swapped, 1).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::Unwrap(crate::wrap::WrapError::CommitmentMismatch)
        ),
        "{err}"
    );
}

#[test]
fn a_chunk_after_a_full_final_chunk_is_named() {
    let v = vault();
    let chunk = 1usize << CHUNK_LOG2_MIN;
    let opts = SealOptions {
        chunk_log2: CHUNK_LOG2_MIN,
        pad: false,
        threads: 1,
    };
    // 14 bytes of framing with empty metadata: two full chunks exactly.
    let sealed = seal_bytes(&v, &content(2 * chunk - 14), None, &opts);
    let header_len = super::Header::read(&mut &sealed[..]).unwrap().encoded_len();
    let stride = chunk + 16;
    assert_eq!(sealed.len(), header_len + 2 * stride + TRAILER_LEN);
    let mut extended = sealed[..header_len + 2 * stride].to_vec();
    extended.extend_from_slice(&sealed[header_len..header_len + stride]);
    extended.extend_from_slice(&sealed[sealed.len() - TRAILER_LEN..]);
    let err = open_bytes(&v, &extended, 1).unwrap_err();
    assert!(matches!(err, OpenError::AfterLast { index: 1 }), "{err}");
}

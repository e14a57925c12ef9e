//! Property tests (proptest): round trips for arbitrary sizes and chunk
//! sizes, the threshold property of the shares, and decode(encode(x)) = x
//! for every format.

use proptest::prelude::*;
use seif::keys::VaultKeys;
use seif::sealed::format::{Header, Metadata};
use seif::sealed::open::{OpenOptions, Opener};
use seif::sealed::seal::{SealOptions, SealTarget, seal};
use seif::secrets::VaultSecret;
use seif::shares::{Share, SplitParams, split};

fn vault() -> (VaultKeys, SealTarget) {
    let keys = VaultKeys::derive(&VaultSecret::generate());
    let target = SealTarget {
        require_pq: false,
        vault_id: [9; 32],
        recipients: vec![keys.public().age_recipient],
        sealers: Vec::new(),
    };
    (keys, target)
}

proptest! {
    // Failures are saved beside this file and replayed first on every run.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"))), ..ProptestConfig::default() })]

    #[test]
    fn seal_open_round_trips(data in proptest::collection::vec(any::<u8>(), 0..200_000), log2 in 14u8..=17, pad: bool, threads in 1usize..4) {
        let (keys, target) = vault();
        let mut sealed = Vec::new();
        seal(&data[..], &mut sealed, &target, None, &Metadata::default(), &SealOptions { chunk_log2: log2, pad, threads }).unwrap();
        let opener = Opener::new(&sealed[..]).unwrap();
        let key = opener.unwrap_key(&[keys.age_identity()]).unwrap();
        let mut out = Vec::new();
        opener.decrypt_to(&key, &mut out, &OpenOptions { threads }).unwrap();
        prop_assert_eq!(out, data);
    }

    #[test]
    fn sealed_headers_and_metadata_round_trip(name in "[a-zA-Z0-9._-]{1,40}", mode in 0u32..=0o7777, mtime: i64, log2 in 14u8..=22, wrapped in proptest::collection::vec(any::<u8>(), 1..2000), signed: bool) {
        let meta = Metadata { name: Some(name.clone()), mode: Some(mode), mtime: Some(mtime) };
        let prefix = meta.encode_prefix();
        if name == "." || name == ".." {
            // Not a file name: refused when read, and so when sealed.
            prop_assert!(Metadata::decode(&prefix[4..]).is_err());
            let (_, target) = vault();
            prop_assert!(seal(&b""[..], &mut Vec::new(), &target, None, &meta, &SealOptions::default()).is_err());
        } else {
            prop_assert_eq!(Metadata::decode(&prefix[4..]).unwrap(), meta);
        }
        let h = Header {
            chunk_log2: log2,
            vault_id: [1; 32],
            sealer: signed.then(|| seif::sealer::SealerSecretKey::generate().public().classic()),
            nonce_prefix: [2; 19],
            commitment: [3; 32],
            wrapped_key: wrapped,
        };
        prop_assert_eq!(Header::read(&mut &h.encode()[..]).unwrap(), h);
    }
}

/// Lagrange interpolation at 0 over GF(2^8) (AES polynomial), written here
/// independently of the library, over the values in the shares' text.
fn interpolate(shares: &[&Share]) -> Vec<u8> {
    fn mul(mut a: u8, mut b: u8) -> u8 {
        let mut r = 0u8;
        while b != 0 {
            if b & 1 != 0 {
                r ^= a;
            }
            let hi = a & 0x80;
            a <<= 1;
            if hi != 0 {
                a ^= 0x1b;
            }
            b >>= 1;
        }
        r
    }
    fn inv(a: u8) -> u8 {
        (0..254).fold(1u8, |acc, _| mul(acc, a))
    }
    let values: Vec<(u8, Vec<u8>)> = shares
        .iter()
        .map(|s| {
            let text = s.to_text();
            let hex = text
                .lines()
                .find_map(|l| l.strip_prefix("value: "))
                .unwrap()
                .to_owned();
            (s.index, hex::decode(hex).unwrap())
        })
        .collect();
    (0..32)
        .map(|j| {
            values.iter().fold(0u8, |acc, (xi, yi)| {
                let (num, den) = values
                    .iter()
                    .filter(|(xm, _)| xm != xi)
                    .fold((1u8, 1u8), |(n, d), (xm, _)| (mul(n, *xm), mul(d, xm ^ xi)));
                acc ^ mul(yi[j], mul(num, inv(den)))
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any t shares give the secret (the library, and an independent
    /// interpolation agree); t-1 shares interpolate to something else.
    #[test]
    fn any_t_shares_reconstruct_and_t_minus_one_do_not(n in 2usize..=12, t_off in 0usize..12, pick in any::<u64>()) {
        let t = 2 + t_off % (n - 1);
        let secret = VaultSecret::generate();
        let params = SplitParams { vault_id: [1; 32], set_id: [2; 16], generation: 1, threshold: t, custodians: (0..n).map(|i| format!("c{i}")).collect() };
        let shares = split(&secret, &params).unwrap();
        // A pseudo-random subset of t shares.
        let mut order: Vec<usize> = (0..n).collect();
        let mut x = pick | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let chosen: Vec<&Share> = order[..t].iter().map(|&i| &shares[i]).collect();
        let got = seif::shares::combine(&chosen).unwrap();
        prop_assert!(got.ct_eq(&secret));
        prop_assert_eq!(interpolate(&chosen), secret.expose().to_vec());
        let fewer = &chosen[..t - 1];
        prop_assert!(seif::shares::combine(fewer).is_err());
        if !fewer.is_empty() {
            prop_assert_ne!(interpolate(fewer), secret.expose().to_vec());
        }
    }

    #[test]
    fn share_text_round_trips(n in 2usize..=20, t_off in 0usize..20) {
        let t = 2 + t_off % (n - 1);
        let params = SplitParams { vault_id: [5; 32], set_id: [6; 16], generation: 3, threshold: t, custodians: (0..n).map(|i| format!("custodian-{i}")).collect() };
        for s in split(&VaultSecret::generate(), &params).unwrap() {
            let back = Share::from_text(&s.to_text()).unwrap();
            let (a, b) = (back.to_text(), s.to_text());
            prop_assert_eq!(a.as_str(), b.as_str());
            prop_assert_eq!(back.commitment(), s.commitment());
        }
    }

    /// The generator gives paths the format refuses too ("a/.", "a/..",
    /// ".."): the writer must refuse exactly what the reader refuses, and
    /// round-trip the rest.
    #[test]
    fn manifest_entries_and_objects_round_trip(path in "[a-z]{1,8}(/[a-z0-9._-]{1,12}){0,4}", size in 0u64..1_000_000, mode in 0u32..=0o7777, plain in proptest::collection::vec(any::<u8>(), 0..300_000)) {
        use seif::ids::SnapshotId;
        use seif::snapshot::manifest::{ChunkRef, Entry, EntryKind, Reader, Writer, check_path};
        let mut chunks = Vec::new();
        let mut left = size;
        while left > 0 {
            let n = left.min(300_000);
            chunks.push(ChunkRef { pack: 0, offset: 0, len: n as u32, sha256: [0xab; 32] });
            left -= n;
        }
        let e = Entry { path: path.clone(), kind: EntryKind::File, mode, mtime: 7, size: Some(size), chunks: Some(chunks), target: None };
        let sid = SnapshotId([0x11; 16]);
        let mut w = Writer::new(sid);
        match check_path(&path) {
            Err(_) => {
                prop_assert!(w.push(&e).is_err(), "the writer stored a path its reader refuses: {path:?}");
            }
            Ok(()) => {
                // The directories above it come first, as in a tree.
                let comps: Vec<&str> = path.split('/').collect();
                let mut want = Vec::new();
                for i in 1..comps.len() {
                    want.push(Entry { path: comps[..i].join("/"), kind: EntryKind::Dir, mode: 0o755, mtime: 7, size: None, chunks: None, target: None });
                }
                want.push(e);
                for x in &want {
                    prop_assert!(w.push(x).unwrap().is_empty());
                }
                let (first, last, totals) = w.finish().unwrap();
                prop_assert!(last.is_none());
                let mut r = Reader::new(sid);
                prop_assert_eq!(r.part(&first).unwrap(), want);
                prop_assert_eq!(r.finish().unwrap(), totals);
            }
        }

        use seif::snapshot::object::{self, Kind, ObjectHeader};
        let key = seif::secrets::DataKey::generate();
        let h = ObjectHeader::new(Kind::Pack, [1; 32], [2; 16]);
        let mut obj = Vec::new();
        object::seal(&h, &key, &plain, &mut obj).unwrap();
        prop_assert_eq!(ObjectHeader::decode(&obj).unwrap(), h);
        prop_assert_eq!(object::plain_len(obj.len() as u64), Some(plain.len() as u64));
        prop_assert_eq!(object::open(&obj, Kind::Pack, &[1; 32], &[2; 16], &key).unwrap(), plain);
    }

    #[test]
    fn padme_is_monotonic_bounded_and_idempotent(len in 0u64..(1u64 << 50)) {
        let p = seif::padme::padme(len);
        prop_assert!(p >= len);
        prop_assert!(len < 2 || p - len <= len / 8 + 1);
        prop_assert_eq!(seif::padme::padme(p), p);
        prop_assert!(seif::padme::padme(len + 1) >= p);
    }
}

#[test]
fn records_descriptors_envelopes_and_grants_round_trip() {
    use seif::ceremony::grant::{Grant, Target};
    use seif::descriptor::Descriptor;
    use seif::snapshot::key_envelope::KeyEnvelope;
    let keys = VaultKeys::derive(&VaultSecret::generate());
    let vault_id = seif::descriptor::vault_id_of(&keys.public().signing_key);
    let shares = split(
        &VaultSecret::generate(),
        &SplitParams {
            vault_id,
            set_id: [4; 16],
            generation: 1,
            threshold: 2,
            custodians: vec!["a".into(), "b".into()],
        },
    )
    .unwrap();
    let set = seif::descriptor::ShareSet {
        id: hex::encode([4u8; 16]),
        generation: 1,
        status: seif::descriptor::SetStatus::Active,
        threshold: 2,
        custodians: shares
            .iter()
            .map(|s| seif::descriptor::Custodian {
                index: s.index,
                label: s.custodian.clone(),
                protection: seif::descriptor::Protection::Passphrase,
                key: None,
                commitment: hex::encode(s.commitment()),
                ack_check: hex::encode(seif::shares::ack_check(&s.ack_token())),
            })
            .collect(),
    };
    let d = Descriptor::genesis("round trip", &keys, set, vec![]).unwrap();
    let d2 = Descriptor::from_json(d.to_json_pretty().as_bytes()).unwrap();
    assert_eq!(d2.body(), d.body());
    let key = seif::secrets::DataKey::generate();
    let sid: seif::ids::SnapshotId = "00112233445566778899aabbccddeeff".parse().unwrap();
    let env = KeyEnvelope::wrap(
        &key,
        seif::ids::VaultId(d.vault_id()),
        sid,
        1,
        &d.body().recipients,
    )
    .unwrap();
    assert_eq!(KeyEnvelope::parse(&env.to_bytes()).unwrap(), env);
    let g = Grant::issue(
        &d,
        &keys,
        Target::Snapshot {
            snapshot_id: "00112233445566778899aabbccddeeff".into(),
        },
        &key,
        &keys.public().age_recipient,
    )
    .unwrap();
    let g2 = Grant::from_json(g.to_json_pretty().as_bytes()).unwrap();
    assert_eq!(g2.body, g.body);
    g2.verify(&d).unwrap();
    let sealer = seif::sealer::SealerSecretKey::generate();
    let body = seif::snapshot::record::RecordBody {
        commitment: seif::ids::Commitment(seif::wrap::key_commitment(&key)),
        format: seif::snapshot::record::FORMAT.into(),
        lists: vec![seif::snapshot::record::ListRef {
            id: seif::ids::BlobId([0xcd; 32]),
            size: 400,
        }],
        previous: vec![seif::ids::BlobId([1; 32]), seif::ids::BlobId([2; 32])],
        sealer: sealer.public().to_string(),
        snapshot_id: sid,
        summary: Default::default(),
        time: "2026-11-27T00:00:00Z".into(),
        vault_id: seif::ids::VaultId(d.vault_id()),
    };
    let (r, bytes) = seif::snapshot::record::Record::sign(body, &sealer);
    let back = seif::snapshot::record::Record::parse(&bytes, Some(&r.hash)).unwrap();
    assert_eq!(back.body, r.body);
}

//! Writes the fuzz targets' seed corpus under `fuzz/seeds/<target>/`, from
//! the test vectors and freshly made, valid examples of every format.
//!
//! `cargo run --example fuzz_seeds` (scripts/fuzz runs it when seeds are
//! missing).

use std::path::Path;

use seif::ceremony::grant::{Grant, Target};
use seif::ceremony::log::{CeremonyLog, Draft};
use seif::descriptor::{Custodian, Descriptor, Protection, SealerEntry, SetStatus, ShareSet};
use seif::ids::{BlobId, Commitment, SnapshotId, VaultId};
use seif::keys::VaultKeys;
use seif::sealer::SealerSecretKey;
use seif::secrets::{DataKey, VaultSecret};
use seif::shares::{SplitParams, split};
use seif::snapshot::key_envelope::KeyEnvelope;
use seif::snapshot::list::{Base, ObjectList};
use seif::snapshot::manifest::{ChunkRef, Entry, EntryKind, Writer};
use seif::snapshot::object::{self, Kind, ObjectHeader};
use seif::snapshot::record::{ListRef, Record, RecordBody};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Sealed files: the committed vectors, without their text headers.
    for e in std::fs::read_dir(root.join("tests/vectors/sealed")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let at = bytes.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        put("sealed_file", &name, &bytes[at..]);
    }
    put(
        "sealed_stream",
        "framing",
        b"\x00\x00\x00\x02{}hello\x00\x00\x00\x00\x00\x00\x00\x05",
    );

    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    let secret = VaultSecret::from_bytes(Zeroizing::new(s));
    let keys = VaultKeys::derive(&secret);
    let vault_id = seif::descriptor::vault_id_of(&keys.public().signing_key);
    let shares = split(
        &secret,
        &SplitParams {
            vault_id,
            set_id: [3; 16],
            generation: 1,
            threshold: 2,
            custodians: vec!["alice".into(), "bob".into(), "carol".into()],
        },
    )
    .unwrap();
    for sh in &shares {
        put("share_text", &sh.custodian, sh.to_text().as_bytes());
        put(
            "share_file",
            &format!("plain-{}", sh.custodian),
            sh.to_text().as_bytes(),
        );
    }
    let pass = seif::custody::passphrase::protect(
        shares[0].to_text().as_bytes(),
        "alice",
        &secrecy::SecretString::from("correct horse battery staple".to_owned()),
    )
    .unwrap();
    put("share_file", "passphrase", &pass);
    let age_share = seif::wrap::wrap(&DataKey::generate(), &[keys.public().age_recipient]).unwrap();
    put("share_file", "age-binary", &age_share);
    // A card share to the key the fuzz target's stand-in card holds.
    let card_key = seif::custody::card::CardKey::from_secret_scalar(
        seif::custody::card::Curve::P384,
        &[7; 48],
    )
    .unwrap();
    put(
        "share_file",
        "card",
        &seif::custody::card::protect(shares[0].to_text().as_bytes(), "alice", &card_key),
    );

    let sealer = SealerSecretKey::generate();
    put(
        "sealer_key",
        "key",
        sealer.to_file_text("2026-11-27T00:00:00Z").as_bytes(),
    );
    put(
        "sealer_key",
        "public",
        sealer.public().classic().to_string().as_bytes(),
    );
    put(
        "sealer_key",
        "public-hybrid",
        sealer.public().to_string().as_bytes(),
    );
    let set = ShareSet {
        id: seif::encoding::to_hex(&[3; 16]),
        generation: 1,
        status: SetStatus::Active,
        threshold: 2,
        custodians: shares
            .iter()
            .map(|sh| Custodian {
                index: sh.index,
                label: sh.custodian.clone(),
                protection: Protection::Passphrase,
                key: None,
                commitment: seif::encoding::to_hex(&sh.commitment()),
                ack_check: seif::encoding::to_hex(&seif::shares::ack_check(&sh.ack_token())),
            })
            .collect(),
    };
    let d = Descriptor::genesis(
        "fuzz seed vault",
        &keys,
        set.clone(),
        vec![SealerEntry {
            key: sealer.public().classic().to_string(),
            label: "pipeline".into(),
        }],
    )
    .unwrap();
    put("descriptor", "vault.json", d.to_json_pretty().as_bytes());
    // A post-quantum vault: hybrid signatures (signature_mldsa65), a
    // hybrid vault id, the sealer listed seifsealerpq1….
    let pq = Descriptor::genesis_with(
        "fuzz seed vault",
        &keys,
        set,
        vec![SealerEntry {
            key: sealer.public().to_string(),
            label: "pipeline".into(),
        }],
        None,
        seif::descriptor::KeyWrapping::PostQuantum,
    )
    .unwrap();
    put(
        "descriptor",
        "vault-pq.json",
        pq.to_json_pretty().as_bytes(),
    );

    let tmp = tempfile::tempdir().unwrap();
    let log_path = tmp.path().join("ceremony.log");
    let mut log = CeremonyLog::new(&log_path);
    log.append(
        &d,
        Draft {
            event: "init".into(),
            participants: vec![],
            details: serde_json::json!({"seed": true}),
            files: vec![],
        },
        Some(&keys),
    )
    .unwrap();
    log.append(&d, Draft { event: "verify-share".into(), participants: vec![], details: serde_json::json!({"share_set": seif::encoding::to_hex(&[3; 16]), "index": 1, "ack_token": seif::encoding::to_hex(&shares[0].ack_token())}), files: vec![]  }, None).unwrap();
    put("ceremony_log", "log", &std::fs::read(&log_path).unwrap());

    let key = DataKey::from_bytes(Zeroizing::new([7u8; 32]));
    let grant = Grant::issue(
        &d,
        &keys,
        Target::Snapshot {
            snapshot_id: "00112233445566778899aabbccddeeff".into(),
        },
        &key,
        &keys.public().age_recipient,
    )
    .unwrap();
    put(
        "grant_and_envelope",
        "grant",
        grant.to_json_pretty().as_bytes(),
    );
    let sid = SnapshotId([0x11; 16]);
    let env = KeyEnvelope::wrap(&key, VaultId(d.vault_id()), sid, 1, &d.body().recipients).unwrap();
    put("grant_and_envelope", "envelope", &env.to_bytes());

    // The post-quantum layer: a key wrapped to the fuzz targets' vault's
    // hybrid recipient (common.rs's secret 00..1f), the recipient, and an
    // identity.
    let fuzz_keys = VaultKeys::derive(&VaultSecret::from_bytes(Zeroizing::new(
        std::array::from_fn(|i| i as u8),
    )));
    let pq_recipient = fuzz_keys.public().pq_recipient.clone();
    put(
        "pq_wrap",
        "wrapped",
        &seif::wrap::wrap(&key, std::slice::from_ref(&pq_recipient)).unwrap(),
    );
    put("pq_wrap", "recipient", pq_recipient.as_bytes());
    // A post-quantum upgrade list signed by the same vault's generation 1,
    // which is what the upgrade_list target verifies against.
    put(
        "upgrade_list",
        "list",
        &seif::snapshot::upgrade_list::UpgradeList::sign(
            &fuzz_keys,
            VaultId(seif::descriptor::vault_id_of(
                &fuzz_keys.public().signing_key,
            )),
            1,
            vec![seif::snapshot::upgrade_list::ListedEnvelope {
                envelope: BlobId::of(b"an envelope"),
                snapshot_id: SnapshotId([0x22; 16]),
            }],
        )
        .unwrap(),
    );
    put(
        "pq_wrap",
        "identity",
        seif::pq::HybridIdentity::generate().to_bech32().as_bytes(),
    );

    let mut w = Writer::new(sid);
    let dir = Entry {
        path: "a".into(),
        kind: EntryKind::Dir,
        mode: 0o755,
        mtime: 1,
        size: None,
        chunks: None,
        target: None,
    };
    w.push(&dir).unwrap();
    w.push(&Entry {
        path: "a/f".into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime: 1,
        size: Some(3),
        chunks: Some(vec![ChunkRef {
            pack: 0,
            offset: 0,
            len: 3,
            sha256: Sha256::digest(b"abc").into(),
        }]),
        target: None,
    })
    .unwrap();
    // A file of 600 chunks: its chunks continue on `more` lines.
    w.push(&Entry {
        path: "a/g".into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime: 1,
        size: Some(600),
        chunks: Some(
            (0..600)
                .map(|i| ChunkRef {
                    pack: i % 3,
                    offset: i,
                    len: 1,
                    sha256: [i as u8; 32],
                })
                .collect(),
        ),
        target: None,
    })
    .unwrap();
    w.push(&Entry {
        path: "a/l".into(),
        kind: EntryKind::Symlink,
        mode: 0o777,
        mtime: 1,
        size: None,
        chunks: None,
        target: Some("f".into()),
    })
    .unwrap();
    let (part, _, _) = w.finish().unwrap();
    put("manifest", "part", &part);

    let header = ObjectHeader::new(Kind::Manifest, vault_id, sid.0);
    let mut obj = Vec::new();
    object::seal(&header, &key, &part, &mut obj).unwrap();
    put("snapshot_object", "manifest-object", &obj);
    let mut big = Vec::new();
    object::seal(
        &ObjectHeader::new(Kind::Pack, vault_id, sid.0),
        &key,
        &vec![9u8; 200_000],
        &mut big,
    )
    .unwrap();
    put("snapshot_object", "pack-object", &big);

    let list = ObjectList {
        bases: vec![Base {
            commitment: Commitment([5; 32]),
            snapshot_id: SnapshotId([0x22; 16]),
        }],
        format: seif::snapshot::list::FORMAT.into(),
        index: 0,
        manifest: vec![(BlobId::of(&obj), obj.len() as u64)],
        packs: vec![
            (BlobId::of(&big), big.len() as u64, 0),
            (BlobId([0x33; 32]), object::sealed_len(1000), 1),
        ],
        snapshot_id: sid,
    };
    let (list_bytes, list_id) = list.encode();
    put("object_list", "list", &list_bytes);
    let body = RecordBody {
        commitment: Commitment(seif::wrap::key_commitment(&key)),
        format: seif::snapshot::record::FORMAT.into(),
        lists: vec![ListRef {
            id: list_id,
            size: list_bytes.len() as u64,
        }],
        previous: vec![BlobId([0x44; 32])],
        sealer: sealer.public().classic().to_string(),
        snapshot_id: sid,
        summary: Default::default(),
        time: "2026-11-27T00:00:00Z".into(),
        vault_id: VaultId(d.vault_id()),
    };
    let (_, bytes) = Record::sign(body.clone(), &sealer);
    put("snapshot_record", "record", &bytes);
    // A hybrid sealer's record: both signatures.
    let hybrid = RecordBody {
        sealer: sealer.public().to_string(),
        ..body
    };
    let (_, bytes) = Record::sign(hybrid, &sealer);
    put("snapshot_record", "record-hybrid", &bytes);
    println!("wrote seeds to fuzz/seeds/");
}

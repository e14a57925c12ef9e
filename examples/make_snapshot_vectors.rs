//! Writes the snapshot test vectors under `tests/vectors/snapshots/`: a
//! store holding two snapshots of the test vault (FORMAT.md §1.1), the
//! second incremental (it reuses the first's packs), with the vault.json
//! that accepts their sealer and an `expected` listing of each snapshot's
//! tree. `tests/spec/restore.py` (written from FORMAT.md §8 alone) and
//! `seif restore` must both reproduce the listing.
//!
//! Run once when the format changes: `cargo run --example make_snapshot_vectors`.

use std::path::Path;

use seif::descriptor::{Descriptor, SealerEntry};
use seif::keys::VaultKeys;
use seif::sealer::SealerSecretKey;
use seif::secrets::VaultSecret;
use seif::snapshot::Counters;
use seif::snapshot::push::{PushOptions, push};
use seif::store::Store;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

fn test_vault() -> VaultKeys {
    VaultKeys::derive(&VaultSecret::from_bytes(Zeroizing::new(
        core::array::from_fn(|i| i as u8),
    )))
}

fn pseudo(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `type path mode sha256|target`, one line per entry, in path order.
fn listing(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p
                .strip_prefix(root.parent().unwrap())
                .unwrap()
                .display()
                .to_string();
            let mode = m.mode() & 0o777;
            if m.file_type().is_symlink() {
                out.push(format!(
                    "symlink {rel} {mode:o} {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if m.is_dir() {
                stack.push(p.clone());
                out.push(format!("dir {rel} {mode:o} -"));
            } else {
                out.push(format!(
                    "file {rel} {mode:o} {}",
                    hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
                ));
            }
        }
    }
    out.sort();
    out
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/snapshots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keys = test_vault();
    let sealer = SealerSecretKey::generate();
    let set = seif::descriptor::ShareSet {
        id: "00112233445566778899aabbccddeeff".into(),
        generation: 1,
        status: seif::descriptor::SetStatus::Active,
        threshold: 2,
        custodians: (1..=2u8)
            .map(|i| seif::descriptor::Custodian {
                index: i,
                label: format!("custodian-{i}"),
                protection: seif::descriptor::Protection::Passphrase,
                key: None,
                commitment: hex::encode([i; 32]),
                ack_check: hex::encode([i; 32]),
            })
            .collect(),
    };
    let vault = Descriptor::genesis(
        "Snapshot test vectors",
        &keys,
        set,
        vec![SealerEntry {
            key: sealer.public().to_string(),
            label: "vector pipeline".into(),
        }],
    )
    .unwrap();
    std::fs::write(dir.join("vault.json"), vault.to_json_pretty()).unwrap();
    std::fs::write(
        dir.join("identity.txt"),
        format!("{}\n", keys.age_identity_text().as_str()),
    )
    .unwrap();

    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("register");
    std::fs::create_dir_all(tree.join("county/empty-dir")).unwrap();
    std::fs::write(tree.join("notes.txt"), b"the first snapshot\n").unwrap();
    std::fs::write(tree.join("county/people.csv"), pseudo(1_300_000, 1)).unwrap();
    std::fs::write(tree.join("county/same.bin"), pseudo(3000, 2)).unwrap();
    std::fs::write(tree.join("county/gone.txt"), b"deleted before the second").unwrap();
    std::fs::write(tree.join("empty"), b"").unwrap();
    std::os::unix::fs::symlink("county/people.csv", tree.join("latest")).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for f in [
        "notes.txt",
        "county/people.csv",
        "county/same.bin",
        "county/gone.txt",
        "empty",
    ] {
        std::fs::File::options()
            .write(true)
            .open(tree.join(f))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let store_dir = dir.join("store");
    let store: Box<dyn Store> =
        seif::store::open(store_dir.to_str().unwrap(), &Default::default()).unwrap();
    let stores = [store];
    let options = PushOptions::new(work.path().join("state"));
    let mut expected = String::new();
    let first = push(
        &vault,
        &sealer,
        &stores,
        std::slice::from_ref(&tree),
        &options,
        &Counters::default(),
    )
    .unwrap();
    expected += &format!("snapshot {}\n", first.snapshot_id.unwrap());
    for l in listing(&tree) {
        expected += &format!("{l}\n");
    }
    // The second: one file changed, one appended to, one added, one gone.
    std::fs::write(tree.join("notes.txt"), b"the second snapshot\n").unwrap();
    let mut people = std::fs::read(tree.join("county/people.csv")).unwrap();
    people.extend_from_slice(&pseudo(5000, 3));
    std::fs::write(tree.join("county/people.csv"), people).unwrap();
    std::fs::write(tree.join("county/new.txt"), b"added in the second").unwrap();
    std::fs::remove_file(tree.join("county/gone.txt")).unwrap();
    let second = push(
        &vault,
        &sealer,
        &stores,
        std::slice::from_ref(&tree),
        &options,
        &Counters::default(),
    )
    .unwrap();
    let r = &second.records[0].1;
    assert!(
        r.body.summary.bases == 1,
        "the second snapshot reuses the first's packs: {:?}",
        r.body.summary
    );
    expected += &format!("snapshot {}\n", second.snapshot_id.unwrap());
    for l in listing(&tree) {
        expected += &format!("{l}\n");
    }
    std::fs::write(dir.join("expected"), expected).unwrap();
    println!("wrote {}", dir.display());
}

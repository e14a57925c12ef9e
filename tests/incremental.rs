//! Incremental snapshots: what a push stores the second time, what it
//! trusts of its own index (nothing it did not check), and that every
//! other command follows a snapshot's references to earlier ones.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use proptest::prelude::*;
use seif::snapshot::Counters;
use sha2::{Digest, Sha256};

fn push(v: &TestVault, store: &Path, tree: &Path, extra: &[&str]) -> serde_json::Value {
    v.push_ok(&[store], &[tree], extra).0
}

fn push_stderr(
    v: &TestVault,
    store: &Path,
    tree: &Path,
    extra: &[&str],
) -> (serde_json::Value, String) {
    v.push_ok(&[store], &[tree], extra)
}

fn restore_ok(v: &TestVault, store: &Path, snapshot: &str, out: &Path) {
    ok(&run(v.restore_cmd(store, out).arg(snapshot)));
}

/// Path → content hash (or "dir"/link target).
fn tree_of(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if m.is_dir() {
                stack.push(p.clone());
                out.insert(rel, "dir".into());
            } else if m.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else {
                out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

fn sample_tree(root: &Path) -> PathBuf {
    let t = root.join("registry");
    std::fs::create_dir_all(t.join("records")).unwrap();
    for i in 0..200 {
        std::fs::write(
            t.join(format!("records/r{i:03}.json")),
            content(500 + i * 37, i as u64),
        )
        .unwrap();
    }
    std::fs::write(t.join("dump.sql"), content(24 << 20, 99)).unwrap();
    t
}

#[test]
fn an_unchanged_tree_is_not_read_and_uploads_no_data() {
    let v = test_vault("unchanged");
    let tree = sample_tree(v.dir.path());
    // A file changed within the last clock ticks before a push may change
    // again within the same tick unseen: the file list does not vouch for
    // it. Files written more than two seconds before the push are vouched.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let store = v.dir.path().join("store");
    let first = push(&v, &store, &tree, &[]);
    assert_eq!(first["unchanged_files"], 0);
    let second = push(&v, &store, &tree, &[]);
    assert_eq!(second["new_packs"], 0, "{second}");
    assert_eq!(
        second["unchanged_files"], 201,
        "every file recognised by its metadata: {second}"
    );
    assert_eq!(second["reused_bytes"], second["bytes"]);
    // What it stored: the manifest and the list, nothing of the data.
    assert!(
        second["uploaded_bytes"].as_u64().unwrap() < 200_000,
        "{second}"
    );
    assert_eq!(second["bases"], 1);
    let out = v.dir.path().join("out");
    restore_ok(&v, &store, second["snapshot_id"].as_str().unwrap(), &out);
    assert_eq!(tree_of(&out.join("registry")), tree_of(&tree));
    // --full stores everything afresh.
    let full = push(&v, &store, &tree, &["--full"]);
    assert_eq!(full["bases"], 0);
    assert!(full["uploaded_bytes"].as_u64().unwrap() > 24 << 20);
}

/// A database dump changed in scattered places, with bytes inserted and
/// deleted (shifting everything after them): the second push stores
/// little more than the chunks around the changes.
#[test]
fn a_changed_dump_uploads_little_more_than_its_changes() {
    let v = test_vault("changed dump");
    let dir = v.dir.path().join("db");
    std::fs::create_dir(&dir).unwrap();
    let mut dump = content(64 << 20, 7);
    std::fs::write(dir.join("dump.sql"), &dump).unwrap();
    let store = v.dir.path().join("store");
    push(&v, &store, &dir, &[]);
    // Four edits: a 4 KiB run changed, bytes inserted, bytes deleted,
    // another run changed.
    for b in &mut dump[5 << 20..(5 << 20) + 4096] {
        *b ^= 0x55;
    }
    dump.splice(
        20 << 20..20 << 20,
        b"INSERT INTO people VALUES (1)".iter().copied(),
    );
    dump.drain(40 << 20..(40 << 20) + 77);
    for b in &mut dump[60 << 20..(60 << 20) + 4096] {
        *b ^= 0x55;
    }
    std::fs::write(dir.join("dump.sql"), &dump).unwrap();
    let second = push(&v, &store, &dir, &[]);
    let uploaded = second["uploaded_bytes"].as_u64().unwrap();
    assert!(
        uploaded < 64 << 20 >> 2,
        "{uploaded} bytes stored for four small edits of a 64 MiB dump: {second}"
    );
    let out = v.dir.path().join("out");
    restore_ok(&v, &store, "latest", &out);
    assert_eq!(std::fs::read(out.join("db/dump.sql")).unwrap(), dump);
}

/// The index, lost, damaged, another pipeline's or planted by another user:
/// never trusted. A lost or damaged one costs a fresh copy; a planted one
/// is refused.
#[test]
fn the_index_lost_damaged_foreign_or_planted_is_never_trusted() {
    let v = test_vault("index");
    let tree = sample_tree(v.dir.path());
    let store = v.dir.path().join("store");
    push(&v, &store, &tree, &[]);
    let state = v.dir.path().join("state");
    let index = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("index-")
        })
        .unwrap();
    let files = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("files-") && !n.ends_with(".new")
        })
        .unwrap();
    let (good_index, good_files) = (
        std::fs::read(&index).unwrap(),
        std::fs::read(&files).unwrap(),
    );
    // Damaged: one byte flipped in each. Set aside, said so, stored afresh.
    let mut bad = good_index.clone();
    bad[100] ^= 1;
    std::fs::write(&index, &bad).unwrap();
    let mut badf = good_files.clone();
    badf[60] ^= 1;
    std::fs::write(&files, &badf).unwrap();
    let (j, err) = push_stderr(&v, &store, &tree, &[]);
    assert!(err.contains("set aside, this push stores afresh"), "{err}");
    assert!(err.contains("every file is read"), "{err}");
    assert_eq!(j["unchanged_files"], 0);
    assert!(j["new_packs"].as_u64().unwrap() >= 3, "{j}");
    // Another pipeline's index under this one's name: its MAC does not
    // verify under this sealer's key.
    let other = test_vault("index-other");
    let other_tree = sample_tree(other.dir.path());
    push(&other, &v.dir.path().join("other-store"), &other_tree, &[]);
    let foreign = std::fs::read_dir(other.dir.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("index-")
        })
        .unwrap();
    std::fs::copy(&foreign, &index).unwrap();
    let (_, err) = push_stderr(&v, &store, &tree, &[]);
    assert!(
        err.contains("another vault or sealer") || err.contains("does not verify"),
        "{err}"
    );
    // Lost: deleted. A fresh copy.
    std::fs::remove_file(&index).unwrap();
    let j = push(&v, &store, &tree, &["--full"]);
    assert_eq!(j["bases"], 0);
    // Planted by another user: refused outright.
    if rustix::process::geteuid().is_root() {
        rustix::fs::chown(&index, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
        let o = run(seif()
            .args(["push", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&v.sealer_key)
            .arg("--state-dir")
            .arg(&state)
            .arg("--store")
            .arg(&store)
            .arg(&tree));
        fails_with(&o, 4, "owned by user 65534");
        rustix::fs::chown(&index, Some(rustix::fs::Uid::from_raw(0)), None).unwrap();
    } else {
        assert!(
            std::env::var_os("SEIF_CI").is_none(),
            "CI runs as root, to plant a file of another user"
        );
    }
    let out = v.dir.path().join("out");
    restore_ok(&v, &store, "latest", &out);
    assert_eq!(tree_of(&out.join("registry")), tree_of(&tree));
}

/// A host deletes one pack an earlier snapshot stored and damages another:
/// the next push stores their chunks afresh (it checks every object it
/// reuses exists with its size, and reads back those it has not checked
/// lately, or all with --recheck-all), and the new snapshot restores;
/// verify and check name the damage in the old one.
#[test]
fn a_host_that_deletes_or_damages_a_reused_object_gets_it_stored_afresh() {
    let v = test_vault("host damage");
    let tree = sample_tree(v.dir.path());
    let store = v.dir.path().join("store");
    let first = push(&v, &store, &tree, &[]);
    let mut objects: Vec<PathBuf> = Vec::new();
    for d in std::fs::read_dir(store.join("objects")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            objects.push(f.unwrap().path());
        }
    }
    objects.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    // The two largest objects are data packs.
    std::fs::remove_file(&objects[0]).unwrap();
    let mut bytes = std::fs::read(&objects[1]).unwrap();
    bytes[4000] ^= 1;
    std::fs::write(&objects[1], &bytes).unwrap();
    let (second, err) = push_stderr(&v, &store, &tree, &["--recheck-all"]);
    assert!(
        err.contains("does not hash to its name; its chunks were stored afresh"),
        "{err}"
    );
    assert!(second["new_packs"].as_u64().unwrap() >= 2, "{second}");
    let out = v.dir.path().join("out");
    restore_ok(&v, &store, second["snapshot_id"].as_str().unwrap(), &out);
    assert_eq!(tree_of(&out.join("registry")), tree_of(&tree));
    ok(&run(seif()
        .args(["check", "--read-data", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store)
        .arg(second["snapshot_id"].as_str().unwrap())));
    let o = run(seif()
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store));
    assert_eq!(o.status.code(), Some(3));
    let sid = first["snapshot_id"].as_str().unwrap();
    assert!(
        stderr(&o).contains("is missing") && stderr(&o).contains(sid),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("its bytes do not match its name"),
        "{}",
        stderr(&o)
    );
    let o = run(seif()
        .args(["check", "--all", "--read-data", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store));
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains(&format!("snapshot {sid}")),
        "{}",
        stderr(&o)
    );
}

/// An incremental push killed after its first pack, with the tree edited
/// before it runs again: the resumed snapshot is the tree as it is.
#[test]
fn a_killed_incremental_push_resumes_to_the_tree_as_it_is() {
    let v = test_vault("killed incremental");
    let tree = sample_tree(v.dir.path());
    let store = v.dir.path().join("store");
    push(&v, &store, &tree, &[]);
    std::fs::write(tree.join("dump.sql"), content(24 << 20, 100)).unwrap();
    let o = run(seif()
        .args(["push", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(&store)
        .arg(&tree)
        .env("SEIF_KILL_AT", "push-pack-journaled#1"));
    assert!(
        stderr(&o).contains("killed at push-pack-journaled"),
        "{}",
        stderr(&o)
    );
    std::fs::write(tree.join("dump.sql"), content(24 << 20, 101)).unwrap();
    std::fs::remove_file(tree.join("records/r007.json")).unwrap();
    std::fs::write(tree.join("records/r999.json"), b"new").unwrap();
    let j = push(&v, &store, &tree, &[]);
    let out = v.dir.path().join("out");
    restore_ok(&v, &store, j["snapshot_id"].as_str().unwrap(), &out);
    assert_eq!(tree_of(&out.join("registry")), tree_of(&tree));
}

/// A ceremony grants, opens and rotates a snapshot whose data lies mostly
/// in an earlier one: the grant carries a key for each, the open restores
/// it whole, the rotation adds a key for each.
#[test]
fn grants_opens_and_rotations_follow_a_snapshot_to_its_bases() {
    let v = age_vault(3, 2);
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("big"), content(6 << 20, 1)).unwrap();
    std::fs::write(tree.join("small"), b"first").unwrap();
    let store = v.dir.path().join("store");
    let push = |extra: &[&str]| {
        let o = run(seif()
            .args(["push", "--json", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&v.sealer_key)
            .arg("--state-dir")
            .arg(v.dir.path().join("state"))
            .arg("--store")
            .arg(&store)
            .args(extra)
            .arg(&tree));
        ok(&o);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    push(&[]);
    std::fs::write(tree.join("small"), b"second").unwrap();
    let second = push(&[]);
    assert_eq!(second["bases"], 1, "{second}");
    let sid = second["snapshot_id"].as_str().unwrap();
    // Grant: one file, a grant for the snapshot and one for its base.
    let team = v.dir.path().join("team.key");
    let team_public = pq_identity_file(&team);
    let grants = v.dir.path().join("grants");
    ok(&run(ceremony()
        .arg("grant")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--store")
        .arg(&store)
        .arg("--to")
        .arg(&team_public)
        .arg("--out")
        .arg(&grants)
        .arg(sid)));
    let grant = grants.join(format!("{sid}.grant"));
    let text = std::fs::read_to_string(&grant).unwrap();
    assert_eq!(
        text.matches("\"format\": \"seif-grant/1\"").count(),
        2,
        "{text}"
    );
    let out = v.dir.path().join("team-out");
    ok(&run(seif()
        .args(["restore", "--identity"])
        .arg(&team)
        .arg("--grant")
        .arg(&grant)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&out)
        .arg(sid)));
    assert_eq!(tree_of(&out.join("t")), tree_of(&tree));
    // Without the base's grant, the restore names the key it lacks.
    let only_own = v.dir.path().join("own.grant");
    let first_doc: serde_json::Value = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    std::fs::write(&only_own, first_doc.to_string()).unwrap();
    let o = run(seif()
        .args(["restore", "--identity"])
        .arg(&team)
        .arg("--grant")
        .arg(&only_own)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("team-out2"))
        .arg(sid));
    fails_with(&o, 3, "no key for snapshot");
    // The ceremony opens it from a store copy.
    let opened = v.dir.path().join("opened");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[1, 2]))
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&opened)
        .arg(sid)));
    assert_eq!(tree_of(&opened.join(sid).join("t")), tree_of(&tree));
    // A rotation of that snapshot adds a key for both it and its base.
    let rotated = v.dir.path().join("rotated");
    let o = run(ceremony()
        .arg("rotate")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 2]))
        .args([
            "--custodian",
            &format!("x=age:{}", age_identity_file(&v.dir.path().join("x.key"))),
        ])
        .args([
            "--custodian",
            &format!("y=age:{}", age_identity_file(&v.dir.path().join("y.key"))),
        ])
        .arg("--out")
        .arg(&rotated)
        .arg("--store")
        .arg(&store)
        .arg(sid));
    ok(&o);
    let gen2 = std::fs::read_dir(store.join("keys"))
        .unwrap()
        .filter(|d| {
            std::fs::read_dir(d.as_ref().unwrap().path())
                .unwrap()
                .count()
                == 2
        })
        .count();
    assert_eq!(
        gen2,
        2,
        "both snapshots have a key for generation 2: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

// ---- Property: random edits over several pushes.

#[derive(Clone, Debug)]
enum Edit {
    Change(usize, u64),
    Append(usize, usize),
    Insert(usize, usize),
    Delete(usize),
    Rename(usize),
    Remove(usize),
    Add(usize, u64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0usize..8, any::<u64>()).prop_map(|(f, s)| Edit::Change(f, s)),
        (0usize..8, 1usize..300_000).prop_map(|(f, n)| Edit::Append(f, n)),
        (0usize..8, 1usize..100).prop_map(|(f, n)| Edit::Insert(f, n)),
        (0usize..8).prop_map(Edit::Delete),
        (0usize..8).prop_map(Edit::Rename),
        (0usize..8).prop_map(Edit::Remove),
        (1usize..2_000_000, any::<u64>()).prop_map(|(n, s)| Edit::Add(n, s)),
    ]
}

fn files_in(t: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn apply(t: &Path, e: &Edit, n: &mut u64) {
    let files = files_in(t);
    let pick = |i: usize| files.get(i % files.len().max(1)).cloned();
    match e {
        Edit::Change(i, s) => {
            if let Some(f) = pick(*i) {
                let mut b = std::fs::read(&f).unwrap();
                if !b.is_empty() {
                    let at = (*s as usize) % b.len();
                    b[at] ^= 0xff;
                    std::fs::write(&f, b).unwrap();
                }
            }
        }
        Edit::Append(i, k) => {
            if let Some(f) = pick(*i) {
                let mut b = std::fs::read(&f).unwrap();
                b.extend(content(*k, *k as u64));
                std::fs::write(&f, b).unwrap();
            }
        }
        Edit::Insert(i, k) => {
            if let Some(f) = pick(*i) {
                let mut b = std::fs::read(&f).unwrap();
                let at = b.len() / 2;
                b.splice(at..at, content(*k, 3));
                std::fs::write(&f, b).unwrap();
            }
        }
        Edit::Delete(i) => {
            if let Some(f) = pick(*i) {
                let mut b = std::fs::read(&f).unwrap();
                let at = b.len() / 3;
                let end = (at + 50).min(b.len());
                b.drain(at..end);
                std::fs::write(&f, b).unwrap();
            }
        }
        Edit::Rename(i) => {
            if let Some(f) = pick(*i) {
                *n += 1;
                std::fs::rename(&f, t.join(format!("renamed-{n}"))).unwrap();
            }
        }
        Edit::Remove(i) => {
            if let Some(f) = pick(*i) {
                std::fs::remove_file(f).unwrap();
            }
        }
        Edit::Add(k, s) => {
            *n += 1;
            std::fs::write(t.join(format!("added-{n}")), content(*k, *s)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"))), ..ProptestConfig::default() })]

    /// Several pushes with random edits between them (change, append,
    /// insert, delete bytes, rename, remove, add): every snapshot restores
    /// exactly the tree it was pushed from, earlier ones too.
    #[test]
    fn every_snapshot_of_an_edited_tree_restores_exactly(rounds in proptest::collection::vec(proptest::collection::vec(edit(), 1..5), 3..5)) {
        let v = test_vault("edits");
        let t = v.dir.path().join("t");
        std::fs::create_dir(&t).unwrap();
        for i in 0..5u64 {
            std::fs::write(t.join(format!("f{i}")), content(200_000 + i as usize * 300_000, i)).unwrap();
        }
        let store_dir = v.dir.path().join("store");
        let store: Box<dyn seif::store::Store> = seif::store::open(store_dir.to_str().unwrap(), &Default::default()).unwrap();
        let stores = [store];
        let sealer = seif::sealer::SealerSecretKey::load(&v.sealer_key).unwrap();
        let mut options = seif::snapshot::push::PushOptions::new(v.dir.path().join("state"));
        options.threads = 2;
        let mut n = 0;
        let mut pushed = Vec::new();
        for (r, edits) in rounds.iter().enumerate() {
            if r > 0 {
                for e in edits {
                    apply(&t, e, &mut n);
                }
            }
            let s = seif::snapshot::push::push(&v.descriptor, &sealer, &stores, std::slice::from_ref(&t), &options, &Counters::default()).unwrap();
            pushed.push((s.records[0].1.clone(), tree_of(&t)));
        }
        let ids: [&dyn age::Identity; 1] = [v.keys.age_identity()];
        for (i, (record, want)) in pushed.iter().enumerate() {
            let (tables, keys) = seif::snapshot::read::open_snapshot(stores[0].as_ref(), record, &seif::snapshot::read::Identities(&ids)).unwrap();
            let out = v.dir.path().join(format!("out-{i}"));
            seif::snapshot::restore::restore(stores[0].as_ref(), record, &tables, &keys, &out, &[], Default::default(), &Counters::default()).unwrap();
            prop_assert_eq!(&tree_of(&out.join("t")), want, "snapshot {}", i);
        }
    }
}

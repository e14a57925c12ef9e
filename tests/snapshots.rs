//! Snapshots and stores end to end: `seif push`, `ls`, `verify`, `check`
//! and `restore` on local directory stores, and every host attack the
//! store can mount.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;
use seif::ids::BlobId;
use seif::snapshot::list::Tables;
use seif::snapshot::record::Record;
use sha2::{Digest, Sha256};

/// A tree with nested directories, empty and large files (spanning packs),
/// a symlink, and distinct modes and times.
pub fn make_tree(root: &Path) -> PathBuf {
    let t = root.join("registry");
    std::fs::create_dir_all(t.join("people/2026")).unwrap();
    std::fs::create_dir_all(t.join("land/empty-dir")).unwrap();
    for i in 0..150 {
        std::fs::write(
            t.join(format!("people/2026/record-{i:04}.json")),
            content(i * 61 + 1, i as u64),
        )
        .unwrap();
    }
    std::fs::write(t.join("land/cadastre.db"), content(20 << 20, 77)).unwrap();
    std::fs::write(t.join("land/empty"), b"").unwrap();
    std::os::unix::fs::symlink("cadastre.db", t.join("land/current")).unwrap();
    std::fs::set_permissions(
        t.join("people/2026/record-0001.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(
        t.join("land/empty-dir"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(t.join("land/empty"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    t
}

/// Everything about a tree that a restore must reproduce.
pub fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let what = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o} {}", m.mode() & 0o7777, m.mtime())
            } else {
                format!(
                    "file {:o} {} {}",
                    m.mode() & 0o7777,
                    m.mtime(),
                    hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

fn push(v: &TestVault, stores: &[&Path], paths: &[&Path], extra: &[&str]) -> std::process::Output {
    run(v.push_cmd(stores).args(extra).args(paths))
}

fn pushed(o: &std::process::Output) -> serde_json::Value {
    ok(o);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The record a push wrote to its first store.
fn head(j: &serde_json::Value) -> String {
    j["records"][0]["record"].as_str().unwrap().to_owned()
}

fn verify(v: &TestVault, store: &Path, head: Option<&str>) -> std::process::Output {
    let mut c = seif();
    c.args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store);
    if let Some(h) = head {
        c.arg("--head").arg(h);
    }
    run(&mut c)
}

fn restore(
    v: &TestVault,
    store: &Path,
    snapshot: &str,
    out: &Path,
    paths: &[&str],
) -> std::process::Output {
    run(seif()
        .args(["restore", "--json", "--identity"])
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store)
        .arg("--out")
        .arg(out)
        .arg(snapshot)
        .args(paths))
}

fn check(v: &TestVault, store: &Path, extra: &[&str]) -> std::process::Output {
    run(seif()
        .args(["check", "--identity"])
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store)
        .args(extra))
}

fn record_in(store: &Path, hash: &str) -> Record {
    let id: BlobId = hash.parse().unwrap();
    Record::parse(
        &std::fs::read(store.join("records").join(hash)).unwrap(),
        Some(&id),
    )
    .unwrap()
}

fn tables_of(store: &Path, r: &Record) -> Tables {
    let s = seif::store::open(store.to_str().unwrap(), &Default::default()).unwrap();
    seif::snapshot::read::load_tables(s.as_ref(), r).unwrap()
}

fn object_path(store: &Path, id: &BlobId) -> PathBuf {
    let hex = id.to_hex();
    store.join("objects").join(&hex[..2]).join(hex)
}

#[test]
fn push_and_restore_reproduce_the_tree_exactly() {
    let v = test_vault("snapshots");
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    let j = pushed(&push(&v, &[&store], &[&tree], &[]));
    assert_eq!(j["files"], 152);
    assert_eq!(j["entries"], 158, "files, directories and the symlink");
    ok(&verify(&v, &store, Some(&head(&j))));
    let out = v.dir.path().join("out");
    ok(&restore(&v, &store, "latest", &out, &[]));
    assert_eq!(describe(&out.join("registry")), describe(&tree));
    // Padded pushes restore the same (--full: every object padded).
    let j2 = pushed(&push(&v, &[&store], &[&tree], &["--pad", "--full"]));
    let out2 = v.dir.path().join("out2");
    ok(&restore(
        &v,
        &store,
        j2["snapshot_id"].as_str().unwrap(),
        &out2,
        &[],
    ));
    assert_eq!(describe(&out2.join("registry")), describe(&tree));
    // The second record follows the first, in this store's chain.
    assert_eq!(j2["records"][0]["previous"], serde_json::json!([head(&j)]));
    // A restore never writes into a directory that holds something, and
    // says what to do instead.
    let o = restore(&v, &store, "latest", &out, &[]);
    fails_with(&o, 1, "exists and is not empty");
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    // The drill: every snapshot would restore.
    let o = check(&v, &store, &["--all", "--read-data"]);
    ok(&o);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).matches(": ok:").count(),
        2
    );
}

/// Every path under `root` (named `name` in a snapshot) in walk order,
/// found independently of seif: depth first, each directory before its
/// contents, names compared bytewise.
fn walk_order_of(root: &Path, name: &str) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    if std::fs::symlink_metadata(root).unwrap().is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for n in names {
            out.extend(walk_order_of(&root.join(&n), &format!("{name}/{n}")));
        }
    }
    out
}

/// Files are read and hashed ahead, on several threads, and placed in walk
/// order: a tree of many small files and a few large ones (more than one
/// read piece, more than one pack), with content repeated across files and
/// directories, pushed with more readers than cores, lists its entries in
/// walk order, stores each repeated chunk once, and restores exactly.
#[test]
fn files_read_ahead_on_several_threads_are_placed_in_walk_order() {
    let v = test_vault("read ahead");
    let tree = v.dir.path().join("tree");
    let dirs = ["a", "b", "c/deeper"];
    for d in dirs {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::create_dir(tree.join("empty-dir")).unwrap();
    // Every fifth small file repeats an earlier one, in another directory
    // (walked before or after it).
    let len = |i: usize| (i * 7919) % 150_000;
    let mut repeated = 0;
    for i in 0..120 {
        let seed = if i % 5 == 4 { i - 4 } else { i };
        if seed != i {
            repeated += len(seed);
        }
        let path = tree.join(dirs[i % 3]).join(format!("f{i:03}"));
        std::fs::write(path, content(len(seed), seed as u64)).unwrap();
    }
    let big = content(20 << 20, 1000);
    let mut edited = big.clone();
    edited.splice(10 << 20..10 << 20, content(4096, 1001));
    std::fs::write(tree.join("big"), &big).unwrap();
    std::fs::write(tree.join("big-copy"), &big).unwrap();
    std::fs::write(tree.join("big-edited"), &edited).unwrap();
    std::fs::write(tree.join("mid"), content(3 << 20, 1002)).unwrap();
    std::os::unix::fs::symlink("big", tree.join("link")).unwrap();

    let store = v.dir.path().join("store");
    let j = pushed(&push(&v, &[&store], &[&tree], &["--threads", "4"]));
    // The copy whole, most of the edited copy (an insertion moves at most
    // two chunks' worth of cuts), and every repeated small file.
    let reused = j["reused_bytes"].as_u64().unwrap();
    assert!(
        reused >= (repeated + (20 << 20) + (4 << 20)) as u64,
        "{reused} bytes reused: {j}"
    );

    let s = seif::store::open(store.to_str().unwrap(), &Default::default()).unwrap();
    let record = record_in(&store, &head(&j));
    let ids: [&dyn age::Identity; 1] = [v.keys.age_identity()];
    let (tables, keys) = seif::snapshot::read::open_snapshot(
        s.as_ref(),
        &record,
        &seif::snapshot::read::Identities(&ids),
    )
    .unwrap();
    let listed: Vec<String> = seif::snapshot::browse::entries(s.as_ref(), &record, &tables, &keys)
        .unwrap()
        .map(|e| e.unwrap().path)
        .collect();
    assert_eq!(listed, walk_order_of(&tree, "tree"));

    let out = v.dir.path().join("out");
    ok(&restore(&v, &store, "latest", &out, &[]));
    assert_eq!(describe(&out.join("tree")), describe(&tree));
}

/// Entries without data (empty files, directories) are cut into groups by
/// count, so a push never gathers an unbounded list of entries however
/// many there are; such a tree verifies and restores exactly, and no empty
/// object is stored for a group without data.
#[test]
fn many_entries_without_data_are_cut_into_groups() {
    let v = test_vault("many entries");
    let tree = v.dir.path().join("empties");
    let n = seif::snapshot::push::pack::PACK_ENTRIES + 500;
    for i in 0..n {
        if i % 2 == 0 {
            std::fs::create_dir_all(tree.join(format!("d{i:05}"))).unwrap();
        } else {
            std::fs::create_dir_all(&tree).unwrap();
            std::fs::write(tree.join(format!("f{i:05}")), b"").unwrap();
        }
    }
    let store = v.dir.path().join("store");
    let j = pushed(&push(&v, &[&store], &[&tree], &[]));
    assert_eq!(j["entries"], n as u64 + 1, "the entries and the root");
    assert_eq!(j["new_packs"], 0, "no data, no pack: {j}");
    assert_eq!(j["objects"], 1, "one manifest part: {j}");
    ok(&verify(&v, &store, None));
    let out = v.dir.path().join("out");
    ok(&restore(&v, &store, "latest", &out, &[]));
    assert_eq!(describe(&out.join("empties")), describe(&tree));
}

#[test]
fn a_store_holds_only_content_addressed_ciphertext() {
    let v = test_vault("content addressed");
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    pushed(&push(&v, &[&store], &[&tree], &[]));
    // `sha256sum -c` checks every blob with no key and no seif.
    let mut list = String::new();
    let mut stack = vec![store.clone()];
    let mut blobs = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                list.push_str(&format!(
                    "{}  {}\n",
                    p.file_name().unwrap().to_str().unwrap(),
                    p.display()
                ));
                blobs.push(p);
            }
        }
    }
    assert!(
        blobs.len() >= 5,
        "objects, a list, a key and a record: {blobs:?}"
    );
    let sums = v.dir.path().join("SHA256SUMS");
    std::fs::write(&sums, list).unwrap();
    let o = run(std::process::Command::new("sha256sum")
        .arg("-c")
        .arg("--quiet")
        .arg(&sums));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // No file name, directory name or link target appears in the store.
    for blob in blobs {
        let bytes = std::fs::read(&blob).unwrap();
        for name in ["registry", "cadastre", "record-0001", "people", "empty-dir"] {
            assert!(
                !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
                "{} reveals {name}",
                blob.display()
            );
        }
    }
}

#[test]
fn restoring_one_file_fetches_only_its_chunks_and_a_wrong_path_gets_suggestions() {
    let v = test_vault("selective");
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    let j = pushed(&push(&v, &[&store], &[&tree], &[]));
    let out = v.dir.path().join("one");
    let r = restore(
        &v,
        &store,
        j["snapshot_id"].as_str().unwrap(),
        &out,
        &["registry/people/2026/record-0042.json"],
    );
    ok(&r);
    let s: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(s["files"], 1);
    assert_eq!(
        std::fs::read(out.join("registry/people/2026/record-0042.json")).unwrap(),
        content(42 * 61 + 1, 42)
    );
    let fetched = s["fetched_bytes"].as_u64().unwrap();
    assert!(
        fetched < 200_000,
        "fetched {fetched} bytes of a {} byte snapshot",
        j["stored_bytes"]
    );
    let none = v.dir.path().join("none");
    let o = restore(
        &v,
        &store,
        "latest",
        &none,
        &["people/2026/record-0042.json"],
    );
    fails_with(
        &o,
        1,
        "not in the snapshot: 'people/2026/record-0042.json' (did you mean 'registry/people/2026/record-0042.json'?)",
    );
    assert!(
        !none.exists(),
        "a refused restore leaves no directory behind"
    );
}

#[test]
fn one_push_writes_to_several_stores() {
    let v = test_vault("two hosts");
    let tree = make_tree(v.dir.path());
    let (a, b) = (v.dir.path().join("host-a"), v.dir.path().join("host-b"));
    let j = pushed(&push(&v, &[&a, &b], &[&tree], &[]));
    for (i, s) in [&a, &b].into_iter().enumerate() {
        ok(&verify(
            &v,
            s,
            Some(j["records"][i]["record"].as_str().unwrap()),
        ));
        let out = v
            .dir
            .path()
            .join(format!("from-{}", s.file_name().unwrap().to_str().unwrap()));
        ok(&restore(&v, s, "latest", &out, &[]));
        assert_eq!(describe(&out.join("registry")), describe(&tree));
    }
}

#[test]
fn push_refuses_a_sealer_the_vault_does_not_accept() {
    let v = test_vault("strict");
    let stranger = v.dir.path().join("stranger.key");
    ok(&run(seif().args(["sealer", "new", "--out"]).arg(&stranger)));
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    let o = run(seif()
        .args(["push", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&stranger)
        .arg("--store")
        .arg(&store)
        .arg(&tree));
    fails_with(&o, 4, "does not accept the sealer");
    assert!(!store.exists(), "no store is created by a refused push");
}

// ---- The host's checks.

#[test]
fn verify_refuses_a_missing_empty_or_foreign_store_clearly() {
    let v = test_vault("host checks");
    let typo = v.dir.path().join("typo-dir");
    fails_with(&verify(&v, &typo, None), 1, "no such store");
    assert!(!typo.exists(), "verify creates nothing");
    std::fs::create_dir(&typo).unwrap();
    fails_with(&verify(&v, &typo, None), 3, "holds no snapshot record");
    ok(&run(seif()
        .args(["verify", "--allow-empty", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&typo)));
    // Another vault's vault.json: said once, with both fingerprints.
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    pushed(&push(&v, &[&store], &[&tree], &[]));
    let other = test_vault("other vault");
    let o = verify(&other, &store, None);
    fails_with(&o, 4, "holds the snapshots of another vault");
    assert_eq!(stderr(&o).matches("FAIL").count(), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains(&seif::descriptor::format_fingerprint(
        &v.descriptor.body().vault_id
    )));
}

#[test]
fn verify_takes_a_head_prefix_and_refuses_a_malformed_one() {
    let v = test_vault("head prefix");
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    let j = pushed(&push(&v, &[&store], &[&tree], &[]));
    let h = head(&j);
    ok(&verify(&v, &store, Some(&h[..12])));
    ok(&verify(&v, &store, Some(&h.to_uppercase())));
    for bad in ["nothex", &h[..11], "zz0453f12c6e"] {
        fails_with(&verify(&v, &store, Some(bad)), 2, "is not a record hash");
    }
    fails_with(
        &verify(&v, &store, Some("ab0453f12c6e")),
        3,
        "the recorded head ab0453f12c6e is not in the store",
    );
}

#[test]
fn verify_reads_a_subset_or_only_metadata() {
    let v = test_vault("subsets");
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    pushed(&push(&v, &[&store], &[&tree], &[]));
    let verify_json = |extra: &[&str]| {
        let o = run(seif()
            .args(["verify", "--json", "--vault"])
            .arg(&v.vault_json)
            .arg("--store")
            .arg(&store)
            .args(extra));
        (
            o.status.code(),
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        )
    };
    let (_, all) = verify_json(&[]);
    let objects = all["objects"].as_u64().unwrap();
    assert_eq!(all["objects_checked"], objects);
    let (code, meta) = verify_json(&["--metadata-only"]);
    assert_eq!(code, Some(0));
    assert_eq!(meta["objects_checked"], 0);
    // Groups 1/3, 2/3 and 3/3 together read every object exactly once.
    let mut sum = 0;
    for n in 1..=3 {
        let (_, part) = verify_json(&["--read-data-subset", &format!("{n}/3")]);
        sum += part["objects_checked"].as_u64().unwrap();
    }
    assert_eq!(sum, objects);
    // Metadata-only still sees a missing object; only a read sees a
    // changed byte.
    let r = record_in(&store, all["heads"][0].as_str().unwrap());
    let t = tables_of(&store, &r);
    let p = object_path(&store, &t.packs[0].id);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(verify_json(&["--metadata-only"]).0, Some(0));
    assert_eq!(verify_json(&[]).0, Some(3));
    std::fs::remove_file(&p).unwrap();
    assert_eq!(verify_json(&["--metadata-only"]).0, Some(3));
    fails_with(
        &run(seif()
            .args(["verify", "--read-data-subset", "4/3", "--vault"])
            .arg(&v.vault_json)
            .arg("--store")
            .arg(&store)),
        2,
        "is not a subset",
    );
}

// ---- Host attacks: each is detected and named by `seif verify`, and
// refused by `restore` and `check`.

struct Attack {
    v: TestVault,
    store: PathBuf,
    first: serde_json::Value,
    second: serde_json::Value,
}

fn two_snapshots() -> Attack {
    let v = test_vault("attacked");
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    let first = pushed(&push(&v, &[&store], &[&tree], &[]));
    std::fs::write(tree.join("people/2026/record-0000.json"), b"changed").unwrap();
    let second = pushed(&push(&v, &[&store], &[&tree], &[]));
    ok(&verify(&v, &store, Some(&head(&second))));
    Attack {
        v,
        store,
        first,
        second,
    }
}

impl Attack {
    fn record(&self, j: &serde_json::Value) -> Record {
        record_in(&self.store, &head(j))
    }

    fn tables(&self, j: &serde_json::Value) -> Tables {
        tables_of(&self.store, &self.record(j))
    }
}

fn restore_fails(a: &Attack, snapshot: &serde_json::Value, fragment: &str) {
    let out = a.v.dir.path().join(format!(
        "r-{}",
        hex::encode(seif::secrets::random_array::<4>())
    ));
    let o = restore(
        &a.v,
        &a.store,
        snapshot["snapshot_id"].as_str().unwrap(),
        &out,
        &[],
    );
    assert!(
        matches!(o.status.code(), Some(3) | Some(4)),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains(fragment), "{}", stderr(&o));
    // Nothing unverified was left under a final name.
    let left = if out.exists() {
        describe(&out)
    } else {
        BTreeMap::new()
    };
    assert!(
        left.iter()
            .all(|(p, w)| !w.starts_with("file") || !p.contains("cadastre")),
        "files were written: {left:?}"
    );
    // The drill names it too.
    let o = check(
        &a.v,
        &a.store,
        &[snapshot["snapshot_id"].as_str().unwrap(), "--read-data"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn attack_object_bytes_changed() {
    let a = two_snapshots();
    let t = a.tables(&a.first);
    let id = t.packs[0].id;
    let p = object_path(&a.store, &id);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[5000] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "object {id} (pack 0 of snapshot {}, needed by 2 snapshots): its bytes do not match its name: altered or replaced",
            a.first["snapshot_id"].as_str().unwrap()
        ),
    );
    restore_fails(
        &a,
        &a.first,
        "failed authentication: the object was altered",
    );
}

#[test]
fn attack_object_deleted() {
    let a = two_snapshots();
    let t = a.tables(&a.first);
    let id = t.packs[1].id;
    std::fs::remove_file(object_path(&a.store, &id)).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "object {id} (pack 1 of snapshot {}) is missing",
            a.first["snapshot_id"].as_str().unwrap()
        ),
    );
    restore_fails(&a, &a.first, "missing from the store");
}

#[test]
fn attack_object_swapped_in_from_another_snapshot() {
    let a = two_snapshots();
    let (t1, t2) = (a.tables(&a.first), a.tables(&a.second));
    // The second snapshot's own pack (the changed file), and a pack of the
    // first.
    let sid2: seif::ids::SnapshotId = a.second["snapshot_id"].as_str().unwrap().parse().unwrap();
    let victim = t2
        .packs
        .iter()
        .find(|p| p.snapshot == sid2)
        .expect("a new pack")
        .id;
    std::fs::write(
        object_path(&a.store, &victim),
        std::fs::read(object_path(&a.store, &t1.packs[0].id)).unwrap(),
    )
    .unwrap();
    let o = verify(&a.v, &a.store, None);
    fails_with(&o, 3, &format!("object {victim} ("));
    restore_fails(&a, &a.second, &format!("object {victim}: "));
}

#[test]
fn attack_manifest_from_another_snapshot() {
    let a = two_snapshots();
    let (t1, t2) = (a.tables(&a.first), a.tables(&a.second));
    // Bytes swapped under the manifest's name.
    let victim = t2.manifest[0].0;
    let saved = std::fs::read(object_path(&a.store, &victim)).unwrap();
    std::fs::write(
        object_path(&a.store, &victim),
        std::fs::read(object_path(&a.store, &t1.manifest[0].0)).unwrap(),
    )
    .unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "object {victim} (manifest part 0 of snapshot {})",
            a.second["snapshot_id"].as_str().unwrap()
        ),
    );
    restore_fails(&a, &a.second, &format!("object {victim}: "));
    std::fs::write(object_path(&a.store, &victim), saved).unwrap();
    // A record (even one signed by an accepted sealer) whose list names
    // another snapshot's manifest: its header gives it away.
    let sealer = seif::sealer::SealerSecretKey::load(&a.v.sealer_key).unwrap();
    let r2 = a.record(&a.second);
    let mut t = t2.clone();
    t.manifest = t1.manifest.clone();
    let lists = t.clone().into_lists(r2.body.snapshot_id);
    let mut body = r2.body.clone();
    body.lists.clear();
    for l in &lists {
        let (bytes, id) = l.encode();
        std::fs::create_dir_all(a.store.join("lists")).unwrap();
        std::fs::write(a.store.join("lists").join(id.to_hex()), &bytes).unwrap();
        body.lists.push(seif::snapshot::record::ListRef {
            id,
            size: bytes.len() as u64,
        });
    }
    body.summary = seif::snapshot::read::summary_of(r2.body.snapshot_id, &t);
    body.previous = vec![r2.hash];
    let (forged, bytes) = Record::sign(body, &sealer);
    std::fs::write(a.store.join("records").join(forged.hash.to_hex()), bytes).unwrap();
    let o = verify(&a.v, &a.store, None);
    fails_with(
        &o,
        3,
        &format!(
            "(manifest part 0 of snapshot {}): its header names another snapshot",
            r2.body.snapshot_id
        ),
    );
    let out = a.v.dir.path().join("forged-out");
    let o = restore(&a.v, &a.store, &forged.hash.to_hex()[..12], &out, &[]);
    fails_with(&o, 3, "the object belongs to another snapshot");
}

#[test]
fn attack_list_altered_or_deleted() {
    let a = two_snapshots();
    let r = a.record(&a.second);
    let l = a.store.join("lists").join(r.body.lists[0].id.to_hex());
    let saved = std::fs::read(&l).unwrap();
    let text = String::from_utf8(saved.clone()).unwrap();
    std::fs::write(&l, format!("{text} ")).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "snapshot {}: list {}: ",
            r.body.snapshot_id, r.body.lists[0].id
        ),
    );
    restore_fails(&a, &a.second, &format!("list {}: ", r.body.lists[0].id));
    std::fs::remove_file(&l).unwrap();
    fails_with(&verify(&a.v, &a.store, None), 3, "missing from the store");
    std::fs::write(&l, saved).unwrap();
    ok(&verify(&a.v, &a.store, None));
}

#[test]
fn attack_record_removed_from_the_middle_of_the_chain() {
    let a = two_snapshots();
    let tree = a.v.dir.path().join("registry");
    let third = pushed(&push(&a.v, &[&a.store], &[&tree], &[]));
    let middle = head(&a.second);
    std::fs::remove_file(a.store.join("records").join(&middle)).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "record {} names the previous record {middle}, which the store does not hold: a record was removed from the chain",
            head(&third)
        ),
    );
}

#[test]
fn attack_old_head_replayed() {
    let a = two_snapshots();
    let h = head(&a.second);
    // Rollback: the newest record withheld; the store looks like it did
    // after the first push.
    std::fs::remove_file(a.store.join("records").join(&h)).unwrap();
    ok(&verify(&a.v, &a.store, None));
    fails_with(
        &verify(&a.v, &a.store, Some(&h)),
        3,
        &format!(
            "the recorded head {h} is not in the store: the store was rolled back, or records were deleted"
        ),
    );
    // The pipeline notices too: it wrote that record, and will not chain
    // onto what is left.
    let tree = a.v.dir.path().join("registry");
    let o = push(&a.v, &[&a.store], &[&tree], &[]);
    fails_with(
        &o,
        3,
        &format!("no longer holds record {h}, which this pipeline wrote there"),
    );
    assert!(stderr(&o).contains("--accept-rollback"), "{}", stderr(&o));
    // Told to go on, it first records the snapshot the refused push had
    // stored (on the first record, what is left), then the new one.
    let j = pushed(&push(&a.v, &[&a.store], &[&tree], &["--accept-rollback"]));
    assert!(j["finished_interrupted"].is_string(), "{j}");
    ok(&verify(&a.v, &a.store, Some(&head(&j))));
    let r = record_in(&a.store, &head(&j));
    let before = record_in(&a.store, &r.body.previous[0].to_hex());
    assert_eq!(before.body.previous, vec![head(&a.first).parse().unwrap()]);
}

#[test]
fn attack_record_signed_by_a_key_the_vault_does_not_accept() {
    let a = two_snapshots();
    let stranger = seif::sealer::SealerSecretKey::generate();
    let mut body = a.record(&a.second).body.clone();
    body.previous = vec![head(&a.second).parse().unwrap()];
    body.sealer = stranger.public().to_string();
    let (forged, bytes) = Record::sign(body, &stranger);
    std::fs::write(a.store.join("records").join(forged.hash.to_hex()), bytes).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "record {} (snapshot {}): signed by {}, a sealer the vault does not accept",
            forged.hash,
            forged.body.snapshot_id,
            stranger.public()
        ),
    );
    let o = restore(
        &a.v,
        &a.store,
        &forged.hash.to_hex()[..12],
        &a.v.dir.path().join("x"),
        &[],
    );
    fails_with(&o, 4, "a sealer the vault does not accept");
    // A record whose signature was altered is named too.
    let text =
        String::from_utf8(std::fs::read(a.store.join("records").join(head(&a.first))).unwrap())
            .unwrap();
    let edited = text.replacen("\"time\":\"", "\"time\":\"1", 1);
    let h = hex::encode(Sha256::digest(edited.as_bytes()));
    std::fs::write(a.store.join("records").join(&h), edited).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!("record records/{h}: the sealer's signature does not verify"),
    );
}

fn verify_json(v: &TestVault, store: &Path) -> (std::process::Output, serde_json::Value) {
    let o = run(seif()
        .args(["verify", "--json", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store));
    let j = serde_json::from_slice(&o.stdout).unwrap();
    (o, j)
}

/// `seif verify` (keyless) counts the data keys still wrapped classic-only:
/// a classic vault's store is fine but noted; a post-quantum vault's store
/// has none; a classic envelope in a post-quantum vault's store (any stanza
/// but mlkem768x25519 and grease) fails verification, as `require_pq`
/// says.
#[test]
fn verify_counts_classic_only_data_keys() {
    let tree_of = |v: &TestVault| {
        let tree = v.dir.path().join("t");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("f"), content(10_000, 4)).unwrap();
        tree
    };
    // Classic vault: 1 of 1 classic, a note, verify passes.
    let c = test_vault("classic");
    let store = c.dir.path().join("store");
    pushed(&push(&c, &[&store], &[&tree_of(&c)], &[]));
    let (o, j) = verify_json(&c, &store);
    ok(&o);
    assert_eq!(j["key_envelopes"], 1, "{j}");
    assert_eq!(j["classic_key_envelopes"], 1, "{j}");
    assert!(j["notes"].to_string().contains("1 of 1 data keys"), "{j}");
    let o = verify(&c, &store, None);
    ok(&o);
    assert!(
        stderr(&o).contains("still wrapped classic-only"),
        "{}",
        stderr(&o)
    );

    // Post-quantum vault: none classic.
    let v = test_vault_pq("pq");
    let store = v.dir.path().join("store");
    let j = pushed(&push(&v, &[&store], &[&tree_of(&v)], &[]));
    let (o, vj) = verify_json(&v, &store);
    ok(&o);
    assert_eq!(vj["key_envelopes"], 1, "{vj}");
    assert_eq!(vj["classic_key_envelopes"], 0, "{vj}");

    // A classic envelope for its snapshot (as a host, or an old tool,
    // might add): verification fails under require_pq.
    let sid: seif::ids::SnapshotId = j["snapshot_id"].as_str().unwrap().parse().unwrap();
    let env = seif::snapshot::key_envelope::KeyEnvelope::wrap(
        &seif::secrets::DataKey::generate(),
        seif::ids::VaultId(v.descriptor.vault_id()),
        sid,
        1,
        &[v.keys.public().age_recipient],
    )
    .unwrap();
    let path = store.join(env.store_key());
    std::fs::write(&path, env.to_bytes()).unwrap();
    let (o, vj) = verify_json(&v, &store);
    assert!(!o.status.success());
    assert_eq!(vj["classic_key_envelopes"], 1, "{vj}");
    assert!(
        vj["problems"].to_string().contains("1 of 2 data keys")
            && vj["problems"].to_string().contains("require_pq"),
        "{vj}"
    );
}

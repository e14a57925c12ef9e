//! Snapshots and stores end to end: `seif push`, `ls`, `verify`, `restore`
//! on local directory stores, and every host attack the store can mount.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;
use sha2::{Digest, Sha256};

/// A tree with nested directories, empty and large files (spanning packs),
/// a symlink, and distinct modes and times.
fn make_tree(root: &Path) -> PathBuf {
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
fn describe(root: &Path) -> BTreeMap<String, String> {
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
    let mut c = seif();
    c.args(["push", "--json", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key);
    c.arg("--state-dir").arg(v.dir.path().join("state"));
    for s in stores {
        c.arg("--store").arg(s);
    }
    c.args(extra).args(paths);
    run(&mut c)
}

fn pushed(o: &std::process::Output) -> serde_json::Value {
    ok(o);
    serde_json::from_slice(&o.stdout).unwrap()
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

#[test]
fn push_and_restore_reproduce_the_tree_exactly() {
    let v = test_vault("snapshots");
    let tree = make_tree(v.dir.path());
    let store = v.dir.path().join("store");
    let j = pushed(&push(&v, &[&store], &[&tree], &[]));
    assert_eq!(j["files"], 152);
    assert_eq!(j["entries"], 158, "files, directories and the symlink");
    ok(&verify(&v, &store, Some(j["record"].as_str().unwrap())));
    let out = v.dir.path().join("out");
    let r = restore(&v, &store, "latest", &out, &[]);
    ok(&r);
    assert_eq!(describe(&out.join("registry")), describe(&tree));
    // Padded pushes restore the same.
    let j2 = pushed(&push(&v, &[&store], &[&tree], &["--pad"]));
    let out2 = v.dir.path().join("out2");
    ok(&restore(
        &v,
        &store,
        j2["snapshot_id"].as_str().unwrap(),
        &out2,
        &[],
    ));
    assert_eq!(describe(&out2.join("registry")), describe(&tree));
    // The second record follows the first.
    assert_eq!(j2["previous"], j["record"]);
    // A restore never writes into a directory that holds something.
    let o = restore(&v, &store, "latest", &out, &[]);
    fails_with(&o, 1, "exists and is not empty");
}

/// Entries without data (empty files, directories) end a pack by count, so
/// a push never gathers an unbounded list of entries however many there
/// are; such a tree verifies and restores exactly.
#[test]
fn many_entries_without_data_are_cut_into_packs() {
    let v = test_vault("many entries");
    let tree = v.dir.path().join("empties");
    let n = seif::snapshot::push::PACK_ENTRIES + 500;
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
    // One pack ended by count (it holds no data), the rest after it, and
    // one manifest part.
    assert_eq!(j["objects"], 2, "{j}");
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
fn restoring_one_file_fetches_only_its_chunks() {
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
    let o = restore(
        &v,
        &store,
        "latest",
        &v.dir.path().join("none"),
        &["registry/nope"],
    );
    fails_with(&o, 1, "not in the snapshot: registry/nope");
}

#[test]
fn one_push_writes_to_several_stores() {
    let v = test_vault("two hosts");
    let tree = make_tree(v.dir.path());
    let (a, b) = (v.dir.path().join("host-a"), v.dir.path().join("host-b"));
    let j = pushed(&push(&v, &[&a, &b], &[&tree], &[]));
    for s in [&a, &b] {
        ok(&verify(&v, s, Some(j["record"].as_str().unwrap())));
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
    assert!(!store.exists() || entries(&store).is_empty());
}

// ---- Host attacks: each is detected and named by `seif verify`, and
// refused by `restore`.

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
    ok(&verify(
        &v,
        &store,
        Some(second["record"].as_str().unwrap()),
    ));
    Attack {
        v,
        store,
        first,
        second,
    }
}

fn record_of(a: &Attack, j: &serde_json::Value) -> seif::snapshot::record::Record {
    let h = j["record"].as_str().unwrap();
    seif::snapshot::record::Record::parse(
        &std::fs::read(a.store.join("records").join(h)).unwrap(),
        Some(h),
    )
    .unwrap()
}

fn object_path(a: &Attack, id: &str) -> PathBuf {
    a.store.join("objects").join(&id[..2]).join(id)
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
        left.values().all(|w| !w.starts_with("file")),
        "files were written: {left:?}"
    );
}

#[test]
fn attack_object_bytes_changed() {
    let a = two_snapshots();
    let r = record_of(&a, &a.second);
    let id = &r.body.packs[0].id;
    let p = object_path(&a, id);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[5000] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "object {id} (pack 0 of snapshot {}): its bytes do not match its name: altered or replaced",
            r.body.snapshot_id
        ),
    );
    restore_fails(
        &a,
        &a.second,
        "failed authentication: the object was altered",
    );
}

#[test]
fn attack_object_deleted() {
    let a = two_snapshots();
    let r = record_of(&a, &a.first);
    let id = &r.body.packs[1].id;
    std::fs::remove_file(object_path(&a, id)).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "object {id} (pack 1 of snapshot {}) is missing",
            r.body.snapshot_id
        ),
    );
    restore_fails(&a, &a.first, "missing from the store");
}

#[test]
fn attack_object_swapped_in_from_another_snapshot() {
    let a = two_snapshots();
    let (r1, r2) = (record_of(&a, &a.first), record_of(&a, &a.second));
    let victim = &r2.body.packs[0].id;
    std::fs::write(
        object_path(&a, victim),
        std::fs::read(object_path(&a, &r1.body.packs[0].id)).unwrap(),
    )
    .unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "object {victim} (pack 0 of snapshot {}): its bytes do not match its name",
            r2.body.snapshot_id
        ),
    );
    restore_fails(&a, &a.second, "the object belongs to another snapshot");
}

#[test]
fn attack_manifest_from_another_snapshot() {
    let a = two_snapshots();
    let (r1, r2) = (record_of(&a, &a.first), record_of(&a, &a.second));
    // Bytes swapped under the manifest's name.
    let victim = &r2.body.manifest[0].id;
    let saved = std::fs::read(object_path(&a, victim)).unwrap();
    std::fs::write(
        object_path(&a, victim),
        std::fs::read(object_path(&a, &r1.body.manifest[0].id)).unwrap(),
    )
    .unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "object {victim} (manifest part 0 of snapshot {})",
            r2.body.snapshot_id
        ),
    );
    restore_fails(&a, &a.second, "its bytes do not match its name");
    std::fs::write(object_path(&a, victim), saved).unwrap();
    // A record (even one signed by an accepted sealer) that names another
    // snapshot's manifest: its header gives it away.
    let sealer = seif::sealer::SealerSecretKey::load(&a.v.sealer_key).unwrap();
    let mut body = r2.body.clone();
    body.manifest = r1.body.manifest.clone();
    body.previous = Some(r2.hash.clone());
    let (forged, bytes) = seif::snapshot::record::Record::sign(body, &sealer);
    std::fs::write(a.store.join("records").join(&forged.hash), bytes).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "(manifest part 0 of snapshot {}): its header names another snapshot",
            r2.body.snapshot_id
        ),
    );
    let out = a.v.dir.path().join("forged-out");
    let o = restore(&a.v, &a.store, &forged.hash[..12], &out, &[]);
    fails_with(&o, 3, "the object belongs to another snapshot");
}

#[test]
fn attack_record_removed_from_the_middle_of_the_chain() {
    let a = two_snapshots();
    let tree = a.v.dir.path().join("registry");
    let third = pushed(&push(&a.v, &[&a.store], &[&tree], &[]));
    let middle = a.second["record"].as_str().unwrap();
    std::fs::remove_file(a.store.join("records").join(middle)).unwrap();
    fails_with(
        &verify(&a.v, &a.store, None),
        3,
        &format!(
            "record {} names the previous record {middle}, which the store does not hold: a record was removed from the chain",
            third["record"].as_str().unwrap()
        ),
    );
}

#[test]
fn attack_old_head_replayed() {
    let a = two_snapshots();
    let head = a.second["record"].as_str().unwrap();
    // Rollback: the newest record withheld; the store looks like it did
    // after the first push.
    let saved = std::fs::read(a.store.join("records").join(head)).unwrap();
    std::fs::remove_file(a.store.join("records").join(head)).unwrap();
    ok(&verify(&a.v, &a.store, None));
    fails_with(
        &verify(&a.v, &a.store, Some(head)),
        3,
        &format!(
            "the recorded head {head} is not in the store: the store was rolled back, or records were deleted"
        ),
    );
    // A fork: the old head replayed as the base of another chain.
    std::fs::write(a.store.join("records").join(head), saved).unwrap();
    let sealer = seif::sealer::SealerSecretKey::load(&a.v.sealer_key).unwrap();
    let mut body = record_of(&a, &a.second).body.clone();
    body.previous = Some(a.first["record"].as_str().unwrap().to_owned());
    body.time = "2030-01-01T00:00:00Z".into();
    let (fork, bytes) = seif::snapshot::record::Record::sign(body, &sealer);
    std::fs::write(a.store.join("records").join(&fork.hash), bytes).unwrap();
    let o = verify(&a.v, &a.store, Some(head));
    fails_with(&o, 3, "forked chain: records");
    assert!(
        stderr(&o).contains(&format!(
            "head {} does not descend from the recorded head {head}",
            fork.hash
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn attack_record_signed_by_a_key_the_vault_does_not_accept() {
    let a = two_snapshots();
    let stranger = seif::sealer::SealerSecretKey::generate();
    let mut body = record_of(&a, &a.second).body.clone();
    body.previous = Some(a.second["record"].as_str().unwrap().to_owned());
    body.sealer = stranger.public().to_string();
    let (forged, bytes) = seif::snapshot::record::Record::sign(body, &stranger);
    std::fs::write(a.store.join("records").join(&forged.hash), bytes).unwrap();
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
        &forged.hash[..12],
        &a.v.dir.path().join("x"),
        &[],
    );
    fails_with(&o, 4, "a sealer the vault does not accept");
    // A record whose signature was altered is named too.
    let text = String::from_utf8(
        std::fs::read(
            a.store
                .join("records")
                .join(a.first["record"].as_str().unwrap()),
        )
        .unwrap(),
    )
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

/// A push on one thread and one upload, to be killed while it runs.
fn spawn_slow_push(v: &TestVault, store: &Path, tree: &Path) -> std::process::Child {
    seif()
        .args([
            "push",
            "--json",
            "--threads",
            "1",
            "--uploads",
            "1",
            "--vault",
        ])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(store)
        .arg(tree)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_killed_push_leaves_a_valid_store_and_the_next_one_resumes() {
    use rand::Rng;
    let v = test_vault("killed");
    let tree = v.dir.path().join("big");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..12 {
        std::fs::write(tree.join(format!("part-{i:02}")), content(12 << 20, i)).unwrap();
    }
    for i in 0..400 {
        std::fs::write(tree.join(format!("small-{i:03}")), content(3000, 1000 + i)).unwrap();
    }
    let store = v.dir.path().join("store");
    let mut rng = rand::thread_rng();
    let mut resumed_runs = 0;
    for round in 0..12 {
        let child = spawn_slow_push(&v, &store, &tree);
        std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(0..700)));
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::KILL,
        );
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if j["resumed_packs"].as_u64().unwrap() > 0 {
                resumed_runs += 1;
            }
        }
        let o = verify(&v, &store, None);
        assert!(
            o.status.success(),
            "round {round}: the store is not valid after a kill: {}",
            stderr(&o)
        );
    }
    // The next push completes, and takes over what the killed one stored.
    let before: usize = std::fs::read_dir(store.join("objects")).map_or(0, |d| d.count());
    let j = pushed(&push(
        &v,
        &[&store],
        &[&tree],
        &["--threads", "1", "--uploads", "1"],
    ));
    ok(&verify(&v, &store, Some(j["record"].as_str().unwrap())));
    let out = v.dir.path().join("out");
    ok(&restore(
        &v,
        &store,
        j["snapshot_id"].as_str().unwrap(),
        &out,
        &[],
    ));
    assert_eq!(describe(&out.join("big")), describe(&tree));
    eprintln!(
        "object directories before the last push: {before}; resumed runs among the killed: {resumed_runs}; last push: {j}"
    );
}

#[test]
fn a_resumed_push_does_not_upload_again_what_is_stored() {
    let v = test_vault("resume");
    let tree = v.dir.path().join("big");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..10 {
        std::fs::write(tree.join(format!("part-{i:02}")), content(10 << 20, i)).unwrap();
    }
    let store = v.dir.path().join("store");
    // Kill the push once it has stored a few packs.
    let child = spawn_slow_push(&v, &store, &tree);
    let count = |s: &Path| -> usize {
        let mut n = 0;
        if let Ok(d) = std::fs::read_dir(s.join("objects")) {
            for sub in d {
                n += std::fs::read_dir(sub.unwrap().path()).map_or(0, |d| {
                    d.filter(|e| {
                        !e.as_ref()
                            .unwrap()
                            .file_name()
                            .to_string_lossy()
                            .starts_with('.')
                    })
                    .count()
                });
            }
        }
        n
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count(&store) < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::KILL,
    );
    let killed = child.wait_with_output().unwrap();
    assert!(
        !killed.status.success(),
        "the push finished before it could be killed"
    );
    ok(&verify(&v, &store, None));
    let j = pushed(&push(&v, &[&store], &[&tree], &[]));
    let resumed = j["resumed_packs"].as_u64().unwrap();
    assert!(resumed >= 3, "{j}");
    let total = j["objects"].as_u64().unwrap();
    assert_eq!(
        j["uploaded_objects"].as_u64().unwrap() + resumed,
        total,
        "only what was missing was uploaded: {j}"
    );
    let out = v.dir.path().join("out");
    ok(&restore(&v, &store, "latest", &out, &[]));
    assert_eq!(describe(&out.join("big")), describe(&tree));
}

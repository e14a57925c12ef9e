//! "A push that says ok always restores, and no screen can be spoofed":
//! one test per failure of ordinary life and per attack of issue 10, each
//! named after it, through the real binaries.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use sha2::{Digest, Sha256};

fn push_cmd(v: &TestVault, stores: &[&Path], paths: &[&Path]) -> Command {
    let mut c = v.push_cmd(stores);
    c.args(paths);
    c
}

fn pushed(o: &Output) -> serde_json::Value {
    ok(o);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Runs a push that must die at the named write point.
fn killed_at(mut c: Command, point: &str) {
    let o = run(c.env("SEIF_KILL_AT", point));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "the push was not killed at {point}: {}",
        stderr(&o)
    );
    let name = point.split('#').next().unwrap();
    assert!(
        stderr(&o).contains(&format!("killed at {name}")),
        "{}",
        stderr(&o)
    );
}

fn verify_ok(v: &TestVault, store: &Path) {
    // A store a killed first push left holds objects but no record yet.
    ok(&run(seif()
        .args(["verify", "--allow-empty", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store)));
}

fn restore_to(v: &TestVault, store: &Path, out: &Path, paths: &[&str]) -> Output {
    run(v.restore_cmd(store, out).arg("latest").args(paths))
}

/// Path → SHA-256 of every file (and "dir"/"link" for the rest).
fn snapshot_of(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
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
                    format!("link {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else {
                out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

// ---- 1. Big files.

/// A file of 41 GiB (sparse: it costs no disk) has 5,248 chunks: one
/// manifest line could not hold them (the reader's limit is 64 KiB), so
/// they continue on further lines. The snapshot restores an unrelated path,
/// and the drill reads and hashes the big file's chunks.
#[test]
fn a_file_too_big_for_one_manifest_line_still_restores() {
    let v = test_vault("big file");
    // In the build directory: /tmp may be a small tmpfs.
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let tree = base.path().join("dumps");
    std::fs::create_dir(&tree).unwrap();
    let big = std::fs::File::create(tree.join("population.sql")).unwrap();
    big.set_len(41 << 30).unwrap();
    drop(big);
    std::fs::write(tree.join("notes.txt"), b"the dump of 2026-12-06").unwrap();
    let store = v.dir.path().join("store");
    let j = pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    assert_eq!(j["bytes"], (41u64 << 30) + 22);
    verify_ok(&v, &store);
    let out = v.dir.path().join("out");
    ok(&restore_to(&v, &store, &out, &["dumps/notes.txt"]));
    assert_eq!(
        std::fs::read(out.join("dumps/notes.txt")).unwrap(),
        b"the dump of 2026-12-06"
    );
    let o = run(seif()
        .args(["check", "--read-data", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store));
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("{} bytes", (41u64 << 30) + 22)),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

// ---- 2. Paths the reader refuses.

/// Builds `depth` nested directories of `len`-byte names under `top`
/// through directory handles (the whole path is longer than the kernel
/// takes in one call), with a file at the bottom.
fn deep_tree(top: &Path, depth: usize, len: usize) {
    use rustix::fs::{Mode, OFlags};
    let mut fd = rustix::fs::open(top, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    for i in 0..depth {
        let name = format!("{}", (b'a' + (i % 26) as u8) as char).repeat(len);
        rustix::fs::mkdirat(&fd, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        fd = rustix::fs::openat(
            &fd,
            name.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
    }
    let f = rustix::fs::openat(
        &fd,
        "leaf.txt",
        OFlags::WRONLY | OFlags::CREATE,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&f, b"deep").unwrap();
}

/// A directory with a 250-character name, pushed as `.`, holding paths
/// that are short on disk (relative to it) but longer than the format's
/// 4,096 bytes once the snapshot names them from the top: refused before
/// anything is stored, naming the path.
#[test]
fn a_path_longer_than_the_reader_accepts_is_refused_before_anything_is_stored() {
    let v = test_vault("long paths");
    let top = v.dir.path().join("x".repeat(250));
    std::fs::create_dir(&top).unwrap();
    std::fs::write(top.join("ordinary.txt"), b"fine").unwrap();
    deep_tree(&top, 20, 200);
    let store = v.dir.path().join("store");
    let o = run(push_cmd(&v, &[&store], &[Path::new(".")]).current_dir(&top));
    fails_with(&o, 1, "more than 4096");
    assert!(stderr(&o).contains("nothing was stored"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("leaf.txt") || stderr(&o).contains("aaaa"),
        "{}",
        stderr(&o)
    );
    assert!(
        !store.exists(),
        "nothing was stored, not even an empty store"
    );
}

// ---- 3. Resumed pushes.

/// Killed after two packs, the tree's big dump is regenerated under the
/// same name (same size) before the next run: the resumed push proves
/// every chunk it reuses by its content, so the snapshot holds the new
/// dump, not the stale packs.
#[test]
fn a_resumed_push_takes_the_file_as_it_is_now_not_the_stale_packs() {
    let v = test_vault("stale journal");
    let tree = v.dir.path().join("nightly");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("dump.sql"), content(40 << 20, 1)).unwrap();
    std::fs::write(tree.join("small.txt"), b"small").unwrap();
    let store = v.dir.path().join("store");
    killed_at(push_cmd(&v, &[&store], &[&tree]), "push-pack-journaled#2");
    verify_ok(&v, &store);
    std::fs::write(tree.join("dump.sql"), content(40 << 20, 2)).unwrap();
    let j = pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    assert!(j["resumed_packs"].as_u64().unwrap() >= 2, "{j}");
    let out = v.dir.path().join("out");
    ok(&restore_to(&v, &store, &out, &[]));
    assert_eq!(snapshot_of(&out.join("nightly")), snapshot_of(&tree));
}

/// Killed after the first pack of a tree of many small files; then one
/// early file is deleted and one added: the resumed snapshot holds exactly
/// the tree as it is at the last run (no deleted file, no file missing,
/// none twice).
#[test]
fn a_resumed_push_after_files_were_deleted_and_added_holds_the_tree_as_it_is() {
    let v = test_vault("edited tree");
    let tree = v.dir.path().join("many");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..6000 {
        std::fs::write(tree.join(format!("f{i:05}")), content(1500, i)).unwrap();
    }
    let store = v.dir.path().join("store");
    killed_at(push_cmd(&v, &[&store], &[&tree]), "push-pack-journaled#1");
    std::fs::remove_file(tree.join("f00001")).unwrap();
    std::fs::write(tree.join("f00000-new"), b"added between the runs").unwrap();
    let j = pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    assert_eq!(j["files"], 6000, "{j}");
    let out = v.dir.path().join("out");
    ok(&restore_to(&v, &store, &out, &[]));
    assert_eq!(snapshot_of(&out.join("many")), snapshot_of(&tree));
}

/// A push to two stores killed at each of its write points, in turn: both
/// stores verify straight after the kill, the next run completes, and the
/// snapshot restores from each store. Killed once its data is complete,
/// the next run stores no data again; killed after two packs, it reuses
/// them.
#[test]
fn a_push_killed_at_each_write_point_leaves_valid_stores_and_completes_next_run() {
    let v = test_vault("killed everywhere");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..3 {
        std::fs::write(tree.join(format!("dump{i}")), content(9 << 20, i)).unwrap();
    }
    std::fs::write(tree.join("small"), b"small").unwrap();
    // (point, the data is complete in every store when it is reached)
    let points = [
        ("push-before-open", false),
        ("store-put-renamed#1", false),
        ("push-pack-stored#1", false),
        ("journal-written#1", false),
        ("push-pack-journaled#2", false),
        ("push-lists-stored", false),
        ("push-before-ready", true),
        ("push-ready", true),
        ("push-heads-read", true),
        ("push-record-stored#1", true),
        ("push-record-stored#2", true),
        ("push-index-saved", true),
    ];
    for (point, complete) in points {
        let state = v.dir.path().join("state");
        let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
        for d in [&state, &a, &b] {
            let _ = std::fs::remove_dir_all(d);
        }
        killed_at(push_cmd(&v, &[&a, &b], &[&tree]), point);
        for s in [&a, &b] {
            if s.exists() {
                verify_ok(&v, s);
            }
        }
        let j = pushed(&run(&mut push_cmd(&v, &[&a, &b], &[&tree])));
        if complete {
            assert!(
                j["uploaded_bytes"].as_u64().unwrap() < 1 << 20,
                "killed at {point}, the next run stored data again: {j}"
            );
        }
        if point == "push-pack-journaled#2" {
            assert!(j["resumed_packs"].as_u64().unwrap() >= 2, "{point}: {j}");
        }
        for s in [&a, &b] {
            verify_ok(&v, s);
            let out = v.dir.path().join("out");
            let _ = std::fs::remove_dir_all(&out);
            ok(&restore_to(&v, s, &out, &[]));
            assert_eq!(snapshot_of(&out.join("t")), snapshot_of(&tree), "{point}");
        }
    }
}

// ---- 4. The journal belongs to its owner.

#[test]
fn a_planted_journal_or_a_shared_state_directory_is_refused() {
    let v = test_vault("planted");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), content(3 << 20, 1)).unwrap();
    let store = v.dir.path().join("store");
    // Kill a push so that a journal exists, then see what another user or
    // another pipeline could do to it.
    killed_at(push_cmd(&v, &[&store], &[&tree]), "push-pack-journaled#1");
    let state = v.dir.path().join("state");
    let journal = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".journal"))
        .expect("a journal");
    let genuine = std::fs::read(&journal).unwrap();
    // The same journal written by another pipeline's key (a planted one
    // carries the planter's data key): its MACs do not verify.
    let other = test_vault("planter");
    let other_state = other.dir.path().join("state");
    std::fs::create_dir_all(&other_state).unwrap();
    let text = String::from_utf8(genuine.clone()).unwrap();
    let forged: String = text
        .lines()
        .map(|l| {
            let (json, _) = l.rsplit_once('\t').unwrap();
            format!("{json}\t{}\n", "ab".repeat(32))
        })
        .collect();
    std::fs::write(&journal, forged).unwrap();
    let o = run(&mut push_cmd(&v, &[&store], &[&tree]));
    fails_with(&o, 4, "does not verify");
    assert!(
        stderr(&o).contains(&journal.display().to_string()),
        "{}",
        stderr(&o)
    );
    // Readable by others: not left so by seif.
    std::fs::write(&journal, &genuine).unwrap();
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o644)).unwrap();
    fails_with(
        &run(&mut push_cmd(&v, &[&store], &[&tree])),
        4,
        "readable or writable by others",
    );
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A state directory others can write to.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    fails_with(
        &run(&mut push_cmd(&v, &[&store], &[&tree])),
        4,
        "writable by group or others",
    );
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Owned by another user (root can make one for the test).
    if rustix::process::geteuid().is_root() {
        rustix::fs::chown(&journal, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
        fails_with(
            &run(&mut push_cmd(&v, &[&store], &[&tree])),
            4,
            "owned by user 65534",
        );
        rustix::fs::chown(&journal, Some(rustix::fs::Uid::from_raw(0)), None).unwrap();
        rustix::fs::chown(&state, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
        fails_with(
            &run(&mut push_cmd(&v, &[&store], &[&tree])),
            4,
            "owned by user 65534",
        );
        rustix::fs::chown(&state, Some(rustix::fs::Uid::from_raw(0)), None).unwrap();
    } else {
        skip(
            "the planted-journal half needs root, to plant files of another user (CI runs as root)",
        );
    }
    // The genuine journal, back in place, resumes.
    let j = pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    assert!(j["resumed_packs"].as_u64().unwrap() >= 1, "{j}");
}

/// What a pipeline keeps between pushes never holds a key that opens a
/// finished snapshot: not the data key (raw or hex), not the vault's
/// identity. The journal of a push stopped once the snapshot is complete
/// has dropped its key too.
#[test]
fn the_pipeline_keeps_no_key_to_a_finished_snapshot() {
    let v = test_vault("write-only");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), content(3 << 20, 1)).unwrap();
    let store = v.dir.path().join("store");
    let first = pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    std::fs::write(tree.join("b"), content(1 << 20, 2)).unwrap();
    killed_at(push_cmd(&v, &[&store], &[&tree]), "push-ready");
    let s = seif::store::open(store.to_str().unwrap(), &Default::default()).unwrap();
    let ids: [&dyn age::Identity; 1] = [v.keys.age_identity()];
    let mut secrets: Vec<Vec<u8>> = vec![v.keys.age_identity_text().as_bytes().to_vec()];
    for sid in s
        .list("keys/")
        .unwrap()
        .blobs
        .iter()
        .map(|b| b.key.split('/').nth(1).unwrap().to_owned())
    {
        let sid: seif::ids::SnapshotId = sid.parse().unwrap();
        for e in seif::snapshot::envelopes(s.as_ref(), &sid).unwrap() {
            let k = e.unwrap(&ids, &e.commitment).unwrap();
            secrets.push(k.expose().to_vec());
            secrets.push(hex::encode(k.expose()).into_bytes());
        }
    }
    assert!(
        secrets.len() >= 5,
        "both snapshots' keys found: {}",
        first["snapshot_id"]
    );
    let mut files = vec![v.vault_json.clone(), v.sealer_key.clone()];
    for e in std::fs::read_dir(v.dir.path().join("state")).unwrap() {
        files.push(e.unwrap().path());
    }
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".journal")),
        "the stopped push's journal is there"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for s in &secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_slice()),
                "{} holds a key",
                f.display()
            );
        }
    }
}

// ---- 5. The chain survives honest life.

/// The record is written to one store, and the push is killed before the
/// other: the next run writes it to the other, the same snapshot once in
/// each, and both verify.
#[test]
fn a_record_written_to_one_store_of_two_is_finished_on_the_next_run() {
    let v = test_vault("half recorded");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), content(1 << 20, 1)).unwrap();
    let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
    killed_at(push_cmd(&v, &[&a, &b], &[&tree]), "push-record-stored#1");
    let records = |s: &Path| std::fs::read_dir(s.join("records")).map_or(0, |d| d.count());
    assert_eq!((records(&a), records(&b)), (1, 0));
    let j = pushed(&run(&mut push_cmd(&v, &[&a, &b], &[&tree])));
    assert!(j["finished_interrupted"].is_string(), "{j}");
    assert_eq!(
        (records(&a), records(&b)),
        (2, 2),
        "the finished one, then this run's"
    );
    verify_ok(&v, &a);
    verify_ok(&v, &b);
    for s in [&a, &b] {
        let o = run(seif().args(["ls", "--json", "--store"]).arg(s));
        let l: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let ids: std::collections::BTreeSet<&str> = l["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["snapshot_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 2, "each snapshot once per store");
    }
}

/// A store added to the pipeline later starts its own chain, and gets the
/// earlier objects the new snapshot reuses (copied, ciphertext as it is).
#[test]
fn a_store_added_later_verifies_and_restores() {
    let v = test_vault("new host");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), content(5 << 20, 1)).unwrap();
    let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
    pushed(&run(&mut push_cmd(&v, &[&a], &[&tree])));
    std::fs::write(tree.join("b"), content(1 << 20, 2)).unwrap();
    let j = pushed(&run(&mut push_cmd(&v, &[&a, &b], &[&tree])));
    assert!(j["copied_objects"].as_u64().unwrap() >= 1, "{j}");
    assert_eq!(
        j["records"][1]["previous"],
        serde_json::json!([]),
        "B's chain starts here"
    );
    verify_ok(&v, &a);
    verify_ok(&v, &b);
    let out = v.dir.path().join("out");
    ok(&restore_to(&v, &b, &out, &[]));
    assert_eq!(snapshot_of(&out.join("t")), snapshot_of(&tree));
}

/// Two pushes at once (both read the store's head before either writes)
/// make two heads: the store verifies, and the next push follows both.
#[test]
fn two_pushes_at_once_leave_a_store_that_verifies_and_is_joined_next() {
    let v = test_vault("concurrent");
    let store = v.dir.path().join("store");
    let (t1, t2) = (v.dir.path().join("one"), v.dir.path().join("two"));
    for (t, seed) in [(&t1, 1), (&t2, 2)] {
        std::fs::create_dir(t).unwrap();
        std::fs::write(t.join("f"), content(100_000, seed)).unwrap();
    }
    pushed(&run(&mut push_cmd(&v, &[&store], &[&t1])));
    let flag = v.dir.path().join("pause");
    let mut c = push_cmd(&v, &[&store], &[&t1]);
    std::fs::write(t1.join("g"), b"more").unwrap();
    let paused = c
        .env(
            "SEIF_PAUSE_AT",
            format!("push-heads-read={}", flag.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = PathBuf::from(format!("{}.reached", flag.display()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !reached.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first push never reached its record"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let second = pushed(&run(&mut push_cmd(&v, &[&store], &[&t2])));
    std::fs::write(format!("{}.go", flag.display()), b"").unwrap();
    let first = pushed(&paused.wait_with_output().unwrap());
    assert_eq!(
        first["records"][0]["previous"], second["records"][0]["previous"],
        "both followed the same head"
    );
    verify_ok(&v, &store);
    let third = pushed(&run(&mut push_cmd(&v, &[&store], &[&t2])));
    let mut both = vec![
        first["records"][0]["record"].clone(),
        second["records"][0]["record"].clone(),
    ];
    both.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(
        third["records"][0]["previous"],
        serde_json::Value::Array(both)
    );
    verify_ok(&v, &store);
}

// ---- 6. Screens that lie.

/// A host plants a record whose refusal would quote terminal escapes (a
/// key that clears the screen and prints a false "ok"), and a compromised
/// sealer signs a record whose time carries escapes: `ls` and `verify`
/// print every such byte escaped.
#[test]
fn terminal_escapes_from_the_store_never_reach_the_screen() {
    let v = test_vault("escapes");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), b"a").unwrap();
    let store = v.dir.path().join("store");
    let j = pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    let planted = "{\"body\":{\"\\u001b[2J\\u001b[Hok: every record is signed\":1,\"format\":\"seif-snapshot/2\"},\"signature\":\"00\"}";
    let name = hex::encode(Sha256::digest(planted.as_bytes()));
    std::fs::write(store.join("records").join(&name), planted).unwrap();
    let sealer = seif::sealer::SealerSecretKey::load(&v.sealer_key).unwrap();
    let r = seif::snapshot::record::Record::parse(
        &std::fs::read(
            store
                .join("records")
                .join(j["records"][0]["record"].as_str().unwrap()),
        )
        .unwrap(),
        None,
    )
    .unwrap();
    let mut body = r.body.clone();
    body.time = "2026-12-06T00:00:00Z\u{1b}]0;pwned\u{7}\u{202e}".into();
    body.snapshot_id = seif::ids::SnapshotId::random();
    body.previous = vec![r.hash];
    let (forged, bytes) = seif::snapshot::record::Record::sign(body, &sealer);
    std::fs::write(store.join("records").join(forged.hash.to_hex()), bytes).unwrap();
    for args in [
        vec!["ls"],
        vec!["ls", "--json"],
        vec!["verify", "--vault", v.vault_json.to_str().unwrap()],
    ] {
        let o = run(seif().args(&args).arg("--store").arg(&store));
        for (what, out) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            assert!(
                !out.iter().any(|&b| b == 0x1b || b == 0x07)
                    && !String::from_utf8_lossy(out).contains('\u{202e}'),
                "{args:?} {what} carries raw control characters: {:?}",
                String::from_utf8_lossy(out)
            );
        }
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("\\u{1b}")
                || String::from_utf8_lossy(&o.stdout).contains("\\u{1b}")
                || String::from_utf8_lossy(&o.stdout).contains("\\u001b"),
            "{args:?}: the escape is shown, escaped: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

// ---- 9. Bounded work on hostile input.

/// A manifest made by someone holding a data key (a compromised pipeline)
/// can declare a terabyte made of one small chunk said again and again: a
/// 100 KB store that restores to a full disk. Restore reads the totals the
/// manifest promises first, and refuses what does not fit, before writing
/// anything.
#[test]
fn a_tiny_snapshot_that_claims_a_terabyte_is_refused_before_writing() {
    use seif::ids::{BlobId, Commitment, SnapshotId, VaultId};
    use seif::snapshot::list::{PackRef, Tables};
    use seif::snapshot::manifest::{ChunkRef, Entry, EntryKind, Writer};
    use seif::snapshot::object::{self, Kind, ObjectHeader};
    let v = test_vault("amplified");
    let store_dir = v.dir.path().join("store");
    let store = seif::store::open(store_dir.to_str().unwrap(), &Default::default()).unwrap();
    let key = seif::secrets::DataKey::generate();
    let sid = SnapshotId::random();
    let vault = VaultId(v.descriptor.vault_id());
    let env = seif::snapshot::key_envelope::KeyEnvelope::wrap(
        &key,
        vault,
        sid,
        1,
        &v.descriptor.body().recipients,
    )
    .unwrap();
    store.put(&env.store_key(), &env.to_bytes()).unwrap();
    let chunk = vec![7u8; 8 << 20];
    let mut pack = Vec::new();
    object::seal(
        &ObjectHeader::new(Kind::Pack, vault.0, sid.0),
        &key,
        &chunk,
        &mut pack,
    )
    .unwrap();
    let pack_id = BlobId::of(&pack);
    store
        .put(&seif::snapshot::record::object_key(&pack_id), &pack)
        .unwrap();
    let tb: u64 = 1 << 40;
    let mut w = Writer::new(sid);
    let mut later = Vec::new();
    later.extend(
        w.push(&Entry {
            path: "huge".into(),
            kind: EntryKind::File,
            mode: 0o644,
            mtime: 0,
            size: Some(tb),
            chunks: Some(vec![
                ChunkRef {
                    pack: 0,
                    offset: 0,
                    len: 8 << 20,
                    sha256: Sha256::digest(&chunk).into()
                };
                (tb >> 23) as usize
            ]),
            target: None,
        })
        .unwrap(),
    );
    let (first, last, _) = w.finish().unwrap();
    let mut parts = Vec::new();
    for plain in std::iter::once(first).chain(later).chain(last) {
        let mut obj = Vec::new();
        object::seal(
            &ObjectHeader::new(Kind::Manifest, vault.0, sid.0),
            &key,
            &plain,
            &mut obj,
        )
        .unwrap();
        let id = BlobId::of(&obj);
        store
            .put(&seif::snapshot::record::object_key(&id), &obj)
            .unwrap();
        parts.push((id, obj.len() as u64));
    }
    let tables = Tables {
        bases: vec![],
        packs: vec![PackRef {
            id: pack_id,
            size: pack.len() as u64,
            snapshot: sid,
        }],
        manifest: parts,
    };
    let mut lists = Vec::new();
    for l in tables.clone().into_lists(sid) {
        let (bytes, id) = l.encode();
        store
            .put(&seif::snapshot::record::list_key(&id), &bytes)
            .unwrap();
        lists.push(seif::snapshot::record::ListRef {
            id,
            size: bytes.len() as u64,
        });
    }
    let sealer = seif::sealer::SealerSecretKey::load(&v.sealer_key).unwrap();
    let (r, bytes) = seif::snapshot::record::Record::sign(
        seif::snapshot::record::RecordBody {
            commitment: Commitment(seif::wrap::key_commitment(&key)),
            format: seif::snapshot::record::FORMAT.into(),
            lists,
            previous: vec![],
            sealer: sealer.public().to_string(),
            snapshot_id: sid,
            summary: seif::snapshot::read::summary_of(sid, &tables),
            time: "2026-12-06T00:00:00Z".into(),
            vault_id: vault,
        },
        &sealer,
    );
    store
        .put(&seif::snapshot::record::record_key(&r.hash), &bytes)
        .unwrap();
    let stored: u64 = walk_size(&store_dir);
    assert!(stored < 30 << 20, "the store holds {stored} bytes");
    let out = v.dir.path().join("out");
    let o = restore_to(&v, &store_dir, &out, &[]);
    fails_with(
        &o,
        1,
        &format!("the snapshot holds {tb} bytes, and {} has", out.display()),
    );
    assert!(!out.exists(), "nothing was written");
}

fn walk_size(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        n += if p.is_dir() {
            walk_size(&p)
        } else {
            std::fs::metadata(&p).unwrap().len()
        };
    }
    n
}

// ---- 11. A store whose entries are not files.

/// FIFOs, symlinks to /dev/zero and directories where records, lists and
/// objects belong: `ls`, `verify`, `restore` and `check` each return (no
/// hang, no endless read), naming the odd entry.
#[test]
fn a_store_of_fifos_and_device_links_never_hangs_a_reader() {
    let v = test_vault("odd store");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), content(200_000, 1)).unwrap();
    let store = v.dir.path().join("store");
    let j = pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    let r = seif::snapshot::record::Record::parse(
        &std::fs::read(
            store
                .join("records")
                .join(j["records"][0]["record"].as_str().unwrap()),
        )
        .unwrap(),
        None,
    )
    .unwrap();
    // The snapshot's list becomes a link to /dev/zero; a FIFO is planted
    // where a record would be, and another where an object would be.
    let list = store.join("lists").join(r.body.lists[0].id.to_hex());
    std::fs::remove_file(&list).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &list).unwrap();
    for (dir, name) in [
        ("records", "1".repeat(64)),
        ("objects/ab", format!("ab{}", "2".repeat(62))),
    ] {
        std::fs::create_dir_all(store.join(dir)).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            store.join(dir).join(name),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
    }
    let timed = |c: Command| {
        let mut t = Command::new("timeout");
        t.arg("60").arg(c.get_program()).args(c.get_args());
        let o = run(&mut t);
        assert_ne!(
            o.status.code(),
            Some(124),
            "{:?} hung",
            c.get_args().collect::<Vec<_>>()
        );
        o
    };
    let mut ls = seif();
    ls.args(["ls", "--store"]).arg(&store);
    let o = timed(ls);
    assert!(
        stderr(&o).contains("a FIFO where a record belongs"),
        "{}",
        stderr(&o)
    );
    let mut verify = seif();
    verify
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store);
    let o = timed(verify);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    for fragment in [
        "a FIFO where a record belongs",
        "a FIFO where an object belongs",
        "a symbolic link, not a regular file",
    ] {
        assert!(stderr(&o).contains(fragment), "{fragment}: {}", stderr(&o));
    }
    let mut restore = seif();
    restore
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("out"))
        .arg("latest");
    let o = timed(restore);
    fails_with(&o, 3, "a symbolic link, not a regular file");
    let mut check = seif();
    check
        .args(["check", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store);
    let o = timed(check);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

// ---- 12. A file swapped for a FIFO during the walk.

#[test]
fn a_file_swapped_for_a_fifo_during_the_push_is_skipped_not_waited_on() {
    let v = test_vault("swapped");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a-first"), b"to be swapped").unwrap();
    std::fs::write(tree.join("b-second"), b"stays").unwrap();
    let store = v.dir.path().join("store");
    let flag = v.dir.path().join("pause");
    let child = push_cmd(&v, &[&store], &[&tree])
        .env(
            "SEIF_PAUSE_AT",
            format!("push-before-open={}", flag.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = PathBuf::from(format!("{}.reached", flag.display()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !reached.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never opened a file"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::remove_file(tree.join("a-first")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tree.join("a-first"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    std::fs::write(format!("{}.go", flag.display()), b"").unwrap();
    // A push that waits on the FIFO would wait forever: give it a minute,
    // then kill it and fail, rather than hang the suite.
    let mut child = child;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the push waited on a FIFO put in place of a file");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert!(
        stderr(&o).contains("a-first: no longer a regular file when opened"),
        "{}",
        stderr(&o)
    );
    let out = v.dir.path().join("out");
    ok(&restore_to(&v, &store, &out, &[]));
    assert!(!out.join("t/a-first").exists());
    assert_eq!(std::fs::read(out.join("t/b-second")).unwrap(), b"stays");
}

// ---- 13. Local attackers around a restore's output.

#[test]
fn a_restore_refuses_an_output_it_does_not_own_and_never_follows_a_planted_link() {
    let v = test_vault("outputs");
    let tree = v.dir.path().join("t");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/secret.csv"), b"plaintext").unwrap();
    let store = v.dir.path().join("store");
    pushed(&run(&mut push_cmd(&v, &[&store], &[&tree])));
    // --out is a symlink (to a directory someone else reads).
    let elsewhere = v.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let link = v.dir.path().join("out-link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    fails_with(&restore_to(&v, &store, &link, &[]), 4, "a symbolic link");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    // A resumed restore into a directory where someone planted a link in
    // place of a directory of the snapshot: refused there, nothing written
    // through it.
    let out = v.dir.path().join("out");
    std::fs::create_dir_all(out.join("t")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("t/sub")).unwrap();
    let o = run(seif()
        .args(["restore", "--resume", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&out)
        .arg("latest"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "written through a planted link"
    );
    // An output directory owned by another user.
    if rustix::process::geteuid().is_root() {
        let theirs = v.dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        rustix::fs::chown(&theirs, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
        fails_with(
            &restore_to(&v, &store, &theirs, &[]),
            4,
            "owned by user 65534",
        );
        assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
    } else {
        skip("the other user's directory needs root, to make it (CI runs as root)");
    }
}

//! Day-to-day operation, as restic users would expect it, through the real
//! binaries: `seif sync` (a lagging store brought level, a key rotation's
//! envelopes carried to the host), the recovery views, and streams.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A small tree: a few files in two directories.
fn small_tree(root: &Path, seed: u64) -> PathBuf {
    let t = root.join("registry");
    std::fs::create_dir_all(t.join("harju")).unwrap();
    std::fs::create_dir_all(t.join("tartu")).unwrap();
    std::fs::write(t.join("harju/x.csv"), content(300_000, seed)).unwrap();
    std::fs::write(t.join("harju/y.csv"), content(2_000, seed + 1)).unwrap();
    std::fs::write(t.join("tartu/z.csv"), content(70_000, seed + 2)).unwrap();
    t
}

fn push(v: &TestVault, stores: &[&Path], paths: &[&Path]) -> std::process::Output {
    run(v.push_plain(stores).args(paths))
}

fn verify(vault_json: &Path, store: &Path) -> std::process::Output {
    run(seif()
        .args(["verify", "--vault"])
        .arg(vault_json)
        .arg("--store")
        .arg(store))
}

fn sync(vault_json: &Path, from: &Path, to: &Path, extra: &[&str]) -> std::process::Output {
    run(seif()
        .args(["sync", "--vault"])
        .arg(vault_json)
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to)
        .args(extra))
}

fn restore(v: &TestVault, store: &Path, out: &Path) -> std::process::Output {
    run(v.restore_cmd(store, out).arg("latest"))
}

/// Every file under `dir` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Every blob key of a local store, sorted.
fn blobs(store: &Path) -> Vec<String> {
    files(store).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn sync_brings_a_store_that_missed_a_push_level() {
    let v = test_vault("sync");
    let a = v.dir.path().join("host-a");
    // A store path whose parent is a file: unreachable.
    let blocker = v.dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let b = blocker.join("host-b");
    let tree = small_tree(v.dir.path(), 1);
    let o = push(&v, &[&a, &b], &[&tree]);
    fails_with(&o, 1, "1 of 2 stores failed");
    assert!(
        stderr(&o).contains(&format!("{}: ", b.display())),
        "the failed store is named: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("seif sync --from"), "{}", stderr(&o));
    ok(&verify(&v.vault_json, &a));
    // The host of B comes back (here: at another path) with nothing.
    let b = v.dir.path().join("host-b");
    // A second snapshot, to A only: B now lags by two.
    std::fs::write(tree.join("tartu/new.csv"), content(10_000, 9)).unwrap();
    ok(&push(&v, &[&a], &[&tree]));

    let dry = sync(&v.vault_json, &a, &b, &["--dry-run", "--json"]);
    ok(&dry);
    let d: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(d["copied"]["records"]["blobs"], 2, "{d}");
    assert!(!b.exists(), "a dry run writes nothing");

    let o = sync(&v.vault_json, &a, &b, &["--json"]);
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["copied"]["records"]["blobs"], 2, "{j}");
    assert_eq!(
        j["blobs"], d["blobs"],
        "the dry run said what it would copy"
    );
    assert!(j["copied"]["key_envelopes"]["blobs"].as_u64().unwrap() >= 2);
    assert_eq!(blobs(&a), blobs(&b), "B holds what A holds");
    ok(&verify(&v.vault_json, &b));
    let out = v.dir.path().join("restored");
    ok(&restore(&v, &b, &out));
    assert_eq!(files(&out.join("registry")), files(&tree));

    // Nothing is missing now: a second sync copies nothing, and says so.
    let again = sync(&v.vault_json, &a, &b, &[]);
    ok(&again);
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("copied 0 blobs, 0 bytes (nothing was missing)"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn sync_never_overwrites_or_deletes_in_the_destination() {
    let v = test_vault("sync keeps");
    let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
    let tree = small_tree(v.dir.path(), 2);
    // The first snapshot reaches B by sync, so both stores hold the same
    // record of it. (Pushed to both at once, each store gets its own
    // record, stamped when it is written: when the two stamps fell in
    // different seconds, A's second record followed a record B lacks and
    // whose objects B holds damaged, and the sync rightly refused it.)
    ok(&push(&v, &[&a], &[&tree]));
    ok(&sync(&v.vault_json, &a, &b, &[]));
    let first: Vec<String> = blobs(&b)
        .into_iter()
        .filter(|k| k.starts_with("objects/"))
        .collect();
    // A second snapshot at A only, reusing the first's packs; a third at
    // B only (B's own, which A lacks).
    std::fs::write(tree.join("harju/y.csv"), content(3_000, 30)).unwrap();
    ok(&push(&v, &[&a], &[&tree]));
    std::fs::write(tree.join("harju/y.csv"), content(4_000, 31)).unwrap();
    ok(&push(&v, &[&b], &[&tree]));
    // Every object of the first snapshot is damaged at B: sync from A
    // (which holds them intact) writes none of them again.
    for k in &first {
        std::fs::write(b.join(k), b"damaged at the host").unwrap();
    }
    let before = blobs(&b);
    let o = sync(&v.vault_json, &a, &b, &["--json"]);
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        j["copied"]["records"]["blobs"], 1,
        "the second snapshot: {j}"
    );
    let after = blobs(&b);
    assert!(before.iter().all(|k| after.contains(k)), "nothing deleted");
    for k in &first {
        assert_eq!(
            std::fs::read(b.join(k)).unwrap(),
            b"damaged at the host",
            "{k}: a blob the destination holds is never written again"
        );
    }
}

#[test]
fn sync_from_a_damaged_source_names_it_and_copies_nothing_wrong() {
    let v = test_vault("sync damaged");
    let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
    let tree = small_tree(v.dir.path(), 4);
    ok(&push(&v, &[&a, &b], &[&tree]));
    std::fs::write(tree.join("tartu/later.csv"), content(200_000, 5)).unwrap();
    let o = run(v.push_cmd(&[&a]).arg(&tree));
    ok(&o);
    // The new pack of the second snapshot, damaged at A.
    let new: Vec<String> = blobs(&a)
        .into_iter()
        .filter(|k| k.starts_with("objects/") && !b.join(k).exists())
        .collect();
    assert!(!new.is_empty());
    let victim = &new[0];
    let mut bytes = std::fs::read(a.join(victim)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(a.join(victim), &bytes).unwrap();
    // A third snapshot at A, of another tree: whole, but it follows the
    // damaged one in A's chain.
    let other = v.dir.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let other_tree = small_tree(&other, 50);
    ok(&run(seif()
        .args(["push", "--recheck-budget", "0", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state-2"))
        .arg("--store")
        .arg(&a)
        .arg(&other_tree)));
    let before = blobs(&b);

    let o = sync(&v.vault_json, &a, &b, &[]);
    let name = victim.rsplit('/').next().unwrap();
    fails_with(&o, 3, name);
    fails_with(&o, 3, "its bytes do not match its name");
    fails_with(&o, 3, "follows a record that neither store holds whole");
    assert!(
        !b.join(victim).exists(),
        "the damaged object was not copied"
    );
    let after = blobs(&b);
    assert!(
        !after
            .iter()
            .any(|k| k.starts_with("records/") && !before.contains(k)),
        "no record of the damaged snapshot was copied"
    );
    ok(&verify(&v.vault_json, &b));
}

#[test]
fn sync_refuses_another_vaults_store() {
    let v = test_vault("mine");
    let w = test_vault("theirs");
    let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
    let tree = small_tree(v.dir.path(), 6);
    ok(&push(&w, &[&a], &[&tree]));
    let o = sync(&v.vault_json, &a, &b, &[]);
    fails_with(&o, 4, "holds the snapshots of another vault");
    assert!(!b.exists());
}

#[test]
fn sync_carries_a_rotations_new_envelopes_to_the_host() {
    let v = age_vault(3, 2);
    let tree = v.dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), content(50_000, 6)).unwrap();
    let host = v.dir.path().join("host");
    ok(&run(v.push_plain(&[&host]).arg(&tree)));
    // The custodians take a copy of the store to the air-gapped laptop and
    // rotate there.
    let copy = v.dir.path().join("usb-copy");
    ok(&run(std::process::Command::new("cp")
        .arg("-r")
        .arg(&host)
        .arg(&copy)));
    let new_key = v.dir.path().join("g2.key");
    let recipient = age_identity_file(&new_key);
    let other_key = v.dir.path().join("g2-other.key");
    let other = age_identity_file(&other_key);
    let v2 = v.dir.path().join("v2");
    ok(&run(ceremony()
        .arg("rotate")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--custodian")
        .arg(format!("x=age:{recipient}"))
        .arg("--custodian")
        .arg(format!("y=age:{other}"))
        .arg("--store")
        .arg(&copy)
        .arg("--out")
        .arg(&v2)
        .arg("all")));
    let vault2 = v2.join("vault.json");
    // What comes back from the laptop is the metadata only (the runbook's
    // `store-meta`): records and keys, no lists, no data.
    for dir in ["objects", "lists", "descriptors"] {
        let _ = std::fs::remove_dir_all(copy.join(dir));
    }
    // The host has not got the new envelopes: it fails verify under the
    // new vault.json.
    assert_eq!(verify(&vault2, &host).status.code(), Some(3));
    let o = sync(&vault2, &copy, &host, &["--json"]);
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["copied"]["key_envelopes"]["blobs"], 1, "{j}");
    assert_eq!(j["copied"]["records"]["blobs"], 0, "{j}");
    ok(&verify(&vault2, &host));
    // The new generation opens the snapshot from the host.
    let shares: Vec<std::ffi::OsString> = [
        "--share".into(),
        v2.join("shares/x.share.age").into_os_string(),
        "--identity".into(),
        new_key.clone().into_os_string(),
        "--share".into(),
        v2.join("shares/y.share.age").into_os_string(),
        "--identity".into(),
        other_key.clone().into_os_string(),
    ]
    .into();
    let opened = v.dir.path().join("opened");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(&shares)
        .arg("--store")
        .arg(&host)
        .arg("--out")
        .arg(&opened)
        .arg("latest")));
    let snaps = entries(&opened);
    assert_eq!(snaps.len(), 1);
    assert_eq!(
        std::fs::read(opened.join(&snaps[0]).join("tree/a")).unwrap(),
        content(50_000, 6)
    );
    // And a recovery team granted by the new generation, from the host's
    // envelopes, restores from the host.
    let o = run(seif().args(["ls", "--json", "--store"]).arg(&host));
    ok(&o);
    let l: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sid = l["snapshots"][0]["snapshot_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team = v.dir.path().join("team.key");
    // A post-quantum team key: the rotated vault wraps post-quantum.
    let team_public = pq_identity_file(&team);
    let grants = v.dir.path().join("grants");
    ok(&run(ceremony()
        .arg("grant")
        .arg("--vault")
        .arg(&vault2)
        .args(&shares)
        .arg("--store")
        .arg(&host)
        .arg("--to")
        .arg(&team_public)
        .arg("--out")
        .arg(&grants)
        .arg(&sid)));
    let out = v.dir.path().join("team-out");
    ok(&run(seif()
        .args(["restore", "--identity"])
        .arg(&team)
        .arg("--grant")
        .arg(grants.join(format!("{sid}.grant")))
        .arg("--vault")
        .arg(&vault2)
        .arg("--store")
        .arg(&host)
        .arg("--out")
        .arg(&out)
        .arg("latest")));
    assert_eq!(
        std::fs::read(out.join("tree/a")).unwrap(),
        content(50_000, 6)
    );
}

#[test]
fn sync_refuses_a_forged_envelope() {
    let v = test_vault("sync envelopes");
    let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
    let tree = small_tree(v.dir.path(), 7);
    ok(&push(&v, &[&a, &b], &[&tree]));
    // A host plants an envelope (well formed, named by its hash) that
    // commits to a key no record gives: it opens nothing, and is not
    // carried on.
    let keys = a.join("keys");
    let sid_dir = std::fs::read_dir(&keys)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let real = std::fs::read_dir(&sid_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut env =
        seif::snapshot::key_envelope::KeyEnvelope::parse(&std::fs::read(&real).unwrap()).unwrap();
    env.commitment = seif::ids::Commitment([7; 32]);
    let forged = a.join(env.store_key());
    std::fs::write(&forged, env.to_bytes()).unwrap();
    let o = sync(&v.vault_json, &a, &b, &[]);
    fails_with(&o, 3, "commits to a key that no signed record gives");
    assert!(!b.join(env.store_key()).exists());
}

/// Two snapshots of a tree that changed between them (a file edited, one
/// removed, one added, one made private), with a hostile file name.
fn two_snapshots(v: &TestVault, store: &Path) -> (String, String) {
    let tree = small_tree(v.dir.path(), 10);
    std::fs::write(tree.join("tartu/evil\u{1b}[2J.csv"), b"x").unwrap();
    let snap = |o: std::process::Output| {
        ok(&o);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        j["snapshot_id"].as_str().unwrap().to_owned()
    };
    let push_json = |v: &TestVault| run(v.push_cmd(&[store]).arg(&tree));
    let set_time = |p: &Path, t: u64| {
        std::fs::File::open(p)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
            .unwrap()
    };
    for d in ["harju", "tartu"] {
        set_time(&tree.join(d), 1_700_000_000);
    }
    let first = snap(push_json(v));
    std::fs::write(tree.join("harju/x.csv"), content(300_001, 11)).unwrap();
    set_time(&tree.join("harju/x.csv"), 1_700_000_100);
    std::fs::remove_file(tree.join("harju/y.csv")).unwrap();
    std::fs::write(tree.join("tartu/new.csv"), b"new").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tree.join("tartu/z.csv"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    for d in ["harju", "tartu"] {
        set_time(&tree.join(d), 1_700_000_000);
    }
    let second = snap(push_json(v));
    (first, second)
}

fn keyed(v: &TestVault, cmd: &str, store: &Path) -> std::process::Command {
    let mut c = seif();
    c.arg(cmd)
        .arg("--identity")
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store);
    c
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ls_with_a_key_lists_a_snapshots_files_escaped() {
    let v = test_vault("ls");
    let store = v.dir.path().join("store");
    let (first, _) = two_snapshots(&v, &store);
    // Without a key: the records, as before.
    let o = run(seif().arg("ls").arg("--store").arg(&store));
    ok(&o);
    assert!(stdout(&o).starts_with("snapshot "), "{}", stdout(&o));
    // With one: the files.
    let o = run(keyed(&v, "ls", &store).arg(&first));
    ok(&o);
    let text = stdout(&o);
    assert!(
        text.lines().any(|l| l.starts_with("-rw-")
            && l.contains(" 300000 ")
            && l.ends_with("  registry/harju/x.csv")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("drwx") && l.ends_with("  registry/tartu")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "a raw escape reached the screen");
    assert!(text.contains("evil\\u{1b}[2J.csv"), "{text}");
    // Some paths only, as JSON.
    let o = run(keyed(&v, "ls", &store).args(["--json", &first, "registry/harju"]));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let paths: Vec<&str> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "registry/harju",
            "registry/harju/x.csv",
            "registry/harju/y.csv"
        ]
    );
    assert_eq!(j["entries"][1]["type"], "file");
    assert_eq!(j["entries"][1]["size"], 300_000);
    assert_eq!(j["entries"][0]["type"], "dir");
    // A path it does not hold is named.
    fails_with(
        &run(keyed(&v, "ls", &store).args([&first, "harju"])),
        1,
        "not in snapshot",
    );
}

#[test]
fn find_and_diff_look_into_snapshots() {
    let v = test_vault("find");
    let store = v.dir.path().join("store");
    let (first, second) = two_snapshots(&v, &store);
    let o = run(keyed(&v, "find", &store).args(["--all", "y.csv"]));
    ok(&o);
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(
        lines.len(),
        1,
        "only the first snapshot holds y.csv: {lines:?}"
    );
    assert!(lines[0].starts_with(&first[..12]) && lines[0].ends_with("registry/harju/y.csv"));
    let o = run(keyed(&v, "find", &store).args(["--json", "latest", "registry/**.csv"]));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found: Vec<&str> = j["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        [
            "registry/harju/x.csv",
            "registry/tartu/evil\u{1b}[2J.csv",
            "registry/tartu/new.csv",
            "registry/tartu/z.csv"
        ]
    );
    assert!(
        !stdout(&o).contains('\u{1b}'),
        "JSON is escaped for the screen too"
    );

    let o = run(keyed(&v, "diff", &store).args([&first, &second]));
    ok(&o);
    assert_eq!(
        stdout(&o),
        "M  registry/harju/x.csv  (size, mtime)\n\
         -  registry/harju/y.csv\n\
         +  registry/tartu/new.csv\n\
         M  registry/tartu/z.csv  (mode)\n"
    );
    assert!(
        stderr(&o).contains("1 added, 1 removed, 2 changed"),
        "{}",
        stderr(&o)
    );
    let o = run(keyed(&v, "diff", &store).args(["--json", &second, &second]));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["changes"], serde_json::json!([]));
}

#[test]
fn restore_of_a_missing_path_suggests_the_closest_first() {
    let v = test_vault("suggest");
    let store = v.dir.path().join("store");
    let tree = small_tree(v.dir.path(), 12);
    std::fs::create_dir_all(tree.join("archive/harju")).unwrap();
    std::fs::write(tree.join("archive/x.csv"), b"old").unwrap();
    ok(&push(&v, &[&store], &[&tree]));
    let out = v.dir.path().join("out");
    let o = run(seif()
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&out)
        .args(["latest", "harju/x.csv"]));
    fails_with(
        &o,
        1,
        "'harju/x.csv' (did you mean 'registry/harju/x.csv', 'registry/archive/x.csv'?)",
    );
}

/// `seif push --stdin-name NAME` with `data` on stdin; the JSON summary.
fn push_stdin(
    v: &TestVault,
    store: &Path,
    name: &str,
    data: &[u8],
    paths: &[&Path],
) -> std::process::Output {
    use std::io::Write;
    let mut child = v
        .push_cmd(&[store])
        .args(["--stdin-name", name])
        .args(paths)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    o
}

fn dump_cmd(v: &TestVault, store: &Path, path: &str) -> std::process::Output {
    run(seif()
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store)
        .args(["latest", "--stdout", path]))
}

#[test]
fn a_stream_is_pushed_as_one_file_and_dumped_back() {
    let v = test_vault("streams");
    let store = v.dir.path().join("store");
    let dump = content(20 << 20, 21);
    let tree = small_tree(v.dir.path(), 22);
    let o = push_stdin(&v, &store, "db.sql", &dump, &[&tree]);
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["bytes"], (20 << 20) + 300_000 + 2_000 + 70_000, "{j}");
    // The stream sits beside the tree at the top of the snapshot.
    let o = run(keyed(&v, "ls", &store).args(["--json", "latest", "db.sql"]));
    ok(&o);
    let l: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l["entries"][0]["type"], "file");
    assert_eq!(l["entries"][0]["size"], 20 << 20);
    // Back, byte for byte, on stdout.
    let o = dump_cmd(&v, &store, "db.sql");
    ok(&o);
    assert!(o.stdout == dump, "the dumped bytes differ");
    let o = dump_cmd(&v, &store, "registry/harju/y.csv");
    ok(&o);
    assert_eq!(o.stdout, content(2_000, 23));

    // The same stream again: never skipped as unchanged (there is nothing
    // to compare), but its chunks are found again and not stored twice.
    let o = push_stdin(&v, &store, "db.sql", &dump, &[]);
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["unchanged_files"], 0, "{j}");
    assert_eq!(j["reused_bytes"], 20 << 20, "{j}");
    assert!(j["uploaded_bytes"].as_u64().unwrap() < 1 << 20, "{j}");
    // A different stream under the same name is the new content.
    let other = content(3 << 20, 24);
    ok(&push_stdin(&v, &store, "db.sql", &other, &[]));
    let o = dump_cmd(&v, &store, "db.sql");
    ok(&o);
    assert!(
        o.stdout == other,
        "the second stream was not stored as it is"
    );

    fails_with(
        &push_stdin(&v, &store, "dumps/db.sql", b"x", &[]),
        1,
        "holds a '/': give a file name, not a path",
    );
}

#[test]
fn dump_refuses_a_directory_and_says_a_cut_output_is_incomplete() {
    let v = test_vault("dump");
    let store = v.dir.path().join("store");
    let big = content(20 << 20, 25);
    ok(&push_stdin(&v, &store, "big.bin", &big, &[]));
    let o = dump_cmd(&v, &store, "nothing");
    fails_with(&o, 1, "not in the snapshot: 'nothing'");
    assert!(o.stdout.is_empty());
    let tree = small_tree(v.dir.path(), 26);
    ok(&push(&v, &[&store], &[&tree]));
    let o = dump_cmd(&v, &store, "registry/harju");
    fails_with(&o, 1, "'registry/harju' is a directory, not a file");
    assert!(o.stdout.is_empty());
    let o = dump_cmd(&v, &store, "harju/x.csv");
    fails_with(&o, 1, "did you mean 'registry/harju/x.csv'");

    // The last pack of the big file damaged at the host: what came before
    // it went out, and the command says the output is incomplete.
    let s = seif::store::open(store.to_str().unwrap(), &Default::default()).unwrap();
    let (records, _) = seif::snapshot::load_records(s.as_ref()).unwrap();
    let first = records
        .values()
        .find(|r| r.body.summary.new_bytes > 20 << 20)
        .unwrap();
    let tables = seif::snapshot::read::load_tables(s.as_ref(), first).unwrap();
    assert!(tables.packs.len() >= 3, "{} packs", tables.packs.len());
    let last = tables.packs.last().unwrap().id.to_hex();
    let path = store.join("objects").join(&last[..2]).join(&last);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let o = run(seif()
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store)
        .arg(first.body.snapshot_id.to_hex())
        .args(["--stdout", "big.bin"]));
    fails_with(&o, 3, "the output is incomplete");
    assert!(
        !o.stdout.is_empty() && o.stdout.len() < big.len(),
        "{} bytes out",
        o.stdout.len()
    );
    assert!(
        big.starts_with(&o.stdout),
        "what went out is the file's start"
    );
}

#[test]
fn a_push_goes_on_when_an_s3_host_is_down() {
    let v = test_vault("s3 down");
    let a = v.dir.path().join("a");
    let tree = small_tree(v.dir.path(), 27);
    // Nothing listens on port 1: the S3 store cannot be reached.
    let o = run(v
        .push_plain(&[&a])
        .args(["--store", "s3://embassy/registry"])
        .args([
            "--s3-endpoint",
            "http://127.0.0.1:1",
            "--s3-region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .arg(&tree));
    fails_with(&o, 1, "1 of 2 stores failed: s3://embassy/registry: ");
    assert!(stderr(&o).contains("seif sync --from"), "{}", stderr(&o));
    ok(&verify(&v.vault_json, &a));
}

#[test]
fn sync_between_stores_whose_chains_diverged_keeps_the_destination_valid() {
    let v = test_vault("diverged");
    let (a, b) = (v.dir.path().join("a"), v.dir.path().join("b"));
    let tree = small_tree(v.dir.path(), 40);
    ok(&push(&v, &[&a, &b], &[&tree]));
    std::fs::write(tree.join("harju/y.csv"), b"second").unwrap();
    ok(&push(&v, &[&a], &[&tree]));
    std::fs::write(tree.join("harju/y.csv"), b"third").unwrap();
    // The third snapshot is recorded in both, under a different record in
    // each (each store's record names that store's heads).
    ok(&push(&v, &[&a, &b], &[&tree]));
    let o = sync(&v.vault_json, &a, &b, &["--json"]);
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["copied"]["records"]["blobs"], 1, "the second only: {j}");
    assert!(
        j["notes"].to_string().contains("under another record"),
        "{j}"
    );
    ok(&verify(&v.vault_json, &b));
}

//! Retention (issue 13): `seif prune` frees what the vault's policy
//! expires, by the host's clock, and nothing a kept snapshot needs; a
//! compromised pipeline cannot bend it with forged times, a stale or forged
//! vault.json cannot weaken it, and neither a push running alongside nor a
//! prune killed halfway leaves a snapshot that says ok and will not
//! restore.
//!
//! Time: debug builds read "now" from `SEIF_TEST_NOW`, so a push can claim
//! a day of last month; its record's arrival (the file's modification
//! time in a directory store) is then set to the same day, as the host
//! would have seen it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use seif::retention::{Keep, Policy, Retention};

const DAY: i64 = 86_400;
/// 2026-09-01T12:00:00Z.
const T0: i64 = 1_788_264_000;

fn with_policy(v: &mut TestVault, policy: Option<Policy>) {
    let current = v.descriptor.body().retention.clone();
    let d = v
        .descriptor
        .revise(&v.keys, |b| {
            b.retention = policy.map(|p| Retention::then(current.as_ref(), p));
        })
        .unwrap();
    std::fs::write(&v.vault_json, d.to_json_pretty()).unwrap();
    v.descriptor = d;
}

fn policy(last: u32, daily: u32, monthly: u32, min_age_days: u32) -> Policy {
    Policy {
        keep_last: Keep::Count(last),
        keep_daily: Keep::Count(daily),
        keep_weekly: Keep::Count(0),
        keep_monthly: Keep::Count(monthly),
        keep_yearly: Keep::Count(0),
        min_age_days,
    }
}

fn push_cmd(v: &TestVault, vault_json: &Path, store: &Path, tree: &Path) -> Command {
    let mut c = seif();
    c.args(["push", "--json", "--vault"])
        .arg(vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(store)
        .arg(tree);
    c
}

/// Pushes with the sealer's clock at `claimed`; the record arrives at
/// `arrived`. Returns (snapshot id, record hash).
fn push_at(
    v: &TestVault,
    store: &Path,
    tree: &Path,
    claimed: i64,
    arrived: i64,
) -> (String, String) {
    let o = run(push_cmd(v, &v.vault_json, store, tree).env("SEIF_TEST_NOW", claimed.to_string()));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let record = j["records"][0]["record"].as_str().unwrap().to_owned();
    set_mtime(&store.join("records").join(&record), arrived);
    (j["snapshot_id"].as_str().unwrap().to_owned(), record)
}

fn set_mtime(path: &Path, t: i64) {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_modified(when)
                .set_accessed(when),
        )
        .unwrap();
}

/// Every blob under a store directory, with its mtime set to `t` (the data
/// of a history pushed "last month" arrived then too).
fn age_store(store: &Path, t: i64) {
    for sub in ["objects", "lists", "keys"] {
        for p in files_in(&store.join(sub)) {
            set_mtime(&p, t);
        }
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn prune_cmd(v: &TestVault, vault_json: &Path, store: &Path, now: i64, extra: &[&str]) -> Command {
    let mut c = seif();
    c.env("SEIF_TEST_NOW", now.to_string())
        .args(["prune", "--json", "--vault"])
        .arg(vault_json)
        .arg("--store")
        .arg(store)
        .args(extra);
    let _ = v;
    c
}

fn pruned(o: &Output) -> serde_json::Value {
    ok(o);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn verify_at(v: &TestVault, store: &Path, now: i64) -> Output {
    run(seif()
        .env("SEIF_TEST_NOW", now.to_string())
        .args(["verify", "--json", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store))
}

fn restore(v: &TestVault, store: &Path, snapshot: &str, out: &Path, now: i64) -> Output {
    run(v
        .restore_cmd(store, out)
        .env("SEIF_TEST_NOW", now.to_string())
        .arg(snapshot))
}

/// A tree whose one file changes with `day` (each snapshot stores a pack
/// of its own) beside a file that never changes.
fn day_tree(root: &Path, day: u64) -> PathBuf {
    let tree = root.join("registry");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("constant.bin"), content(300_000, 7)).unwrap();
    std::fs::write(tree.join("today.bin"), content(200_000, 1000 + day)).unwrap();
    tree
}

/// A compromised sealer (still accepted by the vault) pushes 100
/// snapshots in one day, claiming times a year ahead, eleven years back,
/// and honest ones, after 40 days of honest daily pushes. The policy keeps
/// the last 3, 7 dailies and 3 monthlies, nothing younger than 2 days.
/// Prune keeps every real snapshot the policy protects: the dailies of the
/// six days before the attack (the attack's day takes the seventh slot:
/// a burst fills one day, however many snapshots it holds) and the newest
/// of September; forged times are not counted and are kept. Then the
/// store verifies, kept snapshots restore, an expired one says it was
/// pruned, and a kept snapshot's list deleted by hand is named.
#[test]
fn forged_times_from_a_compromised_sealer_cannot_make_prune_delete_what_the_policy_keeps() {
    let mut v = test_vault("retention attack");
    with_policy(&mut v, Some(policy(3, 7, 3, 2)));
    let store = v.dir.path().join("store");
    let mut real = Vec::new();
    for day in 0..40 {
        let t = T0 + day * DAY;
        let tree = day_tree(v.dir.path(), day as u64);
        real.push(push_at(&v, &store, &tree, t, t + 30));
    }
    let attack = T0 + 40 * DAY;
    let tree = day_tree(v.dir.path(), 40);
    for j in 0..100 {
        let claimed = match j % 3 {
            0 => attack + 365 * DAY,
            1 => attack - 4000 * DAY,
            _ => attack + 60,
        };
        push_at(&v, &store, &tree, claimed, attack + j);
    }
    age_store(&store, T0);
    // Day 29 is the last of September; days 30–40 are in October.
    assert!(seif::time::rfc3339(T0 + 29 * DAY).starts_with("2026-09-30"));
    assert!(seif::time::rfc3339(T0 + 30 * DAY).starts_with("2026-10-01"));
    let kept_days: BTreeSet<usize> = (34..40).chain([29]).collect();

    let now = attack + DAY;
    let before = files_in(&store.join("objects")).len();
    let j = pruned(&run(&mut prune_cmd(
        &v,
        &v.vault_json,
        &store,
        now,
        &["--grace", "1"],
    )));
    let fates: std::collections::HashMap<&str, &serde_json::Value> = j["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["record"].as_str().unwrap(), f))
        .collect();
    assert_eq!(fates.len(), 140);
    for (day, (_, record)) in real.iter().enumerate() {
        let expired = fates[record.as_str()]["expired"].as_bool().unwrap();
        assert_eq!(
            expired,
            !kept_days.contains(&day),
            "day {day}: {}",
            fates[record.as_str()]
        );
    }
    assert_eq!(j["expired"], 40 - kept_days.len(), "only real ones expired");
    let uncounted = fates
        .values()
        .filter(|f| {
            f["kept_because"][0]
                .as_str()
                .is_some_and(|r| r.starts_with("not counted"))
        })
        .count();
    assert_eq!(uncounted, 67, "forged times are kept, not counted");
    assert!(j["deleted"]["blobs"].as_u64().unwrap() >= 33 * 2, "{j}");
    assert!(files_in(&store.join("objects")).len() < before);

    // The store verifies; the expired are expired, not missing.
    let o = verify_at(&v, &store, now);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["expired"], 33, "{report}");
    // Kept snapshots restore; an expired one says what happened.
    for day in [29usize, 34, 39] {
        let out = v.dir.path().join(format!("out{day}"));
        ok(&restore(&v, &store, &real[day].0, &out, now));
        assert_eq!(
            std::fs::read(out.join("registry/today.bin")).unwrap(),
            content(200_000, 1000 + day as u64)
        );
    }
    let o = restore(&v, &store, &real[10].0, &v.dir.path().join("out10"), now);
    fails_with(
        &o,
        1,
        "is expired under the vault's retention policy (keep-last 3, keep-daily 7, keep-monthly 3, min-age 2 days)",
    );
    assert!(stderr(&o).contains("arrived at"), "{}", stderr(&o));
    // Without --vault, a hint.
    let o = run(seif()
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("out10b"))
        .arg(&real[10].0));
    assert!(
        stderr(&o).contains("pass --vault to tell"),
        "{}",
        stderr(&o)
    );

    // A host that deletes what the policy keeps is still caught.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("records").join(&real[34].1)).unwrap())
            .unwrap();
    let list = record["body"]["lists"][0]["id"].as_str().unwrap();
    std::fs::remove_file(store.join("lists").join(list)).unwrap();
    let o = verify_at(&v, &store, now);
    assert_eq!(o.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 1, "{report}");
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .contains(&format!("list {list}: missing from the store")),
        "{report}"
    );
    // And prune refuses to guess what that snapshot needed.
    fails_with(
        &run(&mut prune_cmd(&v, &v.vault_json, &store, now, &[])),
        3,
        "prune deletes nothing while it cannot tell what a kept snapshot needs",
    );
}

/// The policy comes only from a vault.json the vault key signed, and the
/// newest one a store has seen: a forged one is refused, and so is a stale
/// one (revision 2, keep-last 1) once a push has published revision 3
/// (keep everything). Nothing is deleted, and a push with the stale one is
/// refused too.
#[test]
fn a_weaker_policy_in_a_forged_or_stale_vault_json_is_refused() {
    let mut v = test_vault("stale policy");
    with_policy(&mut v, Some(policy(1, 0, 0, 1)));
    let stale = v.dir.path().join("vault-rev2.json");
    std::fs::copy(&v.vault_json, &stale).unwrap();
    with_policy(&mut v, Some(Policy::EVERYTHING));
    assert_eq!(v.descriptor.body().revision, 3);
    let store = v.dir.path().join("store");
    for day in 0..3 {
        let tree = day_tree(v.dir.path(), day);
        push_at(
            &v,
            &store,
            &tree,
            T0 + day as i64 * DAY,
            T0 + day as i64 * DAY,
        );
    }
    age_store(&store, T0);
    let now = T0 + 30 * DAY;
    let before = files_in(&store);
    let o = run(&mut prune_cmd(&v, &stale, &store, now, &[]));
    fails_with(&o, 4, "holds revision 3 of this vault's vault.json");
    assert_eq!(files_in(&store), before, "nothing deleted");
    // Forged: the current revision with its policy edited.
    let forged = v.dir.path().join("forged.json");
    let text = std::fs::read_to_string(&v.vault_json).unwrap();
    let edited = text.replacen("\"keep_last\": \"unlimited\"", "\"keep_last\": 1", 1);
    assert_ne!(edited, text);
    std::fs::write(&forged, edited).unwrap();
    fails_with(
        &run(&mut prune_cmd(&v, &forged, &store, now, &[])),
        3,
        "does not verify",
    );
    assert_eq!(files_in(&store), before, "nothing deleted");
    // A verifier with the stale one would excuse what revision 3 keeps.
    let o = run(seif()
        .env("SEIF_TEST_NOW", now.to_string())
        .args(["verify", "--vault"])
        .arg(&stale)
        .arg("--store")
        .arg(&store));
    fails_with(&o, 4, "yours is revision 2, older");
    // A pipeline with the stale one.
    let tree = day_tree(v.dir.path(), 9);
    fails_with(
        &run(&mut push_cmd(&v, &stale, &store, &tree)),
        4,
        "yours is revision 2, older",
    );
    // The current one: keep everything, so only what no record needs goes.
    let j = pruned(&run(&mut prune_cmd(&v, &v.vault_json, &store, now, &[])));
    assert_eq!(j["expired"], 0);
    assert_eq!(j["deleted"]["blobs"], 0);
}

/// A push runs while the host prunes. Its own new objects are younger
/// than the grace period and stay; it completes and restores. A push that
/// reuses an object only an expired snapshot held, which the prune deletes
/// meanwhile, finds it gone before it writes its record: it fails, says
/// so, records nothing, and the next push stores the data afresh.
#[test]
fn a_prune_racing_a_push_never_leaves_a_snapshot_that_will_not_restore() {
    let mut v = test_vault("race");
    with_policy(&mut v, Some(policy(1, 0, 0, 1)));
    let store = v.dir.path().join("store");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("old.bin"), content(3 << 20, 1)).unwrap();
    push_at(&v, &store, &tree, T0, T0);
    std::fs::remove_file(tree.join("old.bin")).unwrap();
    std::fs::write(tree.join("new.bin"), content(1 << 20, 2)).unwrap();
    push_at(&v, &store, &tree, T0 + DAY, T0 + DAY);
    age_store(&store, T0);
    // The file comes back: its chunks lie in the first snapshot's pack,
    // which the second snapshot (kept) does not need.
    std::fs::write(tree.join("old.bin"), content(3 << 20, 1)).unwrap();
    std::fs::write(tree.join("fresh.bin"), content(1 << 20, 3)).unwrap();
    let flag = v.dir.path().join("pause");
    let paused = push_cmd(&v, &v.vault_json, &store, &tree)
        .env(
            "SEIF_PAUSE_AT",
            format!("push-heads-read={}", flag.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&PathBuf::from(format!("{}.reached", flag.display())));
    let now = seif::time::unix_now();
    let j = pruned(&run(&mut prune_cmd(&v, &v.vault_json, &store, now, &[])));
    assert_eq!(j["expired"], 1, "{j}");
    assert!(
        j["young"]["blobs"].as_u64().unwrap() >= 2,
        "the push's own objects stay: {j}"
    );
    std::fs::write(format!("{}.go", flag.display()), b"").unwrap();
    let o = paused.wait_with_output().unwrap();
    fails_with(
        &o,
        1,
        "vanished during the push (a prune, or the host deleted them): nothing was recorded there",
    );
    assert_eq!(files_in(&store.join("records")).len(), 2, "no record");
    ok(&verify_at(&v, &store, now));
    // The next push stores old.bin afresh, and the snapshot restores.
    let o = run(&mut push_cmd(&v, &v.vault_json, &store, &tree));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["uploaded_bytes"].as_u64().unwrap() > 3 << 20, "{j}");
    let out = v.dir.path().join("out");
    ok(&restore(&v, &store, "latest", &out, now));
    assert_eq!(
        std::fs::read(out.join("t/old.bin")).unwrap(),
        content(3 << 20, 1)
    );
    ok(&verify_at(&v, &store, now));
}

fn wait_for(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A prune killed before it deletes, after its first deletion, in the
/// middle and after the batch: each time the store verifies, and the next
/// prune finishes the job, leaving exactly what an uninterrupted prune
/// leaves.
#[test]
fn a_prune_killed_at_each_point_leaves_a_store_that_verifies() {
    let mut v = test_vault("killed prune");
    with_policy(&mut v, Some(policy(2, 0, 0, 1)));
    let pristine = v.dir.path().join("pristine");
    for day in 0..6 {
        let tree = day_tree(v.dir.path(), day);
        push_at(
            &v,
            &pristine,
            &tree,
            T0 + day as i64 * DAY,
            T0 + day as i64 * DAY,
        );
    }
    age_store(&pristine, T0);
    let now = T0 + 30 * DAY;
    let copy = |to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        ok(&run(Command::new("cp").arg("-a").arg(&pristine).arg(to)));
    };
    let reference = v.dir.path().join("reference");
    copy(&reference);
    let j = pruned(&run(&mut prune_cmd(
        &v,
        &v.vault_json,
        &reference,
        now,
        &[],
    )));
    let deleted = j["deleted"]["blobs"].as_u64().unwrap();
    assert!(deleted >= 8, "{j}");
    let after = |s: &Path| -> Vec<PathBuf> {
        files_in(s)
            .iter()
            .map(|p| p.strip_prefix(s).unwrap().to_owned())
            .collect()
    };
    for point in [
        "prune-planned",
        "prune-deleting#1",
        "prune-deleting#2",
        &format!("prune-deleting#{}", deleted / 2),
        "prune-batch-deleted",
    ] {
        let store = v.dir.path().join("store");
        copy(&store);
        let o = run(
            prune_cmd(&v, &v.vault_json, &store, now, &["--threads", "1"])
                .env("SEIF_KILL_AT", point),
        );
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            Some(9),
            "{point}: {}",
            stderr(&o)
        );
        ok(&verify_at(&v, &store, now));
        pruned(&run(&mut prune_cmd(&v, &v.vault_json, &store, now, &[])));
        assert_eq!(after(&store), after(&reference), "{point}");
        ok(&verify_at(&v, &store, now));
    }
}

/// Five snapshots of an unchanged tree: the last reuses the first's packs.
/// Keep-last 1 expires the first four, yet the first's packs and key
/// envelope stay, because the kept snapshot needs them: it restores and
/// passes the drill; only the expired snapshots' own lists and manifests
/// go.
#[test]
fn a_kept_incremental_snapshot_keeps_what_it_reuses_from_expired_ones() {
    let mut v = test_vault("incremental retention");
    with_policy(&mut v, Some(policy(1, 0, 0, 1)));
    let store = v.dir.path().join("store");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("big.bin"), content(12 << 20, 5)).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut snaps = Vec::new();
    for day in 0..5 {
        snaps.push(push_at(&v, &store, &tree, T0 + day * DAY, T0 + day * DAY));
    }
    age_store(&store, T0);
    let first_packs = files_in(&store.join("keys").join(&snaps[0].0));
    assert_eq!(first_packs.len(), 1, "the first snapshot's key envelope");
    let now = T0 + 30 * DAY;
    let j = pruned(&run(&mut prune_cmd(&v, &v.vault_json, &store, now, &[])));
    assert_eq!(j["expired"], 4, "{j}");
    assert!(
        j["deleted"]["blobs"].as_u64().unwrap() >= 4,
        "their lists and manifests: {j}"
    );
    assert_eq!(
        files_in(&store.join("keys").join(&snaps[0].0)),
        first_packs,
        "the base's key envelope stays"
    );
    assert!(
        files_in(&store.join("keys").join(&snaps[1].0)).is_empty(),
        "an unneeded one goes"
    );
    ok(&verify_at(&v, &store, now));
    let out = v.dir.path().join("out");
    ok(&restore(&v, &store, &snaps[4].0, &out, now));
    assert_eq!(
        std::fs::read(out.join("t/big.bin")).unwrap(),
        content(12 << 20, 5)
    );
    ok(&run(seif()
        .env("SEIF_TEST_NOW", now.to_string())
        .args(["check", "--read-data", "--identity"])
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store)));
    // The base itself is expired: restoring it says so.
    fails_with(
        &restore(&v, &store, &snaps[0].0, &v.dir.path().join("out0"), now),
        1,
        "is expired under the vault's retention policy",
    );
}

/// Without a policy the vault keeps every snapshot: prune only removes
/// what no record names (an abandoned push's objects) once they are older
/// than the grace period, and `seif forget` changes nothing.
#[test]
fn without_a_policy_prune_only_frees_what_no_record_names() {
    let v = test_vault("no policy");
    let store = v.dir.path().join("store");
    let tree = day_tree(v.dir.path(), 0);
    push_at(&v, &store, &tree, T0, T0);
    // An abandoned push: objects stored, no record.
    let tree = day_tree(v.dir.path(), 1);
    let o =
        run(push_cmd(&v, &v.vault_json, &store, &tree).env("SEIF_KILL_AT", "push-lists-stored"));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9)
    );
    ok(&run(seif()
        .args(["push", "--abandon", "--state-dir"])
        .arg(v.dir.path().join("state"))));
    let before = files_in(&store);
    let now = seif::time::unix_now();
    // Young: kept.
    let j = pruned(&run(&mut prune_cmd(&v, &v.vault_json, &store, now, &[])));
    assert_eq!(j["deleted"]["blobs"], 0, "{j}");
    assert!(j["young"]["blobs"].as_u64().unwrap() >= 2, "{j}");
    // `forget` shows, and changes nothing.
    let o = run(seif()
        .env("SEIF_TEST_NOW", (now + 30 * DAY).to_string())
        .args(["forget", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store));
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("keep every snapshot"), "{text}");
    assert!(text.contains("would delete"), "{text}");
    assert_eq!(files_in(&store), before, "forget changes nothing");
    // A month later: the abandoned objects go, the snapshot stays whole.
    let j = pruned(&run(&mut prune_cmd(
        &v,
        &v.vault_json,
        &store,
        now + 30 * DAY,
        &[],
    )));
    assert!(j["deleted"]["blobs"].as_u64().unwrap() >= 2, "{j}");
    assert_eq!(j["expired"], 0);
    ok(&verify_at(&v, &store, now + 30 * DAY));
    let out = v.dir.path().join("out");
    ok(&restore(&v, &store, "latest", &out, now));
}

/// The policy is set in a ceremony: a threshold of shares, vault.json
/// re-signed and logged (the log verifies), `show` states it; a prune then
/// follows it, and a stale copy of the old vault.json is refused once the
/// new one was published. Too few shares change nothing.
#[test]
fn the_policy_is_set_in_a_ceremony_and_hosts_follow_it() {
    let v = age_vault(3, 2);
    let before = std::fs::read(&v.vault_json).unwrap();
    let stale = v.dir.path().join("stale.json");
    std::fs::write(&stale, &before).unwrap();
    let set = |shares: &[usize]| {
        run(ceremony()
            .args([
                "retention",
                "set",
                "--keep-last",
                "2",
                "--keep-daily",
                "7",
                "--keep-yearly",
                "unlimited",
                "--min-age",
                "3",
            ])
            .arg("--vault")
            .arg(&v.vault_json)
            .args(v.share_args(shares)))
    };
    fails_with(&set(&[0]), 4, "");
    assert_eq!(
        std::fs::read(&v.vault_json).unwrap(),
        before,
        "one share changes nothing"
    );
    let o = set(&[0, 2]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("keep-last 2, keep-daily 7, keep-yearly unlimited, min-age 3 days"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    let r = d.body().retention.clone().unwrap();
    assert_eq!(r.policy.keep_last, Keep::Count(2));
    assert_eq!(r.policy.keep_yearly, Keep::Unlimited);
    assert!(r.earlier.is_empty());
    ok(&run(ceremony()
        .args(["log", "verify"])
        .arg(v.vault_dir.join("ceremony.log"))
        .arg("--vault")
        .arg(&v.vault_json)));
    let o = run(ceremony().args(["show", "--vault"]).arg(&v.vault_json));
    assert!(String::from_utf8_lossy(&o.stdout).contains("retention          keep-last 2"));
    // The same policy again is refused; a new one keeps the old in `earlier`.
    fails_with(&set(&[1, 2]), 1, "already");
    ok(&run(ceremony()
        .args(["retention", "set", "--keep-last", "unlimited"])
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))));
    let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    let r = d.body().retention.clone().unwrap();
    assert!(r.policy.keeps_everything());
    assert_eq!(r.earlier.len(), 1);
    // A host follows it: a push publishes it, and the stale one is refused.
    let store = v.dir.path().join("store");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("f"), b"x").unwrap();
    ok(&run(seif()
        .args(["push", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(&store)
        .arg(&tree)));
    let o = run(seif()
        .args(["forget", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store));
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("policy: keep every snapshot (vault.json revision 3)")
    );
    fails_with(
        &run(seif()
            .args(["prune", "--vault"])
            .arg(&stale)
            .arg("--store")
            .arg(&store)),
        4,
        "holds revision 3 of this vault's vault.json",
    );
}

//! Every ceremony step killed (SIGKILL, as a power cut) at each named
//! point where it writes (`seif::killpoint`): after a temporary file,
//! before a rename, between vault.json and the log, between the log and
//! the outputs. The kill lands for certain: the process says where it died
//! and dies of SIGKILL there.
//!
//! After each kill: nothing half-written is visible under any name;
//! vault.json verifies and the log verifies against it (`log verify`
//! cross-checks the vault.json revisions the log records); the step is
//! either absent (log and vault.json unchanged, no output) or in the log;
//! and every output that appeared is in the log. Then the next run
//! succeeds, and afterwards every step that happened is in the log once.
//!
//! A step killed after its entry and before vault.json was replaced is
//! completed by the next step from the log (the entry carries the new
//! vault.json). A step killed after its entry and before its outputs were
//! renamed into place leaves the entry and no output: the log may record an
//! output that never appeared (the step is then run again), never the
//! reverse.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// Runs `cmd` to be killed at `point` (`NAME` or `NAME#N`), and checks it
/// died there.
#[track_caller]
fn kill(cmd: &mut Command, point: &str) -> Output {
    if !cfg!(debug_assertions) {
        panic!("kill points exist only in debug builds: run these tests without --release");
    }
    let o = run(cmd.env(seif::killpoint::ENV, point));
    let name = point.split('#').next().unwrap();
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{point}: the step was not killed ({:?}): {}",
        o.status,
        stderr(&o)
    );
    assert!(
        stderr(&o).contains(&format!("seif: killed at {name}\n")),
        "{point}: killed elsewhere: {}",
        stderr(&o)
    );
    o
}

/// The events of a log, in order.
fn events(log: &Path) -> Vec<String> {
    seif::ceremony::log::CeremonyLog::open(log)
        .unwrap()
        .entries()
        .iter()
        .map(|e| e.body.event.clone())
        .collect()
}

/// `log verify` (chain, signatures, and the vault.json revisions it
/// records against vault.json) passes.
#[track_caller]
fn log_verifies(vault_json: &Path) {
    let log = vault_json.with_file_name("ceremony.log");
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(&log)
        .arg("--vault")
        .arg(vault_json));
    ok(&o);
}

/// Nothing half-written under a visible name in `dir`: every entry is one
/// of `allowed`, or a hidden temporary (`.NAME.seif-tmp-…`).
#[track_caller]
fn only(dir: &Path, allowed: &[&str]) {
    if !dir.exists() {
        return;
    }
    for name in entries(dir) {
        assert!(
            allowed.contains(&name.as_str())
                || (name.starts_with('.') && name.contains(".seif-tmp-")),
            "{}: unexpected {name}",
            dir.display()
        );
    }
}

fn open_cmd(
    v: &AgeVault,
    vault_json: &Path,
    shares: &[usize],
    out: &Path,
    input: &Path,
) -> Command {
    let mut c = ceremony();
    c.arg("open")
        .arg("--vault")
        .arg(vault_json)
        .args(v.share_args(shares))
        .arg("--out")
        .arg(out)
        .arg(input);
    c
}

fn age_custodian(label: &str) -> String {
    format!(
        "{label}=age:{}",
        age::x25519::Identity::generate().to_public()
    )
}

#[test]
fn init_killed_at_each_write_point() {
    for point in [
        "vault-dir:shares-staged",
        "vault-dir:descriptor-staged",
        "log:before-append",
        "log:appended",
        "vault-dir:staged",
        "vault-dir:renamed",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("v");
        let init = |c: &mut Command| {
            c.args(["init", "--name", "k", "--threshold", "2"])
                .args(["--custodian", &age_custodian("a")])
                .args(["--custodian", &age_custodian("b")])
                .arg("--out")
                .arg(&out);
        };
        let mut c = ceremony();
        init(&mut c);
        kill(&mut c, point);
        // A vault directory appears whole, at once, or not at all.
        only(dir.path(), &["v"]);
        assert_eq!(out.exists(), point == "vault-dir:renamed", "{point}");
        if !out.exists() {
            let mut c = ceremony();
            init(&mut c);
            ok(&run(&mut c));
        }
        let vault_json = out.join("vault.json");
        seif::descriptor::Descriptor::load(&vault_json).unwrap();
        assert_eq!(entries(&out), ["ceremony.log", "shares", "vault.json"]);
        assert_eq!(entries(&out.join("shares")), ["a.share.age", "b.share.age"]);
        assert_eq!(events(&out.join("ceremony.log")), ["init"], "{point}");
        log_verifies(&vault_json);
        ok(&run(ceremony().arg("show").arg("--vault").arg(&vault_json)));
    }
}

#[test]
fn open_killed_at_each_write_point() {
    let data = content(300_000, 7);
    for point in [
        "open:temp-written",
        "log:before-append",
        "log:appended",
        "open:logged",
        "open:committed",
    ] {
        let v = age_vault(3, 2);
        let sealed = v.seal("d.seif", &data);
        let log = v.vault_dir.join("ceremony.log");
        let out = v.dir.path().join("out");
        kill(
            &mut open_cmd(&v, &v.vault_json, &[0, 1], &out, &sealed),
            point,
        );
        let logged = events(&log).last().map(String::as_str) == Some("open");
        assert_eq!(
            logged,
            !matches!(point, "open:temp-written" | "log:before-append"),
            "{point}"
        );
        only(&out, &["d"]);
        let opened = out.join("d");
        assert_eq!(opened.exists(), point == "open:committed", "{point}");
        if opened.exists() {
            assert!(logged, "{point}: an output in place is in the log");
            assert_eq!(std::fs::read(&opened).unwrap(), data, "an output is whole");
        }
        log_verifies(&v.vault_json);
        let again = v.dir.path().join("again");
        ok(&run(&mut open_cmd(
            &v,
            &v.vault_json,
            &[1, 2],
            &again,
            &sealed,
        )));
        assert_eq!(std::fs::read(again.join("d")).unwrap(), data);
        let expected: &[&str] = if logged {
            &["init", "open", "open"]
        } else {
            &["init", "open"]
        };
        assert_eq!(events(&log), expected, "{point}");
        log_verifies(&v.vault_json);
    }
}

#[test]
fn grant_killed_at_each_write_point() {
    for point in [
        "log:before-append",
        "log:appended",
        "grant:logged",
        "grant:temp-written",
        "grant:committed",
    ] {
        let v = age_vault(3, 2);
        let sealed = v.seal("d.seif", b"granted");
        let log = v.vault_dir.join("ceremony.log");
        let out = v.dir.path().join("grants");
        let team = seif::pq::HybridIdentity::generate().to_public().to_string();
        let grant = |out: &Path| {
            let mut c = ceremony();
            c.arg("grant")
                .arg("--vault")
                .arg(&v.vault_json)
                .args(v.share_args(&[0, 1]))
                .arg("--to")
                .arg(&team)
                .arg("--out")
                .arg(out)
                .arg(&sealed);
            c
        };
        kill(&mut grant(&out), point);
        let logged = events(&log).last().map(String::as_str) == Some("grant");
        assert_eq!(logged, point != "log:before-append", "{point}");
        only(&out, &["d.seif.grant"]);
        let file = out.join("d.seif.grant");
        assert_eq!(file.exists(), point == "grant:committed", "{point}");
        if file.exists() {
            let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
            seif::ceremony::grant::Grant::from_json(&std::fs::read(&file).unwrap())
                .expect("a grant is whole")
                .verify(&d)
                .expect("a grant verifies");
        }
        log_verifies(&v.vault_json);
        ok(&run(&mut grant(&v.dir.path().join("again"))));
        assert_eq!(
            events(&log).iter().filter(|e| *e == "grant").count(),
            if logged { 2 } else { 1 }
        );
        log_verifies(&v.vault_json);
    }
}

/// `sealers add` rewrites vault.json in place: killed anywhere between its
/// log entry and the rename of vault.json, the next step completes it.
#[test]
fn sealers_add_killed_at_each_write_point() {
    for point in [
        "log:before-append",
        "log:appended",
        "descriptor:logged",
        "descriptor:temp-written",
        "descriptor:renamed",
    ] {
        let v = age_vault(3, 2);
        let sealed = v.seal("d.seif", b"x");
        let log = v.vault_dir.join("ceremony.log");
        let key = seif::sealer::SealerSecretKey::generate().public();
        let add = || {
            let mut c = ceremony();
            c.args(["sealers", "add", "--label", "new"])
                .arg("--vault")
                .arg(&v.vault_json)
                .args(v.share_args(&[0, 1]))
                .arg(key.to_string());
            c
        };
        kill(&mut add(), point);
        only(&v.vault_dir, &["ceremony.log", "shares", "vault.json"]);
        let d = seif::descriptor::Descriptor::load(&v.vault_json).expect("vault.json is whole");
        let logged = events(&log).last().map(String::as_str) == Some("sealers-add");
        assert_eq!(logged, point != "log:before-append", "{point}");
        assert_eq!(
            d.body().revision,
            if point == "descriptor:renamed" { 2 } else { 1 }
        );
        if !logged {
            // Absent: nothing changed; run it again.
            ok(&run(&mut add()));
        }
        // The next step (here an open) completes a logged step whose
        // vault.json was not written yet, and says so.
        let o = run(&mut open_cmd(
            &v,
            &v.vault_json,
            &[1, 2],
            &v.dir.path().join("o"),
            &sealed,
        ));
        ok(&o);
        let completes = logged && point != "descriptor:renamed";
        assert_eq!(
            stderr(&o).contains("seif-ceremony: the step of log entry 2 (sealers-add) was interrupted before it wrote vault.json; vault.json revision 2 was written from the log, completing it"),
            completes,
            "{point}: {}",
            stderr(&o)
        );
        let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
        assert_eq!(d.body().revision, 2);
        assert!(d.accepts_sealer(&key));
        assert_eq!(events(&log), ["init", "sealers-add", "open"], "{point}");
        log_verifies(&v.vault_json);
    }
}

/// The step that makes a verified pending share set active (the first step
/// that brings the key back after the threshold of acknowledgements), with
/// `sealers remove` as that step's own in-place revision after it.
#[test]
fn share_set_activation_killed_at_each_write_point() {
    for point in [
        "log:before-append#1",
        "log:appended#1",
        "descriptor:logged#1",
        "descriptor:temp-written#1",
        "descriptor:renamed#1",
        "log:appended#2",
        "descriptor:temp-written#2",
    ] {
        let v = age_vault(3, 2);
        let (new_ids, recipients): (Vec<PathBuf>, Vec<String>) = (0..3)
            .map(|i| {
                let p = v.dir.path().join(format!("n{i}.key"));
                let r = age_identity_file(&p).to_string();
                (p, r)
            })
            .unzip();
        let v2 = v.dir.path().join("v2");
        let mut c = ceremony();
        c.arg("reshare")
            .arg("--vault")
            .arg(&v.vault_json)
            .args(v.share_args(&[0, 1]))
            .args(["--threshold", "2"]);
        for (i, r) in recipients.iter().enumerate() {
            c.arg("--custodian").arg(format!("n{i}=age:{r}"));
        }
        ok(&run(c.arg("--out").arg(&v2)));
        let vault2 = v2.join("vault.json");
        let share = |i: usize| v2.join("shares").join(format!("n{i}.share.age"));
        for i in [0, 1] {
            ok(&run(ceremony()
                .arg("verify-share")
                .arg("--vault")
                .arg(&vault2)
                .arg("--identity")
                .arg(&new_ids[i])
                .arg(share(i))));
        }
        let log = v2.join("ceremony.log");
        let before = events(&log);
        let pending = seif::descriptor::Descriptor::load(&vault2)
            .unwrap()
            .pending_set()
            .unwrap()
            .id
            .clone();
        // The sealer the vault accepts, removed by a step that first
        // activates the new set.
        let remove = || {
            let mut c = ceremony();
            c.args(["sealers", "remove"])
                .arg("--vault")
                .arg(&vault2)
                .arg("--share")
                .arg(share(1))
                .arg("--identity")
                .arg(&new_ids[1])
                .arg("--share")
                .arg(share(2))
                .arg("--identity")
                .arg(&new_ids[2])
                .arg(&v.sealer_public);
            c
        };
        kill(&mut remove(), point);
        only(&v2, &["ceremony.log", "shares", "vault.json"]);
        seif::descriptor::Descriptor::load(&vault2).expect("vault.json is whole");
        let after: Vec<String> = events(&log)[before.len()..].to_vec();
        let expected_after: &[&str] = match point {
            "log:before-append#1" => &[],
            "log:appended#2" | "descriptor:temp-written#2" => &["activate", "sealers-remove"],
            _ => &["activate"],
        };
        assert_eq!(after, expected_after, "{point}");
        if after.contains(&"sealers-remove".to_owned()) {
            // The removal is logged: the next step (here a custodian's
            // check) completes it.
            ok(&run(ceremony()
                .arg("verify-share")
                .arg("--vault")
                .arg(&vault2)
                .arg("--identity")
                .arg(&new_ids[2])
                .arg(share(2))));
        } else {
            // The removal did not happen (its activation may have): run it
            // again; it first completes what was logged.
            ok(&run(&mut remove()));
        }
        let d = seif::descriptor::Descriptor::load(&vault2).unwrap();
        assert_eq!(d.active_set().id, pending, "{point}");
        assert!(d.body().sealers.is_empty(), "{point}");
        let after: Vec<String> = events(&log)[before.len()..].to_vec();
        assert_eq!(
            after.iter().filter(|e| *e == "activate").count(),
            1,
            "{point}: {after:?}"
        );
        assert_eq!(
            after.iter().filter(|e| *e == "sealers-remove").count(),
            1,
            "{point}: {after:?}"
        );
        log_verifies(&vault2);
    }
}

#[test]
fn reshare_killed_at_each_write_point() {
    for point in [
        "vault-dir:shares-staged",
        "vault-dir:descriptor-staged",
        "log:appended",
        "vault-dir:staged",
        "vault-dir:renamed",
    ] {
        let v = age_vault(3, 2);
        let old_log = std::fs::read(v.vault_dir.join("ceremony.log")).unwrap();
        let old_json = std::fs::read(&v.vault_json).unwrap();
        let out = v.dir.path().join("v2");
        let reshare = || {
            let mut c = ceremony();
            c.arg("reshare")
                .arg("--vault")
                .arg(&v.vault_json)
                .args(v.share_args(&[1, 2]))
                .args(["--threshold", "2"])
                .args(["--custodian", &age_custodian("p")])
                .args(["--custodian", &age_custodian("q")])
                .arg("--out")
                .arg(&out);
            c
        };
        kill(&mut reshare(), point);
        // The old directory is untouched; the new one is whole or absent.
        assert_eq!(
            std::fs::read(v.vault_dir.join("ceremony.log")).unwrap(),
            old_log
        );
        assert_eq!(std::fs::read(&v.vault_json).unwrap(), old_json);
        assert_eq!(out.exists(), point == "vault-dir:renamed", "{point}");
        if !out.exists() {
            ok(&run(&mut reshare()));
        }
        assert_eq!(events(&out.join("ceremony.log")), ["init", "reshare"]);
        log_verifies(&out.join("vault.json"));
        log_verifies(&v.vault_json);
    }
}

#[test]
fn rotate_killed_at_each_write_point() {
    for point in [
        "rotate:file-rewrapped",
        "rotate:key-added",
        "log:appended",
        "vault-dir:staged",
        "vault-dir:renamed",
    ] {
        let v = age_vault(3, 2);
        let data = content(200_000, 3);
        let sealed = v.seal("d.seif", &data);
        let tree = v.dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::fs::write(tree.join("f"), &data).unwrap();
        let store = v.dir.path().join("store");
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
        let keys: Vec<PathBuf> = (0..2)
            .map(|i| v.dir.path().join(format!("g2-{i}.key")))
            .collect();
        let recipients: Vec<String> = keys
            .iter()
            .map(|k| age_identity_file(k).to_string())
            .collect();
        let out = v.dir.path().join("v2");
        let rotate = || {
            let mut c = ceremony();
            c.arg("rotate")
                .arg("--vault")
                .arg(&v.vault_json)
                .args(v.share_args(&[0, 2]))
                .arg("--custodian")
                .arg(format!("x=age:{}", recipients[0]))
                .arg("--custodian")
                .arg(format!("y=age:{}", recipients[1]))
                .arg("--store")
                .arg(&store)
                .arg("--out")
                .arg(&out)
                .arg(&sealed)
                .arg("all");
            c
        };
        kill(&mut rotate(), point);
        assert_eq!(out.exists(), point == "vault-dir:renamed", "{point}");
        // The store stays valid for the old vault (a key envelope of a
        // rotation that never finished is wrapped to a key nobody holds).
        ok(&run(seif()
            .args(["verify", "--vault"])
            .arg(&v.vault_json)
            .arg("--store")
            .arg(&store)));
        log_verifies(&v.vault_json);
        if !out.exists() {
            ok(&run(&mut rotate()));
        }
        let vault2 = out.join("vault.json");
        assert_eq!(events(&out.join("ceremony.log")), ["init", "rotate"]);
        log_verifies(&vault2);
        ok(&run(seif()
            .args(["verify", "--vault"])
            .arg(&vault2)
            .arg("--store")
            .arg(&store)));
        let opened = v.dir.path().join("opened");
        ok(&run(ceremony()
            .arg("open")
            .arg("--vault")
            .arg(&vault2)
            .arg("--share")
            .arg(out.join("shares/x.share.age"))
            .arg("--identity")
            .arg(&keys[0])
            .arg("--share")
            .arg(out.join("shares/y.share.age"))
            .arg("--identity")
            .arg(&keys[1])
            .arg("--out")
            .arg(&opened)
            .arg(out.join("rotated/d.seif"))));
        assert_eq!(std::fs::read(opened.join("d")).unwrap(), data);
    }
}

#[test]
fn verify_share_killed_at_each_write_point() {
    for point in ["verify-share:checked", "log:before-append", "log:appended"] {
        let v = age_vault(3, 2);
        let log = v.vault_dir.join("ceremony.log");
        let check = || {
            let mut c = ceremony();
            c.arg("verify-share")
                .arg("--vault")
                .arg(&v.vault_json)
                .arg("--identity")
                .arg(&v.identities[0])
                .arg(v.share_file(0));
            c
        };
        kill(&mut check(), point);
        let logged = point == "log:appended";
        assert_eq!(events(&log).len(), if logged { 2 } else { 1 }, "{point}");
        log_verifies(&v.vault_json);
        ok(&run(&mut check()));
        assert_eq!(
            events(&log),
            if logged {
                vec!["init", "verify-share", "verify-share"]
            } else {
                vec!["init", "verify-share"]
            }
        );
        log_verifies(&v.vault_json);
    }
}

/// `open --store`: each snapshot is restored into a hidden directory and
/// renamed into place only once the step is logged.
#[test]
fn open_of_a_snapshot_killed_at_each_write_point() {
    let data = content(100_000, 11);
    for point in [
        "open:restored",
        "log:appended",
        "open:logged",
        "open:committed",
    ] {
        let v = age_vault(3, 2);
        let tree = v.dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::fs::write(tree.join("f"), &data).unwrap();
        let store = v.dir.path().join("store");
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
        let log = v.vault_dir.join("ceremony.log");
        let open = |out: &Path| {
            let mut c = ceremony();
            c.arg("open")
                .arg("--vault")
                .arg(&v.vault_json)
                .args(v.share_args(&[0, 1]))
                .arg("--store")
                .arg(&store)
                .arg("--out")
                .arg(out)
                .arg("latest");
            c
        };
        let out = v.dir.path().join("out");
        kill(&mut open(&out), point);
        let logged = events(&log).last().map(String::as_str) == Some("open");
        assert_eq!(logged, point != "open:restored", "{point}");
        let visible: Vec<String> = entries(&out)
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert_eq!(
            visible.len(),
            usize::from(point == "open:committed"),
            "{point}: {visible:?}"
        );
        for id in &visible {
            assert!(logged);
            assert_eq!(std::fs::read(out.join(id).join("tree/f")).unwrap(), data);
        }
        log_verifies(&v.vault_json);
        let again = v.dir.path().join("again");
        ok(&run(&mut open(&again)));
        log_verifies(&v.vault_json);
    }
}

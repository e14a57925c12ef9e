//! Snapshots on S3-compatible storage: a three-node Garage cluster on
//! loopback (replication factor 3), started by `scripts/test`
//! (`scripts/garage start`). Without it these tests are skipped
//! (`common::skip`: shown, and counted by `scripts/test`), unless `SEIF_CI`
//! is set (CI), where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The fault test kills nodes: the tests of this file take turns.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Garage {
    endpoint: String,
    bucket: String,
}

fn garage(test: &str) -> Option<Garage> {
    match (
        std::env::var("SEIF_TEST_S3_ENDPOINT"),
        std::env::var("SEIF_TEST_S3_BUCKET"),
    ) {
        (Ok(endpoint), Ok(bucket)) => Some(Garage { endpoint, bucket }),
        _ => {
            skip(&format!(
                "{test}: no S3 server; `scripts/test` starts a Garage cluster when Garage is installed (scripts/garage install)"
            ));
            None
        }
    }
}

impl Garage {
    fn store(&self, name: &str) -> String {
        format!(
            "s3://{}/{name}-{}",
            self.bucket,
            hex::encode(seif::secrets::random_array::<4>())
        )
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--s3-endpoint".into(),
            self.endpoint.clone(),
            "--s3-region".into(),
            "garage".into(),
        ]
    }

    fn node(&self, action: &str, n: u32) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/garage");
        let o = run(Command::new(&script).arg(action).arg(n.to_string()));
        assert!(
            o.status.success(),
            "scripts/garage {action} {n}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    }
}

/// Restarts every node when the fault test ends, passed or failed, so that
/// one failure does not take the rest of the file down with a dead cluster.
struct Revive;

impl Drop for Revive {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/garage");
            for n in [2, 3] {
                let _ = Command::new(&script)
                    .arg("restart")
                    .arg(n.to_string())
                    .output();
            }
        }
    }
}

fn tree(root: &Path, files: u64, size: usize) -> PathBuf {
    let t = root.join("data");
    std::fs::create_dir_all(t.join("sub")).unwrap();
    for i in 0..files {
        std::fs::write(t.join(format!("sub/f-{i:04}")), content(size, i)).unwrap();
    }
    std::fs::write(t.join("small"), b"a small file").unwrap();
    t
}

fn push_cmd(v: &TestVault, g: &Garage, stores: &[&str], path: &Path) -> Command {
    let mut c = seif();
    c.args(["push", "--json", "--uploads", "2", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key);
    c.arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .args(g.args());
    for s in stores {
        c.arg("--store").arg(s);
    }
    c.arg(path);
    c
}

fn verify(v: &TestVault, g: &Garage, store: &str) -> std::process::Output {
    run(seif()
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store)
        .args(g.args()))
}

fn same_tree(a: &Path, b: &Path) {
    let o = run(Command::new("diff").arg("-r").arg(a).arg(b));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn push_verify_and_restore_on_garage() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let Some(g) = garage("push_verify_and_restore_on_garage") else {
        return;
    };
    let v = test_vault("s3");
    let t = tree(v.dir.path(), 40, 300_000);
    let s3 = g.store("roundtrip");
    let local = v.dir.path().join("local-copy");
    let o = run(&mut push_cmd(&v, &g, &[&s3, local.to_str().unwrap()], &t));
    ok(&o);
    ok(&verify(&v, &g, &s3));
    let ls = run(seif()
        .args(["ls", "--json", "--store"])
        .arg(&s3)
        .args(g.args()));
    ok(&ls);
    assert!(String::from_utf8_lossy(&ls.stdout).contains("\"head\": true"));
    let out = v.dir.path().join("restored");
    ok(&run(seif()
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&s3)
        .args(g.args())
        .arg("--out")
        .arg(&out)
        .arg("latest")));
    same_tree(&t, &out.join("data"));
    // One file alone, by ranged reads.
    let one = v.dir.path().join("one");
    ok(&run(seif()
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&s3)
        .args(g.args())
        .arg("--out")
        .arg(&one)
        .arg("latest")
        .arg("data/sub/f-0007")));
    assert_eq!(
        std::fs::read(one.join("data/sub/f-0007")).unwrap(),
        content(300_000, 7)
    );
}

/// One node killed in the middle of a push: the push completes through the
/// other two. Two killed: it fails with a clear error. Restarted: the same
/// push completes. `seif verify` passes after each.
#[test]
fn garage_node_failures_during_a_push() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let Some(g) = garage("garage_node_failures_during_a_push") else {
        return;
    };
    let v = test_vault("faults");
    let t = tree(v.dir.path(), 48, 4 << 20);
    let s3 = g.store("faults");

    let mut child = push_cmd(&v, &g, &[&s3], &t)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the push ended before a node could be killed; make the tree larger"
    );
    let _revive = Revive;
    g.node("kill", 3);
    let o = child.wait_with_output().unwrap();
    ok(&o);
    ok(&verify(&v, &g, &s3));

    let started = Instant::now();
    g.node("kill", 2);
    let t2 = tree(&v.dir.path().join("second"), 6, 1 << 20);
    let o = run(&mut push_cmd(&v, &g, &[&s3], &t2));
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(
        msg.contains(&s3) && (msg.contains("unavailable") || msg.contains("cannot connect")),
        "{msg}"
    );
    // The cluster fails before anything is stored (the push's first
    // listing) or in the middle; either way the operator is told what
    // happened and that running it again is the way on.
    assert!(
        msg.contains("nothing was pushed: run the same push again once a store is back")
            || msg.contains("run the same push again to go on where it stopped"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(120), "the failure took {took:?}");

    g.node("restart", 2);
    g.node("restart", 3);
    let o = run(&mut push_cmd(&v, &g, &[&s3], &t2));
    ok(&o);
    ok(&verify(&v, &g, &s3));
    let out = v.dir.path().join("restored");
    ok(&run(seif()
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--store")
        .arg(&s3)
        .args(g.args())
        .arg("--out")
        .arg(&out)
        .arg("latest")));
    same_tree(&t2, &out.join("data"));
}

/// Retention on Garage: five snapshots of a changing tree under
/// keep-last 2; a prune "ten days later" (S3's own Last-Modified is the
/// arrival time) deletes the three expired snapshots' own objects, in
/// batches through the S3 API, and nothing the two kept ones need; the
/// store then verifies and the newest restores.
#[test]
fn prune_on_garage() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let Some(g) = garage("prune_on_garage") else {
        return;
    };
    let mut v = test_vault("s3 prune");
    let d = v
        .descriptor
        .revise(&v.keys, |b| {
            b.retention = Some(seif::retention::Retention::then(
                None,
                seif::retention::Policy {
                    keep_last: seif::retention::Keep::Count(2),
                    keep_daily: seif::retention::Keep::Count(0),
                    keep_weekly: seif::retention::Keep::Count(0),
                    keep_monthly: seif::retention::Keep::Count(0),
                    keep_yearly: seif::retention::Keep::Count(0),
                    min_age_days: 1,
                },
            ))
        })
        .unwrap();
    std::fs::write(&v.vault_json, d.to_json_pretty()).unwrap();
    v.descriptor = d;
    let s3 = g.store("prune");
    let t = tree(v.dir.path(), 4, 200_000);
    for i in 0..5u64 {
        std::fs::write(t.join("changing"), content(1 << 20, 100 + i)).unwrap();
        ok(&run(&mut push_cmd(&v, &g, &[&s3], &t)));
    }
    let later = (seif::time::unix_now() + 10 * 86_400).to_string();
    let o = run(seif()
        .env("SEIF_TEST_NOW", &later)
        .args(["prune", "--json", "--grace", "1", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&s3)
        .args(g.args()));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["expired"], 3, "{j}");
    assert!(j["deleted"]["blobs"].as_u64().unwrap() >= 3 * 3, "{j}");
    ok(&run(seif()
        .env("SEIF_TEST_NOW", &later)
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&s3)
        .args(g.args())));
    let out = v.dir.path().join("restored");
    ok(&run(seif()
        .env("SEIF_TEST_NOW", &later)
        .args(["restore", "--identity"])
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&s3)
        .args(g.args())
        .arg("--out")
        .arg(&out)
        .arg("latest")));
    same_tree(&t, &out.join("data"));
}

/// Wrong or missing credentials: one line that names the store once, says
/// "access denied" with S3's own code (never its raw XML), and says what
/// to check; a push that never reached a store says nothing of resuming.
#[test]
fn wrong_or_missing_credentials_are_named_plainly() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let Some(g) = garage("wrong_or_missing_credentials_are_named_plainly") else {
        return;
    };
    let v = test_vault("creds");
    let data = tree(v.dir.path(), 1, 1000);
    let store = g.store("creds");
    let o = run(&mut push_cmd(&v, &g, &[&store], &data));
    ok(&o);
    let plain = |o: &std::process::Output, what: &str| {
        let e = stderr(o);
        assert_eq!(o.status.code(), Some(1), "{what}: {e}");
        assert!(e.contains("access denied by"), "{what}: {e}");
        assert!(
            e.contains("check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"),
            "{what}: {e}"
        );
        assert!(
            !e.contains('<') && !e.contains("xml"),
            "{what}: raw XML: {e}"
        );
        assert_eq!(
            e.matches(store.as_str()).count(),
            1,
            "{what}: the store named once: {e}"
        );
        assert!(!e.contains("resume"), "{what}: {e}");
    };
    let bad_secret = |c: &mut Command| {
        c.env("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    };
    let mut ls = seif();
    ls.args(["ls", "--store", &store]).args(g.args());
    bad_secret(&mut ls);
    plain(&run(&mut ls), "ls with a wrong secret");
    let mut c = seif();
    c.args(["verify", "--vault"])
        .arg(&v.vault_json)
        .args(["--store", &store])
        .args(g.args());
    c.env("AWS_ACCESS_KEY_ID", "GK0000000000000000000000");
    plain(&run(&mut c), "verify with an unknown key id");
    let mut c = push_cmd(&v, &g, &[&store], &data);
    bad_secret(&mut c);
    let o = run(&mut c);
    plain(&o, "push with a wrong secret");
    assert!(
        stderr(&o)
            .contains("hint: nothing was pushed: fix the credentials and run the same push again"),
        "{}",
        stderr(&o)
    );
    // No credentials at all: said once, with what to set.
    let o = run(seif()
        .args(["ls", "--store", &store])
        .args(g.args())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY"));
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{e}"
    );
    assert_eq!(
        e.matches(store.as_str()).count(),
        1,
        "the store named once: {e}"
    );
}

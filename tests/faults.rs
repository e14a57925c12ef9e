//! Fault injection: stores that fail, stall or cut reads short at every
//! call they count, and a full disk under seal, open, push and restore.
//! After each: a clear error, nothing half-written where a good file is
//! expected, nothing lost, and the next run succeeds. (Processes killed at
//! each named write point: `ceremony_kills.rs` for the ceremony,
//! `reliability.rs` and `snapshots.rs` for push.)

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use seif::snapshot::Counters;
use seif::store::{Listing, Store, StoreError};

/// How an injected fault shows.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// The call fails, as a dropped connection would.
    Error,
    /// A read returns one byte less than it should (a cut-off transfer);
    /// other calls fail as with `Error`.
    Short,
}

/// What a [`Faulty`] store saw, shared with the test.
#[derive(Default)]
struct Stats {
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl Stats {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A store that passes calls to a local directory store, counting every
/// call (put, get, ranged get, size, list, delete), and breaking the one it
/// is told to.
struct Faulty {
    inner: Box<dyn Store>,
    stats: Arc<Stats>,
    fail_at: Option<usize>,
    fault: Fault,
    delay: Duration,
}

impl Faulty {
    fn new(dir: &Path) -> Self {
        Faulty {
            inner: seif::store::open(dir.to_str().unwrap(), &Default::default()).unwrap(),
            stats: Arc::default(),
            fail_at: None,
            fault: Fault::Error,
            delay: Duration::ZERO,
        }
    }

    fn failing(dir: &Path, at: usize, fault: Fault) -> Self {
        Faulty {
            fail_at: Some(at),
            fault,
            ..Faulty::new(dir)
        }
    }

    fn cut(&self) -> StoreError {
        StoreError::Backend {
            store: self.describe(),
            message: "connection reset (injected)".into(),
        }
    }

    /// Counts a call; `Some(fault)` if this is the one to break.
    fn enter(&self) -> Option<Fault> {
        let n = self.stats.calls.fetch_add(1, Ordering::SeqCst);
        (self.fail_at == Some(n)).then_some(self.fault)
    }
}

fn short(mut v: Vec<u8>) -> Vec<u8> {
    v.pop();
    v
}

impl Store for Faulty {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn put(&self, key: &str, data: &[u8]) -> Result<(), StoreError> {
        let now = self.stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.most_in_flight.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        let r = match self.enter() {
            // Cut off mid-upload: nothing becomes visible.
            Some(_) => Err(self.cut()),
            None => self.inner.put(key, data),
        };
        self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
    fn get(&self, key: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        match self.enter() {
            Some(Fault::Error) => Err(self.cut()),
            Some(Fault::Short) => self.inner.get(key, limit).map(short),
            None => self.inner.get(key, limit),
        }
    }
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        match self.enter() {
            Some(Fault::Error) => Err(self.cut()),
            Some(Fault::Short) => self.inner.get_range(key, range).map(short),
            None => self.inner.get_range(key, range),
        }
    }
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match self.enter() {
            Some(_) => Err(self.cut()),
            None => self.inner.size(key),
        }
    }
    fn list(&self, prefix: &str) -> Result<Listing, StoreError> {
        match self.enter() {
            Some(_) => Err(self.cut()),
            None => self.inner.list(prefix),
        }
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.enter() {
            Some(_) => Err(self.cut()),
            None => self.inner.delete(key),
        }
    }
}

fn tree(root: &Path) -> PathBuf {
    let t = root.join("tree");
    std::fs::create_dir_all(t.join("d")).unwrap();
    for i in 0..6 {
        std::fs::write(t.join(format!("d/big-{i}")), content(5 << 20, i)).unwrap();
    }
    for i in 0..50 {
        std::fs::write(
            t.join(format!("small-{i}")),
            content(1000 + i, 100 + i as u64),
        )
        .unwrap();
    }
    t
}

fn listing(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().display().to_string(),
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                        std::fs::read(&p).unwrap(),
                    )),
                ));
            }
        }
    }
    out.sort();
    out
}

fn push_to(
    v: &TestVault,
    store: Box<dyn Store>,
    t: &Path,
    state: &Path,
) -> Result<seif::snapshot::push::PushSummary, seif::snapshot::push::PushError> {
    let sealer = seif::sealer::SealerSecretKey::load(&v.sealer_key).unwrap();
    let mut options = seif::snapshot::push::PushOptions::new(state.to_owned());
    options.threads = 2;
    options.uploads = 2;
    seif::snapshot::push::push(
        &v.descriptor,
        &sealer,
        &[store],
        &[t.to_owned()],
        &options,
        &Counters::default(),
    )
}

fn verify_report(
    v: &TestVault,
    store: &dyn Store,
) -> Result<seif::snapshot::verify::Report, StoreError> {
    seif::snapshot::verify::verify(
        store,
        &v.descriptor,
        &seif::snapshot::verify::VerifyOptions {
            head: None,
            read_data: seif::snapshot::verify::ReadData::All,
            threads: 2,
        },
        &Counters::default(),
    )
}

fn restore_latest(v: &TestVault, store: &dyn Store, out: &Path) -> Result<(), String> {
    let (records, _) = seif::snapshot::load_records(store).map_err(|e| e.to_string())?;
    let r = seif::snapshot::latest(&records).ok_or("no snapshot")?;
    let ids: [&dyn age::Identity; 1] = [v.keys.age_identity()];
    let (tables, keys) =
        seif::snapshot::read::open_snapshot(store, r, &seif::snapshot::read::Identities(&ids))
            .map_err(|e| e.to_string())?;
    seif::snapshot::restore::restore(
        store,
        r,
        &tables,
        &keys,
        out,
        &[],
        seif::snapshot::restore::RestoreOptions {
            threads: 2,
            ..Default::default()
        },
        &Counters::default(),
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}
fn local(dir: &Path) -> Box<dyn Store> {
    seif::store::open(dir.to_str().unwrap(), &Default::default()).unwrap()
}

/// Every call a push makes to its store (lists, reads, writes), counted in
/// a healthy run, fails in turn. Each time: the push reports the injected
/// error, the store verifies (no record without all its objects), and the
/// same push then completes on a healthy store and restores the tree.
#[test]
fn a_store_failing_at_every_call_of_a_push() {
    let v = test_vault("faulty store");
    let t = tree(v.dir.path());
    let healthy = Faulty::new(&v.dir.path().join("count"));
    let stats = Arc::clone(&healthy.stats);
    push_to(&v, Box::new(healthy), &t, &v.dir.path().join("count-state")).unwrap();
    let calls = stats.calls();
    assert!(calls > 10, "a push makes {calls} calls");
    eprintln!("a push into an empty store makes {calls} calls");
    for k in 0..calls {
        let dir = v.dir.path().join(format!("store-{k}"));
        let state = v.dir.path().join(format!("state-{k}"));
        let err = push_to(
            &v,
            Box::new(Faulty::failing(&dir, k, Fault::Error)),
            &t,
            &state,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("connection reset (injected)"),
            "call {k}: {err}"
        );
        let store = local(&dir);
        if dir.exists() {
            let report = verify_report(&v, store.as_ref()).unwrap();
            assert!(
                report.problems.is_empty(),
                "call {k}: {:?}",
                report.problems
            );
        }
        // The same push again, on a healthy store, completes.
        push_to(&v, local(&dir), &t, &state).unwrap();
        let report = verify_report(&v, store.as_ref()).unwrap();
        assert!(
            report.problems.is_empty(),
            "call {k}: {:?}",
            report.problems
        );
        let out = v.dir.path().join(format!("restored-{k}"));
        restore_latest(&v, store.as_ref(), &out).unwrap();
        assert_eq!(listing(&out.join("tree")), listing(&t), "call {k}");
    }
}

/// Every read of a restore and of a verify fails in turn, or comes back one
/// byte short: an error, never a partial file under its name, never a false
/// "ok".
#[test]
fn a_store_failing_or_cut_short_at_every_read() {
    let v = test_vault("faulty reads");
    let t = tree(v.dir.path());
    let dir = v.dir.path().join("store");
    push_to(&v, local(&dir), &t, &v.dir.path().join("state")).unwrap();
    let want: std::collections::BTreeMap<_, _> = listing(&t).into_iter().collect();
    for what in ["restore", "verify"] {
        let healthy = Faulty::new(&dir);
        let stats = Arc::clone(&healthy.stats);
        if what == "restore" {
            restore_latest(&v, &healthy, &v.dir.path().join("count-out")).unwrap();
        } else {
            assert!(verify_report(&v, &healthy).unwrap().problems.is_empty());
        }
        let calls = stats.calls();
        for fault in [Fault::Error, Fault::Short] {
            for k in 0..calls {
                let faulty = Faulty::failing(&dir, k, fault);
                if what == "restore" {
                    let out = v.dir.path().join(format!("restore-{fault:?}-{k}"));
                    let err = restore_latest(&v, &faulty, &out).unwrap_err();
                    if fault == Fault::Error {
                        assert!(
                            err.contains("connection reset (injected)"),
                            "{what} read {k}: {err}"
                        );
                    }
                    // Whatever was written is complete and correct; nothing else.
                    if out.join("tree").exists() {
                        for (path, hash) in listing(&out.join("tree")) {
                            assert!(
                                !path.contains(".seif-restore-"),
                                "read {k}: a temporary file was left: {path}"
                            );
                            assert_eq!(
                                want.get(&path),
                                Some(&hash),
                                "read {k}: {path} is not the original"
                            );
                        }
                    }
                } else {
                    match verify_report(&v, &faulty) {
                        Err(e) => assert!(e.to_string().contains("(injected)"), "{e}"),
                        Ok(r) => assert!(
                            !r.problems.is_empty(),
                            "verify said ok through a {fault:?} read at call {k}"
                        ),
                    }
                }
            }
        }
    }
}

/// A slow store (every write stalls): the push still completes, with its
/// uploads overlapping (several in flight at once), and restores.
#[test]
fn a_slow_store_still_completes_with_uploads_in_parallel() {
    let v = test_vault("slow");
    let t = tree(v.dir.path());
    let dir = v.dir.path().join("store");
    let mut faulty = Faulty::new(&dir);
    faulty.delay = Duration::from_millis(150);
    let stats = Arc::clone(&faulty.stats);
    push_to(&v, Box::new(faulty), &t, &v.dir.path().join("state")).unwrap();
    let most = stats.most_in_flight.load(Ordering::SeqCst);
    assert!(
        most >= 2,
        "uploads did not overlap: at most {most} in flight"
    );
    let out = v.dir.path().join("out");
    restore_latest(&v, local(&dir).as_ref(), &out).unwrap();
    assert_eq!(listing(&out.join("tree")), listing(&t));
}

/// A full disk under seal, open, push and restore: each fails with a clear
/// error naming the file, leaves nothing under the name it was writing, and
/// works once there is room.
#[test]
fn a_full_disk_under_every_writer() {
    let v = test_vault("full disk");
    let big = v.dir.path().join("big.bin");
    std::fs::write(&big, content(8 << 20, 1)).unwrap();
    let sealed = v.dir.path().join("big.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(&sealed)
        .arg(&big)));
    let t = tree(v.dir.path());
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
        .arg(&t)));
    let script = r#"
        $SEIF seal --vault "$VAULT" --sealer "$SEALER" -o "$FULL/out.seif" "$BIG"; echo "seal rc=$?"; ls -A "$FULL"; echo "--"
        $SEIF open --identity "$ID" -o "$FULL/out.bin" "$SEALED"; echo "open rc=$?"; ls -A "$FULL"; echo "--"
        $SEIF push --vault "$VAULT" --sealer "$SEALER" --state-dir "$STATE" --store "$FULL/store" "$TREE"; echo "push rc=$?"
        $SEIF verify --allow-empty --vault "$VAULT" --store "$FULL/store"; echo "verify rc=$?"; echo "--"
        rm -rf "$FULL"/store; $SEIF restore --identity "$ID" --store "$STORE" --out "$FULL/restored" latest; echo "restore rc=$?"
        find "$FULL/restored" -name '.seif-*' | wc -l | sed 's/^/temporaries left: /'
        umount "$FULL"; mount -t tmpfs -o size=200m tmpfs "$FULL"
        $SEIF seal --vault "$VAULT" --sealer "$SEALER" -o "$FULL/out.seif" "$BIG"; echo "seal with room rc=$?"
        $SEIF restore --identity "$ID" --store "$STORE" --out "$FULL/restored" latest; echo "restore with room rc=$?"
    "#;
    let Some(out) = in_small_disk(
        script,
        &[
            ("VAULT", &v.vault_json),
            ("SEALER", &v.sealer_key),
            ("BIG", &big),
            ("ID", &v.identity),
            ("SEALED", &sealed),
            ("STATE", &v.dir.path().join("state2")),
            ("TREE", &t),
            ("STORE", &store),
        ],
    ) else {
        return;
    };
    for (what, rc) in [("seal", 1), ("open", 1), ("push", 1), ("restore", 1)] {
        assert!(
            out.contains(&format!("{what} rc={rc}")),
            "{what} did not fail with {rc}:\n{out}"
        );
    }
    assert!(out.contains("No space left on device"), "{out}");
    assert!(
        out.contains("free some space"),
        "the hint says what to do:\n{out}"
    );
    // Nothing under the names seal and open were writing.
    let sections: Vec<&str> = out.split("--\n").collect();
    assert!(
        !sections[0].contains("out.seif\n") && !sections[1].contains("out.bin\n"),
        "{out}"
    );
    assert!(
        out.contains("verify rc=0"),
        "a push that ran out of room leaves a valid store:\n{out}"
    );
    assert!(out.contains("temporaries left: 0"), "{out}");
    assert!(
        out.contains("seal with room rc=0") && out.contains("restore with room rc=0"),
        "{out}"
    );
}

/// An S3 server that accepts connections and never answers (a stalled
/// link, a wedged proxy): the client's per-request timeout ends each try,
/// the retries are bounded, and the command fails in bounded time with an
/// error that says the server did not answer, instead of hanging.
#[test]
fn a_stalled_s3_server_fails_in_bounded_time_instead_of_hanging() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Hold every connection open, unanswered, until the test ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            match c {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
    });
    let started = std::time::Instant::now();
    let o = run(seif()
        .args(["ls", "--store", "s3://bucket/prefix", "--s3-endpoint"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--s3-region", "garage"])
        .env("AWS_ACCESS_KEY_ID", "GKstalled")
        .env("AWS_SECRET_ACCESS_KEY", "stalled")
        // The per-try limit, shortened from the default 120 s.
        .env("AWS_TIMEOUT", "2s"));
    let took = started.elapsed();
    fails_with(&o, 1, "did not answer in time");
    assert!(
        took < Duration::from_secs(60),
        "a stalled server held the command for {took:?}"
    );
}

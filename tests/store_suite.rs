//! The shared store suite: every backend must pass the same tests.
//!
//! The local directory always runs. The S3 backend runs against the server
//! named by `SEIF_TEST_S3_ENDPOINT` and `SEIF_TEST_S3_BUCKET` (credentials
//! from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`); `scripts/test` starts
//! a three-node Garage cluster on loopback and sets them. Without them the S3
//! half is skipped (`common::skip`: shown, and counted by `scripts/test`),
//! unless `SEIF_CI` is set (CI), where it fails.

mod common;

use std::sync::Arc;

use seif::store::{S3Options, Store, StoreError};
use sha2::{Digest, Sha256};

fn key_of(data: &[u8]) -> String {
    let h = hex::encode(Sha256::digest(data));
    format!("objects/{}/{h}", &h[..2])
}

fn s3_store(test: &str) -> Option<Box<dyn Store>> {
    let (Ok(endpoint), Ok(bucket)) = (
        std::env::var("SEIF_TEST_S3_ENDPOINT"),
        std::env::var("SEIF_TEST_S3_BUCKET"),
    ) else {
        common::skip(&format!(
            "the S3 half ({test}): no S3 server (SEIF_TEST_S3_ENDPOINT/SEIF_TEST_S3_BUCKET); `scripts/test` starts a Garage cluster (scripts/garage start)"
        ));
        return None;
    };
    // A fresh prefix per test, so tests do not see each other's blobs.
    let prefix = format!(
        "suite-{test}-{}",
        hex::encode(seif::secrets::random_array::<6>())
    );
    let opts = S3Options {
        endpoint: Some(endpoint),
        region: Some(std::env::var("SEIF_TEST_S3_REGION").unwrap_or_else(|_| "garage".into())),
    };
    Some(seif::store::open(&format!("s3://{bucket}/{prefix}"), &opts).expect("the S3 store opens"))
}

/// Runs `f` against every backend available.
fn each_store(test: &str, f: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    let local = seif::store::open(dir.path().to_str().unwrap(), &S3Options::default()).unwrap();
    f(local.as_ref());
    if let Some(s3) = s3_store(test) {
        f(s3.as_ref());
    }
}

#[test]
fn put_get_size_and_idempotence() {
    each_store("put-get", |s| {
        let data = common::content(100_000, 1);
        let key = key_of(&data);
        assert_eq!(s.size(&key).unwrap(), None);
        s.put(&key, &data).unwrap();
        assert_eq!(s.get(&key, LIMIT).unwrap(), data, "{}", s.describe());
        assert_eq!(s.size(&key).unwrap(), Some(data.len() as u64));
        s.put(&key, &data).unwrap();
        assert_eq!(s.get(&key, LIMIT).unwrap(), data);
        let empty_key = key_of(b"");
        s.put(&empty_key, b"").unwrap();
        assert_eq!(s.get(&empty_key, LIMIT).unwrap(), b"");
    });
}

/// Reads in this suite allow any size the suite writes.
const LIMIT: u64 = 64 << 20;

#[test]
fn reads_are_bounded_by_the_callers_limit() {
    each_store("limit", |s| {
        let data = common::content(10_000, 9);
        let key = key_of(&data);
        s.put(&key, &data).unwrap();
        assert_eq!(
            s.get(&key, 10_000).unwrap(),
            data,
            "exactly the limit is allowed"
        );
        let e = s.get(&key, 9_999).unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::TooLarge {
                    size: 10_000,
                    limit: 9_999,
                    ..
                }
            ),
            "{}: {e}",
            s.describe()
        );
        let mut buf = Vec::new();
        assert!(matches!(
            s.get_into(&key, 100, &mut buf),
            Err(StoreError::TooLarge { .. })
        ));
        assert!(
            buf.len() <= 100,
            "nothing past the limit was read into the buffer"
        );
    });
}

#[test]
fn missing_blobs_are_not_found() {
    each_store("missing", |s| {
        let key = key_of(b"never stored");
        let e = s.get(&key, LIMIT).unwrap_err();
        assert!(e.is_not_found(), "{}: {e}", s.describe());
        assert!(s.get_range(&key, 0..1).unwrap_err().is_not_found());
        assert_eq!(s.size(&key).unwrap(), None);
        // Deleting what is not there: a directory says so; S3 deletes are
        // idempotent by design. Either way nothing appears.
        match s.delete(&key) {
            Ok(()) => assert!(
                s.describe().starts_with("s3://"),
                "{}: a local delete of nothing must fail",
                s.describe()
            ),
            Err(e) => assert!(e.is_not_found(), "{}: {e}", s.describe()),
        }
        assert_eq!(s.size(&key).unwrap(), None);
    });
}

#[test]
fn ranges() {
    each_store("ranges", |s| {
        let data = common::content(70_000, 2);
        let key = key_of(&data);
        s.put(&key, &data).unwrap();
        assert_eq!(s.get_range(&key, 0..10).unwrap(), &data[..10]);
        assert_eq!(s.get_range(&key, 65_000..70_000).unwrap(), &data[65_000..]);
        assert_eq!(s.get_range(&key, 5..5).unwrap(), b"");
        assert!(
            s.get_range(&key, 69_990..70_010).is_err(),
            "{}: a range past the end must fail",
            s.describe()
        );
    });
}

#[test]
fn list_and_delete() {
    each_store("list", |s| {
        let mut keys = Vec::new();
        for i in 0..30u32 {
            let data = format!("blob {i}").into_bytes();
            let key = key_of(&data);
            s.put(&key, &data).unwrap();
            keys.push((key, data.len() as u64));
        }
        let rec = b"a record".to_vec();
        let rec_key = format!("records/{}", hex::encode(Sha256::digest(&rec)));
        s.put(&rec_key, &rec).unwrap();
        let sizes = |prefix: &str| {
            let mut v: Vec<(String, u64)> = s
                .list(prefix)
                .unwrap()
                .sizes()
                .map(|(k, n)| (k.to_owned(), n))
                .collect();
            v.sort();
            v
        };
        keys.sort();
        assert_eq!(sizes("objects/"), keys, "{}", s.describe());
        assert_eq!(sizes("records/"), vec![(rec_key.clone(), rec.len() as u64)]);
        let now = seif::time::unix_now();
        for b in s.list("objects/").unwrap().blobs {
            let t = b.arrived.expect("every backend says when a blob arrived");
            assert!(
                (t - now).abs() < 600,
                "{}: arrival time {t}, now {now}",
                s.describe()
            );
        }
        assert!(sizes("nothing-here/").is_empty());
        s.delete(&rec_key).unwrap();
        // A delete is seen by the next list on a directory at once; an S3
        // cluster may list a deleted key for a moment (seen once on a
        // loaded three-node Garage), which nothing in seif relies on.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !sizes("records/").is_empty() && s.describe().starts_with("s3://") {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: a deleted key is still listed after 10 s",
                s.describe()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert!(sizes("records/").is_empty(), "{}", s.describe());
        assert!(s.get(&rec_key, LIMIT).unwrap_err().is_not_found());
    });
}

#[test]
fn concurrent_puts_and_large_blobs() {
    each_store("concurrent", |s| {
        let s: &dyn Store = s;
        let large = Arc::new(common::content(8 << 20, 3));
        std::thread::scope(|scope| {
            for t in 0..8u64 {
                let large = Arc::clone(&large);
                scope.spawn(move || {
                    for i in 0..10u64 {
                        let data = common::content(1000 + (i as usize) * 97, t * 100 + i);
                        s.put(&key_of(&data), &data).unwrap();
                    }
                    // Everyone writes the same large blob at once: still one
                    // complete blob at the end.
                    s.put(&key_of(&large), &large).unwrap();
                });
            }
        });
        assert_eq!(s.list("objects/").unwrap().blobs.len(), 81);
        assert_eq!(s.get(&key_of(&large), LIMIT).unwrap(), *large);
    });
}

#[test]
fn keys_outside_the_layout_are_refused() {
    each_store("bad-keys", |s| {
        for key in [
            "",
            "../etc/passwd",
            "objects/../x",
            "objects//x",
            "Objects/X",
            "/abs",
            "objects/.",
        ] {
            assert!(
                s.put(key, b"x").is_err(),
                "{}: {key:?} accepted",
                s.describe()
            );
        }
    });
}

/// A host can put anything in a directory store: a FIFO (whose open would
/// block forever), a symlink to /dev/zero (endless bytes), a directory
/// where a blob belongs. Reads refuse them on the open handle, naming what
/// they are; listings name them and go on.
#[test]
fn odd_entries_in_a_local_store_are_named_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = seif::store::open(dir.path().to_str().unwrap(), &S3Options::default()).unwrap();
    let good = common::content(100, 4);
    s.put(&key_of(&good), &good).unwrap();
    let fifo = format!("records/{}", "1".repeat(64));
    let link = format!("records/{}", "2".repeat(64));
    let sub = format!("records/{}", "3".repeat(64));
    std::fs::create_dir_all(dir.path().join("records")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.path().join(&fifo),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join(&link)).unwrap();
    std::fs::create_dir(dir.path().join(&sub)).unwrap();
    // Each read returns at once with a refusal (a blocking open of the FIFO
    // would hang this test).
    for (key, what) in [(&fifo, "a FIFO"), (&link, "a symbolic link")] {
        match s.get(key, LIMIT) {
            Err(StoreError::NotRegular { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{key}: {other:?}"),
        }
        assert!(s.get_range(key, 0..1).is_err());
    }
    let listed = s.list("records/").unwrap();
    assert!(listed.blobs.is_empty(), "{:?}", listed.blobs);
    let mut odd: Vec<String> = listed
        .odd
        .iter()
        .map(|(k, w)| format!("{k}: {w}"))
        .collect();
    odd.sort();
    assert_eq!(
        odd,
        vec![
            format!("{fifo}: a FIFO"),
            format!("{link}: a symbolic link")
        ]
    );
    // The directory where a record belongs is walked into, and is empty.
    assert_eq!(s.list("objects/").unwrap().blobs.len(), 1);
}

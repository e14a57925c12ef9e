//! Object stores: where sealed snapshots live abroad. One interface, one
//! shared test suite (`tests/store_suite.rs`), two backends: a plain local
//! directory (the default) and S3-compatible object storage (feature `s3`).
//!
//! A store holds immutable, content-addressed blobs: every key's last path
//! component is the SHA-256 (lowercase hex) of the bytes stored under it, so
//! anyone can check a store with no key and no seif (`sha256sum`). Writes are
//! idempotent, and a blob becomes visible only once complete.

pub mod local;
#[cfg(feature = "s3")]
pub mod s3;

use std::ops::Range;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No blob under that key.
    #[error("{store}: {key} does not exist")]
    NotFound {
        /// The store.
        store: String,
        /// The key.
        key: String,
    },
    /// The store could not be reached or refused the request.
    #[error("{store}: {message}")]
    Backend {
        /// The store.
        store: String,
        /// What went wrong.
        message: String,
    },
    /// The store refused our credentials or their rights (S3's 403): no
    /// retry helps until someone fixes them.
    #[error("{store}: {message}")]
    Denied {
        /// The store.
        store: String,
        /// What was refused, and what to check.
        message: String,
    },
    /// A local I/O error.
    #[error("{store}: {source}")]
    Io {
        /// The store.
        store: String,
        /// The error.
        source: std::io::Error,
    },
    /// A key that is not of the store's layout.
    #[error("invalid store key '{0}'")]
    BadKey(String),
    /// A blob larger than the format allows where it is stored.
    #[error(
        "{store}: {key} holds {size} bytes, more than the {limit} its format allows: not a seif blob, or planted"
    )]
    TooLarge {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// Its size.
        size: u64,
        /// The most the caller accepts.
        limit: u64,
    },
    /// Not a regular file where a blob belongs (a local store).
    #[error("{store}: {key} is {what}, not a regular file: it was not written by seif; remove it")]
    NotRegular {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// What it is.
        what: String,
    },
}

impl StoreError {
    /// Whether the blob is missing (as opposed to the store failing).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// One blob found by [`Store::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When the store says it arrived (seconds since the Unix epoch): a
    /// local file's modification time, an S3 object's Last-Modified. Set by
    /// the host, not by the sealer; `None` if the store does not say.
    pub arrived: Option<i64>,
}

/// What [`Store::list`] found under a prefix.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The blobs, in no particular order.
    pub blobs: Vec<Listed>,
    /// Entries that are not plain blobs (a FIFO, a device, a symlink, a
    /// directory where a blob belongs), each with what it is. A store never
    /// writes these: they are named, and never read.
    pub odd: Vec<(String, String)>,
}

impl Listing {
    /// Every blob's key and size.
    pub fn sizes(&self) -> impl Iterator<Item = (&str, u64)> {
        self.blobs.iter().map(|b| (b.key.as_str(), b.size))
    }
}

/// A blob store. Implementations must be safe to call from many threads at
/// once; callers bound their own concurrency.
///
/// Every read is bounded: the caller says how many bytes the format allows
/// (`limit`), and a larger blob is refused before it is read, so a hostile
/// store cannot make a reader allocate or transfer more than the format's
/// own limits. A local store reads only regular files: a FIFO, a device or
/// a symlink where a blob belongs is refused (it could hang the reader or
/// feed it endless bytes).
pub trait Store: Send + Sync {
    /// Where the store is, for messages (`/srv/vault`, `s3://bucket/prefix`).
    fn describe(&self) -> String;

    /// Stores `data` under `key`, visible only once complete and durable.
    /// Storing the same bytes again is harmless (keys are content hashes).
    fn put(&self, key: &str, data: &[u8]) -> Result<(), StoreError>;

    /// The whole blob, if it holds at most `limit` bytes.
    fn get(&self, key: &str, limit: u64) -> Result<Vec<u8>, StoreError>;

    /// The whole blob, into `buf` (replacing its contents), if it holds at
    /// most `limit` bytes. Reusing one buffer spares a fresh allocation, and
    /// its page faults, per blob.
    fn get_into(&self, key: &str, limit: u64, buf: &mut Vec<u8>) -> Result<(), StoreError> {
        *buf = self.get(key, limit)?;
        Ok(())
    }

    /// A byte range of a blob (for reading one file out of a pack).
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError>;

    /// The blob's size, or `None` if it does not exist.
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError>;

    /// Every blob under `prefix` (a directory-like prefix ending in `/`),
    /// with its size and arrival time, and every odd entry found there.
    fn list(&self, prefix: &str) -> Result<Listing, StoreError>;

    /// Removes a blob (used by tests and by a host pruning a store; seif's
    /// own commands never delete).
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Checks a key: `/`-separated lowercase components of `[a-z0-9._-]`, no
/// empty, `.` or `..` component. Keeps a hostile key from escaping a local
/// store's directory.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadKey(key.into()))
    }
}

/// Opens a store named on the command line: `s3://BUCKET/PREFIX` (with the
/// `s3` feature) or a local directory.
pub fn open(spec: &str, s3: &S3Options) -> Result<Box<dyn Store>, StoreError> {
    if let Some(rest) = spec.strip_prefix("s3://") {
        #[cfg(feature = "s3")]
        return Ok(Box::new(s3::S3Store::open(rest, s3)?));
        #[cfg(not(feature = "s3"))]
        {
            let _ = (rest, s3);
            return Err(StoreError::Backend { store: spec.into(), message: "this build has no S3 support (feature 's3'); copy the store to a local directory".into() });
        }
    }
    Ok(Box::new(local::LocalStore::open(std::path::Path::new(
        spec,
    ))?))
}

/// S3 connection settings given as flags; anything unset comes from the
/// standard `AWS_*` environment variables.
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// `--s3-endpoint` (e.g. `http://127.0.0.1:3900`); else `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// `--s3-region`; else `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
}

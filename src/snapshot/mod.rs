//! Snapshots: whole directory trees sealed into a store, incrementally.
//!
//! One data key per snapshot, wrapped to the vault once (one public-key
//! operation per snapshot, not per file); files cut into content-defined
//! chunks, and new chunks packed into large sealed objects (the host sees
//! object sizes, not file names, sizes or the tree's shape); an encrypted
//! manifest; public lists of the objects a snapshot needs (its own, and the
//! packs of earlier snapshots whose chunks it reuses); and a small public
//! record signed by the sealer that names the lists and the records before
//! it in its store.
//!
//! ```text
//! objects/<aa>/<sha256>           sealed packs and manifest parts   (object)
//! keys/<snapshot id>/<sha256>     the data key wrapped to the vault (key_envelope)
//! lists/<sha256>                  what each snapshot consists of    (list)
//! records/<sha256>                signed snapshot records           (record)
//! descriptors/<sha256>            copies of vault.json              (vault_copies)
//! upgrades/<sha256>               signed post-quantum upgrade lists (upgrade_list)
//! ```
//!
//! A pipeline never holds a key that opens a finished snapshot: a snapshot
//! reuses an earlier one's chunks by naming where they lie, and a restore
//! unwraps each earlier snapshot's key through that snapshot's own key
//! envelope (FORMAT.md §8, SECURITY.md).

pub mod browse;
pub mod check;
pub mod classic_keys;
pub mod key_envelope;
pub mod list;
pub mod manifest;
pub mod object;
pub mod prune;
pub mod push;
pub mod read;
pub mod record;
pub mod restore;
pub mod sync;
pub mod upgrade_list;
pub mod vault_copies;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use record::{RECORD_MAX, Record};

use crate::ids::{BlobId, SnapshotId};
use crate::store::{Store, StoreError};

/// Running totals that a progress display reads while work goes on.
#[derive(Debug, Default)]
pub struct Counters {
    /// Files done.
    pub files: AtomicU64,
    /// Content bytes done.
    pub bytes: AtomicU64,
    /// Objects done (stored, fetched or checked).
    pub objects: AtomicU64,
    /// Bytes expected in all (0 if unknown).
    pub total_bytes: AtomicU64,
    /// Files expected in all (0 if unknown).
    pub total_files: AtomicU64,
}

impl Counters {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The records of a store by hash, and the keys refused as `(key, why)`.
pub type Records = (BTreeMap<BlobId, Record>, Vec<(String, String)>);

/// Reads every record in a store. Records that fail to parse or verify, and
/// entries that are not records at all, are returned as problems
/// `(key, message)`, never dropped silently. Reads are bounded by the
/// record format's limit.
pub fn load_records(store: &dyn Store) -> Result<Records, StoreError> {
    let mut records = BTreeMap::new();
    let mut problems = Vec::new();
    let listing = store.list("records/")?;
    for (key, what) in listing.odd {
        problems.push((
            key,
            format!("{what} where a record belongs (not written by seif)"),
        ));
    }
    for b in listing.blobs {
        let Some(name) = b
            .key
            .strip_prefix("records/")
            .and_then(|n| BlobId::from_hex(n).ok())
        else {
            problems.push((b.key.clone(), "not a record name (records/<sha256>)".into()));
            continue;
        };
        let bytes = match store.get(&b.key, RECORD_MAX as u64) {
            Ok(bytes) => bytes,
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                problems.push((b.key.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        match Record::parse(&bytes, Some(&name)) {
            Ok(r) => {
                records.insert(r.hash, r);
            }
            Err(e) => problems.push((b.key, e.to_string())),
        }
    }
    Ok((records, problems))
}

/// The newest head: the record with the latest time among those no other
/// record follows.
pub fn latest(records: &BTreeMap<BlobId, Record>) -> Option<&Record> {
    record::chain(records)
        .heads
        .iter()
        .filter_map(|h| records.get(h))
        .max_by(|a, b| a.body.time.cmp(&b.body.time))
}

/// Finds a snapshot by `latest`, or by a prefix (at least 6 hex digits) of
/// its snapshot id or of its record's hash.
pub fn find<'r>(records: &'r BTreeMap<BlobId, Record>, spec: &str) -> Result<&'r Record, String> {
    if spec == "latest" {
        return latest(records).ok_or_else(|| "the store holds no snapshot".into());
    }
    if spec.len() < 6 || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "'{}' is not a snapshot: give 'latest', or at least 6 hex digits of a snapshot id or record hash (see `seif ls`)",
            crate::untrusted::escape(spec)
        ));
    }
    let spec = spec.to_ascii_lowercase();
    let hits: Vec<&Record> = records
        .values()
        .filter(|r| {
            r.body.snapshot_id.to_hex().starts_with(&spec) || r.hash.to_hex().starts_with(&spec)
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("no snapshot matches '{spec}' (see `seif ls`)")),
        _ => Err(format!(
            "'{spec}' matches {} snapshots; give more digits",
            hits.len()
        )),
    }
}

/// The key envelopes a store holds for a snapshot (malformed ones are
/// skipped: an envelope is only ever used through its commitment).
pub fn envelopes(
    store: &dyn Store,
    snapshot_id: &SnapshotId,
) -> Result<Vec<key_envelope::KeyEnvelope>, StoreError> {
    let mut out = Vec::new();
    for b in store
        .list(&key_envelope::KeyEnvelope::prefix(snapshot_id))?
        .blobs
    {
        match store.get(&b.key, key_envelope::ENVELOPE_MAX as u64) {
            Ok(bytes) => {
                if let Ok(e) = key_envelope::KeyEnvelope::parse(&bytes) {
                    out.push(e);
                }
            }
            Err(StoreError::TooLarge { .. } | StoreError::NotRegular { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

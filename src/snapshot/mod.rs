//! Snapshots: whole directory trees sealed into one unit in a store.
//!
//! One data key per snapshot, wrapped to the vault once (one public-key
//! operation per snapshot, not per file); files packed into large sealed
//! objects (the host sees object sizes, not file names, sizes or the tree's
//! shape); an encrypted manifest; and a public record signed by the sealer
//! that names every object and the previous record.
//!
//! ```text
//! objects/<aa>/<sha256>           sealed packs and manifest parts   (object)
//! keys/<snapshot id>/<sha256>     the data key wrapped to the vault (key_envelope)
//! records/<sha256>                signed snapshot records           (record)
//! ```

pub mod key_envelope;
pub mod manifest;
pub mod object;
pub mod push;
pub mod record;
pub mod restore;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use record::Record;

use crate::secrets::DataKey;
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

/// The records of a store by hash, and the ones refused as `(key, why)`.
pub type Records = (BTreeMap<String, Record>, Vec<(String, String)>);

/// Reads every record in a store. Records that fail to parse or verify are
/// returned as problems `(key, message)`, not dropped silently.
pub fn load_records(store: &dyn Store) -> Result<Records, StoreError> {
    let mut records = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, _) in store.list("records/")? {
        let Some(name) = key
            .strip_prefix("records/")
            .filter(|n| n.len() == 64 && !n.contains('/'))
        else {
            problems.push((key.clone(), "not a record name (records/<sha256>)".into()));
            continue;
        };
        let bytes = store.get(&key)?;
        match Record::parse(&bytes, Some(name)) {
            Ok(r) => {
                records.insert(r.hash.clone(), r);
            }
            Err(e) => problems.push((key, e.to_string())),
        }
    }
    Ok((records, problems))
}

/// Finds a snapshot by `latest`, or by a prefix (at least 6 hex digits) of
/// its snapshot id or of its record's hash.
pub fn find<'r>(records: &'r BTreeMap<String, Record>, spec: &str) -> Result<&'r Record, String> {
    if spec == "latest" {
        let chain = record::chain(records);
        return chain
            .heads
            .iter()
            .filter_map(|h| records.get(h))
            .max_by(|a, b| a.body.time.cmp(&b.body.time))
            .ok_or_else(|| "the store holds no snapshot".into());
    }
    if spec.len() < 6 || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "'{spec}' is not a snapshot: give 'latest', or at least 6 hex digits of a snapshot id or record hash (see `seif ls`)"
        ));
    }
    let spec = spec.to_ascii_lowercase();
    let hits: Vec<&Record> = records
        .values()
        .filter(|r| r.body.snapshot_id.starts_with(&spec) || r.hash.starts_with(&spec))
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

/// The key envelopes a store holds for a snapshot.
pub fn envelopes(
    store: &dyn Store,
    snapshot_id: &str,
) -> Result<Vec<key_envelope::KeyEnvelope>, StoreError> {
    let mut out = Vec::new();
    for (key, _) in store.list(&format!("keys/{snapshot_id}/"))? {
        if let Ok(e) = key_envelope::KeyEnvelope::parse(&store.get(&key)?) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Why a snapshot's data key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No envelope opens with the given identities.
    #[error(
        "none of the given identities opens snapshot {0}: it is for another key, or its wrapped keys are missing from the store"
    )]
    NoKey(String),
}

/// Unwraps a snapshot's data key from the envelopes in the store, checked
/// against the record's signed commitment.
pub fn unwrap_key(
    store: &dyn Store,
    record: &Record,
    identities: &[&dyn age::Identity],
) -> Result<DataKey, KeyError> {
    let commitment = record.commitment();
    for e in envelopes(store, &record.body.snapshot_id)? {
        if e.vault_id != record.body.vault_id || e.snapshot_id != record.body.snapshot_id {
            continue;
        }
        if let Ok(k) = e.unwrap(identities, &commitment) {
            return Ok(k);
        }
    }
    Err(KeyError::NoKey(record.body.snapshot_id.clone()))
}

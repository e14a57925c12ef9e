//! The last step of a push: one record per store, chained onto that
//! store's own heads.
//!
//! Each store keeps its own chain: a record names as `previous` every head
//! its store holds when the record is written (the records of this vault,
//! signed by a sealer the vault accepts; a record of another vault or by an
//! unaccepted sealer, planted or left over, is never chained onto). So a
//! store added later starts its own chain, two pushes at once make two
//! heads that the next push joins, and a record written to one store but
//! not another is written to the other on the next run, with the same
//! snapshot id: every store stays verifiable through ordinary life.
//!
//! The pipeline also remembers, per store, the last record it wrote there
//! (`heads-…` in the state directory). If a store no longer holds it, the
//! store was rolled back or records were deleted: the push refuses to chain
//! onto what is left, names the missing record, and says how to go on once
//! the operator has looked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PushError;
use super::journal::Ready;
use super::state::{LocalKeys, MacWriter, StateDir};
use crate::descriptor::Descriptor;
use crate::ids::{BlobId, Commitment, SnapshotId, VaultId};
use crate::sealer::{SealerPublicKey, SealerSecretKey};
use crate::snapshot::record::{self, PREVIOUS_MAX, Record, RecordBody, object_key, record_key};
use crate::store::{Store, StoreError};

const HEADS_DOMAIN: &str = "seif/v1/pipeline/heads";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadsFile {
    format: String,
    heads: BTreeMap<String, BlobId>,
}

/// The last record this pipeline wrote to each store.
pub struct Heads {
    name: String,
    heads: BTreeMap<String, BlobId>,
}

impl Heads {
    fn file_name(vault: &VaultId, sealer: &SealerPublicKey) -> String {
        format!(
            "heads-{}-{}",
            vault.short(16),
            crate::encoding::to_hex(&sealer.to_bytes()[..8])
        )
    }

    /// Reads them; a file that does not verify is refused (it decides what
    /// counts as a rollback).
    pub fn load(
        state: &StateDir,
        keys: &LocalKeys,
        vault: &VaultId,
        sealer: &SealerPublicKey,
    ) -> Result<Self, PushError> {
        let name = Self::file_name(vault, sealer);
        let mut heads = BTreeMap::new();
        if let Some(mut r) = super::state::mac_reader(state, &name, &keys.mac, HEADS_DOMAIN)? {
            let bad = |m: String| PushError::State {
                path: state.file(&name),
                message: format!(
                    "{m}: remove it after checking who wrote it (the next push then cannot tell a rolled-back store)"
                ),
            };
            if let Some(line) = r.next_line() {
                let line = line.map_err(bad)?;
                let f: HeadsFile = serde_json::from_slice(&line).map_err(|e| bad(e.to_string()))?;
                heads = f.heads;
            }
        }
        Ok(Heads { name, heads })
    }

    /// The last record written to `store`.
    pub fn get(&self, store: &str) -> Option<BlobId> {
        self.heads.get(store).copied()
    }

    /// Notes a record written to `store`, durably.
    pub fn set(
        &mut self,
        state: &StateDir,
        keys: &LocalKeys,
        store: &str,
        record: BlobId,
    ) -> Result<(), PushError> {
        self.heads.insert(store.to_owned(), record);
        let path = state.file(&self.name);
        let io = |e: std::io::Error| PushError::State {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut f = crate::atomic::AtomicFile::create(&path, true).map_err(io)?;
        {
            let mut w = MacWriter::new(f.file(), &keys.mac, HEADS_DOMAIN);
            let doc = HeadsFile {
                format: "seif-heads/1".into(),
                heads: self.heads.clone(),
            };
            w.line(&serde_json::to_vec(&doc).expect("serializes"))
                .map_err(io)?;
        }
        f.commit(0o600).map_err(io)
    }
}

/// What a record is written for.
pub struct Finished<'a> {
    /// The snapshot.
    pub snapshot_id: SnapshotId,
    /// Its key commitment.
    pub commitment: Commitment,
    /// Its lists and sums.
    pub ready: &'a Ready,
}

/// The records of `vault` in a store that verify and are signed by a
/// sealer the vault accepts; the rest are never chained onto.
pub fn own_records(
    store: &dyn Store,
    vault: &Descriptor,
) -> Result<BTreeMap<BlobId, Record>, PushError> {
    let (records, _) = crate::snapshot::load_records(store)?;
    Ok(records
        .into_iter()
        .filter(|(_, r)| {
            vault
                .accepts(&r.body.vault_id.0, Some(&r.sealer), false)
                .is_ok()
        })
        .collect())
}

/// What of a snapshot's needs `store` lacks: every object its tables name
/// (with its size), and a key envelope for the snapshot and each base;
/// named for people, at most five and a count.
pub fn missing_in(
    store: &dyn Store,
    snapshot: SnapshotId,
    tables: &crate::snapshot::list::Tables,
) -> Result<Vec<String>, StoreError> {
    let listing = store.list("objects/")?;
    let sizes: std::collections::HashMap<&str, u64> = listing.sizes().collect();
    let mut missing: Vec<String> = tables
        .objects()
        .filter(|(id, size)| sizes.get(object_key(id).as_str()) != Some(size))
        .map(|(id, _)| format!("object {id}"))
        .collect();
    let keys = store.list("keys/")?;
    let with_key: std::collections::HashSet<&str> = keys
        .blobs
        .iter()
        .filter_map(|b| b.key.split('/').nth(1))
        .collect();
    for sid in tables.key_holders(snapshot) {
        if !with_key.contains(sid.to_hex().as_str()) {
            missing.push(format!("the key envelope of snapshot {sid}"));
        }
    }
    let n = missing.len();
    if n > 5 {
        missing.truncate(5);
        missing.push(format!("and {} more", n - 5));
    }
    Ok(missing)
}

/// Checks that everything the record will name is in `store`. The push
/// checked the objects it reuses when it started; a prune (or the host)
/// may have removed one since, and a record must never name what is not
/// there.
fn check_complete(store: &dyn Store, f: &Finished<'_>) -> Result<(), PushError> {
    let vanished = |missing| PushError::Vanished {
        store: store.describe(),
        missing,
    };
    let tables = crate::snapshot::read::read_lists(store, f.snapshot_id, &f.ready.lists)
        .map_err(|e| vanished(vec![crate::untrusted::escape(&e.to_string()).into_owned()]))?;
    let missing = missing_in(store, f.snapshot_id, &tables)?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(vanished(missing))
    }
}

/// Writes the snapshot's record to `store`, unless the store holds it
/// already (then that record is returned).
pub fn record_in(
    store: &dyn Store,
    vault: &Descriptor,
    sealer: &SealerSecretKey,
    f: &Finished<'_>,
    our_head: Option<BlobId>,
    accept_rollback: bool,
) -> Result<Record, PushError> {
    let records = own_records(store, vault)?;
    crate::killpoint::reached("push-heads-read");
    // The spelling the vault lists: hybrid records for a sealer listed
    // hybrid (push refused a sealer the vault does not list at all).
    let own = sealer.public();
    let me = vault.listed_as(&own).unwrap_or(own);
    if let Some(r) = records
        .values()
        .find(|r| r.body.snapshot_id == f.snapshot_id && r.sealer == me)
    {
        return Ok(r.clone());
    }
    if let Some(h) = our_head
        && !records.contains_key(&h)
        && !accept_rollback
    {
        return Err(PushError::Rollback {
            store: store.describe(),
            head: h,
        });
    }
    check_complete(store, f)?;
    crate::killpoint::reached("push-checked-complete");
    let previous = record::chain(&records).heads;
    if previous.len() > PREVIOUS_MAX {
        return Err(PushError::Store(crate::store::StoreError::Backend {
            store: store.describe(),
            message: format!("{} heads: more than a record can follow", previous.len()),
        }));
    }
    let body = RecordBody {
        commitment: f.commitment,
        format: record::FORMAT.into(),
        lists: f.ready.lists.clone(),
        previous,
        sealer: me.to_string(),
        snapshot_id: f.snapshot_id,
        summary: f.ready.summary,
        // When the record is made (a resumed push may finish days after
        // its data was complete): retention compares it with the record's
        // arrival.
        time: crate::time::now_rfc3339(),
        vault_id: VaultId(vault.vault_id()),
    };
    let (record, bytes) = Record::sign(body, sealer);
    store.put(&record_key(&record.hash), &bytes)?;
    crate::killpoint::reached("push-record-stored");
    Ok(record)
}

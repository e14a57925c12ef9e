//! Bringing a lagging store up to date from another store of the same
//! vault, with no key (restic's `copy`).
//!
//! A store that missed pushes (it was down, or added later), or a local
//! copy that a ceremony's rotation added key envelopes to, is brought level
//! by copying what the destination lacks: records, object lists, objects,
//! key envelopes, `descriptors/` copies and signed post-quantum upgrade
//! lists (`upgrades/`). The rules (FORMAT.md §8.9):
//!
//! - **Nothing in the destination is overwritten or deleted.** Every blob
//!   is named by the SHA-256 of its bytes, so a name the destination holds
//!   already names the same bytes; it is never written again. An envelope
//!   is never "replaced": a rotation's new envelope has a new name.
//! - **Everything copied is checked first and read back after**: each blob
//!   hashes to its name, a record's sealer signature verifies and the vault
//!   accepts the record, a list belongs to its snapshot and the lists add up
//!   to the record's signed summary, an object has the size its list gives,
//!   an envelope names its snapshot and this vault and commits to a key that
//!   a signed record names for that snapshot, a `vault.json` copy is this
//!   vault's and signed.
//! - **A record is copied last, and only whole**: when every list, object
//!   and envelope it needs is in the destination, no other record of its
//!   snapshot is there (each store keeps its own chain), and every record it
//!   follows is there. So the destination verifies after any sync, even
//!   from a damaged source, and a sync stopped at any point leaves only
//!   blobs that no record names yet.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::Counters;
use super::key_envelope::{ENVELOPE_MAX, KeyEnvelope};
use super::list::{LIST_MAX, ObjectList, Tables};
use super::object::OBJECT_MAX;
use super::read::{check_object, check_summary};
use super::record::{RECORD_MAX, Record, list_key, object_key, record_key};
use crate::descriptor::{DESCRIPTOR_MAX, Descriptor};
use crate::ids::{BlobId, Commitment, SnapshotId, VaultId};
use crate::store::{Store, StoreError};
use crate::untrusted::escape;

/// The kinds of blob a store holds, as sync counts them.
pub const PREFIXES: [&str; 6] = [
    "descriptors/",
    "objects/",
    "lists/",
    "keys/",
    "records/",
    super::upgrade_list::PREFIX,
];

/// How to sync.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncOptions {
    /// Check everything, copy nothing.
    pub dry_run: bool,
}

/// Blobs and bytes of one kind copied (or, in a dry run, to copy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Blobs.
    pub blobs: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Copied {
    fn add(&mut self, bytes: usize) {
        self.blobs += 1;
        self.bytes += bytes as u64;
    }
}

/// What a sync did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Records copied.
    pub records: Copied,
    /// Object lists copied.
    pub lists: Copied,
    /// Objects (packs and manifest parts) copied.
    pub objects: Copied,
    /// Key envelopes copied.
    pub keys: Copied,
    /// `vault.json` copies copied.
    pub descriptors: Copied,
    /// Post-quantum upgrade lists copied.
    pub upgrade_lists: Copied,
    /// The snapshots whose records were copied.
    pub snapshots: Vec<SnapshotId>,
    /// What is wrong with the source, each naming the blob (escaped).
    /// Nothing a damaged blob is part of was copied.
    pub damaged: Vec<String>,
    /// Source records the vault does not accept (another vault's, or an
    /// unaccepted sealer's), not copied (escaped).
    pub refused: Vec<String>,
    /// What was left alone and why, for information (escaped).
    pub notes: Vec<String>,
}

impl SyncReport {
    /// Every kind, with its name, in the order they are written.
    pub fn kinds(&self) -> [(&'static str, Copied); 6] {
        [
            ("vault.json copies", self.descriptors),
            ("objects", self.objects),
            ("lists", self.lists),
            ("key envelopes", self.keys),
            ("records", self.records),
            ("upgrade lists", self.upgrade_lists),
        ]
    }

    /// Blobs and bytes copied in all.
    pub fn total(&self) -> Copied {
        self.kinds()
            .iter()
            .fold(Copied::default(), |a, (_, c)| Copied {
                blobs: a.blobs + c.blobs,
                bytes: a.bytes + c.bytes,
            })
    }
}

/// Why a sync could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Either store failed (listing, reading or writing).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A store holds the snapshots of another vault only.
    #[error("{store} holds the snapshots of another vault ({other}), not of this one")]
    OtherVault {
        /// The store.
        store: String,
        /// The other vault's id.
        other: VaultId,
    },
    /// A store holds a newer or forked `vault.json` than the one given.
    #[error("{0}")]
    StaleVault(String),
    /// The destination, read back, does not hold what was written.
    #[error(
        "{store}: {key} reads back as other bytes than were written: the destination is failing or altering what it stores"
    )]
    ReadBack {
        /// The destination.
        store: String,
        /// The blob.
        key: String,
    },
}

/// Brings `to` up to date with `from`, both stores of `vault`.
pub fn sync(
    from: &dyn Store,
    to: &dyn Store,
    vault: &Descriptor,
    options: SyncOptions,
    counters: &Counters,
) -> Result<SyncReport, SyncError> {
    for store in [from, to] {
        let standing = super::vault_copies::standing(store, vault)?;
        if let Some(why) = super::vault_copies::refusal(store, vault, &standing) {
            return Err(SyncError::StaleVault(escape(&why).into_owned()));
        }
    }
    let mut s = Sync {
        from,
        to,
        vault,
        vault_id: VaultId(vault.vault_id()),
        options,
        counters,
        present: HashSet::new(),
        report: SyncReport::default(),
    };
    for prefix in PREFIXES {
        let listing = to.list(prefix)?;
        s.present.extend(listing.blobs.into_iter().map(|b| b.key));
        // An odd entry is never written over either.
        s.present.extend(listing.odd.into_iter().map(|(k, _)| k));
    }
    s.descriptors()?;
    s.snapshots()?;
    s.upgrade_lists()?;
    Ok(s.report)
}

struct Sync<'a> {
    from: &'a dyn Store,
    to: &'a dyn Store,
    vault: &'a Descriptor,
    vault_id: VaultId,
    options: SyncOptions,
    counters: &'a Counters,
    /// Every key the destination holds (or, as the sync goes, now holds).
    present: HashSet<String>,
    report: SyncReport,
}

/// A record of the source and what it needs.
struct Candidate {
    record: Record,
    bytes: Vec<u8>,
    tables: Tables,
    /// The lists read from the source (checked against their names).
    lists: Vec<(String, Vec<u8>)>,
}

impl Sync<'_> {
    fn damaged(&mut self, what: String) {
        self.report.damaged.push(what);
    }

    /// Reads a source blob of at most `limit` bytes; `None` (and the
    /// damage named) if it is missing or not a plain blob.
    fn fetch(&mut self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, StoreError> {
        match self.from.get(key, limit) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                self.damaged(escape(&e.to_string()).into_owned());
                Ok(None)
            }
            Err(e) if e.is_not_found() => {
                self.damaged(format!(
                    "{}: {} is missing",
                    escape(&self.from.describe()),
                    escape(key)
                ));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes a checked blob the destination lacks, and reads it back.
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<(), SyncError> {
        if self.present.contains(key) {
            return Ok(());
        }
        if !self.options.dry_run {
            self.to.put(key, bytes)?;
            let back = self.to.get(key, bytes.len() as u64)?;
            if back != bytes {
                return Err(SyncError::ReadBack {
                    store: self.to.describe(),
                    key: key.into(),
                });
            }
        }
        Counters::add(&self.counters.objects, 1);
        Counters::add(&self.counters.bytes, bytes.len() as u64);
        self.present.insert(key.into());
        let kind = match key.split('/').next() {
            Some("descriptors") => &mut self.report.descriptors,
            Some("objects") => &mut self.report.objects,
            Some("lists") => &mut self.report.lists,
            Some("keys") => &mut self.report.keys,
            Some("upgrades") => &mut self.report.upgrade_lists,
            _ => &mut self.report.records,
        };
        kind.add(bytes.len());
        Ok(())
    }

    /// `vault.json` copies: this vault's, signed, hashing to their names.
    fn descriptors(&mut self) -> Result<(), SyncError> {
        let listing = self.from.list(super::vault_copies::PREFIX)?;
        for b in listing.blobs {
            if self.present.contains(&b.key) {
                continue;
            }
            let Some(bytes) = self.fetch(&b.key, DESCRIPTOR_MAX)? else {
                continue;
            };
            let named = name_of(&b.key);
            if named != Some(BlobId::of(&bytes)) {
                self.damaged(format!(
                    "{}: its bytes do not match its name: altered or replaced",
                    escape(&b.key)
                ));
                continue;
            }
            match Descriptor::from_json(&bytes) {
                Ok(d) if d.vault_id() == self.vault.vault_id() => self.put(&b.key, &bytes)?,
                Ok(_) => self.report.notes.push(format!(
                    "{}: another vault's vault.json, not copied",
                    escape(&b.key)
                )),
                Err(e) => self.damaged(format!(
                    "{}: not a signed vault.json: {}",
                    escape(&b.key),
                    escape(&e.to_string())
                )),
            }
        }
        Ok(())
    }

    /// Post-quantum upgrade lists (after the envelopes they name): each
    /// hashing to its name and signed by a post-quantum generation of this
    /// vault. The host needs one before it may delete classic envelopes
    /// (`seif drop-classic-keys`); a list it names envelopes of that are
    /// not (yet) here is copied all the same: that command checks every
    /// envelope it relies on.
    fn upgrade_lists(&mut self) -> Result<(), SyncError> {
        use super::upgrade_list::{PREFIX, UPGRADE_LIST_MAX, UpgradeList};
        let listing = self.from.list(PREFIX)?;
        for b in listing.blobs {
            if self.present.contains(&b.key) {
                continue;
            }
            let Some(bytes) = self.fetch(&b.key, UPGRADE_LIST_MAX)? else {
                continue;
            };
            if name_of(&b.key) != Some(BlobId::of(&bytes)) {
                self.damaged(format!(
                    "{}: its bytes do not match its name: altered or replaced",
                    escape(&b.key)
                ));
                continue;
            }
            match UpgradeList::verify(&bytes, self.vault) {
                Ok(_) => self.put(&b.key, &bytes)?,
                // Signed by a generation this vault.json does not know (an
                // older vault.json): not damage, just not checkable here.
                Err(e @ super::upgrade_list::UpgradeListError::Generation(_)) => {
                    self.report.notes.push(format!(
                        "{}: not copied: {}",
                        escape(&b.key),
                        escape(&e.to_string())
                    ))
                }
                Err(e) => self.damaged(format!(
                    "{}: not an upgrade list of this vault: {}",
                    escape(&b.key),
                    escape(&e.to_string())
                )),
            }
        }
        Ok(())
    }

    /// Records, with their lists, objects and envelopes.
    fn snapshots(&mut self) -> Result<(), SyncError> {
        let (ours, theirs) = self.records_of(self.from, true)?;
        let (held, _) = self.records_of(self.to, false)?;
        if ours.is_empty()
            && let Some(other) = theirs
        {
            return Err(SyncError::OtherVault {
                store: self.from.describe(),
                other,
            });
        }
        if held.is_empty()
            && let Some(other) = self.other_vault_only(self.to)?
        {
            return Err(SyncError::OtherVault {
                store: self.to.describe(),
                other,
            });
        }
        // The commitments signed records give for each snapshot: the only
        // envelopes worth copying commit to one of them.
        let mut commitments: HashMap<SnapshotId, BTreeSet<Commitment>> = HashMap::new();
        let held_snapshots: HashSet<SnapshotId> =
            held.values().map(|(r, _)| r.body.snapshot_id).collect();
        let mut candidates = Vec::new();
        for (hash, (record, bytes)) in &ours {
            commitments
                .entry(record.body.snapshot_id)
                .or_default()
                .insert(record.body.commitment);
            let Some((tables, lists)) = self.tables(record)? else {
                continue;
            };
            for b in &tables.bases {
                commitments
                    .entry(b.snapshot_id)
                    .or_default()
                    .insert(b.commitment);
            }
            if held.contains_key(hash) {
                continue;
            }
            if held_snapshots.contains(&record.body.snapshot_id) {
                self.report.notes.push(format!(
                    "record {hash}: the destination records snapshot {} under another record (each store keeps its own chain); not copied",
                    record.body.snapshot_id
                ));
                continue;
            }
            candidates.push(Candidate {
                record: record.clone(),
                bytes: bytes.clone(),
                tables,
                lists,
            });
        }
        for (r, _) in held.values() {
            commitments
                .entry(r.body.snapshot_id)
                .or_default()
                .insert(r.body.commitment);
        }

        // Objects first: a record whose objects do not all check is not
        // copied.
        let mut whole = Vec::new();
        for c in candidates {
            if self.objects(&c)? {
                whole.push(c);
            }
        }
        // Envelopes for every snapshot the destination's records will need.
        let mut live: BTreeSet<SnapshotId> =
            held.values().map(|(r, _)| r.body.snapshot_id).collect();
        for c in &whole {
            live.extend(c.tables.key_holders(c.record.body.snapshot_id));
        }
        let usable = self.envelopes(&live, &commitments)?;
        // Then lists and records, in chain order: a record only once every
        // record it follows is there.
        let mut done: BTreeSet<BlobId> = held.keys().copied().collect();
        let mut pending: BTreeMap<BlobId, Candidate> =
            whole.into_iter().map(|c| (c.record.hash, c)).collect();
        loop {
            let ready: Vec<BlobId> = pending
                .values()
                .filter(|c| c.record.body.previous.iter().all(|p| done.contains(p)))
                .map(|c| c.record.hash)
                .collect();
            if ready.is_empty() {
                break;
            }
            for h in ready {
                let c = pending.remove(&h).expect("pending");
                let sid = c.record.body.snapshot_id;
                let keyless: Vec<SnapshotId> = c
                    .tables
                    .key_holders(sid)
                    .into_iter()
                    .filter(|k| !usable.contains(k))
                    .collect();
                if !keyless.is_empty() {
                    self.damaged(format!(
                        "snapshot {sid} (record {h}): no key envelope for {} in either store that commits to its signed key; not copied",
                        keyless
                            .iter()
                            .map(|k| format!("snapshot {k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    continue;
                }
                for (key, bytes) in &c.lists {
                    self.put(key, bytes)?;
                }
                self.put(&record_key(&h), &c.bytes)?;
                self.report.snapshots.push(sid);
                done.insert(h);
            }
        }
        for c in pending.values() {
            self.damaged(format!(
                "record {} (snapshot {}) follows a record that neither store holds whole; not copied",
                c.record.hash, c.record.body.snapshot_id
            ));
        }
        Ok(())
    }

    /// The records of `store` this vault accepts, with their bytes; and
    /// another vault, if the store holds any of another's. Unreadable or
    /// unaccepted records of the source are named.
    #[allow(clippy::type_complexity)]
    fn records_of(
        &mut self,
        store: &dyn Store,
        source: bool,
    ) -> Result<(BTreeMap<BlobId, (Record, Vec<u8>)>, Option<VaultId>), SyncError> {
        let listing = store.list("records/")?;
        let mut out = BTreeMap::new();
        let mut other = None;
        for b in listing.blobs {
            let Some(name) = name_of(&b.key) else {
                if source {
                    self.damaged(format!(
                        "{}: not a record name (records/<sha256>)",
                        escape(&b.key)
                    ));
                }
                continue;
            };
            let bytes = match store.get(&b.key, RECORD_MAX as u64) {
                Ok(bytes) => bytes,
                Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                    if source {
                        self.damaged(escape(&e.to_string()).into_owned());
                    }
                    continue;
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let record = match Record::parse(&bytes, Some(&name)) {
                Ok(r) => r,
                Err(e) => {
                    if source {
                        self.damaged(format!("record {}: {}", escape(&b.key), e));
                    }
                    continue;
                }
            };
            match self
                .vault
                .accepts(&record.body.vault_id.0, Some(&record.sealer), false)
            {
                Ok(()) => {
                    out.insert(name, (record, bytes));
                }
                Err(why) => {
                    if record.body.vault_id != self.vault_id {
                        other = Some(record.body.vault_id);
                    }
                    if source {
                        self.report.refused.push(format!(
                            "record {name} (snapshot {}): {}; not copied",
                            record.body.snapshot_id,
                            escape(&why.to_string())
                        ));
                    }
                }
            }
        }
        Ok((out, other))
    }

    fn other_vault_only(&mut self, store: &dyn Store) -> Result<Option<VaultId>, SyncError> {
        let (ours, other) = self.records_of(store, false)?;
        Ok(if ours.is_empty() { other } else { None })
    }

    /// A source record's lists, checked against its summary; `None` (and
    /// the damage named, or a note for a pruned snapshot) if they are not
    /// whole in either store.
    #[allow(clippy::type_complexity)]
    fn tables(
        &mut self,
        record: &Record,
    ) -> Result<Option<(Tables, Vec<(String, Vec<u8>)>)>, SyncError> {
        let sid = record.body.snapshot_id;
        let mut lists = Vec::new();
        let mut from_source = Vec::new();
        let mut source_bytes = Vec::new();
        for l in &record.body.lists {
            let key = list_key(&l.id);
            let limit = l.size.min(LIST_MAX as u64);
            let got = match self.from.get(&key, limit) {
                Err(e) if e.is_not_found() && self.present.contains(&key) => {
                    self.to.get(&key, limit)
                }
                Ok(b) => {
                    from_source.push(key.clone());
                    Ok(b)
                }
                other => other,
            };
            let bytes = match got {
                Ok(b) => b,
                Err(e) if e.is_not_found() => {
                    if let Some(why) = super::prune::expired_note(
                        self.from,
                        self.vault,
                        record,
                        crate::time::unix_now(),
                    )? {
                        self.report.notes.push(format!("{why}; not copied"));
                    } else {
                        self.damaged(format!(
                            "snapshot {sid} (record {}): its list {} is missing; not copied",
                            record.hash, l.id
                        ));
                    }
                    return Ok(None);
                }
                Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                    self.damaged(format!(
                        "snapshot {sid}: {}; not copied",
                        escape(&e.to_string())
                    ));
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            };
            match ObjectList::parse(&bytes, &l.id) {
                Ok(list) => {
                    lists.push(list);
                    if from_source.last() == Some(&key) {
                        source_bytes.push((key, bytes));
                    }
                }
                Err(why) => {
                    self.damaged(format!(
                        "list {} of snapshot {sid}: {}; not copied",
                        l.id,
                        escape(&why)
                    ));
                    return Ok(None);
                }
            }
        }
        let tables = match Tables::assemble(sid, &lists) {
            Ok(t) => t,
            Err(why) => {
                self.damaged(format!(
                    "the lists of snapshot {sid}: {}; not copied",
                    escape(&why)
                ));
                return Ok(None);
            }
        };
        if let Err(e) = check_summary(record, &tables) {
            self.damaged(format!(
                "snapshot {sid}: {}; not copied",
                escape(&e.to_string())
            ));
            return Ok(None);
        }
        Ok(Some((tables, source_bytes)))
    }

    /// Copies the objects a record needs that the destination lacks,
    /// each checked against its listed size and hash. Whether all are now
    /// in the destination.
    fn objects(&mut self, c: &Candidate) -> Result<bool, SyncError> {
        let sid = c.record.body.snapshot_id;
        let mut whole = true;
        for (id, size) in c.tables.objects() {
            let key = object_key(&id);
            if self.present.contains(&key) {
                continue;
            }
            let bytes = match self.from.get(&key, size.min(OBJECT_MAX)) {
                Ok(b) => b,
                Err(e) if e.is_not_found() => {
                    self.damaged(format!(
                        "object {id}, which snapshot {sid} needs, is missing from {}",
                        escape(&self.from.describe())
                    ));
                    whole = false;
                    continue;
                }
                Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                    self.damaged(format!(
                        "object {id} (snapshot {sid}): {}",
                        escape(&e.to_string())
                    ));
                    whole = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if let Err(e) = check_object(&id, size, &bytes) {
                self.damaged(format!(
                    "{}: {} (snapshot {sid} needs it); not copied",
                    escape(&self.from.describe()),
                    escape(&e.to_string())
                ));
                whole = false;
                continue;
            }
            self.put(&key, &bytes)?;
        }
        if !whole {
            self.report.notes.push(format!(
                "snapshot {sid} (record {}) was not copied: the source lacks part of it",
                c.record.hash
            ));
        }
        Ok(whole)
    }

    /// Copies the envelopes of `live` snapshots that commit to a signed
    /// key; returns the snapshots that have one in the destination now.
    fn envelopes(
        &mut self,
        live: &BTreeSet<SnapshotId>,
        commitments: &HashMap<SnapshotId, BTreeSet<Commitment>>,
    ) -> Result<BTreeSet<SnapshotId>, SyncError> {
        let mut usable = BTreeSet::new();
        // What the destination already holds counts if it is of a live
        // snapshot (an envelope is only ever used through its commitment,
        // and verify checks it).
        for key in self.present.iter() {
            if let Some(sid) = envelope_snapshot(key)
                && live.contains(&sid)
            {
                usable.insert(sid);
            }
        }
        let listing = self.from.list("keys/")?;
        for b in listing.blobs {
            if self.present.contains(&b.key) {
                continue;
            }
            let Some(sid) = envelope_snapshot(&b.key) else {
                self.damaged(format!(
                    "{}: not a key envelope name (keys/<snapshot id>/<sha256>)",
                    escape(&b.key)
                ));
                continue;
            };
            if !live.contains(&sid) {
                continue;
            }
            let Some(bytes) = self.fetch(&b.key, ENVELOPE_MAX as u64)? else {
                continue;
            };
            if name_of(&b.key) != Some(BlobId::of(&bytes)) {
                self.damaged(format!(
                    "{}: its bytes do not match its name: altered or replaced; not copied",
                    escape(&b.key)
                ));
                continue;
            }
            let env = match KeyEnvelope::parse(&bytes) {
                Ok(e) => e,
                Err(why) => {
                    self.damaged(format!(
                        "{}: not a key envelope: {}; not copied",
                        escape(&b.key),
                        escape(&why)
                    ));
                    continue;
                }
            };
            if env.snapshot_id != sid || env.vault_id != self.vault_id {
                self.damaged(format!(
                    "{}: an envelope of snapshot {} of vault {}, stored under snapshot {sid}; not copied",
                    escape(&b.key),
                    env.snapshot_id,
                    env.vault_id
                ));
                continue;
            }
            if !commitments
                .get(&sid)
                .is_some_and(|c| c.contains(&env.commitment))
            {
                self.damaged(format!(
                    "{}: commits to a key that no signed record gives for snapshot {sid} (forged or of another snapshot); not copied",
                    escape(&b.key)
                ));
                continue;
            }
            self.put(&b.key, &bytes)?;
            usable.insert(sid);
        }
        Ok(usable)
    }
}

/// The blob id a key ends in.
fn name_of(key: &str) -> Option<BlobId> {
    key.rsplit('/')
        .next()
        .and_then(|n| BlobId::from_hex(n).ok())
}

/// The snapshot of `keys/<snapshot id>/<sha256>`.
fn envelope_snapshot(key: &str) -> Option<SnapshotId> {
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("keys"), Some(sid), Some(_), None) => SnapshotId::from_hex(sid).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_names() {
        let sid = "00112233445566778899aabbccddeeff";
        let h = "ab".repeat(32);
        assert_eq!(
            envelope_snapshot(&format!("keys/{sid}/{h}")).map(|s| s.to_hex()),
            Some(sid.to_owned())
        );
        assert_eq!(envelope_snapshot(&format!("keys/{sid}")), None);
        assert_eq!(envelope_snapshot(&format!("keys/{sid}/{h}/x")), None);
        assert_eq!(envelope_snapshot(&format!("lists/{h}")), None);
        assert_eq!(name_of(&format!("lists/{h}")).map(|b| b.to_hex()), Some(h));
    }
}

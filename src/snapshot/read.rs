//! Reading a snapshot back, with every check the format allows: its lists
//! (public, each hashed to its name, put together and checked), the data
//! keys it needs (its own and its bases', each against its commitment),
//! and its manifest (each part authenticated, every line checked, every
//! chunk naming a pack of the tables and lying inside it). Restore, check,
//! the ceremony's open, and push's own read-back all go through here, so
//! that "push said ok" and "restore works" apply the same rules.

use std::collections::HashMap;

use super::list::{LIST_MAX, ObjectList, Tables};
use super::manifest::{self, Entry, Totals};
use super::object::{self, Kind, OBJECT_MAX};
use super::record::{Record, list_key, object_key};
use crate::ids::{BlobId, Commitment, SnapshotId, VaultId};
use crate::secrets::DataKey;
use crate::store::{Store, StoreError};

/// Why a snapshot could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An object or list is missing, altered, or not this snapshot's.
    #[error("{what} {id}: {message}")]
    Object {
        /// "object" or "list".
        what: &'static str,
        /// Its id.
        id: BlobId,
        /// What is wrong.
        message: String,
    },
    /// The lists are inconsistent.
    #[error("the snapshot's lists: {0}")]
    Lists(String),
    /// The manifest is malformed.
    #[error("the manifest: {0}")]
    Manifest(String),
    /// A data key could not be had.
    #[error("no key for snapshot {snapshot}: {message}")]
    Key {
        /// The snapshot whose key is missing.
        snapshot: SnapshotId,
        /// Why.
        message: String,
    },
}

fn missing_or(what: &'static str, id: BlobId) -> impl Fn(StoreError) -> ReadError {
    move |e| match e {
        StoreError::NotFound { .. } => ReadError::Object {
            what,
            id,
            message: "missing from the store".into(),
        },
        StoreError::TooLarge { size, limit, .. } => ReadError::Object {
            what,
            id,
            message: format!("{size} bytes where {limit} are listed: altered or replaced"),
        },
        e @ StoreError::NotRegular { .. } => ReadError::Object {
            what,
            id,
            message: e.to_string(),
        },
        other => other.into(),
    }
}

/// Fetches a whole object and checks its size and hash.
pub fn fetch_object(store: &dyn Store, id: &BlobId, size: u64) -> Result<Vec<u8>, ReadError> {
    let bytes = store
        .get(&object_key(id), size.min(OBJECT_MAX))
        .map_err(missing_or("object", *id))?;
    check_object(id, size, &bytes)?;
    Ok(bytes)
}

/// Checks fetched bytes against an object's listed size and id.
pub fn check_object(id: &BlobId, size: u64, bytes: &[u8]) -> Result<(), ReadError> {
    if bytes.len() as u64 != size {
        return Err(ReadError::Object {
            what: "object",
            id: *id,
            message: format!(
                "{} bytes where the lists say {size}: altered or replaced",
                bytes.len()
            ),
        });
    }
    if BlobId::of(bytes) != *id {
        return Err(ReadError::Object {
            what: "object",
            id: *id,
            message: "its bytes do not match its name: altered or replaced".into(),
        });
    }
    Ok(())
}

/// Reads and puts together a record's lists, and checks them against its
/// signed summary.
pub fn load_tables(store: &dyn Store, record: &Record) -> Result<Tables, ReadError> {
    let t = read_lists(store, record.body.snapshot_id, &record.body.lists)?;
    check_summary(record, &t)?;
    Ok(t)
}

/// Reads and puts together the lists of `snapshot`.
pub fn read_lists(
    store: &dyn Store,
    snapshot: SnapshotId,
    refs: &[super::record::ListRef],
) -> Result<Tables, ReadError> {
    let mut lists = Vec::new();
    for l in refs {
        let bytes = store
            .get(&list_key(&l.id), (l.size).min(LIST_MAX as u64))
            .map_err(missing_or("list", l.id))?;
        let list = ObjectList::parse(&bytes, &l.id).map_err(|message| ReadError::Object {
            what: "list",
            id: l.id,
            message,
        })?;
        lists.push(list);
    }
    Tables::assemble(snapshot, &lists).map_err(ReadError::Lists)
}

/// The sums a snapshot's tables come to.
pub fn summary_of(snapshot: SnapshotId, t: &Tables) -> super::record::Summary {
    let new = || t.packs.iter().filter(|p| p.snapshot == snapshot);
    super::record::Summary {
        bases: t.bases.len() as u64,
        bytes: t.objects().map(|(_, n)| n).sum(),
        manifest_parts: t.manifest.len() as u64,
        new_bytes: new().map(|p| p.size).sum::<u64>()
            + t.manifest.iter().map(|(_, n)| n).sum::<u64>(),
        new_packs: new().count() as u64,
        packs: t.packs.len() as u64,
    }
}

/// Checks tables against a record's signed summary.
pub fn check_summary(record: &Record, t: &Tables) -> Result<(), ReadError> {
    if summary_of(record.body.snapshot_id, t) != record.body.summary {
        return Err(ReadError::Lists(
            "they do not add up to the record's summary".into(),
        ));
    }
    Ok(())
}

/// The data keys a snapshot needs, by snapshot.
pub type KeyRing = HashMap<SnapshotId, DataKey>;

/// Where keys come from: identities (through the store's key envelopes)
/// or grants already opened.
pub trait KeySource {
    /// The key of `snapshot` of `vault`, which must match `commitment`.
    fn key(
        &self,
        store: &dyn Store,
        vault: VaultId,
        snapshot: SnapshotId,
        commitment: &Commitment,
    ) -> Result<DataKey, String>;
}

/// Keys unwrapped from the store's envelopes with age identities.
pub struct Identities<'a>(pub &'a [&'a dyn age::Identity]);

impl KeySource for Identities<'_> {
    fn key(
        &self,
        store: &dyn Store,
        vault: VaultId,
        snapshot: SnapshotId,
        commitment: &Commitment,
    ) -> Result<DataKey, String> {
        let envelopes = super::envelopes(store, &snapshot).map_err(|e| e.to_string())?;
        if envelopes.is_empty() {
            return Err("the store holds no key envelope for it".into());
        }
        let mut swapped = false;
        for e in envelopes {
            if e.vault_id != vault || e.snapshot_id != snapshot {
                continue;
            }
            match e.unwrap(self.0, commitment) {
                Ok(k) => return Ok(k),
                Err(crate::wrap::WrapError::CommitmentMismatch) => swapped = true,
                Err(_) => {}
            }
        }
        if swapped {
            return Err("its key envelope opens to a key that does not match the snapshot's signed commitment: the envelope was swapped or forged".into());
        }
        Err("none of the given identities opens its key envelopes (another key, or a grant is needed)".into())
    }
}

/// Unwraps every key a snapshot needs: its own and its bases'.
pub fn unwrap_keys(
    store: &dyn Store,
    record: &Record,
    tables: &Tables,
    source: &dyn KeySource,
) -> Result<KeyRing, ReadError> {
    let vault = record.body.vault_id;
    let mut ring = KeyRing::new();
    let wanted = std::iter::once((record.body.snapshot_id, record.body.commitment))
        .chain(tables.bases.iter().map(|b| (b.snapshot_id, b.commitment)));
    for (snapshot, commitment) in wanted {
        let k = source
            .key(store, vault, snapshot, &commitment)
            .map_err(|message| ReadError::Key { snapshot, message })?;
        ring.insert(snapshot, k);
    }
    Ok(ring)
}

/// Reads a snapshot's tables and unwraps every key it needs.
pub fn open_snapshot(
    store: &dyn Store,
    record: &Record,
    source: &dyn KeySource,
) -> Result<(Tables, KeyRing), ReadError> {
    let tables = load_tables(store, record)?;
    let keys = unwrap_keys(store, record, &tables, source)?;
    Ok((tables, keys))
}

/// The manifest's entries, read one part at a time and checked against
/// the tables as they come, so that memory holds one part, not the tree.
/// The end line and its totals are checked after the last part.
pub struct ManifestEntries<'a> {
    store: &'a dyn Store,
    vault: [u8; 32],
    snapshot: SnapshotId,
    tables: &'a Tables,
    key: &'a DataKey,
    next_part: usize,
    /// `None` once the manifest has ended or failed.
    reader: Option<manifest::Reader>,
    current: std::vec::IntoIter<Entry>,
}

impl<'a> ManifestEntries<'a> {
    /// Starts reading the manifest of `snapshot` of `vault`.
    pub fn new(
        store: &'a dyn Store,
        vault: VaultId,
        snapshot: SnapshotId,
        tables: &'a Tables,
        key: &'a DataKey,
    ) -> Self {
        ManifestEntries {
            store,
            vault: vault.0,
            snapshot,
            tables,
            key,
            next_part: 0,
            reader: Some(manifest::Reader::new(snapshot)),
            current: Vec::new().into_iter(),
        }
    }

    /// Reads up to and including the first part, and returns the totals
    /// its first line promises (a restore checks the room it needs before
    /// it writes anything).
    pub fn promised(&mut self) -> Result<Totals, ReadError> {
        loop {
            if let Some(t) = self.reader.as_ref().and_then(|r| r.promised()) {
                return Ok(t);
            }
            if self.reader.is_none() || self.next_part >= self.tables.manifest.len() {
                return Err(ReadError::Manifest("it has no first line".into()));
            }
            let entries = self.read_next_part()?;
            self.current = entries.into_iter();
        }
    }

    fn read_next_part(&mut self) -> Result<Vec<Entry>, ReadError> {
        let (id, size) = self.tables.manifest[self.next_part];
        self.next_part += 1;
        let bytes = fetch_object(self.store, &id, size)?;
        let plain = object::open(
            &bytes,
            Kind::Manifest,
            &self.vault,
            &self.snapshot.0,
            self.key,
        )
        .map_err(|e| ReadError::Object {
            what: "object",
            id,
            message: format!("manifest part: {e}"),
        })?;
        let reader = self.reader.as_mut().expect("reading");
        reader.part(&plain).map_err(ReadError::Manifest)
    }

    /// Every chunk of `e` names a pack of the tables and lies inside it.
    fn check(&self, e: &Entry) -> Result<(), ReadError> {
        for c in e.chunks.as_deref().unwrap_or(&[]) {
            let pack = self.tables.packs.get(c.pack as usize).ok_or_else(|| {
                ReadError::Manifest(format!(
                    "{}: names pack {} of {}",
                    crate::untrusted::escape(&e.path),
                    c.pack,
                    self.tables.packs.len()
                ))
            })?;
            if u64::from(c.offset) + u64::from(c.len) > pack.plain_len() {
                return Err(ReadError::Manifest(format!(
                    "{}: a chunk lies outside its pack",
                    crate::untrusted::escape(&e.path)
                )));
            }
        }
        Ok(())
    }
}

impl Iterator for ManifestEntries<'_> {
    type Item = Result<Entry, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.current.next() {
                return Some(self.check(&e).map(|()| e));
            }
            self.reader.as_ref()?;
            if self.next_part >= self.tables.manifest.len() {
                let reader = self.reader.take().expect("reading");
                return reader.finish().err().map(|e| Err(ReadError::Manifest(e)));
            }
            match self.read_next_part() {
                Ok(entries) => self.current = entries.into_iter(),
                Err(e) => {
                    self.reader = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Reads and checks a whole manifest, entry by entry, without keeping it:
/// what push does right after it stored one, and `seif check` for every
/// snapshot. Returns the totals.
pub fn check_manifest(
    store: &dyn Store,
    vault: VaultId,
    snapshot: SnapshotId,
    tables: &Tables,
    key: &DataKey,
    mut each: impl FnMut(&Entry) -> Result<(), ReadError>,
) -> Result<Totals, ReadError> {
    let mut entries = ManifestEntries::new(store, vault, snapshot, tables, key);
    let promised = entries.promised()?;
    for e in entries {
        each(&e?)?;
    }
    Ok(promised)
}

//! The manifest being written: entries go in as their packs are stored,
//! and each part is sealed and stored as soon as it fills (the first part,
//! which opens with the totals, at the end), so that at most two parts are
//! held in memory whatever the tree's size.

use super::PushError;
use crate::ids::{BlobId, SnapshotId};
use crate::padme::padme;
use crate::secrets::DataKey;
use crate::snapshot::manifest::{self, Entry, Totals};
use crate::snapshot::object::{self, Kind, ObjectHeader};
use crate::snapshot::record::object_key;
use crate::store::Store;

/// Seals manifest parts and stores them in every store.
pub struct ManifestSink<'a> {
    writer: manifest::Writer,
    stores: &'a [Box<dyn Store>],
    key: &'a DataKey,
    vault: [u8; 32],
    snapshot: SnapshotId,
    pad: bool,
    later: Vec<(BlobId, u64)>,
    /// Objects and bytes stored.
    pub uploaded: (u64, u64),
}

/// A stored manifest: every part (id, size) in order, its totals, and
/// what was uploaded for it (objects, bytes).
pub type Stored = (Vec<(BlobId, u64)>, Totals, (u64, u64));

impl<'a> ManifestSink<'a> {
    /// A manifest for `snapshot`.
    pub fn new(
        stores: &'a [Box<dyn Store>],
        key: &'a DataKey,
        vault: [u8; 32],
        snapshot: SnapshotId,
        pad: bool,
    ) -> Self {
        ManifestSink {
            writer: manifest::Writer::new(snapshot),
            stores,
            key,
            vault,
            snapshot,
            pad,
            later: Vec::new(),
            uploaded: (0, 0),
        }
    }

    /// Adds an entry. The writer refuses, naming the path, what its reader
    /// would refuse.
    pub fn push(&mut self, entry: &Entry) -> Result<(), PushError> {
        let parts = self
            .writer
            .push(entry)
            .map_err(|why| PushError::Unrepresentable {
                path: entry.path.clone().into(),
                why,
            })?;
        for part in parts {
            let r = self.store(part)?;
            self.later.push(r);
        }
        Ok(())
    }

    fn store(&mut self, mut plain: Vec<u8>) -> Result<(BlobId, u64), PushError> {
        if self.pad {
            plain.resize(padme(plain.len() as u64) as usize, 0);
        }
        let header = ObjectHeader::new(Kind::Manifest, self.vault, self.snapshot.0);
        let mut obj = Vec::new();
        object::seal(&header, self.key, &plain, &mut obj)?;
        let id = BlobId::of(&obj);
        for s in self.stores {
            s.put(&object_key(&id), &obj)?;
        }
        self.uploaded.0 += 1;
        self.uploaded.1 += obj.len() as u64;
        Ok((id, obj.len() as u64))
    }

    /// Stores the first and last parts; returns every part in order and
    /// the totals.
    pub fn finish(mut self) -> Result<Stored, PushError> {
        let writer = std::mem::replace(&mut self.writer, manifest::Writer::new(self.snapshot));
        let (first, last, totals) = writer.finish().map_err(|why| PushError::Unrepresentable {
            path: "(the manifest)".into(),
            why,
        })?;
        let mut parts = vec![self.store(first)?];
        parts.append(&mut self.later);
        if let Some(last) = last {
            parts.push(self.store(last)?);
        }
        Ok((parts, totals, self.uploaded))
    }
}

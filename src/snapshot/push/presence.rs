//! What each store holds, as the push found it, and "each store gets what
//! it lacks".
//!
//! A new snapshot references an earlier object only once that object is in
//! every store the push writes to, with the size the pipeline knows and,
//! where it had to be copied, bytes that hash to its name; and only if each
//! store holds a key envelope for the snapshot whose key opens it. An
//! object one store lacks (a store added later, a push that reached only
//! some stores) is copied there, ciphertext as it is, from a store that has
//! it; an object no store holds whole is not referenced, and its chunks are
//! stored afresh. So a lost or foreign index, or a host that deleted
//! objects, can cost bandwidth, never a snapshot that references what is
//! not there.

use std::collections::{HashMap, HashSet};

use super::PushError;
use super::index::Known;
use crate::ids::{BlobId, SnapshotId};
use crate::snapshot::key_envelope::{ENVELOPE_MAX, KeyEnvelope};
use crate::snapshot::object::OBJECT_MAX;
use crate::snapshot::record::object_key;
use crate::store::{Store, StoreError};

/// Objects not read back for this many days are read back (and hashed)
/// when a push references them, within its budget.
pub const RECHECK_DAYS: u32 = 30;

/// What the stores hold.
pub struct Presence {
    objects: Vec<HashMap<BlobId, u64>>,
    envelopes: Vec<HashMap<SnapshotId, Vec<String>>>,
    /// Per known object: 0 unknown, 1 usable, 2 not usable.
    usable: Vec<u8>,
    /// Objects copied from one store to another.
    pub copied: u64,
    /// Bytes this push may still read back to check reused objects.
    budget: u64,
    /// Known objects read back whole in every store by this push.
    pub rechecked: Vec<u32>,
    /// Known objects found damaged in some store (then not referenced
    /// from there; copied over or stored afresh).
    pub damaged: Vec<(String, BlobId)>,
    today: u32,
    max_age: u32,
}

impl Presence {
    /// Lists the objects and key envelopes of every store.
    pub fn scan(stores: &[Box<dyn Store>]) -> Result<Self, PushError> {
        let mut objects = Vec::new();
        let mut envelopes = Vec::new();
        for s in stores {
            let listed = s.list("objects/")?;
            objects.push(
                listed
                    .blobs
                    .iter()
                    .filter_map(|b| {
                        let id = BlobId::from_hex(b.key.rsplit('/').next()?).ok()?;
                        (object_key(&id) == b.key).then_some((id, b.size))
                    })
                    .collect(),
            );
            let mut env: HashMap<SnapshotId, Vec<String>> = HashMap::new();
            for b in s.list("keys/")?.blobs {
                let mut parts = b.key.split('/');
                if let (Some("keys"), Some(sid), Some(_), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                    && let Ok(sid) = SnapshotId::from_hex(sid)
                {
                    env.entry(sid).or_default().push(b.key.clone());
                }
            }
            envelopes.push(env);
        }
        Ok(Presence {
            objects,
            envelopes,
            usable: Vec::new(),
            copied: 0,
            budget: 0,
            rechecked: Vec::new(),
            damaged: Vec::new(),
            today: (crate::time::unix_now() / 86_400) as u32,
            max_age: RECHECK_DAYS,
        })
    }

    /// Lets this push read back up to `bytes` (per store) of reused
    /// objects that were not checked in `days` days.
    pub fn with_recheck(mut self, bytes: u64, days: u32) -> Self {
        self.budget = bytes;
        self.max_age = days;
        self
    }

    /// Today, in days since the Unix epoch.
    pub fn today(&self) -> u32 {
        self.today
    }

    /// Reads `id` back from every store that lists it, and forgets it where
    /// its bytes do not hash to its name (a host's damage or swap).
    fn recheck(
        &mut self,
        stores: &[Box<dyn Store>],
        id: BlobId,
        size: u64,
    ) -> Result<(), PushError> {
        let key = object_key(&id);
        for (i, s) in stores.iter().enumerate() {
            if self.objects[i].get(&id) != Some(&size) {
                continue;
            }
            let whole = match s.get(&key, OBJECT_MAX) {
                Ok(b) => b.len() as u64 == size && BlobId::of(&b) == id,
                Err(
                    StoreError::NotFound { .. }
                    | StoreError::TooLarge { .. }
                    | StoreError::NotRegular { .. },
                ) => false,
                Err(e) => return Err(e.into()),
            };
            if !whole {
                self.objects[i].remove(&id);
                self.damaged.push((s.describe(), id));
            }
        }
        self.budget = self.budget.saturating_sub(size);
        Ok(())
    }

    /// Whether every store holds `id` with `size`.
    pub fn everywhere(&self, id: &BlobId, size: u64) -> bool {
        self.objects.iter().all(|m| m.get(id) == Some(&size))
    }

    /// Whether some store holds `id` with `size`.
    pub fn anywhere(&self, id: &BlobId, size: u64) -> bool {
        self.objects.iter().any(|m| m.get(id) == Some(&size))
    }

    /// Notes that every store now holds `id` (the push stored it).
    pub fn stored(&mut self, id: BlobId, size: u64) {
        for m in &mut self.objects {
            m.insert(id, size);
        }
    }

    /// Whether known object `obj` may be referenced, copying it (and its
    /// snapshot's key envelopes) to every store that lacks it.
    pub fn usable(
        &mut self,
        stores: &[Box<dyn Store>],
        known: &Known,
        obj: u32,
    ) -> Result<bool, PushError> {
        if self.usable.len() < known.objects.len() {
            self.usable.resize(known.objects.len(), 0);
        }
        match self.usable[obj as usize] {
            1 => return Ok(true),
            2 => return Ok(false),
            _ => {}
        }
        let o = known.objects[obj as usize];
        let snapshot = known.snapshots[o.snapshot as usize].id;
        // Not read back for a month: read it back now (within the budget),
        // so that a damaged or swapped object is stored afresh, not reused.
        if o.checked.saturating_add(self.max_age) <= self.today && self.budget >= o.size {
            self.recheck(stores, o.id, o.size)?;
            self.rechecked.push(obj);
        }
        let ok =
            self.ensure_envelopes(stores, snapshot)? && self.ensure_object(stores, o.id, o.size)?;
        self.usable[obj as usize] = if ok { 1 } else { 2 };
        Ok(ok)
    }

    fn ensure_object(
        &mut self,
        stores: &[Box<dyn Store>],
        id: BlobId,
        size: u64,
    ) -> Result<bool, PushError> {
        if self.everywhere(&id, size) {
            return Ok(true);
        }
        let key = object_key(&id);
        // A copy whose bytes hash to its name, from the first store that
        // has one.
        let mut bytes = None;
        for (i, s) in stores.iter().enumerate() {
            if self.objects[i].get(&id) != Some(&size) {
                continue;
            }
            match s.get(&key, OBJECT_MAX) {
                Ok(b) if b.len() as u64 == size && BlobId::of(&b) == id => {
                    bytes = Some(b);
                    break;
                }
                Ok(_) | Err(StoreError::NotFound { .. }) | Err(StoreError::TooLarge { .. }) => {
                    // Damaged or gone there: not a source.
                    self.objects[i].remove(&id);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let Some(bytes) = bytes else {
            return Ok(false);
        };
        for (i, s) in stores.iter().enumerate() {
            if self.objects[i].get(&id) != Some(&size) {
                s.put(&key, &bytes)?;
                self.objects[i].insert(id, size);
                self.copied += 1;
            }
        }
        Ok(true)
    }

    fn ensure_envelopes(
        &mut self,
        stores: &[Box<dyn Store>],
        snapshot: SnapshotId,
    ) -> Result<bool, PushError> {
        if self.envelopes.iter().all(|m| m.contains_key(&snapshot)) {
            return Ok(true);
        }
        let Some(from) = self
            .envelopes
            .iter()
            .position(|m| m.contains_key(&snapshot))
        else {
            return Ok(false);
        };
        let keys = self.envelopes[from][&snapshot].clone();
        let mut blobs = Vec::new();
        for k in &keys {
            let b = stores[from].get(k, ENVELOPE_MAX as u64)?;
            // Envelopes are named by their hash, and must be this
            // snapshot's.
            let named = k.rsplit('/').next().and_then(|n| BlobId::from_hex(n).ok());
            if named == Some(BlobId::of(&b))
                && KeyEnvelope::parse(&b).is_ok_and(|e| e.snapshot_id == snapshot)
            {
                blobs.push((k.clone(), b));
            }
        }
        if blobs.is_empty() {
            return Ok(false);
        }
        let have: HashSet<usize> = (0..stores.len())
            .filter(|i| self.envelopes[*i].contains_key(&snapshot))
            .collect();
        for (i, s) in stores.iter().enumerate() {
            if have.contains(&i) {
                continue;
            }
            for (k, b) in &blobs {
                s.put(k, b)?;
            }
            self.envelopes[i].insert(snapshot, blobs.iter().map(|(k, _)| k.clone()).collect());
        }
        Ok(true)
    }

    /// Notes that every store holds an envelope for `snapshot`.
    pub fn envelope_stored(&mut self, snapshot: SnapshotId, key: String) {
        for m in &mut self.envelopes {
            m.entry(snapshot).or_default().push(key.clone());
        }
    }
}

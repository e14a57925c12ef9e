//! Object lists: the public tables of what a snapshot consists of.
//!
//! A snapshot's record (signed, small) names its lists by hash; the lists
//! (public JSON, stored under `lists/<sha256>`) name every object the
//! snapshot needs: its manifest parts, its packs (its own, and the packs of
//! earlier snapshots whose chunks it reuses), and for each earlier snapshot
//! whose packs it reuses, that snapshot's id and key commitment (a restore
//! must unwrap that snapshot's data key too). With no key at all, a host can
//! so check that every object a snapshot needs is there and whole, and a
//! prune can tell which objects a kept snapshot still needs.
//!
//! Keeping the lists out of the record keeps records small whatever the
//! snapshot's size (a record stays behind when retention removes a
//! snapshot's data, as the chain's evidence), and no list is larger than
//! [`LIST_MAX`], so no snapshot, however large, exceeds a reader's limit.
//!
//! ```json
//! {"bases":[{"commitment":"…","snapshot_id":"…"}],"format":"seif-list/1","index":0,
//!  "manifest":[["<sha256>",4194400]],"packs":[["<sha256>",8388700,0],["<sha256>",8000100,1]],
//!  "snapshot_id":"…"}
//! ```
//!
//! A pack's third number says whose key opens it: 0 for the snapshot
//! itself, *k* for the *k*-th base (counting from 1 across the lists in
//! order). Packs and manifest parts are numbered across the lists in order,
//! from 0; manifest chunks name packs by that number.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::object;
use crate::ids::{BlobId, Commitment, SnapshotId};

/// The `format` of a list.
pub const FORMAT: &str = "seif-list/1";
/// The largest list read.
pub const LIST_MAX: usize = 16 << 20;
/// Bases, packs and manifest parts in one list, at most (a writer starts a
/// new list after this many; about 5 MB of JSON).
pub const ITEMS_MAX: usize = 50_000;

/// An earlier snapshot whose packs this one reuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// Its commitment (from its own record, vouched for by this snapshot's
    /// sealer): the key unwrapped from its envelope must match it.
    pub commitment: Commitment,
    /// The snapshot.
    pub snapshot_id: SnapshotId,
}

/// One list, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectList {
    /// Bases first named in this list.
    pub bases: Vec<Base>,
    /// Always [`FORMAT`].
    pub format: String,
    /// Its position among the record's lists.
    pub index: u32,
    /// Manifest parts: `[id, size]`.
    pub manifest: Vec<(BlobId, u64)>,
    /// Packs: `[id, size, base]`.
    pub packs: Vec<(BlobId, u64, u32)>,
    /// The snapshot it belongs to.
    pub snapshot_id: SnapshotId,
}

impl ObjectList {
    /// The stored bytes (canonical JSON) and their id.
    pub fn encode(&self) -> (Vec<u8>, BlobId) {
        let bytes = crate::signed::canonical_json(&serde_json::to_value(self).expect("serializes"))
            .expect("canonical");
        let id = BlobId::of(&bytes);
        (bytes, id)
    }

    /// Parses a list stored under `id`.
    pub fn parse(bytes: &[u8], id: &BlobId) -> Result<Self, String> {
        if bytes.len() > LIST_MAX {
            return Err(format!("{} bytes, more than {LIST_MAX}", bytes.len()));
        }
        if BlobId::of(bytes) != *id {
            return Err("its bytes do not match its name: altered or replaced".into());
        }
        let list: ObjectList = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if list.format != FORMAT {
            return Err("not an object list of this format".into());
        }
        if list.bases.len() + list.packs.len() + list.manifest.len() > ITEMS_MAX {
            return Err("too many items".into());
        }
        Ok(list)
    }
}

/// A pack as a snapshot sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackRef {
    /// The object.
    pub id: BlobId,
    /// Its stored size.
    pub size: u64,
    /// Whose data key opens it.
    pub snapshot: SnapshotId,
}

impl PackRef {
    /// Its plaintext length (the size was checked when the table was read).
    pub fn plain_len(&self) -> u64 {
        object::plain_len(self.size).unwrap_or(0)
    }
}

/// Everything a snapshot's lists say, put together and checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    /// Earlier snapshots whose keys this one needs.
    pub bases: Vec<Base>,
    /// The packs, numbered as the manifest numbers them.
    pub packs: Vec<PackRef>,
    /// The manifest parts, in order.
    pub manifest: Vec<(BlobId, u64)>,
}

impl Tables {
    /// Puts a record's lists together (in the record's order), checking
    /// that each belongs to `snapshot`, sits at its place, names only bases
    /// declared before it, names no object twice, and gives sizes an object
    /// can have.
    pub fn assemble(snapshot: SnapshotId, lists: &[ObjectList]) -> Result<Self, String> {
        let mut t = Tables::default();
        let mut seen: HashSet<BlobId> = HashSet::new();
        let mut base_ids: HashSet<SnapshotId> = HashSet::new();
        for (i, l) in lists.iter().enumerate() {
            if l.snapshot_id != snapshot {
                return Err(format!("list {i} belongs to another snapshot"));
            }
            if l.index as usize != i {
                return Err(format!("list {i} says it is list {}", l.index));
            }
            for b in &l.bases {
                if b.snapshot_id == snapshot || !base_ids.insert(b.snapshot_id) {
                    return Err(format!("list {i} names base {} twice", b.snapshot_id));
                }
                t.bases.push(*b);
            }
            for &(id, size) in &l.manifest {
                if !seen.insert(id) || object::plain_len(size).is_none() {
                    return Err(format!(
                        "list {i}: manifest part {id} is listed twice or has an impossible size"
                    ));
                }
                if size > object::OBJECT_MAX {
                    return Err(format!("list {i}: manifest part {id} is too large"));
                }
                t.manifest.push((id, size));
            }
            for &(id, size, base) in &l.packs {
                if !seen.insert(id)
                    || object::plain_len(size).is_none()
                    || size > object::OBJECT_MAX
                {
                    return Err(format!(
                        "list {i}: pack {id} is listed twice or has an impossible size"
                    ));
                }
                let snapshot = match base {
                    0 => snapshot,
                    k => {
                        t.bases
                            .get(k as usize - 1)
                            .ok_or_else(|| {
                                format!("list {i}: pack {id} names base {k}, which is not declared")
                            })?
                            .snapshot_id
                    }
                };
                t.packs.push(PackRef { id, size, snapshot });
            }
        }
        if t.manifest.is_empty() {
            return Err("no manifest part".into());
        }
        if t.packs.len() > u32::MAX as usize {
            return Err("too many packs".into());
        }
        Ok(t)
    }

    /// Every object the snapshot needs, with its size.
    pub fn objects(&self) -> impl Iterator<Item = (BlobId, u64)> + '_ {
        self.manifest
            .iter()
            .copied()
            .chain(self.packs.iter().map(|p| (p.id, p.size)))
    }

    /// The snapshots whose data keys a restore needs: this one, then the bases.
    pub fn key_holders(&self, snapshot: SnapshotId) -> Vec<SnapshotId> {
        std::iter::once(snapshot)
            .chain(self.bases.iter().map(|b| b.snapshot_id))
            .collect()
    }

    /// Cuts the tables into lists of at most [`ITEMS_MAX`] items each.
    pub fn into_lists(self, snapshot: SnapshotId) -> Vec<ObjectList> {
        let base_no: HashMap<SnapshotId, u32> = self
            .bases
            .iter()
            .enumerate()
            .map(|(i, b)| (b.snapshot_id, i as u32 + 1))
            .collect();
        enum Item {
            Base(Base),
            Part(BlobId, u64),
            Pack(BlobId, u64, u32),
        }
        // Each base goes in just before the first pack that needs it, so
        // that a list never names a base declared in a later one.
        let mut items: Vec<Item> = self
            .manifest
            .iter()
            .map(|&(id, size)| Item::Part(id, size))
            .collect();
        let mut declared: HashSet<SnapshotId> = HashSet::new();
        for p in &self.packs {
            let base = if p.snapshot == snapshot {
                0
            } else {
                if declared.insert(p.snapshot) {
                    let b = self.bases[base_no[&p.snapshot] as usize - 1];
                    items.push(Item::Base(b));
                }
                base_no[&p.snapshot]
            };
            items.push(Item::Pack(p.id, p.size, base));
        }
        // Bases no pack uses are still declared (their keys come along).
        for b in &self.bases {
            if declared.insert(b.snapshot_id) {
                items.push(Item::Base(*b));
            }
        }
        // Renumber bases in the order they are declared.
        let mut order: HashMap<SnapshotId, u32> = HashMap::new();
        for it in &items {
            if let Item::Base(b) = it {
                let n = order.len() as u32 + 1;
                order.insert(b.snapshot_id, n);
            }
        }
        let by_old: HashMap<u32, u32> = base_no
            .iter()
            .map(|(sid, old)| (*old, order[sid]))
            .collect();
        let mut lists = Vec::new();
        for group in items.chunks(ITEMS_MAX) {
            let mut l = ObjectList {
                bases: Vec::new(),
                format: FORMAT.into(),
                index: lists.len() as u32,
                manifest: Vec::new(),
                packs: Vec::new(),
                snapshot_id: snapshot,
            };
            for it in group {
                match it {
                    Item::Base(b) => l.bases.push(*b),
                    Item::Part(id, size) => l.manifest.push((*id, *size)),
                    Item::Pack(id, size, base) => {
                        let base = if *base == 0 { 0 } else { by_old[base] };
                        l.packs.push((*id, *size, base));
                    }
                }
            }
            lists.push(l);
        }
        lists
    }
}

/// Builds a snapshot's tables as a push names packs: each pack gets its
/// number the first time a manifest chunk names it.
pub struct TableBuilder {
    me: SnapshotId,
    numbers: HashMap<BlobId, u32>,
    bases: HashSet<SnapshotId>,
    tables: Tables,
}

impl TableBuilder {
    /// Tables for snapshot `me`.
    pub fn new(me: SnapshotId) -> Self {
        TableBuilder {
            me,
            numbers: HashMap::new(),
            bases: HashSet::new(),
            tables: Tables::default(),
        }
    }

    /// The number of a pack, adding it (and its snapshot as a base, if it
    /// is another's) the first time.
    pub fn pack(
        &mut self,
        id: BlobId,
        size: u64,
        snapshot: SnapshotId,
        commitment: Commitment,
    ) -> u32 {
        if let Some(&n) = self.numbers.get(&id) {
            return n;
        }
        if snapshot != self.me && self.bases.insert(snapshot) {
            self.tables.bases.push(Base {
                commitment,
                snapshot_id: snapshot,
            });
        }
        let n = self.tables.packs.len() as u32;
        self.tables.packs.push(PackRef { id, size, snapshot });
        self.numbers.insert(id, n);
        n
    }

    /// The tables, with the manifest parts.
    pub fn finish(mut self, manifest: Vec<(BlobId, u64)>) -> Tables {
        self.tables.manifest = manifest;
        self.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> BlobId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        BlobId(b)
    }

    #[test]
    fn tables_round_trip_through_lists_in_order() {
        let me = SnapshotId([1; 16]);
        let bases: Vec<Base> = (2..5u8)
            .map(|i| Base {
                commitment: Commitment([i; 32]),
                snapshot_id: SnapshotId([i; 16]),
            })
            .collect();
        let size = object::sealed_len(1000);
        let mut t = Tables {
            bases: bases.clone(),
            manifest: vec![(id(1), size)],
            packs: Vec::new(),
        };
        for n in 0..120_000u32 {
            let snapshot = if n % 3 == 0 {
                me
            } else {
                bases[(n % 2) as usize].snapshot_id
            };
            t.packs.push(PackRef {
                id: id(10 + n),
                size,
                snapshot,
            });
        }
        let lists = t.clone().into_lists(me);
        assert_eq!(lists.len(), 3);
        let mut parsed = Vec::new();
        for l in &lists {
            let (bytes, lid) = l.encode();
            assert!(bytes.len() <= LIST_MAX);
            parsed.push(ObjectList::parse(&bytes, &lid).unwrap());
        }
        let back = Tables::assemble(me, &parsed).unwrap();
        assert_eq!(back.packs, t.packs);
        assert_eq!(back.manifest, t.manifest);
        let mut a: Vec<_> = back.bases.iter().map(|b| b.snapshot_id).collect();
        let mut b: Vec<_> = t.bases.iter().map(|b| b.snapshot_id).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn refusals() {
        let me = SnapshotId([1; 16]);
        let size = object::sealed_len(10);
        let good = ObjectList {
            bases: vec![],
            format: FORMAT.into(),
            index: 0,
            manifest: vec![(id(1), size)],
            packs: vec![(id(2), size, 0)],
            snapshot_id: me,
        };
        assert!(Tables::assemble(me, std::slice::from_ref(&good)).is_ok());
        let mut l = good.clone();
        l.packs.push((id(3), size, 1));
        assert!(
            Tables::assemble(me, &[l])
                .unwrap_err()
                .contains("not declared")
        );
        let mut l = good.clone();
        l.packs.push((id(2), size, 0));
        assert!(Tables::assemble(me, &[l]).unwrap_err().contains("twice"));
        let mut l = good.clone();
        l.index = 1;
        assert!(Tables::assemble(me, &[l]).is_err());
        assert!(Tables::assemble(SnapshotId([2; 16]), std::slice::from_ref(&good)).is_err());
        let (bytes, lid) = good.encode();
        assert!(ObjectList::parse(&bytes, &id(0)).is_err());
        assert!(ObjectList::parse(&bytes, &lid).is_ok());
    }
}

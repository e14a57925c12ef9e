//! What a pipeline remembers of what it stored, so that the next push
//! stores only what is new. Two files in the state directory, neither
//! holding a key that opens anything:
//!
//! - **The chunk index** (`index-<vault>-<sealer>`, binary): for every
//!   chunk this pipeline stored, a keyed fingerprint of its content and
//!   where it lies (object, offset, length); for every such object its size
//!   and the snapshot whose key opens it; for every such snapshot its key
//!   commitment. A chunk found here is referenced, not stored again.
//! - **The file list** (`files-<…>`, MAC'd JSON lines): for every file of
//!   the last snapshot of these paths, its size, times, inode and device,
//!   and its chunks. A file whose metadata is unchanged is not read at all.
//!
//! Nothing here is trusted that push did not check: every object a new
//! snapshot references is first checked to be in every store, with its
//! size (and copied to a store that lacks it, or not referenced at all).
//! The files carry a MAC under a key derived from the sealer key; one that
//! does not verify (damaged, of another pipeline) is set aside and the push
//! stores afresh.
//!
//! A fingerprint is `HMAC-SHA256(chunk-id key, SHA-256(chunk))`: a stolen
//! index does not let anyone confirm a guess of the content (SECURITY.md).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::PushError;
use super::state::{LocalKeys, MacReader, MacWriter, StateDir};
use crate::ids::{BlobId, Commitment, SnapshotId, VaultId};
use crate::sealer::SealerPublicKey;

const INDEX_MAGIC: &[u8; 8] = b"SEIFIDX2";
const INDEX_DOMAIN: &[u8] = b"seif/v1/pipeline/index";
/// The file list's line domain.
pub const FILES_DOMAIN: &str = "seif/v1/pipeline/files";
const FILES_FORMAT: &str = "seif-files/1";

/// A chunk's keyed fingerprint.
pub type Fingerprint = [u8; 32];

/// The fingerprint of a chunk whose SHA-256 is `sha`.
pub fn fingerprint(keys: &LocalKeys, sha: &[u8; 32]) -> Fingerprint {
    super::state::mac(&keys.chunk_id, &[sha])
}

/// A snapshot whose packs the index knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownSnapshot {
    /// The snapshot.
    pub id: SnapshotId,
    /// Its key commitment.
    pub commitment: Commitment,
}

/// An object the index knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownObject {
    /// The object.
    pub id: BlobId,
    /// Its size.
    pub size: u64,
    /// Whose key opens it (an index into `snapshots`).
    pub snapshot: u32,
    /// The day (days since the Unix epoch) a push last read it back from
    /// the stores and found it whole.
    pub checked: u32,
}

/// Where a known chunk lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLoc {
    /// Its fingerprint.
    pub fp: Fingerprint,
    /// The object (an index into `objects`).
    pub object: u32,
    /// Offset in the object's plaintext.
    pub offset: u32,
    /// Length.
    pub len: u32,
}

/// Chunks, objects and snapshots a push may reference.
#[derive(Debug, Default)]
pub struct Known {
    /// Snapshots.
    pub snapshots: Vec<KnownSnapshot>,
    /// Objects.
    pub objects: Vec<KnownObject>,
    by_snapshot: HashMap<SnapshotId, u32>,
    by_id: HashMap<BlobId, u32>,
    /// Sorted by fingerprint.
    chunks: Vec<ChunkLoc>,
}

impl Known {
    /// Adds (or finds) a snapshot.
    pub fn snapshot(&mut self, id: SnapshotId, commitment: Commitment) -> u32 {
        if let Some(&i) = self.by_snapshot.get(&id) {
            return i;
        }
        let i = self.snapshots.len() as u32;
        self.snapshots.push(KnownSnapshot { id, commitment });
        self.by_snapshot.insert(id, i);
        i
    }

    /// Adds (or finds) an object.
    pub fn object(&mut self, id: BlobId, size: u64, snapshot: u32) -> u32 {
        self.object_checked(id, size, snapshot, 0)
    }

    /// Adds (or finds) an object, last read back on day `checked`.
    pub fn object_checked(&mut self, id: BlobId, size: u64, snapshot: u32, checked: u32) -> u32 {
        if let Some(&i) = self.by_id.get(&id) {
            let o = &mut self.objects[i as usize];
            o.checked = o.checked.max(checked);
            return i;
        }
        let i = self.objects.len() as u32;
        self.objects.push(KnownObject {
            id,
            size,
            snapshot,
            checked,
        });
        self.by_id.insert(id, i);
        i
    }

    /// Notes that object `i` was read back whole on day `day`.
    pub fn mark_checked(&mut self, i: u32, day: u32) {
        let o = &mut self.objects[i as usize];
        o.checked = o.checked.max(day);
    }

    /// The index of a known object.
    pub fn object_index(&self, id: &BlobId) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// Adds chunks (then call [`Known::sort`]).
    pub fn add_chunk(&mut self, c: ChunkLoc) {
        self.chunks.push(c);
    }

    /// Sorts the chunks for lookup; a fingerprint known twice keeps the
    /// first location.
    pub fn sort(&mut self) {
        self.chunks.sort_by_key(|c| c.fp);
        self.chunks.dedup_by(|b, a| a.fp == b.fp);
    }

    /// Where a chunk lies, if known.
    pub fn find(&self, fp: &Fingerprint) -> Option<ChunkLoc> {
        self.chunks
            .binary_search_by(|c| c.fp.cmp(fp))
            .ok()
            .map(|i| self.chunks[i])
    }

    /// Chunks known.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The index's file name for a vault and sealer.
    pub fn file_name(vault: &VaultId, sealer: &SealerPublicKey) -> String {
        format!(
            "index-{}-{}",
            vault.short(16),
            crate::encoding::to_hex(&sealer.to_bytes()[..8])
        )
    }

    /// Loads the index. `Ok(None)` if there is none; `Err(why)` if it does
    /// not verify (the caller sets it aside and stores afresh).
    pub fn load(
        state: &StateDir,
        keys: &LocalKeys,
        vault: &VaultId,
        sealer: &SealerPublicKey,
    ) -> Result<Option<Result<Known, String>>, PushError> {
        let name = Self::file_name(vault, sealer);
        let Some(f) = state.open_private(&name)? else {
            return Ok(None);
        };
        Ok(Some(read_index(
            BufReader::with_capacity(1 << 20, f),
            keys,
            vault,
            sealer,
        )))
    }

    /// Writes the index (atomically, 0600), keeping the objects `keep`
    /// says, and only the snapshots and chunks those need.
    pub fn save(
        &self,
        state: &StateDir,
        keys: &LocalKeys,
        vault: &VaultId,
        sealer: &SealerPublicKey,
        keep: impl Fn(u32) -> bool,
    ) -> Result<(), PushError> {
        let path = state.file(&Self::file_name(vault, sealer));
        let err = |e: std::io::Error| PushError::State {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut obj_map = vec![u32::MAX; self.objects.len()];
        let mut snap_map = vec![u32::MAX; self.snapshots.len()];
        let mut snaps = Vec::new();
        let mut objs = Vec::new();
        for (i, o) in self.objects.iter().enumerate() {
            if !keep(i as u32) {
                continue;
            }
            let s = &mut snap_map[o.snapshot as usize];
            if *s == u32::MAX {
                *s = snaps.len() as u32;
                snaps.push(self.snapshots[o.snapshot as usize]);
            }
            obj_map[i] = objs.len() as u32;
            objs.push(KnownObject { snapshot: *s, ..*o });
        }
        let chunks: Vec<&ChunkLoc> = self
            .chunks
            .iter()
            .filter(|c| obj_map[c.object as usize] != u32::MAX)
            .collect();
        let mut file = crate::atomic::AtomicFile::create(&path, true).map_err(err)?;
        {
            let mut w = MacSink::new(BufWriter::with_capacity(1 << 20, file.file()), &keys.mac);
            w.put(INDEX_MAGIC)?;
            w.put(&vault.0)?;
            w.put(&sealer.to_bytes())?;
            w.put(&(snaps.len() as u32).to_be_bytes())?;
            for s in &snaps {
                w.put(&s.id.0)?;
                w.put(&s.commitment.0)?;
            }
            w.put(&(objs.len() as u32).to_be_bytes())?;
            for o in &objs {
                w.put(&o.id.0)?;
                w.put(&o.size.to_be_bytes())?;
                w.put(&o.snapshot.to_be_bytes())?;
                w.put(&o.checked.to_be_bytes())?;
            }
            w.put(&(chunks.len() as u64).to_be_bytes())?;
            for c in chunks {
                w.put(&c.fp)?;
                w.put(&obj_map[c.object as usize].to_be_bytes())?;
                w.put(&c.offset.to_be_bytes())?;
                w.put(&c.len.to_be_bytes())?;
            }
            w.finish().map_err(err)?;
        }
        file.commit(0o600).map_err(err)
    }
}

/// Writes bytes and MACs them as it goes.
struct MacSink<W: Write> {
    out: W,
    mac: Hmac<Sha256>,
    failed: Option<std::io::Error>,
}

impl<W: Write> MacSink<W> {
    fn new(out: W, key: &[u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(INDEX_DOMAIN);
        MacSink {
            out,
            mac,
            failed: None,
        }
    }

    fn put(&mut self, b: &[u8]) -> Result<(), PushError> {
        if self.failed.is_none() {
            self.mac.update(b);
            if let Err(e) = self.out.write_all(b) {
                self.failed = Some(e);
            }
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let tag = self.mac.finalize().into_bytes();
        self.out.write_all(&tag)?;
        self.out.flush()
    }
}

fn read_index(
    mut r: impl Read,
    keys: &LocalKeys,
    vault: &VaultId,
    sealer: &SealerPublicKey,
) -> Result<Known, String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&keys.mac[..]).expect("any key length");
    mac.update(INDEX_DOMAIN);
    let mut take = |n: usize| -> Result<Vec<u8>, String> {
        let mut b = vec![0u8; n];
        r.read_exact(&mut b).map_err(|_| "truncated".to_string())?;
        mac.update(&b);
        Ok(b)
    };
    let u32_of = |b: Vec<u8>| u32::from_be_bytes(b.try_into().expect("4 bytes"));
    if take(8)? != INDEX_MAGIC {
        return Err("not a seif chunk index".into());
    }
    if take(32)? != vault.0 || take(32)?[..] != sealer.to_bytes() {
        return Err("the index of another vault or sealer".into());
    }
    let mut k = Known::default();
    let n = u32_of(take(4)?) as usize;
    for _ in 0..n {
        let id = SnapshotId(take(16)?.try_into().expect("16"));
        let c = Commitment(take(32)?.try_into().expect("32"));
        k.snapshot(id, c);
    }
    if k.snapshots.len() != n {
        return Err("a snapshot listed twice".into());
    }
    let n = u32_of(take(4)?) as usize;
    for _ in 0..n {
        let id = BlobId(take(32)?.try_into().expect("32"));
        let size = u64::from_be_bytes(take(8)?.try_into().expect("8"));
        let s = u32_of(take(4)?);
        let checked = u32_of(take(4)?);
        if s as usize >= k.snapshots.len() {
            return Err("an object of an unknown snapshot".into());
        }
        k.object_checked(id, size, s, checked);
    }
    if k.objects.len() != n {
        return Err("an object listed twice".into());
    }
    let n = u64::from_be_bytes(take(8)?.try_into().expect("8"));
    let mut last: Option<Fingerprint> = None;
    // Read in blocks: millions of chunks.
    let mut left = n;
    while left > 0 {
        let batch = left.min(4096) as usize;
        let b = take(batch * 44)?;
        for c in b.chunks_exact(44) {
            let fp: Fingerprint = c[..32].try_into().expect("32");
            if last.is_some_and(|l| l >= fp) {
                return Err("chunks out of order".into());
            }
            last = Some(fp);
            let object = u32::from_be_bytes(c[32..36].try_into().expect("4"));
            if object as usize >= k.objects.len() {
                return Err("a chunk of an unknown object".into());
            }
            k.chunks.push(ChunkLoc {
                fp,
                object,
                offset: u32::from_be_bytes(c[36..40].try_into().expect("4")),
                len: u32::from_be_bytes(c[40..44].try_into().expect("4")),
            });
        }
        left -= batch as u64;
    }
    let mut tag = [0u8; 32];
    r.read_exact(&mut tag)
        .map_err(|_| "truncated".to_string())?;
    mac.verify_slice(&tag)
        .map_err(|_| "it does not verify: damaged, or not written by this pipeline".to_string())?;
    let mut extra = [0u8; 1];
    if r.read(&mut extra).map_err(|e| e.to_string())? != 0 {
        return Err("bytes after its end".into());
    }
    Ok(k)
}

/// A file of the last snapshot, as the file list remembers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedFile {
    /// Its path in the snapshot.
    pub path: String,
    /// Size.
    pub size: u64,
    /// Modification time, nanoseconds.
    pub mtime_ns: i128,
    /// Status-change time, nanoseconds.
    pub ctime_ns: i128,
    /// Inode.
    pub ino: u64,
    /// Device.
    pub dev: u64,
    /// Its chunks: `[object, offset, length, sha256]`.
    pub chunks: Vec<(BlobId, u32, u32, String)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesHead {
    format: String,
    paths: Vec<String>,
    sealer: String,
    snapshot_id: SnapshotId,
    vault_id: VaultId,
}

/// The file list's name for a vault, sealer and set of pushed paths.
pub fn files_name(vault: &VaultId, sealer: &SealerPublicKey, paths: &[String]) -> String {
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut h, vault.0);
    sha2::Digest::update(&mut h, sealer.to_bytes());
    for p in paths {
        sha2::Digest::update(&mut h, [0]);
        sha2::Digest::update(&mut h, p.as_bytes());
    }
    format!(
        "files-{}",
        &crate::encoding::to_hex(&sha2::Digest::finalize(h))[..24]
    )
}

/// Reads the last snapshot's file list alongside the walk (both in walk
/// order), one line at a time.
pub struct FileList {
    reader: Option<MacReader<BufReader<File>>>,
    current: Option<CachedFile>,
    /// Why the list stopped being used, if it did.
    pub set_aside: Option<String>,
}

impl FileList {
    /// No file list: every file is read.
    pub fn none() -> Self {
        FileList {
            reader: None,
            current: None,
            set_aside: None,
        }
    }

    /// Opens the list for these paths, if any and if it belongs to them.
    pub fn open(
        state: &StateDir,
        keys: &LocalKeys,
        name: &str,
        vault: &VaultId,
        sealer: &SealerPublicKey,
        paths: &[String],
    ) -> Result<Self, PushError> {
        let Some(mut reader) = super::state::mac_reader(state, name, &keys.mac, FILES_DOMAIN)?
        else {
            return Ok(FileList::none());
        };
        let head: Result<FilesHead, String> = match reader.next_line() {
            Some(Ok(l)) => serde_json::from_slice(&l).map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e),
            None => Err("empty".into()),
        };
        let mut list = FileList::none();
        match head {
            Ok(h)
                if h.format == FILES_FORMAT
                    && h.vault_id == *vault
                    && h.sealer == sealer.classic().to_string()
                    && h.paths == paths =>
            {
                list.reader = Some(reader);
                list.advance();
            }
            Ok(_) => list.set_aside = Some("it describes other paths or another vault".into()),
            Err(e) => list.set_aside = Some(e),
        }
        Ok(list)
    }

    fn advance(&mut self) {
        self.current = None;
        let Some(r) = self.reader.as_mut() else {
            return;
        };
        match r.next_line() {
            None => self.reader = None,
            Some(Ok(l)) => match serde_json::from_slice::<CachedFile>(&l) {
                Ok(f) => self.current = Some(f),
                Err(e) => {
                    self.set_aside = Some(e.to_string());
                    self.reader = None;
                }
            },
            Some(Err(e)) => {
                self.set_aside = Some(e);
                self.reader = None;
            }
        }
    }

    /// The entry for `path`, if the list has it. Paths must be asked for in
    /// walk order.
    pub fn find(&mut self, path: &str) -> Option<CachedFile> {
        use std::cmp::Ordering;
        loop {
            let c = self.current.as_ref()?;
            match crate::snapshot::manifest::walk_order(&c.path, path) {
                Ordering::Less => self.advance(),
                Ordering::Equal => {
                    let found = self.current.take();
                    self.advance();
                    return found;
                }
                Ordering::Greater => return None,
            }
        }
    }
}

/// Writes the new file list beside the old (`NAME.new`), to be put in its
/// place once the snapshot is recorded.
pub struct FileListWriter {
    w: MacWriter<BufWriter<File>>,
    path: std::path::PathBuf,
}

impl FileListWriter {
    /// Starts `NAME.new` (replacing any left by an interrupted run).
    pub fn create(
        state: &StateDir,
        keys: &LocalKeys,
        name: &str,
        vault: &VaultId,
        sealer: &SealerPublicKey,
        paths: &[String],
        snapshot_id: SnapshotId,
    ) -> Result<Self, PushError> {
        let path = state.file(&format!("{name}.new"));
        let err = |e: std::io::Error| PushError::State {
            path: path.clone(),
            message: e.to_string(),
        };
        let _ = std::fs::remove_file(&path);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        let mut w = MacWriter::new(
            BufWriter::with_capacity(1 << 20, f),
            &keys.mac,
            FILES_DOMAIN,
        );
        let head = FilesHead {
            format: FILES_FORMAT.into(),
            paths: paths.to_vec(),
            sealer: sealer.classic().to_string(),
            snapshot_id,
            vault_id: *vault,
        };
        w.line(&serde_json::to_vec(&head).expect("serializes"))
            .map_err(err)?;
        Ok(FileListWriter { w, path })
    }

    /// Adds a file.
    pub fn add(&mut self, f: &CachedFile) -> Result<(), PushError> {
        self.w
            .line(&serde_json::to_vec(f).expect("serializes"))
            .map_err(|e| PushError::State {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }

    /// Flushes and syncs it; it stays `NAME.new` until [`install`].
    pub fn finish(self) -> Result<(), PushError> {
        let path = self.path.clone();
        let err = |e: std::io::Error| PushError::State {
            path: path.clone(),
            message: e.to_string(),
        };
        let f = self
            .w
            .into_inner()
            .into_inner()
            .map_err(|e| err(e.into_error()))?;
        f.sync_all().map_err(err)
    }
}

use std::os::unix::fs::OpenOptionsExt;

/// Puts a finished `NAME.new` in place of `NAME`.
pub fn install(state: &StateDir, name: &str) -> Result<(), PushError> {
    let from = state.file(&format!("{name}.new"));
    let to = state.file(name);
    match std::fs::rename(&from, &to) {
        Ok(()) => crate::atomic::sync_dir(state.path()).map_err(|e| PushError::State {
            path: to.clone(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PushError::State {
            path: from,
            message: e.to_string(),
        }),
    }
}

/// Whether a state file exists.
pub fn exists(state: &StateDir, name: &str) -> bool {
    Path::new(&state.file(name)).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("state");
        let state = StateDir::open(&state_path).unwrap();
        let sealer = crate::sealer::SealerSecretKey::generate();
        let keys = LocalKeys::derive(&sealer);
        let vault = VaultId([3; 32]);
        let mut k = Known::default();
        let s = k.snapshot(SnapshotId([1; 16]), Commitment([2; 32]));
        let o = k.object(BlobId([5; 32]), 1000, s);
        for i in 0..10_000u32 {
            let mut fp = [0u8; 32];
            fp[..4].copy_from_slice(&i.wrapping_mul(2654435761).to_be_bytes());
            k.add_chunk(ChunkLoc {
                fp,
                object: o,
                offset: i,
                len: 1,
            });
        }
        k.sort();
        k.save(&state, &keys, &vault, &sealer.public(), |_| true)
            .unwrap();
        let back = Known::load(&state, &keys, &vault, &sealer.public())
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(back.chunk_count(), 10_000);
        assert_eq!(back.objects, k.objects);
        assert_eq!(back.find(&k.chunks[77].fp), Some(k.chunks[77]));
        // Another sealer's keys: set aside, not trusted.
        let other = LocalKeys::derive(&crate::sealer::SealerSecretKey::generate());
        assert!(
            Known::load(&state, &other, &vault, &sealer.public())
                .unwrap()
                .unwrap()
                .is_err()
        );
        // One byte changed.
        let path = state.file(&Known::file_name(&vault, &sealer.public()));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[200] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            Known::load(&state, &keys, &vault, &sealer.public())
                .unwrap()
                .unwrap()
                .is_err()
        );
        // Readable by others: refused outright.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        assert!(Known::load(&state, &keys, &vault, &sealer.public()).is_err());
    }
}

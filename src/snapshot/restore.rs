//! `seif restore`: a whole snapshot or only named paths, fetching only the
//! objects (or, for a few files, only the chunks) they need, and verifying
//! everything before it appears under its name: each object against its
//! signed hash, each chunk by its tag, each file against its SHA-256 in the
//! manifest. A file is written to a temporary name and renamed only once
//! its hash checks.
//!
//! A whole-snapshot restore streams the manifest a part at a time, so its
//! memory does not grow with the number of files (only with the number of
//! directories, whose times are set at the end). A damaged part stops it
//! with an error naming the part; the files before it are already in place,
//! each one verified. A restore of chosen paths reads the whole manifest
//! first, to find them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use crossbeam_channel::bounded;
use sha2::{Digest, Sha256};

use super::Counters;
use super::manifest::{self, Entry, EntryKind};
use super::object::{self, Kind, ObjectHeader};
use super::record::{ObjectRef, Record};
use crate::encoding::to_hex;
use crate::secrets::DataKey;
use crate::store::{Store, StoreError};

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An object is missing, altered, or not this snapshot's.
    #[error("object {id}: {message}")]
    Object {
        /// The object id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// The manifest is malformed.
    #[error("the manifest: {0}")]
    Manifest(String),
    /// A restored file's content does not match the manifest.
    #[error("{0}: its content does not match the hash in the manifest; it was not written")]
    Mismatch(String),
    /// Writing the output failed.
    #[error("{path}: {source}")]
    Output {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The output directory is not empty.
    #[error("{0} exists and is not empty; restore into a new directory")]
    OutputExists(PathBuf),
    /// Paths asked for are not in the snapshot.
    #[error("not in the snapshot: {}", .0.join(", "))]
    NotFound(Vec<String>),
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct RestoreSummary {
    /// Files written.
    pub files: u64,
    /// Directories made.
    pub dirs: u64,
    /// Symlinks made.
    pub symlinks: u64,
    /// Content bytes written.
    pub bytes: u64,
    /// Objects fetched whole.
    pub objects: u64,
    /// Bytes fetched from the store.
    pub fetched: u64,
}

fn object_err(r: &ObjectRef, message: impl Into<String>) -> RestoreError {
    RestoreError::Object {
        id: r.id.clone(),
        message: message.into(),
    }
}

/// Fetches a whole object and checks its size and hash.
fn fetch_checked(store: &dyn Store, r: &ObjectRef) -> Result<Vec<u8>, RestoreError> {
    let bytes = store.get(&r.key()).map_err(|e| match e {
        StoreError::NotFound { .. } => object_err(r, "missing from the store"),
        other => other.into(),
    })?;
    if bytes.len() as u64 != r.size {
        return Err(object_err(
            r,
            format!("{} bytes where the record says {}", bytes.len(), r.size),
        ));
    }
    if to_hex(&Sha256::digest(&bytes)) != r.id {
        return Err(object_err(
            r,
            "its bytes do not match its name: altered or swapped",
        ));
    }
    Ok(bytes)
}

/// Fetches a whole pack and checks its size. Its SHA-256 is not computed
/// here: every chunk is authenticated (under a key bound to this snapshot
/// and a header naming it), and every file is checked against its SHA-256
/// in the manifest, which also catches packs of this snapshot swapped with
/// one another. Hashing each pack once more would cost a third of a
/// restore's time. (`seif verify` checks every object's hash.)
fn fetch_pack(store: &dyn Store, r: &ObjectRef, buf: &mut Vec<u8>) -> Result<(), RestoreError> {
    store.get_into(&r.key(), buf).map_err(|e| match e {
        StoreError::NotFound { .. } => object_err(r, "missing from the store"),
        other => other.into(),
    })?;
    if buf.len() as u64 != r.size {
        return Err(object_err(
            r,
            format!("{} bytes where the record says {}", buf.len(), r.size),
        ));
    }
    Ok(())
}

/// The manifest's entries, read one part at a time (at most 4 MiB of
/// plaintext) and checked against the record's packs as they come, so that
/// a restore holds one part, not the whole tree, in memory. The end line
/// and its totals are checked after the last part.
pub struct ManifestEntries<'a> {
    store: &'a dyn Store,
    record: &'a Record,
    key: &'a DataKey,
    parts: std::slice::Iter<'a, ObjectRef>,
    /// `None` once the manifest has ended or failed.
    reader: Option<manifest::Reader>,
    current: std::vec::IntoIter<Entry>,
}

impl<'a> ManifestEntries<'a> {
    /// Starts reading the manifest of `record`.
    pub fn new(store: &'a dyn Store, record: &'a Record, key: &'a DataKey) -> Self {
        ManifestEntries {
            store,
            record,
            key,
            parts: record.body.manifest.iter(),
            reader: Some(manifest::Reader::new(&record.body.snapshot_id)),
            current: Vec::new().into_iter(),
        }
    }

    fn read_part(&mut self, part: &ObjectRef) -> Result<Vec<Entry>, RestoreError> {
        let bytes = fetch_checked(self.store, part)?;
        let plain = object::open(
            &bytes,
            Kind::Manifest,
            &self.record.vault_id(),
            &self.record.snapshot_id(),
            self.key,
        )
        .map_err(|e| object_err(part, e.to_string()))?;
        let reader = self.reader.as_mut().expect("reading");
        reader.part(&plain).map_err(RestoreError::Manifest)
    }

    /// Every segment of `e` names a pack of the record and lies inside it.
    fn check(&self, e: &Entry) -> Result<(), RestoreError> {
        let packs = &self.record.body.packs;
        for s in &e.segments {
            let pack = packs.get(s.pack() as usize).ok_or_else(|| {
                RestoreError::Manifest(format!(
                    "{}: names pack {} of {}",
                    e.path,
                    s.pack(),
                    packs.len()
                ))
            })?;
            let plain = object::plain_len(pack.size).unwrap_or(0);
            if s.offset()
                .checked_add(s.len())
                .is_none_or(|end| end > plain)
            {
                return Err(RestoreError::Manifest(format!(
                    "{}: a segment lies outside its pack",
                    e.path
                )));
            }
        }
        Ok(())
    }
}

impl Iterator for ManifestEntries<'_> {
    type Item = Result<Entry, RestoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.current.next() {
                return Some(self.check(&e).map(|()| e));
            }
            self.reader.as_ref()?;
            let Some(part) = self.parts.next() else {
                let reader = self.reader.take().expect("reading");
                return reader
                    .finish()
                    .err()
                    .map(|e| Err(RestoreError::Manifest(e)));
            };
            match self.read_part(part) {
                Ok(entries) => self.current = entries.into_iter(),
                Err(e) => {
                    self.reader = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Reads and checks the whole manifest (for a restore of chosen paths,
/// which must know every path before it starts).
pub fn read_manifest(
    store: &dyn Store,
    record: &Record,
    key: &DataKey,
) -> Result<Vec<Entry>, RestoreError> {
    ManifestEntries::new(store, record, key).collect()
}

/// Where file bytes come from: whole packs fetched ahead in order on
/// several threads (a full restore), or chunk ranges (a few files).
/// A decrypted pack in a pooled buffer: the buffer goes back to the
/// fetchers when the last file that reads from it is written.
struct PackBuf {
    buf: Vec<u8>,
    pool: crossbeam_channel::Sender<Vec<u8>>,
}

impl Drop for PackBuf {
    fn drop(&mut self) {
        let _ = self.pool.send(std::mem::take(&mut self.buf));
    }
}

/// Bytes of a file: a range of a shared pack, or fetched on their own.
enum Piece {
    Shared(Arc<PackBuf>, usize, usize),
    Owned(Vec<u8>),
}

impl Piece {
    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Shared(p, from, to) => &p.buf[*from..*to],
            Piece::Owned(v) => v,
        }
    }
}

enum Source<'a> {
    Stream {
        current: Option<(u32, Arc<PackBuf>)>,
        results: crossbeam_channel::Receiver<(u32, Result<Vec<u8>, RestoreError>)>,
        /// Buffers go back to the fetchers once their pack is used.
        pool: crossbeam_channel::Sender<Vec<u8>>,
        waiting: BTreeMap<u32, Result<Vec<u8>, RestoreError>>,
        ranges: Ranges<'a>,
    },
    Ranges(Ranges<'a>),
}

struct Ranges<'a> {
    store: &'a dyn Store,
    record: &'a Record,
    key: &'a DataKey,
    headers: BTreeMap<u32, ObjectHeader>,
    fetched: u64,
}

impl Ranges<'_> {
    fn read(&mut self, pack: u32, offset: u64, len: u64) -> Result<Vec<u8>, RestoreError> {
        let r = &self.record.body.packs[pack as usize];
        let header = match self.headers.get(&pack) {
            Some(h) => h.clone(),
            None => {
                let bytes = self
                    .store
                    .get_range(&r.key(), 0..object::HEADER_LEN as u64)?;
                let h = object::check_header(
                    &bytes,
                    Kind::Pack,
                    &self.record.vault_id(),
                    &self.record.snapshot_id(),
                )
                .map_err(|e| object_err(r, e.to_string()))?;
                self.headers.insert(pack, h.clone());
                h
            }
        };
        let (span, first) = object::chunk_span(r.size, offset..offset + len)
            .ok_or_else(|| object_err(r, "a range outside the object"))?;
        let bytes = self.store.get_range(&r.key(), span)?;
        self.fetched += bytes.len() as u64;
        let plain = object::open_chunks(&header, self.key, r.size, first, &bytes)
            .map_err(|e| object_err(r, e.to_string()))?;
        let at = (offset - first * object::CHUNK as u64) as usize;
        Ok(plain[at..at + len as usize].to_vec())
    }
}

impl Source<'_> {
    fn read(&mut self, pack: u32, offset: u64, len: u64) -> Result<Piece, RestoreError> {
        match self {
            Source::Ranges(r) => Ok(Piece::Owned(r.read(pack, offset, len)?)),
            Source::Stream {
                current,
                results,
                pool,
                waiting,
                ranges,
            } => {
                if current.as_ref().is_some_and(|(i, _)| *i > pack) {
                    // Out of order (not how seif writes manifests): fetch
                    // just that range.
                    return Ok(Piece::Owned(ranges.read(pack, offset, len)?));
                }
                while current.as_ref().is_none_or(|(i, _)| *i < pack) {
                    let next = current.as_ref().map_or(0, |(i, _)| i + 1);
                    let got = loop {
                        if let Some(r) = waiting.remove(&next) {
                            break r;
                        }
                        let (i, r) = results
                            .recv()
                            .map_err(|_| RestoreError::Manifest("the fetchers stopped".into()))?;
                        waiting.insert(i, r);
                    };
                    *current = Some((
                        next,
                        Arc::new(PackBuf {
                            buf: got?,
                            pool: pool.clone(),
                        }),
                    ));
                }
                let (_, p) = current.as_ref().expect("set above");
                Ok(Piece::Shared(
                    Arc::clone(p),
                    offset as usize,
                    (offset + len) as usize,
                ))
            }
        }
    }
}

/// Entries selected by `only` (exact paths or directory prefixes), plus
/// the directories above them.
fn select(entries: Vec<Entry>, only: &[String]) -> Result<Vec<Entry>, RestoreError> {
    if only.is_empty() {
        return Ok(entries);
    }
    let only: Vec<String> = only
        .iter()
        .map(|p| p.trim_matches('/').to_owned())
        .collect();
    let mut used = vec![false; only.len()];
    let mut parents = BTreeSet::new();
    let mut picked = Vec::new();
    for e in &entries {
        for (i, p) in only.iter().enumerate() {
            if e.path == *p || e.path.starts_with(&format!("{p}/")) {
                used[i] = true;
                let mut at = e.path.as_str();
                while let Some((parent, _)) = at.rsplit_once('/') {
                    parents.insert(parent.to_owned());
                    at = parent;
                }
                picked.push(e.path.clone());
                break;
            }
        }
    }
    let missing: Vec<String> = only
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(p, _)| p.clone())
        .collect();
    if !missing.is_empty() {
        return Err(RestoreError::NotFound(missing));
    }
    let picked: BTreeSet<String> = picked.into_iter().collect();
    Ok(entries
        .into_iter()
        .filter(|e| {
            picked.contains(&e.path) || (e.kind == EntryKind::Dir && parents.contains(&e.path))
        })
        .collect())
}

/// Restores a snapshot (or the paths in `only`) into `out`.
pub fn restore(
    store: &dyn Store,
    record: &Record,
    key: &DataKey,
    out: &Path,
    only: &[String],
    threads: usize,
    counters: &Counters,
) -> Result<RestoreSummary, RestoreError> {
    let out_err = |path: &Path| {
        let path = path.to_owned();
        move |source| RestoreError::Output { path, source }
    };
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(RestoreError::OutputExists(out.to_owned()));
    }
    std::fs::create_dir_all(out).map_err(out_err(out))?;
    // A whole snapshot streams its manifest; chosen paths need all of it
    // first, to find them and the directories above them.
    let mut entries: Box<dyn Iterator<Item = Result<Entry, RestoreError>>> = if only.is_empty() {
        // The packs' plaintext: the content bytes (plus any padding).
        Counters::add(
            &counters.total_bytes,
            record
                .body
                .packs
                .iter()
                .map(|p| object::plain_len(p.size).unwrap_or(0))
                .sum(),
        );
        Box::new(ManifestEntries::new(store, record, key))
    } else {
        let picked = select(read_manifest(store, record, key)?, only)?;
        Counters::add(
            &counters.total_bytes,
            picked.iter().filter_map(|e| e.size).sum(),
        );
        Box::new(picked.into_iter().map(Ok))
    };
    let mut summary = RestoreSummary::default();
    let ranges = Ranges {
        store,
        record,
        key,
        headers: BTreeMap::new(),
        fetched: 0,
    };
    let packs = &record.body.packs;
    let threads = threads.max(1);

    let next = AtomicU32::new(0);
    let next = &next;
    std::thread::scope(|scope| -> Result<(), RestoreError> {
        let mut source = if only.is_empty() && !packs.is_empty() {
            // Whole packs, in order, a few ahead, decrypted in place in a
            // fixed pool of `threads + 2` recycled buffers.
            let (result_tx, result_rx) = bounded(threads + 2);
            let (pool_tx, pool_rx) = bounded::<Vec<u8>>(threads + 2);
            for _ in 0..threads + 2 {
                pool_tx.send(Vec::new()).expect("room");
            }
            for _ in 0..threads {
                let (result_tx, pool_rx) = (result_tx.clone(), pool_rx.clone());
                scope.spawn(move || {
                    while let Ok(mut buf) = pool_rx.recv() {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(r) = packs.get(i as usize) else {
                            return;
                        };
                        let got = fetch_pack(store, r, &mut buf).and_then(|()| {
                            Counters::add(&counters.objects, 1);
                            object::open_in_place(
                                &mut buf,
                                Kind::Pack,
                                &record.vault_id(),
                                &record.snapshot_id(),
                                key,
                            )
                            .map_err(|e| object_err(r, e.to_string()))
                        });
                        let got = got.map(|()| buf);
                        if result_tx.send((i, got)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(result_tx);
            summary.objects = packs.len() as u64;
            Source::Stream {
                current: None,
                results: result_rx,
                pool: pool_tx,
                waiting: BTreeMap::new(),
                ranges,
            }
        } else {
            Source::Ranges(ranges)
        };
        let result = write_entries(&mut entries, out, &mut source, &mut summary, counters);
        // Dropping the source closes the token channel: fetchers stop.
        let (Source::Stream { ranges, .. } | Source::Ranges(ranges)) = &source;
        summary.fetched += ranges.fetched;
        drop(source);
        result
    })?;
    summary.fetched += if only.is_empty() {
        packs.iter().map(|p| p.size).sum::<u64>()
    } else {
        0
    };
    // One flush of the whole file system at the end instead of one per
    // file: restores of many small files stay fast, and the data is durable
    // when seif reports success.
    if let Ok(dir) = File::open(out) {
        let _ = rustix::fs::syncfs(&dir);
    }
    Ok(summary)
}

/// A file to write: where, what it must hash to, and its bytes.
struct FileJob {
    entry: Entry,
    path: PathBuf,
    pieces: Vec<Piece>,
}

/// Writes one file: to a temporary name beside it, checked against its
/// hash, then renamed into place.
fn write_file(
    job: &FileJob,
    source: &mut dyn FnMut(usize) -> Result<Piece, RestoreError>,
    counters: &Counters,
) -> Result<(), RestoreError> {
    let path = &job.path;
    let io = |source| RestoreError::Output {
        path: path.clone(),
        source,
    };
    let parent = path.parent().expect("inside out");
    let mut tmp = tempfile::Builder::new()
        .prefix(".seif-restore-")
        .tempfile_in(parent)
        .map_err(io)?;
    let mut hasher = Sha256::new();
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        for i in 0..job.entry.segments.len() {
            let piece = source(i)?;
            let bytes = piece.bytes();
            hasher.update(bytes);
            Counters::add(&counters.bytes, bytes.len() as u64);
            w.write_all(bytes).map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    if Some(to_hex(&hasher.finalize())) != job.entry.sha256 {
        return Err(RestoreError::Mismatch(job.entry.path.clone()));
    }
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(job.entry.mode & 0o777))
        .map_err(io)?;
    tmp.as_file()
        .set_modified(time_of(job.entry.mtime))
        .map_err(io)?;
    tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
    Counters::add(&counters.files, 1);
    Ok(())
}

/// Writes the entries in manifest order. Directories and symlinks are made
/// here; files whose bytes lie in one pack go to writer threads (hashing
/// and writing many small files is what a restore spends its time on);
/// files that span packs are written here, a pack at a time, so that the
/// bounded pool of pack buffers always drains.
fn write_entries(
    entries: &mut dyn Iterator<Item = Result<Entry, RestoreError>>,
    out: &Path,
    source: &mut Source<'_>,
    summary: &mut RestoreSummary,
    counters: &Counters,
) -> Result<(), RestoreError> {
    let mut dirs: BTreeMap<String, (u32, i64)> = BTreeMap::new();
    let mut made: BTreeSet<String> = BTreeSet::new();
    let failure: Mutex<Option<RestoreError>> = Mutex::new(None);
    let fail = |e: RestoreError| {
        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    };
    let failed = || failure.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    let writers = crate::pipeline::default_threads().max(1);
    std::thread::scope(|scope| {
        let (jobs_tx, jobs_rx) = bounded::<FileJob>(256);
        for _ in 0..writers {
            let (jobs_rx, fail) = (jobs_rx.clone(), &fail);
            scope.spawn(move || {
                while let Ok(mut job) = jobs_rx.recv() {
                    let mut pieces = std::mem::take(&mut job.pieces).into_iter();
                    let mut next = |_: usize| {
                        pieces
                            .next()
                            .ok_or_else(|| RestoreError::Manifest("a segment is missing".into()))
                    };
                    if let Err(e) = write_file(&job, &mut next, counters) {
                        fail(e);
                    }
                }
            });
        }
        drop(jobs_rx);
        for e in entries {
            if failed() {
                break;
            }
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    fail(err);
                    break;
                }
            };
            let e = &e;
            let path = out.join(&e.path);
            let io = |source| RestoreError::Output {
                path: path.clone(),
                source,
            };
            if let Err(err) = ensure_parents(out, &e.path, &mut made) {
                fail(err);
                break;
            }
            let done = match e.kind {
                EntryKind::Dir => {
                    dirs.insert(e.path.clone(), (e.mode, e.mtime));
                    summary.dirs += 1;
                    if made.contains(&e.path) {
                        Ok(())
                    } else {
                        made.insert(e.path.clone());
                        std::fs::create_dir(&path).map_err(io)
                    }
                }
                EntryKind::Symlink => {
                    summary.symlinks += 1;
                    std::os::unix::fs::symlink(e.target.as_deref().unwrap_or(""), &path).map_err(io)
                }
                EntryKind::File => {
                    summary.files += 1;
                    summary.bytes += e.size.unwrap_or(0);
                    let one_pack = e.segments.windows(2).all(|w| w[0].pack() == w[1].pack());
                    let job = FileJob {
                        entry: e.clone(),
                        path: path.clone(),
                        pieces: Vec::new(),
                    };
                    if one_pack {
                        let pieces: Result<Vec<Piece>, RestoreError> = e
                            .segments
                            .iter()
                            .map(|s| source.read(s.pack(), s.offset(), s.len()))
                            .collect();
                        match pieces {
                            Ok(pieces) => jobs_tx
                                .send(FileJob { pieces, ..job })
                                .map_err(|_| RestoreError::Manifest("the writers stopped".into())),
                            Err(err) => Err(err),
                        }
                    } else {
                        let mut next = |i: usize| {
                            let s = &e.segments[i];
                            source.read(s.pack(), s.offset(), s.len())
                        };
                        write_file(&job, &mut next, counters)
                    }
                }
            };
            if let Err(err) = done {
                fail(err);
                break;
            }
        }
        drop(jobs_tx);
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    // Directory modes and times last, deepest first, so that writing the
    // contents does not change them (and a read-only directory does not
    // stop its own restore).
    for (rel, (mode, mtime)) in dirs.iter().rev() {
        let path = out.join(rel);
        let io = |source| RestoreError::Output {
            path: path.clone(),
            source,
        };
        let f = File::open(&path).map_err(io)?;
        f.set_modified(time_of(*mtime)).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(io)?;
    }
    Ok(())
}

/// Makes the directories above `rel` that are missing, refusing to go
/// through anything this restore did not make as a directory (a symlink
/// planted by a hostile manifest cannot redirect writes outside `out`).
fn ensure_parents(out: &Path, rel: &str, made: &mut BTreeSet<String>) -> Result<(), RestoreError> {
    let mut at = String::new();
    let components: Vec<&str> = rel.split('/').collect();
    for c in &components[..components.len() - 1] {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(c);
        if made.contains(&at) {
            continue;
        }
        let path = out.join(&at);
        match std::fs::create_dir(&path) {
            Ok(()) => {
                made.insert(at.clone());
            }
            Err(source) => return Err(RestoreError::Output { path, source }),
        }
    }
    Ok(())
}

fn time_of(mtime: i64) -> std::time::SystemTime {
    if mtime >= 0 {
        UNIX_EPOCH + Duration::from_secs(mtime as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(mtime.unsigned_abs())
    }
}

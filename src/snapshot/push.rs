//! `seif push`: seal files and directory trees into one snapshot in one or
//! more stores.
//!
//! The tree is walked in a fixed order (names sorted bytewise, directories
//! before their contents) and its files' bytes are packed into 8 MiB objects.
//! Packing reads each file straight into the chunk slots of a recycled pack
//! buffer; workers seal packs in place on every core and hash them; uploaders
//! store them with bounded concurrency; a collector journals each finished
//! pack in order and adds its entries to the manifest, storing each part as
//! it fills. Memory stays bounded whatever the tree's size: a fixed pool of
//! pack buffers, at most [`PACK_ENTRIES`] entries per pack, one manifest
//! part, one directory listing per level; a resumed run streams its journal.
//!
//! **Crash safety and resume.** Objects are stored first, the record last,
//! so a killed push leaves a valid store (plus unreferenced objects). A
//! journal in the state directory (mode 0600) records each stored pack and
//! the walk position after it; running the same push again resumes after the
//! last stored pack instead of uploading everything again. The journal holds
//! the unfinished snapshot's data key, which opens only that snapshot's data
//! (already on this machine in plaintext); it is deleted when the push
//! completes, so a pipeline never holds a key to a finished snapshot.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Counters;
use super::key_envelope::KeyEnvelope;
use super::manifest::{self, Entry, EntryKind, Segment, Totals};
use super::object::{self, CHUNK, HEADER_LEN, Kind, ObjectHeader, STRIDE};
use super::record::{ObjectRef, Record, RecordBody, object_key, record_key};
use crate::descriptor::Descriptor;
use crate::encoding::{from_hex, to_hex};
use crate::padme::padme;
use crate::sealer::SealerSecretKey;
use crate::secrets::{DataKey, random_array};
use crate::store::{Store, StoreError};
use crate::stream::TAG_LEN;
use crate::wrap::WrapError;

/// Plaintext bytes per data pack.
pub const PACK_SIZE: usize = 8 << 20;
/// Entries per pack at most: a pack also ends after this many entries, so
/// that a tree of many empty files or directories never gathers an
/// unbounded list in memory (about 200 bytes each).
pub const PACK_ENTRIES: usize = 4096;
/// The journal's format line.
const JOURNAL_FORMAT: &str = "seif-push-journal/1";

/// How to push.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Pad packs and manifest parts to Padmé lengths.
    pub pad: bool,
    /// Sealing threads.
    pub threads: usize,
    /// Concurrent uploads.
    pub uploads: usize,
    /// Where the resume journal lives.
    pub state_dir: PathBuf,
}

impl PushOptions {
    /// Defaults: every core, four uploads, the user's state directory.
    pub fn new(state_dir: PathBuf) -> Self {
        PushOptions {
            pad: false,
            threads: crate::pipeline::default_threads(),
            uploads: 4,
            state_dir,
        }
    }
}

/// The default state directory: `$XDG_STATE_HOME/seif`, else
/// `~/.local/state/seif`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("seif");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state/seif")
}

/// What a push did.
#[derive(Debug)]
pub struct PushSummary {
    /// The record written.
    pub record: Record,
    /// The manifest's totals.
    pub totals: Totals,
    /// Objects uploaded in this run.
    pub uploaded_objects: u64,
    /// Bytes uploaded in this run (per store).
    pub uploaded_bytes: u64,
    /// Packs taken over from an interrupted run.
    pub resumed_packs: u64,
    /// Entries skipped (sockets, devices), with why.
    pub skipped: Vec<String>,
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Input {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A name that is not UTF-8.
    #[error("{0}: the name is not UTF-8; rename it (snapshot paths are UTF-8)")]
    NotUtf8(PathBuf),
    /// Two arguments with one name.
    #[error(
        "two paths to push are both named '{0}'; push them in separate snapshots or rename one"
    )]
    DuplicateRoot(String),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal could not be used.
    #[error("the push journal {path}: {message}")]
    Journal {
        /// The journal.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The data key could not be wrapped.
    #[error(transparent)]
    Wrap(#[from] WrapError),
    /// Sealing failed.
    #[error(transparent)]
    Object(#[from] object::ObjectError),
}

fn input_err(path: &Path) -> impl FnOnce(std::io::Error) -> PushError + '_ {
    move |source| PushError::Input {
        path: path.to_owned(),
        source,
    }
}

/// The walk position after a pack: entries before `entry` are in the
/// journal; entry `entry` (a file named `path`) has `offset` bytes packed,
/// in `segments`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    entry: u64,
    path: String,
    offset: u64,
    segments: Vec<Segment>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalHead {
    journal: String,
    vault_id: String,
    snapshot_id: String,
    data_key: String,
    stores: Vec<String>,
    paths: Vec<String>,
    pad: bool,
    /// The key envelope's bytes: a resumed run stores the same envelope.
    envelope: String,
}

impl Drop for JournalHead {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data_key);
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalPack {
    pack: u32,
    id: String,
    size: u64,
    entries: Vec<Entry>,
    cursor: Cursor,
}

/// One item of the walk.
struct Item {
    fs_path: PathBuf,
    rel: String,
    meta: std::fs::Metadata,
}

/// A depth-first walk in a fixed order, holding one sorted listing per level.
struct Walker {
    roots: std::vec::IntoIter<(PathBuf, String)>,
    stack: Vec<(PathBuf, String, Vec<std::ffi::OsString>, usize)>,
}

impl Walker {
    fn new(roots: Vec<(PathBuf, String)>) -> Self {
        Walker {
            roots: roots.into_iter(),
            stack: Vec::new(),
        }
    }

    fn next(&mut self) -> Result<Option<Item>, PushError> {
        loop {
            let (fs_path, rel) = if let Some((dir, rel_dir, names, next)) = self.stack.last_mut() {
                if *next == names.len() {
                    self.stack.pop();
                    continue;
                }
                let name = &names[*next];
                *next += 1;
                let rel_name = name
                    .to_str()
                    .ok_or_else(|| PushError::NotUtf8(dir.join(name)))?;
                (dir.join(name), format!("{rel_dir}/{rel_name}"))
            } else if let Some(root) = self.roots.next() {
                root
            } else {
                return Ok(None);
            };
            let meta = std::fs::symlink_metadata(&fs_path).map_err(input_err(&fs_path))?;
            if meta.is_dir() {
                let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&fs_path)
                    .map_err(input_err(&fs_path))?
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<Result<_, _>>()
                    .map_err(input_err(&fs_path))?;
                names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                self.stack.push((fs_path.clone(), rel.clone(), names, 0));
            }
            return Ok(Some(Item { fs_path, rel, meta }));
        }
    }
}

/// A pack being filled: plaintext is written straight into the chunk slots
/// of the sealed layout, so sealing happens in place.
struct Pack {
    seq: u32,
    buf: Vec<u8>,
    plain: usize,
    entries: Vec<Entry>,
    cursor: Cursor,
}

impl Pack {
    fn capacity_chunks() -> usize {
        // Room for Padmé padding of a full pack, too.
        (padme(PACK_SIZE as u64) as usize).div_ceil(CHUNK)
    }

    fn new_buffer() -> Vec<u8> {
        vec![0u8; HEADER_LEN + Self::capacity_chunks() * STRIDE]
    }

    fn room(&self) -> usize {
        PACK_SIZE - self.plain
    }

    /// The writable rest of the current chunk slot.
    fn slot(&mut self) -> &mut [u8] {
        let (i, pos) = (self.plain / CHUNK, self.plain % CHUNK);
        let at = HEADER_LEN + i * STRIDE + pos;
        let len = (CHUNK - pos).min(self.room());
        &mut self.buf[at..at + len]
    }

    fn zero_fill(&mut self, mut n: usize) {
        while n > 0 {
            let k = {
                let (i, pos) = (self.plain / CHUNK, self.plain % CHUNK);
                let at = HEADER_LEN + i * STRIDE + pos;
                let k = (CHUNK - pos).min(n);
                self.buf[at..at + k].fill(0);
                k
            };
            self.plain += k;
            n -= k;
        }
    }

    /// Seals in place; returns the object's length.
    fn seal(
        &mut self,
        header: &ObjectHeader,
        key: &DataKey,
        pad: bool,
    ) -> Result<usize, object::ObjectError> {
        if pad {
            let target = padme(self.plain as u64) as usize;
            self.zero_fill(target - self.plain);
        }
        self.buf[..HEADER_LEN].copy_from_slice(&header.encode());
        let cipher = header.cipher(key);
        let n = self.plain.div_ceil(CHUNK);
        for i in 0..n {
            let len = if i + 1 == n {
                self.plain - i * CHUNK
            } else {
                CHUNK
            };
            let at = HEADER_LEN + i * STRIDE;
            let (text, rest) = self.buf[at..].split_at_mut(len);
            let tag = cipher.seal_chunk(i as u64, i + 1 == n, text)?;
            rest[..TAG_LEN].copy_from_slice(&tag);
        }
        Ok(object::sealed_len(self.plain as u64) as usize)
    }
}

struct Sealed {
    pack: Pack,
    len: usize,
    id: String,
}

/// The shared first error of a run; setting it stops every stage.
struct Abort {
    stop: AtomicBool,
    error: Mutex<Option<PushError>>,
}

impl Abort {
    fn fail(&self, e: PushError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn put_all(stores: &[Box<dyn Store>], key: &str, bytes: &[u8]) -> Result<(), StoreError> {
    for s in stores {
        s.put(key, bytes)?;
    }
    Ok(())
}

/// Pushes `paths` into one snapshot in every store.
pub fn push(
    vault: &Descriptor,
    sealer: &SealerSecretKey,
    stores: &[Box<dyn Store>],
    paths: &[PathBuf],
    options: &PushOptions,
    counters: &Counters,
) -> Result<PushSummary, PushError> {
    let roots = roots(paths)?;
    let vault_id = vault.body().vault_id.clone();
    let journal_path = journal_path(options, &vault_id, stores, &roots);
    let resume = Journal::load(&journal_path, &vault_id, stores, &roots, options.pad)?;
    let journal = match resume {
        Some(j) => j,
        None => Journal::create(&journal_path, vault, stores, &roots, options.pad)?,
    };
    let key = journal.key()?;
    let snapshot_id = journal.head.snapshot_id.clone();
    let snapshot_raw: [u8; 16] =
        from_hex(&snapshot_id).map_err(|_| journal.bad("bad snapshot id"))?;
    let vault_raw = vault.vault_id();

    // The key envelope first: a record must never exist without its key.
    let envelope =
        KeyEnvelope::parse(journal.head.envelope.as_bytes()).map_err(|e| journal.bad(&e))?;
    put_all(stores, &envelope.store_key(), &envelope.to_bytes())?;

    // The manifest is written as packs complete, in order: the packs an
    // interrupted run stored first, then this run's.
    let mut sink = ManifestSink {
        writer: manifest::Writer::new(&snapshot_id),
        parts: PartSealer {
            stores,
            key: &key,
            vault: vault_raw,
            snapshot: snapshot_raw,
            pad: options.pad,
            refs: Vec::new(),
            uploaded: (0, 0),
        },
    };
    let mut packs: Vec<ObjectRef> = Vec::new();
    let mut journal = journal;
    journal.replay(stores, |p| {
        packs.push(ObjectRef {
            id: p.id.clone(),
            size: p.size,
        });
        for e in &p.entries {
            Counters::add(&counters.bytes, e.size.unwrap_or(0));
            if e.kind == EntryKind::File {
                Counters::add(&counters.files, 1);
            }
            sink.push(e)?;
        }
        Ok(())
    })?;
    let resumed_packs = packs.len() as u64;
    let start = journal.cursor.clone();
    let journal = Mutex::new(journal);

    let abort = Abort {
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    let pool_size = options.threads.max(1) + options.uploads.max(1) + 2;
    let (pool_tx, pool_rx) = bounded::<Vec<u8>>(pool_size);
    for _ in 0..pool_size {
        pool_tx.send(Pack::new_buffer()).expect("room");
    }
    let (seal_tx, seal_rx) = bounded::<Pack>(pool_size);
    let (upload_tx, upload_rx) = bounded::<Sealed>(pool_size);
    let (done_tx, done_rx) = bounded::<Sealed>(pool_size);
    let mut skipped = Vec::new();
    let mut tail_entries = Vec::new();

    let collected = std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1) {
            let (rx, tx, abort, key) = (seal_rx.clone(), upload_tx.clone(), &abort, &key);
            scope.spawn(move || {
                seal_worker(rx, tx, abort, key, vault_raw, snapshot_raw, options.pad)
            });
        }
        for _ in 0..options.uploads.max(1) {
            let (rx, tx, abort) = (upload_rx.clone(), done_tx.clone(), &abort);
            scope.spawn(move || upload_worker(rx, tx, abort, stores, counters));
        }
        drop((seal_rx, upload_tx, upload_rx, done_tx));
        let collector = {
            let (abort, journal, pool_tx) = (&abort, &journal, pool_tx.clone());
            let first_seq = packs.len() as u32;
            scope.spawn(move || collect(done_rx, pool_tx, abort, journal, first_seq, sink))
        };
        drop(pool_tx);
        let walked = walk_and_pack(
            &roots,
            &start,
            packs.len() as u32,
            &pool_rx,
            &seal_tx,
            &abort,
            counters,
            &mut skipped,
        );
        drop(seal_tx);
        match walked {
            Ok(tail) => tail_entries = tail,
            Err(e) => abort.fail(e),
        }
        collector.join().expect("the collector does not panic")
    });
    if let Some(e) = abort.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let (done_packs, mut sink, pack_uploads) = collected;
    packs.extend(done_packs);
    for e in &tail_entries {
        sink.push(e)?;
    }
    let (manifest_parts, totals, part_uploads) = sink.finish()?;
    let uploaded = (
        pack_uploads.0 + part_uploads.0,
        pack_uploads.1 + part_uploads.1,
    );

    // The record last: only now does the snapshot exist for readers.
    let (records, _) = super::load_records(stores[0].as_ref())?;
    let previous = super::record::chain(&records)
        .heads
        .iter()
        .filter_map(|h| records.get(h))
        .max_by(|a, b| a.body.time.cmp(&b.body.time))
        .map(|r| r.hash.clone());
    let body = RecordBody {
        format: super::record::FORMAT.into(),
        vault_id: vault_id.clone(),
        snapshot_id,
        time: crate::time::now_rfc3339(),
        sealer: sealer.public().to_string(),
        previous,
        commitment: to_hex(&crate::wrap::key_commitment(&key)),
        packs,
        manifest: manifest_parts,
    };
    let (record, bytes) = Record::sign(body, sealer);
    put_all(stores, &record_key(&record.hash), &bytes)?;
    let journal = journal.into_inner().unwrap_or_else(|p| p.into_inner());
    journal.remove()?;
    Ok(PushSummary {
        record,
        totals,
        uploaded_objects: uploaded.0,
        uploaded_bytes: uploaded.1,
        resumed_packs,
        skipped,
    })
}

fn seal_worker(
    rx: Receiver<Pack>,
    tx: Sender<Sealed>,
    abort: &Abort,
    key: &DataKey,
    vault: [u8; 32],
    snapshot: [u8; 16],
    pad: bool,
) {
    while let Ok(mut pack) = rx.recv() {
        if abort.stopped() {
            return;
        }
        let header = ObjectHeader::new(Kind::Pack, vault, snapshot);
        match pack.seal(&header, key, pad) {
            Ok(len) => {
                let id = to_hex(&Sha256::digest(&pack.buf[..len]));
                if tx.send(Sealed { pack, len, id }).is_err() {
                    return;
                }
            }
            Err(e) => return abort.fail(e.into()),
        }
    }
}

fn upload_worker(
    rx: Receiver<Sealed>,
    tx: Sender<Sealed>,
    abort: &Abort,
    stores: &[Box<dyn Store>],
    counters: &Counters,
) {
    while let Ok(sealed) = rx.recv() {
        if abort.stopped() {
            return;
        }
        if let Err(e) = put_all(
            stores,
            &object_key(&sealed.id),
            &sealed.pack.buf[..sealed.len],
        ) {
            return abort.fail(e.into());
        }
        Counters::add(&counters.objects, 1);
        if tx.send(sealed).is_err() {
            return;
        }
    }
}

/// Takes stored packs in order, journals them, adds their entries to the
/// manifest (storing each part as it fills), and returns their buffers to
/// the pool. Returns the packs, the manifest and the upload totals.
fn collect<'a>(
    rx: Receiver<Sealed>,
    pool: Sender<Vec<u8>>,
    abort: &Abort,
    journal: &Mutex<Journal>,
    first_seq: u32,
    mut sink: ManifestSink<'a>,
) -> (Vec<ObjectRef>, ManifestSink<'a>, Uploaded) {
    let mut next = first_seq;
    let mut waiting = BTreeMap::new();
    let mut out = Vec::new();
    let mut uploaded = (0u64, 0u64);
    while let Ok(s) = rx.recv() {
        waiting.insert(s.pack.seq, s);
        while let Some(s) = waiting.remove(&next) {
            next += 1;
            let r = ObjectRef {
                id: s.id.clone(),
                size: s.len as u64,
            };
            uploaded.0 += 1;
            uploaded.1 += s.len as u64;
            let line = JournalPack {
                pack: s.pack.seq,
                id: s.id,
                size: r.size,
                entries: s.pack.entries,
                cursor: s.pack.cursor,
            };
            if let Err(e) = journal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(&line)
            {
                abort.fail(e);
            }
            for e in &line.entries {
                if abort.stopped() {
                    break;
                }
                if let Err(e) = sink.push(e) {
                    abort.fail(e);
                }
            }
            out.push(r);
            let _ = pool.send(s.pack.buf);
        }
    }
    (out, sink, uploaded)
}

/// The manifest being written: entries go in as their packs complete, and
/// each part is sealed and stored as soon as it fills, so that one part at
/// most is held in memory whatever the tree's size.
struct ManifestSink<'a> {
    writer: manifest::Writer,
    parts: PartSealer<'a>,
}

impl ManifestSink<'_> {
    fn push(&mut self, entry: &Entry) -> Result<(), PushError> {
        match self.writer.push(entry) {
            Some(part) => self.parts.store(part),
            None => Ok(()),
        }
    }

    /// Stores the last part; returns the parts, the totals and what was
    /// uploaded (objects, bytes).
    fn finish(self) -> Result<(Vec<ObjectRef>, Totals, Uploaded), PushError> {
        let ManifestSink { writer, mut parts } = self;
        let (last, totals) = writer.finish();
        parts.store(last)?;
        Ok((parts.refs, totals, parts.uploaded))
    }
}

/// Objects and bytes uploaded.
type Uploaded = (u64, u64);

/// Seals manifest parts and stores them in every store.
struct PartSealer<'a> {
    stores: &'a [Box<dyn Store>],
    key: &'a DataKey,
    vault: [u8; 32],
    snapshot: [u8; 16],
    pad: bool,
    refs: Vec<ObjectRef>,
    uploaded: Uploaded,
}

impl PartSealer<'_> {
    fn store(&mut self, mut plain: Vec<u8>) -> Result<(), PushError> {
        if self.pad {
            plain.resize(padme(plain.len() as u64) as usize, 0);
        }
        let header = ObjectHeader::new(Kind::Manifest, self.vault, self.snapshot);
        let mut obj = Vec::new();
        object::seal(&header, self.key, &plain, &mut obj)?;
        let id = to_hex(&Sha256::digest(&obj));
        put_all(self.stores, &object_key(&id), &obj)?;
        self.uploaded.0 += 1;
        self.uploaded.1 += obj.len() as u64;
        self.refs.push(ObjectRef {
            id,
            size: obj.len() as u64,
        });
        Ok(())
    }
}

/// Walks the tree and packs file contents; returns the entries that come
/// after the last pack.
#[allow(clippy::too_many_arguments)]
fn walk_and_pack(
    roots: &[(PathBuf, String)],
    start: &Cursor,
    first_seq: u32,
    pool: &Receiver<Vec<u8>>,
    seal: &Sender<Pack>,
    abort: &Abort,
    counters: &Counters,
    skipped: &mut Vec<String>,
) -> Result<Vec<Entry>, PushError> {
    let take_buffer = || -> Result<Option<Vec<u8>>, PushError> {
        loop {
            if abort.stopped() {
                return Ok(None);
            }
            match pool.recv_timeout(Duration::from_millis(100)) {
                Ok(b) => return Ok(Some(b)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(_) => return Ok(None),
            }
        }
    };
    let Some(buf) = take_buffer()? else {
        return Ok(Vec::new());
    };
    let mut pack = Pack {
        seq: first_seq,
        buf,
        plain: 0,
        entries: Vec::new(),
        cursor: Cursor::default(),
    };
    let mut walker = Walker::new(roots.to_vec());
    let mut index = 0u64;
    while let Some(item) = walker.next()? {
        if abort.stopped() {
            return Ok(Vec::new());
        }
        let this = index;
        index += 1;
        if this < start.entry {
            continue;
        }
        let mode = item.meta.mode() & 0o7777;
        let mtime = item.meta.mtime();
        let ft = item.meta.file_type();
        let entry = if ft.is_dir() {
            Entry {
                path: item.rel,
                kind: EntryKind::Dir,
                mode,
                mtime,
                size: None,
                sha256: None,
                segments: vec![],
                target: None,
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&item.fs_path).map_err(input_err(&item.fs_path))?;
            let target = target
                .to_str()
                .ok_or_else(|| PushError::NotUtf8(item.fs_path.clone()))?
                .to_owned();
            Entry {
                path: item.rel,
                kind: EntryKind::Symlink,
                mode,
                mtime,
                size: None,
                sha256: None,
                segments: vec![],
                target: Some(target),
            }
        } else if ft.is_file() {
            let resume = (this == start.entry && start.offset > 0).then_some(start);
            let Some(e) = pack_file(
                &item,
                mode,
                mtime,
                this,
                resume,
                &mut pack,
                pool,
                seal,
                &take_buffer,
                counters,
            )?
            else {
                return Ok(Vec::new());
            };
            e
        } else {
            skipped.push(format!(
                "{}: not a regular file, directory or symlink",
                item.fs_path.display()
            ));
            continue;
        };
        pack.entries.push(entry);
        pack.cursor = Cursor {
            entry: index,
            path: String::new(),
            offset: 0,
            segments: vec![],
        };
        if pack.entries.len() >= PACK_ENTRIES && !cut(&mut pack, &take_buffer, seal)? {
            return Ok(Vec::new());
        }
    }
    if pack.plain == 0 {
        let _ = pool;
        return Ok(std::mem::take(&mut pack.entries));
    }
    seal.send(pack).map_err(|_| StoreError::Backend {
        store: "push".into(),
        message: "the pipeline stopped".into(),
    })?;
    Ok(Vec::new())
}

/// Packs one file; cuts packs as they fill. `None` if the run was stopped.
#[allow(clippy::too_many_arguments)]
fn pack_file(
    item: &Item,
    mode: u32,
    mtime: i64,
    index: u64,
    resume: Option<&Cursor>,
    pack: &mut Pack,
    pool: &Receiver<Vec<u8>>,
    seal: &Sender<Pack>,
    take_buffer: &dyn Fn() -> Result<Option<Vec<u8>>, PushError>,
    counters: &Counters,
) -> Result<Option<Entry>, PushError> {
    let _ = pool;
    let mut file = File::open(&item.fs_path).map_err(input_err(&item.fs_path))?;
    let mut hasher = Sha256::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut size = 0u64;
    if let Some(c) = resume {
        if c.path != item.rel {
            return Err(PushError::Journal {
                path: item.fs_path.clone(),
                message:
                    "the tree changed since the interrupted push; delete the journal to start over"
                        .into(),
            });
        }
        // The bytes already packed are hashed again, not uploaded again.
        let mut left = c.offset;
        let mut buf = vec![0u8; 1 << 16];
        while left > 0 {
            let n = file
                .read(&mut buf[..(left.min(1 << 16)) as usize])
                .map_err(input_err(&item.fs_path))?;
            if n == 0 {
                return Err(PushError::Journal { path: item.fs_path.clone(), message: "the file shrank since the interrupted push; delete the journal to start over".into() });
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        file.seek(SeekFrom::Start(c.offset))
            .map_err(input_err(&item.fs_path))?;
        segments = c.segments.clone();
        size = c.offset;
    }
    loop {
        if pack.room() == 0 {
            // The pack is full: it ends with the position inside this file.
            pack.cursor = Cursor {
                entry: index,
                path: item.rel.clone(),
                offset: size,
                segments: segments.clone(),
            };
            if !cut(pack, take_buffer, seal)? {
                return Ok(None);
            }
        }
        let start = pack.plain as u64;
        let slot = pack.slot();
        let n = match file.read(slot) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(input_err(&item.fs_path)(e)),
        };
        if n == 0 {
            break;
        }
        hasher.update(&slot[..n]);
        pack.plain += n;
        size += n as u64;
        Counters::add(&counters.bytes, n as u64);
        match segments.last_mut() {
            Some(Segment(p, o, l)) if *p == pack.seq && *o + *l == start => *l += n as u64,
            _ => segments.push(Segment(pack.seq, start, n as u64)),
        }
    }
    Counters::add(&counters.files, 1);
    Ok(Some(Entry {
        path: item.rel.clone(),
        kind: EntryKind::File,
        mode,
        mtime,
        size: Some(size),
        sha256: Some(to_hex(&hasher.finalize())),
        segments,
        target: None,
    }))
}

/// Ends the pack being filled: it goes to the sealers, carrying the walk
/// position after it (already in `pack.cursor`), and an empty pack takes its
/// place. `false` if the run was stopped.
fn cut(
    pack: &mut Pack,
    take_buffer: &dyn Fn() -> Result<Option<Vec<u8>>, PushError>,
    seal: &Sender<Pack>,
) -> Result<bool, PushError> {
    let Some(buf) = take_buffer()? else {
        return Ok(false);
    };
    let next = Pack {
        seq: pack.seq + 1,
        buf,
        plain: 0,
        entries: Vec::new(),
        cursor: Cursor::default(),
    };
    let full = std::mem::replace(pack, next);
    Ok(seal.send(full).is_ok())
}

/// The pushed paths, each named by its last component.
fn roots(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, PushError> {
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for p in paths {
        std::fs::symlink_metadata(p).map_err(input_err(p))?;
        let abs = std::path::absolute(p).map_err(input_err(p))?;
        let name = abs
            .components()
            .rfind(|c| matches!(c, std::path::Component::Normal(_)))
            .ok_or_else(|| PushError::Input {
                path: p.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "push a named directory or file, not the root",
                ),
            })?;
        let name = name
            .as_os_str()
            .to_str()
            .ok_or_else(|| PushError::NotUtf8(p.clone()))?
            .to_owned();
        if out.iter().any(|(_, n)| *n == name) {
            return Err(PushError::DuplicateRoot(name));
        }
        out.push((p.clone(), name));
    }
    Ok(out)
}

fn journal_path(
    options: &PushOptions,
    vault_id: &str,
    stores: &[Box<dyn Store>],
    roots: &[(PathBuf, String)],
) -> PathBuf {
    let mut h = Sha256::new();
    h.update(vault_id.as_bytes());
    for s in stores {
        h.update([0]);
        h.update(s.describe().as_bytes());
    }
    for (p, _) in roots {
        h.update([1]);
        h.update(
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .as_os_str()
                .as_bytes(),
        );
    }
    options
        .state_dir
        .join(format!("push-{}.journal", &to_hex(&h.finalize())[..24]))
}

/// The resume journal of one push.
struct Journal {
    path: PathBuf,
    head: JournalHead,
    /// Open for appending; `None` until an interrupted run's packs are
    /// replayed.
    file: Option<File>,
    /// The walk position after the last pack kept.
    cursor: Cursor,
}

impl Journal {
    fn bad(&self, message: &str) -> PushError {
        PushError::Journal {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    fn key(&self) -> Result<DataKey, PushError> {
        let bytes = Zeroizing::new(
            from_hex::<32>(&self.head.data_key)
                .map_err(|_| self.bad("the data key is malformed"))?,
        );
        Ok(DataKey::from_bytes(bytes))
    }

    fn create(
        path: &Path,
        vault: &Descriptor,
        stores: &[Box<dyn Store>],
        roots: &[(PathBuf, String)],
        pad: bool,
    ) -> Result<Self, PushError> {
        let err = |e: std::io::Error| PushError::Journal {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let dir = path.parent().expect("journal paths have a parent");
        std::fs::create_dir_all(dir).map_err(err)?;
        let key = DataKey::generate();
        let snapshot_id = to_hex(&random_array::<16>());
        let envelope = KeyEnvelope::wrap(
            &key,
            &vault.body().vault_id,
            &snapshot_id,
            vault.body().generation,
            &vault.body().recipients,
        )?;
        let head = JournalHead {
            journal: JOURNAL_FORMAT.into(),
            vault_id: vault.body().vault_id.clone(),
            snapshot_id,
            data_key: Zeroizing::new(to_hex(key.expose())).to_string(),
            stores: stores.iter().map(|s| s.describe()).collect(),
            paths: roots.iter().map(|(p, _)| p.display().to_string()).collect(),
            pad,
            envelope: String::from_utf8(envelope.to_bytes()).expect("canonical JSON is UTF-8"),
        };
        let mut line = Zeroizing::new(serde_json::to_vec(&head).expect("serializes"));
        line.push(b'\n');
        crate::atomic::write_file(path, &line, 0o600, true).map_err(err)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(err)?;
        Ok(Journal {
            path: path.to_owned(),
            head,
            file: Some(file),
            cursor: Cursor::default(),
        })
    }

    /// Loads the head of a journal left by an interrupted run of the same
    /// push; [`Journal::replay`] then takes over its packs.
    fn load(
        path: &Path,
        vault_id: &str,
        stores: &[Box<dyn Store>],
        roots: &[(PathBuf, String)],
        pad: bool,
    ) -> Result<Option<Self>, PushError> {
        let Ok(f) = File::open(path) else {
            return Ok(None);
        };
        let mut first = Zeroizing::new(String::new());
        if std::io::BufReader::new(f).read_line(&mut first).is_err() {
            return Ok(None);
        }
        let Ok(head) = serde_json::from_str::<JournalHead>(&first) else {
            return Ok(None);
        };
        let same = head.journal == JOURNAL_FORMAT
            && head.vault_id == vault_id
            && head.pad == pad
            && head.stores == stores.iter().map(|s| s.describe()).collect::<Vec<_>>()
            && head.paths
                == roots
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect::<Vec<_>>();
        if !same {
            return Ok(None);
        }
        Ok(Some(Journal {
            path: path.to_owned(),
            head,
            file: None,
            cursor: Cursor::default(),
        }))
    }

    /// Streams an interrupted run's packs to `each`, in order, keeping those
    /// every store still holds, up to the first gap or cut-off line. The
    /// journal is rewritten with only those (one line at a time, so memory
    /// does not grow with the tree), then opened for appending. A fresh
    /// journal has nothing to replay.
    fn replay(
        &mut self,
        stores: &[Box<dyn Store>],
        mut each: impl FnMut(&JournalPack) -> Result<(), PushError>,
    ) -> Result<(), PushError> {
        if self.file.is_some() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |e: std::io::Error| PushError::Journal {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut lines = std::io::BufReader::new(File::open(&path).map_err(err)?).lines();
        // The head (it holds the data key) was read by `load`; wipe this copy.
        if let Some(Ok(head)) = lines.next() {
            drop(Zeroizing::new(head));
        }
        let mut kept = crate::atomic::AtomicFile::create(&path, true).map_err(err)?;
        let mut text = Zeroizing::new(serde_json::to_vec(&self.head).expect("serializes"));
        text.push(b'\n');
        kept.write_all(&text).map_err(err)?;
        for (next, line) in lines.enumerate() {
            // A line cut off by the kill ends the journal.
            let Ok(line) = line else { break };
            let Ok(p) = serde_json::from_str::<JournalPack>(&line) else {
                break;
            };
            if p.pack as usize != next {
                break;
            }
            let present = stores
                .iter()
                .all(|s| s.size(&object_key(&p.id)).ok().flatten() == Some(p.size));
            if !present {
                break;
            }
            kept.write_all(line.as_bytes())
                .and_then(|()| kept.write_all(b"\n"))
                .map_err(err)?;
            each(&p)?;
            self.cursor = p.cursor;
        }
        kept.commit(0o600).map_err(err)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(err)?;
        self.file = Some(file);
        Ok(())
    }

    fn append(&mut self, pack: &JournalPack) -> Result<(), PushError> {
        let mut line = serde_json::to_vec(pack).expect("serializes");
        line.push(b'\n');
        let f = self.file.as_mut().expect("open while pushing");
        f.write_all(&line)
            .and_then(|_| f.sync_data())
            .map_err(|e| PushError::Journal {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }

    fn remove(mut self) -> Result<(), PushError> {
        self.file = None;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PushError::Journal {
                path: self.path.clone(),
                message: e.to_string(),
            }),
        }
    }
}

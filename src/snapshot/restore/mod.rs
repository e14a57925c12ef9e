//! `seif restore`: a whole snapshot or only named paths, fetching only the
//! objects (or, for a few files, only the chunks) they need, and verifying
//! everything before it appears under its name: each chunk by its tag
//! (under the key of the snapshot that stored it) and by the SHA-256 the
//! manifest gives it. A file is written under a temporary name and renamed
//! only once every chunk of it checked.
//!
//! Three stages run at once ([`crate::workers::ordered`]):
//! - **schedule** (one thread) reads the manifest a part at a time and cuts
//!   the chunks it names into jobs, one per run of chunks in one pack,
//!   carrying the entries that start in them;
//! - **fetch** (every core) gets each job's pack, whole or the range of
//!   chunks it needs, opens the chunks and checks their hashes;
//! - **write** (this thread, with writer threads for files that lie whole in
//!   one job) makes directories and links and writes files, in walk order.
//!
//! Memory is bounded by the jobs in flight (a pack each), not by the tree;
//! only the directories are remembered, to set their times at the end.

pub mod dump;
pub mod paths;
pub mod write;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crossbeam_channel::bounded;
use sha2::{Digest, Sha256};

use self::paths::Selection;
use self::write::{Existing, NewFile, OutTree, Place};
use super::Counters;
use super::list::Tables;
use super::manifest::{ChunkRef, Entry, EntryKind};
use super::object::{self, HEADER_LEN, Kind, ObjectHeader};
use super::read::{KeyRing, ManifestEntries, ReadError};
use super::record::{Record, object_key};
use crate::ids::BlobId;
use crate::store::{Store, StoreError};
use crate::workers::{Emit, FirstError};

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The snapshot could not be read (an object, list, key or the
    /// manifest is missing, altered, or not this snapshot's).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A chunk's content does not match its hash in the manifest.
    #[error("{}: its content does not match the hash in the manifest; it was not written", crate::untrusted::escape(.0))]
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
    #[error("{0} exists and is not empty")]
    OutputExists(PathBuf),
    /// The output directory cannot be trusted.
    #[error("{0}: {1}")]
    OutputUnsafe(PathBuf, String),
    /// Paths asked for are not in the snapshot.
    #[error("not in the snapshot: {}", .0.iter().map(|(p, near)| if near.is_empty() { format!("'{}'", crate::untrusted::escape(p)) } else { format!("'{}' (did you mean {}?)", crate::untrusted::escape(p), near.iter().map(|n| format!("'{}'", crate::untrusted::escape(n))).collect::<Vec<_>>().join(", ")) }).collect::<Vec<_>>().join("; "))]
    NotFound(Vec<(String, Vec<String>)>),
    /// A path asked for as one file's bytes is not a regular file.
    #[error("'{path}' is {what}, not a file: only a file's bytes can go to stdout", path = crate::untrusted::escape(.0), what = .1)]
    NotAFile(String, &'static str),
    /// Not enough room.
    #[error("the snapshot holds {needed} bytes, and {path} has {free} bytes free")]
    NoRoom {
        /// Bytes the restore writes.
        needed: u64,
        /// Bytes free.
        free: u64,
        /// Where.
        path: PathBuf,
    },
}

/// How to restore.
#[derive(Clone, Copy, Debug)]
pub struct RestoreOptions {
    /// Fetching threads.
    pub threads: usize,
    /// What to do with what the output directory already holds.
    pub existing: Existing,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            threads: crate::workers::default_threads() + 2,
            existing: Existing::Refuse,
        }
    }
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
    /// Files found already restored (`--resume`) and left as they were.
    pub kept: u64,
    /// Packs fetched whole.
    pub objects: u64,
    /// Bytes fetched from the store.
    pub fetched: u64,
}

/// Entries that start in a job, with their chunks.
struct JobEntry {
    entry: Entry,
    /// Already restored with this content (resume): write nothing.
    keep: bool,
}

/// A run of chunks in one pack, and the entries that start in it.
struct Job {
    pack: Option<u32>,
    ranges: Vec<ChunkRef>,
    entries: Vec<JobEntry>,
}

/// A job's chunks, opened and checked.
struct Fetched {
    job: Job,
    data: Arc<Vec<u8>>,
    /// Per range: where its bytes start in `data`, and whether they hash
    /// as the manifest says.
    at: Vec<(usize, bool)>,
}

/// Jobs are cut at this many ranges or entries, so that a pack of many
/// small files does not make one huge job.
const JOB_MAX: usize = 4096;

/// Restores a snapshot (or the paths in `only`) into `out`.
#[allow(clippy::too_many_arguments)]
pub fn restore(
    store: &dyn Store,
    record: &Record,
    tables: &Tables,
    keys: &KeyRing,
    out: &Path,
    only: &[String],
    options: RestoreOptions,
    counters: &Counters,
) -> Result<RestoreSummary, RestoreError> {
    write::precheck_out(out, options.existing)?;
    let vault = record.body.vault_id;
    let snapshot = record.body.snapshot_id;
    let own_key = keys.get(&snapshot).ok_or_else(|| ReadError::Key {
        snapshot,
        message: "not unwrapped".into(),
    })?;
    // What will be written, before anything is: a whole snapshot's first
    // line promises its totals; chosen paths are looked for first.
    let mut selection = Selection::new(only);
    let needed = if selection.all() {
        ManifestEntries::new(store, vault, snapshot, tables, own_key)
            .promised()?
            .bytes
    } else {
        let mut bytes = 0;
        for e in ManifestEntries::new(store, vault, snapshot, tables, own_key) {
            let e = e?;
            if selection.takes(&e) {
                bytes += e.size.unwrap_or(0);
            }
        }
        let missing = selection.missing();
        if !missing.is_empty() {
            return Err(RestoreError::NotFound(missing));
        }
        bytes
    };
    if options.existing == Existing::Refuse
        && let Some(free) = free_space(out)
        && free < needed
    {
        return Err(RestoreError::NoRoom {
            needed,
            free,
            path: out.to_owned(),
        });
    }
    Counters::add(&counters.total_bytes, needed);
    let tree = write::open_out(out, options.existing)?;
    let mut selection = Selection::new(only);
    let root = tree.root_handle();
    let existing = options.existing;

    let headers: Mutex<HashMap<u32, ObjectHeader>> = Mutex::new(HashMap::new());
    let summary = Mutex::new(RestoreSummary::default());
    let threads = options.threads.max(1);
    let writers = crate::workers::default_threads();
    let failed: FirstError<RestoreError> = FirstError::default();
    let mut writer = Writer {
        tree,
        open: None,
        summary: RestoreSummary::default(),
        overwrite: existing == Existing::Overwrite,
    };
    let run = std::thread::scope(|scope| -> Result<(), RestoreError> {
        let (jobs_tx, jobs_rx) = bounded::<(Entry, Place, Vec<Piece>)>(2 * writers);
        let mut handles = Vec::new();
        for _ in 0..writers {
            let (jobs_rx, failed, counters, overwrite) =
                (jobs_rx.clone(), &failed, counters, writer.overwrite);
            handles.push(scope.spawn(move || {
                while let Ok((e, place, pieces)) = jobs_rx.recv() {
                    if failed.stopped() {
                        return;
                    }
                    if let Err(err) = write_whole(&e, place, &pieces, overwrite, counters) {
                        failed.fail(err);
                    }
                }
            }));
        }
        drop(jobs_rx);
        let run = crate::workers::ordered(
            threads,
            threads + 2,
            |emit| {
                schedule(
                    emit,
                    ManifestEntries::new(store, vault, snapshot, tables, own_key),
                    &mut selection,
                    (existing == Existing::Resume).then_some(&root),
                )
            },
            |job| {
                fetch(
                    store, record, tables, keys, &headers, &summary, counters, job,
                )
            },
            |f| {
                if failed.stopped() {
                    return Err(writers_stopped());
                }
                writer.consume(f, &jobs_tx, counters)
            },
        );
        drop(jobs_tx);
        for h in handles {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
        run
    });
    // A writer's error is the cause; the run then only saw them stop.
    failed.into_result()?;
    run?;
    if writer.open.is_some() {
        return Err(ReadError::Manifest("a file's chunks end before the file does".into()).into());
    }
    let Writer {
        tree,
        summary: written,
        ..
    } = writer;
    tree.finish()?;
    let fetched = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(RestoreSummary {
        objects: fetched.objects,
        fetched: fetched.fetched,
        ..written
    })
}

/// Free space where `out` is (or would be made).
fn free_space(out: &Path) -> Option<u64> {
    let mut at = Some(out);
    while let Some(p) = at {
        if let Ok(s) = rustix::fs::statvfs(p) {
            return Some(s.f_bavail.saturating_mul(s.f_frsize));
        }
        at = p.parent().filter(|p| !p.as_os_str().is_empty());
    }
    rustix::fs::statvfs(".")
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// Reads the manifest and cuts its chunks into jobs.
fn schedule(
    emit: &mut Emit<'_, Job>,
    entries: ManifestEntries<'_>,
    selection: &mut Selection,
    resume: Option<&Arc<std::os::fd::OwnedFd>>,
) -> Result<(), RestoreError> {
    let mut job = Job {
        pack: None,
        ranges: Vec::new(),
        entries: Vec::new(),
    };
    let new_job = |pack| Job {
        pack,
        ranges: Vec::new(),
        entries: Vec::new(),
    };
    for e in entries {
        let e = e?;
        if !selection.takes(&e) {
            continue;
        }
        let keep = e.kind == EntryKind::File && resume.is_some_and(|root| already_there(root, &e));
        let chunks = if keep {
            Vec::new()
        } else {
            e.chunks.clone().unwrap_or_default()
        };
        if chunks.is_empty() {
            if job.entries.len() >= JOB_MAX
                && !emit.send(std::mem::replace(&mut job, new_job(None)))
            {
                return Ok(());
            }
            job.entries.push(JobEntry { entry: e, keep });
            continue;
        }
        let mut entry = Some(JobEntry { entry: e, keep });
        for c in chunks {
            if (job.pack != Some(c.pack)
                || job.ranges.len() >= JOB_MAX
                || job.entries.len() >= JOB_MAX)
                && (!job.ranges.is_empty() || !job.entries.is_empty())
                && !emit.send(std::mem::replace(&mut job, new_job(Some(c.pack))))
            {
                return Ok(());
            }
            job.pack = Some(c.pack);
            if let Some(e) = entry.take() {
                job.entries.push(e);
            }
            job.ranges.push(c);
        }
    }
    if !job.ranges.is_empty() || !job.entries.is_empty() {
        emit.send(job);
    }
    Ok(())
}

/// Whether a file of a resumed restore is already there with exactly the
/// content the manifest gives (every chunk's hash).
fn already_there(root: &Arc<std::os::fd::OwnedFd>, e: &Entry) -> bool {
    use rustix::fs::{Mode, OFlags};
    let mut fd = Arc::clone(root);
    let comps: Vec<&str> = e.path.split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let flags = if last {
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC
        } else {
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
        };
        match rustix::fs::openat(&*fd, *c, flags, Mode::empty()) {
            Ok(next) => fd = Arc::new(next),
            Err(_) => return false,
        }
    }
    let Ok(fd) = Arc::try_unwrap(fd) else {
        return false;
    };
    let mut f = std::fs::File::from(fd);
    if !f
        .metadata()
        .is_ok_and(|m| m.is_file() && Some(m.len()) == e.size)
    {
        return false;
    }
    let mut buf = Vec::new();
    for c in e.chunks.as_deref().unwrap_or(&[]) {
        buf.resize(c.len as usize, 0);
        if f.read_exact(&mut buf).is_err() || <[u8; 32]>::from(Sha256::digest(&buf)) != c.sha256 {
            return false;
        }
    }
    true
}

/// Fetches a job's chunks: the whole pack when the job needs half of it or
/// more, else the range of chunks it needs; opens them under the key of the
/// snapshot that stored the pack, and checks each range's hash.
#[allow(clippy::too_many_arguments)]
fn fetch(
    store: &dyn Store,
    record: &Record,
    tables: &Tables,
    keys: &KeyRing,
    headers: &Mutex<HashMap<u32, ObjectHeader>>,
    summary: &Mutex<RestoreSummary>,
    counters: &Counters,
    job: Job,
) -> Result<Fetched, RestoreError> {
    let Some(n) = job.pack else {
        return Ok(Fetched {
            job,
            data: Arc::new(Vec::new()),
            at: Vec::new(),
        });
    };
    let pack = tables.packs[n as usize];
    let key = keys.get(&pack.snapshot).ok_or_else(|| ReadError::Key {
        snapshot: pack.snapshot,
        message: "not unwrapped".into(),
    })?;
    let bad = |m: String| {
        RestoreError::Read(ReadError::Object {
            what: "object",
            id: pack.id,
            message: m,
        })
    };
    let from = job
        .ranges
        .iter()
        .map(|r| u64::from(r.offset))
        .min()
        .unwrap_or(0);
    let to = job
        .ranges
        .iter()
        .map(|r| u64::from(r.offset) + u64::from(r.len))
        .max()
        .unwrap_or(0);
    let plain_len = pack.plain_len();
    let (data, base) = if 2 * (to - from) >= plain_len {
        let mut buf = Vec::new();
        store
            .get_into(&object_key(&pack.id), pack.size, &mut buf)
            .map_err(|e| not_found(e, pack.id))?;
        if buf.len() as u64 != pack.size {
            return Err(bad(format!(
                "{} bytes where the lists say {}: altered or replaced",
                buf.len(),
                pack.size
            )));
        }
        let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
        s.objects += 1;
        s.fetched += buf.len() as u64;
        drop(s);
        Counters::add(&counters.objects, 1);
        object::open_in_place(
            &mut buf,
            Kind::Pack,
            &record.body.vault_id.0,
            &pack.snapshot.0,
            key,
        )
        .map_err(|e| bad(e.to_string()))?;
        (buf, 0u64)
    } else {
        let cached = headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&n)
            .cloned();
        let header = match cached {
            Some(h) => h,
            None => {
                let bytes = store
                    .get_range(&object_key(&pack.id), 0..HEADER_LEN as u64)
                    .map_err(|e| not_found(e, pack.id))?;
                let h = object::check_header(
                    &bytes,
                    Kind::Pack,
                    &record.body.vault_id.0,
                    &pack.snapshot.0,
                )
                .map_err(|e| bad(e.to_string()))?;
                headers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(n, h.clone());
                h
            }
        };
        let (span, first) = object::chunk_span(pack.size, from..to)
            .ok_or_else(|| bad("a range outside the object".into()))?;
        let bytes = store
            .get_range(&object_key(&pack.id), span)
            .map_err(|e| not_found(e, pack.id))?;
        summary.lock().unwrap_or_else(|p| p.into_inner()).fetched += bytes.len() as u64;
        let plain = object::open_chunks(&header, key, pack.size, first, &bytes)
            .map_err(|e| bad(e.to_string()))?;
        (plain, first * object::CHUNK as u64)
    };
    let at = job
        .ranges
        .iter()
        .map(|r| {
            let start = (u64::from(r.offset) - base) as usize;
            let ok = data
                .get(start..start + r.len as usize)
                .is_some_and(|b| <[u8; 32]>::from(Sha256::digest(b)) == r.sha256);
            (start, ok)
        })
        .collect();
    Ok(Fetched {
        job,
        data: Arc::new(data),
        at,
    })
}

fn not_found(e: StoreError, id: BlobId) -> RestoreError {
    match e {
        StoreError::NotFound { .. } => RestoreError::Read(ReadError::Object {
            what: "object",
            id,
            message: "missing from the store".into(),
        }),
        StoreError::TooLarge { size, limit, .. } => RestoreError::Read(ReadError::Object {
            what: "object",
            id,
            message: format!("{size} bytes where {limit} are listed: altered or replaced"),
        }),
        e @ StoreError::NotRegular { .. } => RestoreError::Read(ReadError::Object {
            what: "object",
            id,
            message: e.to_string(),
        }),
        other => other.into(),
    }
}

/// Bytes of a file: a checked range of a job's data.
struct Piece {
    data: Arc<Vec<u8>>,
    start: usize,
    len: usize,
    ok: bool,
}

/// A file whose chunks continue into the next job.
struct OpenFile {
    entry: Entry,
    file: Option<NewFile>,
    left: usize,
}

struct Writer {
    tree: OutTree,
    open: Option<OpenFile>,
    summary: RestoreSummary,
    overwrite: bool,
}

fn write_piece(
    file: &mut Option<NewFile>,
    e: &Entry,
    p: &Piece,
    counters: &Counters,
) -> Result<(), RestoreError> {
    if !p.ok {
        return Err(RestoreError::Mismatch(e.path.clone()));
    }
    if let Some(f) = file {
        f.write(&p.data[p.start..p.start + p.len])?;
        Counters::add(&counters.bytes, p.len as u64);
    }
    Ok(())
}

/// Writes a file whose chunks are all at hand (on a writer thread).
fn write_whole(
    e: &Entry,
    place: Place,
    pieces: &[Piece],
    overwrite: bool,
    counters: &Counters,
) -> Result<(), RestoreError> {
    let mut f = Some(NewFile::create(place)?);
    for p in pieces {
        write_piece(&mut f, e, p, counters)?;
    }
    f.take().expect("created").commit(e, overwrite)?;
    Counters::add(&counters.files, 1);
    Ok(())
}

impl Writer {
    fn consume(
        &mut self,
        f: Fetched,
        jobs: &crossbeam_channel::Sender<(Entry, Place, Vec<Piece>)>,
        counters: &Counters,
    ) -> Result<(), RestoreError> {
        let mut pieces = f
            .job
            .ranges
            .iter()
            .zip(&f.at)
            .map(|(r, (start, ok))| Piece {
                data: Arc::clone(&f.data),
                start: *start,
                len: r.len as usize,
                ok: *ok,
            });
        // The tail of a file begun in an earlier job.
        if let Some(mut open) = self.open.take() {
            while open.left > 0 {
                let Some(p) = pieces.next() else { break };
                write_piece(&mut open.file, &open.entry, &p, counters)?;
                open.left -= 1;
            }
            if open.left > 0 {
                self.open = Some(open);
            } else {
                self.close(open, counters)?;
            }
        }
        for JobEntry { entry: e, keep } in f.job.entries {
            match e.kind {
                EntryKind::Dir => {
                    self.summary.dirs += 1;
                    self.tree.dir(&e)?;
                }
                EntryKind::Symlink => {
                    self.summary.symlinks += 1;
                    self.tree.symlink(&e)?;
                }
                EntryKind::File => {
                    self.summary.files += 1;
                    let size = e.size.unwrap_or(0);
                    self.summary.bytes += size;
                    if keep {
                        self.summary.kept += 1;
                        Counters::add(&counters.bytes, size);
                        Counters::add(&counters.files, 1);
                        continue;
                    }
                    let place = self.tree.place(&e)?;
                    let n = e.chunks.as_ref().map_or(0, Vec::len);
                    let mine: Vec<Piece> = pieces.by_ref().take(n).collect();
                    if mine.len() == n {
                        let e = Entry { chunks: None, ..e };
                        jobs.send((e, place, mine)).map_err(|_| writers_stopped())?;
                    } else {
                        let mut open = OpenFile {
                            left: n - mine.len(),
                            file: Some(NewFile::create(place)?),
                            entry: Entry { chunks: None, ..e },
                        };
                        for p in &mine {
                            write_piece(&mut open.file, &open.entry, p, counters)?;
                        }
                        self.open = Some(open);
                    }
                }
            }
        }
        if pieces.next().is_some() {
            return Err(ReadError::Manifest("chunks that belong to no file".into()).into());
        }
        Ok(())
    }

    fn close(&mut self, mut open: OpenFile, counters: &Counters) -> Result<(), RestoreError> {
        if let Some(f) = open.file.take() {
            f.commit(&open.entry, self.overwrite)?;
            Counters::add(&counters.files, 1);
        }
        Ok(())
    }
}

/// What the writing stage sees when a writer thread failed: the writer's
/// own error is the one reported.
fn writers_stopped() -> RestoreError {
    RestoreError::Output {
        path: PathBuf::new(),
        source: std::io::Error::other("the writer threads stopped"),
    }
}

//! `seif push`: seal files and directory trees into one snapshot in one or
//! more stores, storing only what no earlier snapshot of this pipeline
//! already holds.
//!
//! The tree is walked in walk order ([`walk`]). A file whose size, times,
//! inode and device match the last snapshot's file list is not read: its
//! chunks are referenced where they lie ([`index`]). Any other file is
//! read, cut into content-defined chunks ([`chunker`]) and hashed on
//! several threads, ahead of its turn ([`read_ahead`]); in its turn, a
//! chunk the chunk index already knows (by a keyed fingerprint of its
//! content) is referenced, a new one is copied into a pack ([`pack`]).
//! Packs are sealed in place and stored on every core; a collector takes
//! them in order, journals each ([`journal`]), and writes the manifest
//! entries waiting on them ([`sink`]). Every earlier object a snapshot
//! references is first made present in every store ([`presence`]). The
//! snapshot's lists are stored, the whole manifest is read back and
//! checked with the reader's own rules, and only then is a record written
//! to each store, chained onto that store's heads ([`commit`]).
//!
//! **Crash safety and resume.** Objects first, lists next, records last:
//! a killed push leaves every store valid (plus unreferenced objects). Run
//! again, it resumes the same snapshot: it walks the tree afresh and
//! reuses the packs the journal names only for chunks whose content it
//! finds again, so the snapshot is the tree as it is at the last run.
//!
//! **Write-only.** The journal holds the unfinished snapshot's data key
//! until the snapshot is complete in the stores; nothing else the pipeline
//! keeps (index, file list, heads) holds a key. A pipeline never holds a
//! key that opens a finished snapshot.

pub mod chunker;
pub mod commit;
pub mod index;
pub mod journal;
pub mod pack;
pub mod presence;
pub mod read_ahead;
pub mod sink;
pub mod state;
pub mod walk;

use std::collections::{HashMap, VecDeque};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};

use self::chunker::Chunker;
use self::commit::{Finished, Heads};
use self::index::{CachedFile, FileList, FileListWriter, Fingerprint, Known};
use self::journal::{Head, Journal, Line, PackLine, Ready, Recorded};
use self::pack::{FileStat, Loc, PACK_ENTRIES, Pack, Pending, PendingChunk};
use self::presence::Presence;
use self::read_ahead::ReadAhead;
use self::sink::ManifestSink;
use self::state::{LocalKeys, StateDir};
use self::walk::{Item, Root, Skipped, Walker};
use super::Counters;
use super::key_envelope::KeyEnvelope;
use super::list::TableBuilder;
use super::manifest::{ChunkRef, Entry, EntryKind, Totals};
use super::object::ObjectError;
use super::read::{self, ReadError};
use super::record::{ListRef, Record, list_key, object_key};
use crate::descriptor::Descriptor;
use crate::encoding::to_hex;
use crate::ids::{BlobId, Commitment, SnapshotId, VaultId};
use crate::sealer::SealerSecretKey;
use crate::secrets::DataKey;
use crate::store::{Store, StoreError};
use crate::workers::{Emit, Next};
use crate::wrap::WrapError;

/// How to push.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Pad packs and manifest parts to Padmé lengths.
    pub pad: bool,
    /// Sealing threads.
    pub threads: usize,
    /// Concurrent uploads.
    pub uploads: usize,
    /// Where the journal, the index and the file list live.
    pub state_dir: PathBuf,
    /// Store everything afresh: ignore the index and the file list.
    pub full: bool,
    /// Read the stored manifest back and check it before the record.
    pub check: bool,
    /// Chain onto a store that no longer holds the last record this
    /// pipeline wrote there (after the operator has looked into it).
    pub accept_rollback: bool,
    /// Bytes (per store) of reused objects a push reads back and hashes,
    /// when they were not checked in `recheck_days` (0: none).
    pub recheck_bytes: u64,
    /// Days after which a reused object is read back again.
    pub recheck_days: u32,
    /// Standard input, stored as one file of this name at the top of the
    /// snapshot (`pg_dump | seif push --stdin-name db.sql`). Read once, in
    /// constant memory; never skipped as unchanged (there is nothing to
    /// compare), and never resumed: a push of a stream that was cut off
    /// stores the next stream whole (objects already stored are reused
    /// only where its chunks hash the same).
    pub stdin_name: Option<String>,
    /// Count the bytes to push before the push, for a progress total (a
    /// stat of every file; off when no progress is shown).
    pub totals: bool,
}

impl PushOptions {
    /// Defaults: every core, four uploads, incremental, checked.
    pub fn new(state_dir: PathBuf) -> Self {
        PushOptions {
            pad: false,
            threads: crate::workers::default_threads(),
            uploads: 4,
            state_dir,
            full: false,
            check: true,
            accept_rollback: false,
            recheck_bytes: 1 << 30,
            recheck_days: presence::RECHECK_DAYS,
            stdin_name: None,
            totals: true,
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
#[derive(Debug, Default)]
pub struct PushSummary {
    /// The snapshot.
    pub snapshot_id: Option<SnapshotId>,
    /// The record written to each store.
    pub records: Vec<(String, Record)>,
    /// The manifest's totals.
    pub totals: Totals,
    /// Objects stored by this run (per store).
    pub uploaded_objects: u64,
    /// Bytes stored by this run (per store).
    pub uploaded_bytes: u64,
    /// Content bytes referenced from earlier snapshots, not stored again.
    pub reused_bytes: u64,
    /// Files not read because they had not changed.
    pub unchanged_files: u64,
    /// Packs taken over from an interrupted run.
    pub resumed_packs: u64,
    /// Objects copied to a store that lacked them.
    pub copied_objects: u64,
    /// An interrupted push's snapshot that this run finished first.
    pub finished_interrupted: Option<SnapshotId>,
    /// Entries left out (sockets, devices, vanished files), with why.
    pub skipped: Vec<String>,
    /// Why the index or file list was set aside, if it was.
    pub set_aside: Vec<String>,
    /// Reused objects found damaged or swapped in a store (and so not
    /// reused from there).
    pub damaged: Vec<String>,
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
    #[error("{}: the name is not UTF-8; rename it (snapshot paths are UTF-8)", crate::untrusted::escape_bytes(.0.as_os_str().as_encoded_bytes()))]
    NotUtf8(PathBuf),
    /// A path, name or link the format cannot hold.
    #[error("{}: {why}; nothing was stored", crate::untrusted::escape_bytes(.path.as_os_str().as_encoded_bytes()))]
    Unrepresentable {
        /// The path.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Two arguments with one name.
    #[error(
        "two paths to push are both named '{0}'; push them in separate snapshots or rename one"
    )]
    DuplicateRoot(String),
    /// The vault does not accept the sealer.
    #[error("the vault does not accept the sealer {0}")]
    SealerNotAccepted(String),
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
    /// The state directory or a file in it could not be used.
    #[error("{path}: {message}")]
    State {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The data key could not be wrapped.
    #[error(transparent)]
    Wrap(#[from] WrapError),
    /// Sealing failed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// What was stored does not read back.
    #[error("the snapshot as stored does not read back: {0}")]
    Check(ReadError),
    /// A store no longer holds the last record this pipeline wrote there.
    #[error(
        "{store} no longer holds record {head}, which this pipeline wrote there: the store was rolled back, or records were deleted"
    )]
    Rollback {
        /// The store.
        store: String,
        /// The record it lacks.
        head: BlobId,
    },
    /// The store holds a newer `vault.json` than the pipeline's (or a
    /// fork of its revision).
    #[error("{0}")]
    StaleVault(String),
    /// Objects the snapshot needs vanished from a store during the push (a
    /// prune, or the host): nothing was recorded there.
    #[error("{store}: {} this snapshot needs vanished during the push (a prune, or the host deleted them): nothing was recorded there; run the push again, and it stores them afresh", .missing.join(", "))]
    Vanished {
        /// The store.
        store: String,
        /// What is missing.
        missing: Vec<String>,
    },
    /// Some stores have the snapshot, some failed.
    #[error("{} of {} stores failed: {}", .failed.len(), .failed.len() + .done.len(), .failed.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; "))]
    Stores {
        /// The snapshot's records where it was recorded.
        done: Vec<(String, Record)>,
        /// The stores that failed, with why.
        failed: Vec<(String, PushError)>,
    },
}

impl PushError {
    /// An input error for `path`.
    pub fn input(path: &Path, source: std::io::Error) -> Self {
        PushError::Input {
            path: path.to_owned(),
            source,
        }
    }
}

fn put_all(stores: &[Box<dyn Store>], key: &str, bytes: &[u8]) -> Result<(), StoreError> {
    for s in stores {
        s.put(key, bytes)?;
    }
    Ok(())
}

/// Everything fixed about one push.
struct Plan<'a> {
    vault: &'a Descriptor,
    vault_id: VaultId,
    sealer: &'a SealerSecretKey,
    stores: &'a [Box<dyn Store>],
    options: &'a PushOptions,
    state: StateDir,
    keys: LocalKeys,
    roots: Vec<Root>,
    paths: Vec<String>,
    journal_name: String,
    files_name: String,
}

impl Plan<'_> {
    fn store_names(&self) -> Vec<String> {
        self.stores.iter().map(|s| s.describe()).collect()
    }

    fn head(
        &self,
        snapshot_id: SnapshotId,
        commitment: Commitment,
        envelope: String,
        key: Option<&DataKey>,
    ) -> Head {
        Head {
            journal: "seif-push-journal/2".into(),
            vault_id: self.vault_id,
            sealer: self.sealer.public_classic().to_string(),
            stores: self.store_names(),
            paths: self.paths.clone(),
            pad: self.options.pad,
            snapshot_id,
            commitment,
            envelope,
            data_key: key.map(|k| zeroize::Zeroizing::new(to_hex(k.expose())).to_string()),
        }
    }
}

/// Removes every journal in the state directory (`seif push --abandon`);
/// returns their names.
pub fn abandon(state_dir: &Path) -> Result<Vec<String>, PushError> {
    journal::abandon_all(&StateDir::open(state_dir)?)
}

/// Stores that could not be reached, each named, with why.
pub type Unreachable = Vec<(String, StoreError)>;

/// Sets aside the stores that cannot be reached now (listing them fails),
/// so that a push to several stores goes on to the others rather than
/// stopping for one host that is down: returns the reachable stores, and
/// the others with why. The caller reports the others as failed (a push
/// that skipped a store must not end in success), and the store lagging
/// behind is brought level later by `seif sync` or by pushing again.
pub fn reachable(stores: Vec<Box<dyn Store>>) -> (Vec<Box<dyn Store>>, Unreachable) {
    let mut ok = Vec::new();
    let mut down = Vec::new();
    for s in stores {
        match s.list(crate::snapshot::vault_copies::PREFIX) {
            Ok(_) => ok.push(s),
            Err(e) => down.push((s.describe(), e)),
        }
    }
    (ok, down)
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
    let me = sealer.public();
    if vault.listed_as(&me).is_none() {
        return Err(PushError::SealerNotAccepted(me.to_string()));
    }
    // A store that saw a newer vault.json refuses this one (read only: a
    // push refused later must not leave an empty store behind).
    let mut unpublished = Vec::new();
    for s in stores {
        let standing = crate::snapshot::vault_copies::standing(s.as_ref(), vault)?;
        if let Some(why) = crate::snapshot::vault_copies::refusal(s.as_ref(), vault, &standing) {
            return Err(PushError::StaleVault(why));
        }
        unpublished.push(!standing.held);
    }
    let roots = walk::roots(paths, options.stdin_name.as_deref())?;
    let abs: Vec<String> = roots
        .iter()
        .map(|r| {
            if r.stream {
                return format!("{}:{}", walk::STDIN_LABEL, r.name);
            }
            std::path::absolute(&r.fs_path)
                .unwrap_or_else(|_| r.fs_path.clone())
                .display()
                .to_string()
        })
        .collect();
    let vault_id = VaultId(vault.vault_id());
    let state = StateDir::open(&options.state_dir)?;
    let keys = LocalKeys::derive(sealer);
    let stores_named: Vec<String> = stores.iter().map(|s| s.describe()).collect();
    let plan = Plan {
        vault,
        vault_id,
        sealer,
        stores,
        options,
        journal_name: Journal::name(
            &vault_id,
            &sealer.public_classic().to_string(),
            &stores_named,
            &abs,
        ),
        files_name: index::files_name(&vault_id, &sealer.public_classic(), &abs),
        state,
        keys,
        roots,
        paths: abs,
    };
    let mut summary = PushSummary::default();
    let mut heads = Heads::load(&plan.state, &plan.keys, &vault_id, &sealer.public_classic())?;

    // An interrupted push of these paths: finish it, or resume it.
    let expect = plan.head(
        SnapshotId([0; 16]),
        Commitment([0; 32]),
        String::new(),
        None,
    );
    let mut resumed = Journal::load(&plan.state, &plan.keys, &plan.journal_name, &expect)?;
    if let Some(l) = resumed.take_if(|l| l.ready.is_some()) {
        let ready = l.ready.clone().expect("ready");
        let finished = Finished {
            snapshot_id: l.head.snapshot_id,
            commitment: l.head.commitment,
            ready: &ready,
        };
        let journal = Journal::write(
            &plan.state,
            &plan.keys,
            &plan.journal_name,
            &l.head,
            &journal_lines(&l),
        )?;
        let records = commit_all(&plan, &mut heads, journal, &finished, &l.recorded)?;
        let mut known = load_known(&plan, &mut summary)?;
        let cur = known.snapshot(l.head.snapshot_id, l.head.commitment);
        for p in &l.packs {
            add_pack(&mut known, cur, p.id, p.size, p.fingerprints());
        }
        finish_local(&plan, &mut known, None)?;
        summary.finished_interrupted = Some(l.head.snapshot_id);
        drop(records);
    }

    // Check every name before anything is stored; count for progress.
    let pre = walk::prescan(&plan.roots, options.totals)?;
    Counters::add(&counters.total_bytes, pre.bytes);
    Counters::add(&counters.total_files, pre.files);

    let mut presence =
        Presence::scan(stores)?.with_recheck(options.recheck_bytes, options.recheck_days);
    let mut known = if options.full {
        Known::default()
    } else {
        load_known(&plan, &mut summary)?
    };

    // The snapshot: the interrupted one's, or a fresh one.
    let (snapshot_id, key, envelope, kept) = match resumed {
        Some(l) => {
            let key = l.key().ok_or_else(|| PushError::Journal {
                path: plan.state.file(&plan.journal_name),
                message: "it holds no data key".into(),
            })?;
            let envelope =
                KeyEnvelope::parse(l.head.envelope.as_bytes()).map_err(|m| PushError::Journal {
                    path: plan.state.file(&plan.journal_name),
                    message: m,
                })?;
            (l.head.snapshot_id, key, envelope, l.packs.clone())
        }
        None => {
            let key = DataKey::generate();
            let snapshot_id = SnapshotId::random();
            if vault.require_pq()
                && !crate::wrap::parse_recipients(&vault.body().recipients)?
                    .iter()
                    .all(crate::wrap::Recipient::is_pq)
            {
                return Err(crate::wrap::WrapError::ClassicRecipient.into());
            }
            let envelope = KeyEnvelope::wrap(
                &key,
                vault_id,
                snapshot_id,
                vault.body().generation,
                &vault.body().recipients,
            )?;
            (snapshot_id, key, envelope, Vec::new())
        }
    };
    let commitment = envelope.commitment;
    let envelope_text = String::from_utf8(envelope.to_bytes()).expect("canonical JSON is UTF-8");
    let head = plan.head(snapshot_id, commitment, envelope_text, Some(&key));
    let kept_lines: Vec<Line> = kept.iter().cloned().map(Line::Pack).collect();
    let journal = Journal::write(
        &plan.state,
        &plan.keys,
        &plan.journal_name,
        &head,
        &kept_lines,
    )?;
    summary.snapshot_id = Some(snapshot_id);
    summary.resumed_packs = kept.len() as u64;

    // The vault.json this push follows, for hosts to judge by; then the
    // key envelope: a record must never exist without its key.
    for (s, _) in stores.iter().zip(&unpublished).filter(|(_, u)| **u) {
        crate::snapshot::vault_copies::publish(s.as_ref(), vault)?;
    }
    put_all(stores, &envelope.store_key(), &envelope.to_bytes())?;
    presence.envelope_stored(snapshot_id, envelope.store_key());
    let me = known.snapshot(snapshot_id, commitment);
    for p in &kept {
        add_pack(&mut known, me, p.id, p.size, p.fingerprints());
    }
    known.sort();

    let files = if options.full {
        FileList::none()
    } else {
        FileList::open(
            &plan.state,
            &plan.keys,
            &plan.files_name,
            &vault_id,
            &sealer.public_classic(),
            &plan.paths,
        )?
    };
    if let Some(why) = &files.set_aside {
        summary.set_aside.push(format!(
            "the file list {}: {why}; every file is read",
            plan.state.file(&plan.files_name).display()
        ));
    }
    let files_out = FileListWriter::create(
        &plan.state,
        &plan.keys,
        &plan.files_name,
        &vault_id,
        &sealer.public_classic(),
        &plan.paths,
        snapshot_id,
    )?;

    let run = Run {
        plan: &plan,
        snapshot_id,
        commitment,
        key: &key,
        counters,
    };
    let outcome = run.pack_and_store(&known, presence, files, files_out, journal)?;
    summary.totals = outcome.totals;
    summary.uploaded_objects = outcome.uploaded.0;
    summary.uploaded_bytes = outcome.uploaded.1;
    summary.reused_bytes = outcome.reused_bytes;
    summary.unchanged_files = outcome.unchanged;
    summary.copied_objects = outcome.copied;
    summary.damaged = outcome
        .presence
        .damaged
        .iter()
        .map(|(s, id)| format!("{s}: object {id} does not hash to its name; its chunks were stored afresh (run `seif verify` there)"))
        .collect();
    summary.skipped = outcome.skipped;

    // Complete in every store: the journal forgets the key.
    let ready = outcome.ready;
    let head = plan.head(snapshot_id, commitment, head.envelope.clone(), None);
    drop(key);
    crate::killpoint::reached("push-before-ready");
    let journal = mark_ready(&plan, &head, &ready)?;
    crate::killpoint::reached("push-ready");
    let finished = Finished {
        snapshot_id,
        commitment,
        ready: &ready,
    };
    summary.records = commit_all(&plan, &mut heads, journal, &finished, &[])?;
    let today = outcome.presence.today();
    for (id, size, chunks) in &outcome.new_packs {
        add_pack(&mut known, me, *id, *size, chunks.iter().copied());
        let i = known.object_index(id).expect("just added");
        known.mark_checked(i, today);
    }
    for &i in &outcome.presence.rechecked {
        let o = known.objects[i as usize];
        if outcome.presence.everywhere(&o.id, o.size) {
            known.mark_checked(i, today);
        }
    }
    finish_local(&plan, &mut known, Some(&outcome.presence))?;
    Ok(summary)
}

/// The lines of a loaded journal, to write it again.
fn journal_lines(l: &journal::Loaded) -> Vec<Line> {
    let mut lines: Vec<Line> = l.packs.iter().cloned().map(Line::Pack).collect();
    if let Some(r) = &l.ready {
        lines.push(Line::Ready(r.clone()));
    }
    lines.extend(l.recorded.iter().cloned().map(Line::Recorded));
    lines
}

/// Rewrites the journal as ready: the same lines, without the data key.
fn mark_ready(plan: &Plan<'_>, head: &Head, ready: &Ready) -> Result<Journal, PushError> {
    let loaded = Journal::load(plan.state_ref(), &plan.keys, &plan.journal_name, head)?
        .ok_or_else(|| PushError::Journal {
            path: plan.state.file(&plan.journal_name),
            message: "it vanished during the push".into(),
        })?;
    let mut lines = journal_lines(&loaded);
    lines.push(Line::Ready(ready.clone()));
    Journal::write(&plan.state, &plan.keys, &plan.journal_name, head, &lines)
}

impl Plan<'_> {
    fn state_ref(&self) -> &StateDir {
        &self.state
    }
}

fn load_known(plan: &Plan<'_>, summary: &mut PushSummary) -> Result<Known, PushError> {
    match Known::load(
        &plan.state,
        &plan.keys,
        &plan.vault_id,
        &plan.sealer.public_classic(),
    )? {
        None => Ok(Known::default()),
        Some(Ok(k)) => Ok(k),
        Some(Err(why)) => {
            summary.set_aside.push(format!(
                "the chunk index {}: {why}; set aside, this push stores afresh",
                plan.state
                    .file(&Known::file_name(
                        &plan.vault_id,
                        &plan.sealer.public_classic()
                    ))
                    .display()
            ));
            Ok(Known::default())
        }
    }
}

fn add_pack(
    known: &mut Known,
    snapshot: u32,
    id: BlobId,
    size: u64,
    chunks: impl Iterator<Item = (Fingerprint, u32, u32)>,
) {
    let object = known.object(id, size, snapshot);
    for (fp, offset, len) in chunks {
        known.add_chunk(index::ChunkLoc {
            fp,
            object,
            offset,
            len,
        });
    }
}

/// Writes the snapshot's record to every store. All or the journal stays
/// (and the next run writes the missing ones).
fn commit_all(
    plan: &Plan<'_>,
    heads: &mut Heads,
    mut journal: Journal,
    f: &Finished<'_>,
    already: &[Recorded],
) -> Result<Vec<(String, Record)>, PushError> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for s in plan.stores {
        let name = s.describe();
        let outcome = commit::record_in(
            s.as_ref(),
            plan.vault,
            plan.sealer,
            f,
            heads.get(&name),
            plan.options.accept_rollback,
        );
        match outcome {
            Ok(r) => {
                if !already
                    .iter()
                    .any(|a| a.store == name && a.record == r.hash)
                {
                    journal.append(
                        &plan.state,
                        &Line::Recorded(Recorded {
                            store: name.clone(),
                            record: r.hash,
                        }),
                    )?;
                }
                heads.set(&plan.state, &plan.keys, &name, r.hash)?;
                done.push((name, r));
            }
            Err(e) => failed.push((name, e)),
        }
    }
    if !failed.is_empty() {
        // A store that lost what the snapshot needs will never take its
        // record: the next run starts a fresh snapshot (and stores afresh
        // what is missing) instead of trying this one again.
        if failed
            .iter()
            .any(|(_, e)| matches!(e, PushError::Vanished { .. }))
        {
            journal.remove(&plan.state)?;
        }
        if done.is_empty() && failed.len() == 1 {
            return Err(failed.pop().expect("one").1);
        }
        return Err(PushError::Stores { done, failed });
    }
    journal.remove(&plan.state)?;
    Ok(done)
}

/// After the records: the index learns the new packs (keeping what some
/// store still holds: a store that lacks it can be given a copy; what none
/// holds is forgotten), and the file list takes its new place.
fn finish_local(
    plan: &Plan<'_>,
    known: &mut Known,
    presence: Option<&Presence>,
) -> Result<(), PushError> {
    known.sort();
    let keep = |obj: u32| {
        let o = known.objects[obj as usize];
        presence.is_none_or(|p| p.anywhere(&o.id, o.size))
    };
    known.save(
        &plan.state,
        &plan.keys,
        &plan.vault_id,
        &plan.sealer.public_classic(),
        keep,
    )?;
    crate::killpoint::reached("push-index-saved");
    index::install(&plan.state, &plan.files_name)
}

/// One run of the pack-and-store pipeline.
struct Run<'a> {
    plan: &'a Plan<'a>,
    snapshot_id: SnapshotId,
    commitment: Commitment,
    key: &'a DataKey,
    counters: &'a Counters,
}

/// What the pipeline did.
struct Outcome {
    totals: Totals,
    uploaded: (u64, u64),
    reused_bytes: u64,
    unchanged: u64,
    copied: u64,
    skipped: Skipped,
    ready: Ready,
    new_packs: Vec<NewPack>,
    presence: Presence,
}

/// A sealed, stored pack (or a pack with no data, carrying entries).
struct Stored {
    pack: Pack,
    object: Option<(BlobId, u64)>,
}

impl Run<'_> {
    fn pack_and_store(
        &self,
        known: &Known,
        presence: Presence,
        files: FileList,
        files_out: FileListWriter,
        journal: Journal,
    ) -> Result<Outcome, PushError> {
        let plan = self.plan;
        let stores = plan.stores;
        let threads = plan.options.threads.max(1);
        let uploads = plan.options.uploads.max(1);
        let in_flight = threads + uploads + 2;
        let (pool_tx, pool_rx) = bounded::<Vec<u8>>(in_flight + 2);
        for _ in 0..in_flight + 2 {
            pool_tx.send(Pack::new_buffer()).expect("room");
        }
        let mut walker = Packer {
            plan,
            known,
            presence,
            files,
            run_new: HashMap::new(),
            skipped: Vec::new(),
            counters: self.counters,
            since: crate::time::unix_now() - 2,
            reused_bytes: 0,
            unchanged: 0,
        };
        let mut collector = Collector {
            plan,
            known,
            me: self.snapshot_id,
            commitment: self.commitment,
            journal,
            sink: ManifestSink::new(
                stores,
                self.key,
                plan.vault_id.0,
                self.snapshot_id,
                plan.options.pad,
            ),
            tables: TableBuilder::new(self.snapshot_id),
            files: files_out,
            collected: HashMap::new(),
            new_packs: Vec::new(),
            uploaded: (0, 0),
            pool: pool_tx,
        };
        let vault_raw = plan.vault_id.0;
        let (key, snapshot, pad, counters) =
            (self.key, self.snapshot_id, plan.options.pad, self.counters);
        crate::workers::ordered(
            threads + uploads,
            in_flight,
            |emit| walker.walk(emit, &pool_rx),
            |mut pack: Pack| -> Result<Stored, PushError> {
                if pack.plain == 0 {
                    return Ok(Stored { pack, object: None });
                }
                let len = pack.seal(vault_raw, snapshot, key, pad)?;
                let id = BlobId::of(&pack.buf[..len]);
                put_all(stores, &object_key(&id), &pack.buf[..len])?;
                crate::killpoint::reached("push-pack-stored");
                Counters::add(&counters.objects, 1);
                Ok(Stored {
                    pack,
                    object: Some((id, len as u64)),
                })
            },
            |s| collector.collect(s),
        )?;
        let Collector {
            journal,
            sink,
            tables,
            files,
            new_packs,
            uploaded,
            ..
        } = collector;
        let (parts, totals, part_uploads) = sink.finish()?;
        files.finish()?;
        let tables = tables.finish(parts);
        let mut presence = walker.presence;
        for p in &tables.packs {
            if p.snapshot == snapshot {
                presence.stored(p.id, p.size);
            }
        }
        let lists = tables.clone().into_lists(snapshot);
        let mut refs = Vec::new();
        let mut list_bytes = 0;
        for l in &lists {
            let (bytes, id) = l.encode();
            put_all(stores, &list_key(&id), &bytes)?;
            list_bytes += bytes.len() as u64;
            refs.push(ListRef {
                id,
                size: bytes.len() as u64,
            });
        }
        crate::killpoint::reached("push-lists-stored");
        if plan.options.check {
            self.check_written(&refs, &tables, &presence)?;
        }
        drop(journal);
        Ok(Outcome {
            totals,
            uploaded: (
                uploaded.0 + part_uploads.0 + refs.len() as u64,
                uploaded.1 + part_uploads.1 + list_bytes,
            ),
            reused_bytes: walker.reused_bytes,
            unchanged: walker.unchanged,
            copied: presence.copied,
            skipped: walker.skipped,
            ready: Ready {
                summary: read::summary_of(snapshot, &tables),
                lists: refs,
                time: crate::time::now_rfc3339(),
            },
            new_packs,
            presence,
        })
    }

    /// Reads the snapshot back as a restore will: the lists from every
    /// store, put together; every object they name in every store with its
    /// size, and a key envelope for every snapshot whose key it needs; and
    /// from the first store the whole manifest, decrypted and checked line
    /// by line against the tables.
    fn check_written(
        &self,
        refs: &[ListRef],
        tables: &super::list::Tables,
        presence: &Presence,
    ) -> Result<(), PushError> {
        let check = PushError::Check;
        for s in self.plan.stores {
            let back = read::read_lists(s.as_ref(), self.snapshot_id, refs).map_err(check)?;
            if back != *tables {
                return Err(check(ReadError::Lists(
                    "they read back differently from what was written".into(),
                )));
            }
            let missing = commit::missing_in(s.as_ref(), self.snapshot_id, tables)?;
            if !missing.is_empty() {
                return Err(PushError::Vanished {
                    store: s.describe(),
                    missing,
                });
            }
        }
        let _ = presence;
        read::check_manifest(
            self.plan.stores[0].as_ref(),
            self.plan.vault_id,
            self.snapshot_id,
            tables,
            self.key,
            |_| Ok(()),
        )
        .map_err(check)?;
        Ok(())
    }
}

/// The walk and the packing, on the producer's thread.
struct Packer<'a> {
    plan: &'a Plan<'a>,
    known: &'a Known,
    presence: Presence,
    files: FileList,
    /// New chunks of this run: fingerprint → (pack, offset).
    run_new: HashMap<Fingerprint, (u32, u32)>,
    skipped: Skipped,
    counters: &'a Counters,
    /// Files modified after this (seconds) are not trusted by the next
    /// push's metadata comparison: they may change again within the same
    /// clock tick.
    since: i64,
    reused_bytes: u64,
    unchanged: u64,
}

/// Walked items waiting for their turn to be placed, at most: how far the
/// walk may run ahead of the placing to find files for the readers (more
/// than [`read_ahead::files_ahead`] of 2 to 4 readers, so that the walk
/// can queue that many).
const WALK_AHEAD: usize = 1024;

/// A walked item, waiting for its turn to be placed.
enum Walked {
    /// Ready as it is: a directory, a symlink.
    Ready(Pending),
    /// A file unchanged since the last push: its chunks where they lie.
    Unchanged(Pending),
    /// A file given to the readers.
    Reading(String),
    /// Standard input, read here in its turn.
    Stream(Item),
    /// Left out, with why.
    Skipped(String),
    /// The walk failed here.
    Failed(PushError),
}

fn mtime_ns(m: &Metadata) -> i128 {
    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
}

fn ctime_ns(m: &Metadata) -> i128 {
    i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec())
}

fn stat_of(m: &Metadata, size: u64) -> FileStat {
    FileStat {
        size,
        mtime_ns: mtime_ns(m),
        ctime_ns: ctime_ns(m),
        ino: m.ino(),
        dev: m.dev(),
    }
}

fn file_entry(rel: &str, mode: u32, mtime: i64, size: u64) -> Entry {
    Entry {
        path: rel.to_owned(),
        kind: EntryKind::File,
        mode,
        mtime,
        size: Some(size),
        chunks: None,
        target: None,
    }
}

impl Packer<'_> {
    /// Walks the tree and places every item in walk order; the files to
    /// read are read on the readers' threads, ahead ([`read_ahead`]).
    fn walk(
        &mut self,
        emit: &mut Emit<'_, Pack>,
        pool: &Receiver<Vec<u8>>,
    ) -> Result<(), PushError> {
        let (plan, readers) = (self.plan, self.plan.options.threads.max(1));
        let chunker = Chunker::new(&plan.keys.gear);
        let spare = read_ahead::Spare::new(readers);
        crate::workers::in_order(
            readers,
            read_ahead::files_ahead(readers),
            |file, out| read_ahead::read_file(file, &chunker, &plan.keys, &spare, out),
            |queue| {
                let mut reads = ReadAhead::new(queue, readers, &chunker, &plan.keys, &spare);
                self.place_all(&mut reads, emit, pool)
            },
        )
    }

    fn place_all(
        &mut self,
        reads: &mut ReadAhead<'_>,
        emit: &mut Emit<'_, Pack>,
        pool: &Receiver<Vec<u8>>,
    ) -> Result<(), PushError> {
        let mut next_seq = 0u32;
        let Some(buf) = take_buffer(emit, pool) else {
            return Ok(());
        };
        let mut pack = Pack::new(next_seq, buf);
        next_seq += 1;
        let mut walker = Some(Walker::new(&self.plan.roots));
        let mut ahead: VecDeque<Walked> = VecDeque::new();
        loop {
            // Walk ahead while the readers can take more.
            while let Some(w) = walker.as_mut()
                && ahead.len() < WALK_AHEAD
                && reads.wants_more()
            {
                // Notes in their place in walk order, as errors are.
                let mut notes = Vec::new();
                let next = w.next(&mut notes);
                ahead.extend(notes.into_iter().map(Walked::Skipped));
                let walked = match next {
                    Ok(Some(item)) => self.walked(item, reads),
                    Ok(None) => {
                        walker = None;
                        break;
                    }
                    Err(e) => Walked::Failed(e),
                };
                if matches!(walked, Walked::Failed(_)) {
                    walker = None;
                }
                ahead.push_back(walked);
            }
            let Some(walked) = ahead.pop_front() else {
                break;
            };
            let pending = match walked {
                Walked::Ready(p) => p,
                Walked::Unchanged(p) => {
                    let size = p.entry.size.unwrap_or(0);
                    self.unchanged += 1;
                    self.reused_bytes += size;
                    Counters::add(&self.counters.files, 1);
                    Counters::add(&self.counters.bytes, size);
                    p
                }
                Walked::Reading(rel) => {
                    let read =
                        self.read_in_turn(&rel, reads, &mut pack, &mut next_seq, emit, pool)?;
                    match read {
                        FileOutcome::Done(p) => *p,
                        FileOutcome::Skip => continue,
                        FileOutcome::Stopped => return Ok(()),
                    }
                }
                Walked::Stream(item) => {
                    match self.stream(&item, reads, &mut pack, &mut next_seq, emit, pool)? {
                        FileOutcome::Done(p) => *p,
                        FileOutcome::Skip => continue,
                        FileOutcome::Stopped => return Ok(()),
                    }
                }
                Walked::Skipped(why) => {
                    self.skipped.push(why);
                    continue;
                }
                Walked::Failed(e) => return Err(e),
            };
            pack.entries.push(pending);
            if pack.entries.len() >= PACK_ENTRIES && !cut(&mut pack, &mut next_seq, emit, pool) {
                return Ok(());
            }
        }
        if pack.plain > 0 || !pack.entries.is_empty() {
            emit.send(pack);
        }
        Ok(())
    }

    /// What a walked item needs before its turn. A file to read goes to the
    /// readers now; an unchanged one is decided here, so it is never read.
    fn walked(&mut self, item: Item, reads: &mut ReadAhead<'_>) -> Walked {
        let ft = item.meta.file_type();
        let base = Entry {
            path: item.rel.clone(),
            kind: EntryKind::Dir,
            mode: item.meta.mode() & 0o7777,
            mtime: item.meta.mtime(),
            size: None,
            chunks: None,
            target: None,
        };
        if item.stream {
            Walked::Stream(item)
        } else if ft.is_dir() {
            Walked::Ready(Pending {
                entry: base,
                chunks: Vec::new(),
                stat: None,
            })
        } else if ft.is_symlink() {
            match walk::link_target(&item) {
                Ok(target) => Walked::Ready(Pending {
                    entry: Entry {
                        kind: EntryKind::Symlink,
                        target: Some(target),
                        ..base
                    },
                    chunks: Vec::new(),
                    stat: None,
                }),
                Err(e) => Walked::Failed(e),
            }
        } else if ft.is_file() {
            match self.unchanged(&item) {
                Ok(Some(chunks)) => {
                    let size = item.meta.len();
                    let (mode, mtime) = (item.meta.mode() & 0o7777, item.meta.mtime());
                    Walked::Unchanged(Pending {
                        entry: file_entry(&item.rel, mode, mtime, size),
                        chunks,
                        stat: Some(stat_of(&item.meta, size)),
                    })
                }
                Ok(None) => {
                    reads.give(item.fs_path, item.meta.len());
                    Walked::Reading(item.rel)
                }
                Err(e) => Walked::Failed(e),
            }
        } else {
            Walked::Skipped(format!(
                "{}: not a regular file, directory or symlink",
                item.fs_path.display()
            ))
        }
    }

    /// The chunks of an unchanged file, from the last snapshot's file list,
    /// if every object they lie in can be referenced.
    fn unchanged(&mut self, item: &Item) -> Result<Option<Vec<PendingChunk>>, PushError> {
        let Some(c) = self.files.find(&item.rel) else {
            return Ok(None);
        };
        let m = &item.meta;
        if c.size != m.len()
            || c.mtime_ns != mtime_ns(m)
            || c.ctime_ns != ctime_ns(m)
            || c.ino != m.ino()
            || c.dev != m.dev()
        {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(c.chunks.len());
        let mut total = 0u64;
        for (id, offset, len, sha) in &c.chunks {
            let Some(object) = self.known.object_index(id) else {
                return Ok(None);
            };
            let Ok(sha256) = crate::encoding::from_hex::<32>(sha) else {
                return Ok(None);
            };
            let o = self.known.objects[object as usize];
            let plain = super::object::plain_len(o.size).unwrap_or(0);
            if u64::from(*offset) + u64::from(*len) > plain
                || !self.presence.usable(self.plan.stores, self.known, object)?
            {
                return Ok(None);
            }
            total += u64::from(*len);
            out.push(PendingChunk {
                loc: Loc::Stored {
                    object,
                    offset: *offset,
                },
                len: *len,
                sha256,
            });
        }
        Ok((total == c.size).then_some(out))
    }

    /// A file read ahead, in its turn: places its pieces as its reader
    /// hands them over.
    fn read_in_turn(
        &mut self,
        rel: &str,
        reads: &mut ReadAhead<'_>,
        pack: &mut Pack,
        next_seq: &mut u32,
        emit: &mut Emit<'_, Pack>,
        pool: &Receiver<Vec<u8>>,
    ) -> Result<FileOutcome, PushError> {
        let mut chunks = Vec::new();
        let mut size = 0u64;
        loop {
            let (piece, opened) = match reads.recv() {
                Next::Item(read_ahead::Read::Piece(p)) => (p, None),
                Next::Item(read_ahead::Read::Last(p, opened)) => (p, Some(opened)),
                Next::Item(read_ahead::Read::Skipped(why)) => {
                    reads.done();
                    self.skipped.push(why);
                    return Ok(FileOutcome::Skip);
                }
                Next::Failed(e) => return Err(e),
                // Its reader stopped short (it panicked: the panic is
                // resumed once the readers are joined). Never taken for
                // the end of the file: that would store it truncated.
                Next::Ended => {
                    return Err(PushError::input(
                        Path::new(rel),
                        std::io::Error::other("its reader stopped before the end"),
                    ));
                }
            };
            let placed = self.place(&piece, &mut chunks, &mut size, pack, next_seq, emit, pool)?;
            reads.recycle(piece);
            if !placed {
                return Ok(FileOutcome::Stopped);
            }
            if let Some(o) = opened {
                reads.done();
                Counters::add(&self.counters.files, 1);
                // Trusted next time only if it did not change while read and
                // is not so recent that it could change again within the
                // same clock tick.
                let stable = size == o.stat.size && o.mtime < self.since && o.ctime < self.since;
                return Ok(FileOutcome::Done(Box::new(Pending {
                    entry: file_entry(rel, o.mode, o.mtime, size),
                    chunks,
                    stat: stable.then_some(o.stat),
                })));
            }
        }
    }

    /// Standard input as one file, read here in its turn: read once, never
    /// skipped as unchanged, never remembered as a file to skip next time.
    fn stream(
        &mut self,
        item: &Item,
        reads: &ReadAhead<'_>,
        pack: &mut Pack,
        next_seq: &mut u32,
        emit: &mut Emit<'_, Pack>,
        pool: &Receiver<Vec<u8>>,
    ) -> Result<FileOutcome, PushError> {
        let mut chunks = Vec::new();
        let mut size = 0u64;
        let input = std::io::stdin().lock();
        let read = reads.read_here(&input, &item.fs_path, |piece| {
            let placed = self.place(&piece, &mut chunks, &mut size, pack, next_seq, emit, pool);
            reads.recycle(piece);
            placed
        })?;
        if !read {
            return Ok(FileOutcome::Stopped);
        }
        Counters::add(&self.counters.files, 1);
        Ok(FileOutcome::Done(Box::new(Pending {
            entry: Entry {
                path: item.rel.clone(),
                kind: EntryKind::File,
                mode: 0o644,
                mtime: crate::time::unix_now(),
                size: Some(size),
                chunks: None,
                target: None,
            },
            chunks,
            stat: None,
        })))
    }

    /// Places a piece's chunks: each one already stored or already placed
    /// by this run where it lies, each new one copied into a pack. `false`
    /// if the run stopped.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        piece: &read_ahead::Piece,
        chunks: &mut Vec<PendingChunk>,
        size: &mut u64,
        pack: &mut Pack,
        next_seq: &mut u32,
        emit: &mut Emit<'_, Pack>,
        pool: &Receiver<Vec<u8>>,
    ) -> Result<bool, PushError> {
        for (c, bytes) in piece.chunks() {
            let loc = if let Some(&(seq, offset)) = self.run_new.get(&c.fp) {
                self.reused_bytes += u64::from(c.len);
                Loc::New { seq, offset }
            } else if let Some(k) = self.known.find(&c.fp).filter(|k| k.len == c.len)
                && self
                    .presence
                    .usable(self.plan.stores, self.known, k.object)?
            {
                self.reused_bytes += u64::from(c.len);
                Loc::Stored {
                    object: k.object,
                    offset: k.offset,
                }
            } else {
                if pack.room() < bytes.len() && !cut(pack, next_seq, emit, pool) {
                    return Ok(false);
                }
                let offset = pack.place(bytes);
                pack.chunks.push((c.fp, offset, c.len));
                self.run_new.insert(c.fp, (pack.seq, offset));
                Loc::New {
                    seq: pack.seq,
                    offset,
                }
            };
            chunks.push(PendingChunk {
                loc,
                len: c.len,
                sha256: c.sha256,
            });
            *size += u64::from(c.len);
            Counters::add(&self.counters.bytes, u64::from(c.len));
        }
        Ok(true)
    }
}

/// A pack stored by this push: its id, size, and the chunks it holds
/// (fingerprint, offset, length) for the index.
type NewPack = (BlobId, u64, Vec<(Fingerprint, u32, u32)>);

enum FileOutcome {
    Done(Box<Pending>),
    Skip,
    Stopped,
}

/// A buffer from the pool, unless the run has stopped.
fn take_buffer(emit: &Emit<'_, Pack>, pool: &Receiver<Vec<u8>>) -> Option<Vec<u8>> {
    loop {
        if emit.stopped() {
            return None;
        }
        match pool.recv_timeout(Duration::from_millis(100)) {
            Ok(b) => return Some(b),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(_) => return None,
        }
    }
}

/// Sends the pack being filled on, and starts the next. `false` if the run
/// has stopped.
fn cut(
    pack: &mut Pack,
    next_seq: &mut u32,
    emit: &mut Emit<'_, Pack>,
    pool: &Receiver<Vec<u8>>,
) -> bool {
    let Some(buf) = take_buffer(emit, pool) else {
        return false;
    };
    let full = std::mem::replace(pack, Pack::new(*next_seq, buf));
    *next_seq += 1;
    emit.send(full)
}

/// Takes stored packs in order: journals each, and writes the manifest
/// entries that waited on it.
struct Collector<'a> {
    plan: &'a Plan<'a>,
    known: &'a Known,
    me: SnapshotId,
    commitment: Commitment,
    journal: Journal,
    sink: ManifestSink<'a>,
    tables: TableBuilder,
    files: FileListWriter,
    collected: HashMap<u32, (BlobId, u64)>,
    new_packs: Vec<NewPack>,
    uploaded: (u64, u64),
    pool: Sender<Vec<u8>>,
}

impl Collector<'_> {
    fn collect(&mut self, s: Stored) -> Result<(), PushError> {
        let Stored { mut pack, object } = s;
        if let Some((id, size)) = object {
            self.collected.insert(pack.seq, (id, size));
            let line = PackLine {
                id,
                size,
                chunks: pack
                    .chunks
                    .iter()
                    .map(|(fp, o, l)| (to_hex(fp), *o, *l))
                    .collect(),
            };
            self.journal.append(&self.plan.state, &Line::Pack(line))?;
            crate::killpoint::reached("push-pack-journaled");
            self.uploaded.0 += 1;
            self.uploaded.1 += size;
            self.new_packs
                .push((id, size, std::mem::take(&mut pack.chunks)));
        }
        for p in std::mem::take(&mut pack.entries) {
            self.resolve(p)?;
        }
        let _ = self.pool.send(pack.buf);
        Ok(())
    }

    fn resolve(&mut self, p: Pending) -> Result<(), PushError> {
        let mut entry = p.entry;
        if entry.kind == EntryKind::File {
            let mut refs = Vec::with_capacity(p.chunks.len());
            let mut cached = Vec::new();
            for c in &p.chunks {
                let (id, size, snapshot, commitment, offset) = match c.loc {
                    Loc::New { seq, offset } => {
                        let (id, size) = self.collected[&seq];
                        (id, size, self.me, self.commitment, offset)
                    }
                    Loc::Stored { object, offset } => {
                        let o = self.known.objects[object as usize];
                        let s = self.known.snapshots[o.snapshot as usize];
                        (o.id, o.size, s.id, s.commitment, offset)
                    }
                };
                let pack = self.tables.pack(id, size, snapshot, commitment);
                refs.push(ChunkRef {
                    pack,
                    offset,
                    len: c.len,
                    sha256: c.sha256,
                });
                if p.stat.is_some() {
                    cached.push((id, offset, c.len, to_hex(&c.sha256)));
                }
            }
            entry.chunks = Some(refs);
            if let Some(st) = p.stat {
                self.files.add(&CachedFile {
                    path: entry.path.clone(),
                    size: st.size,
                    mtime_ns: st.mtime_ns,
                    ctime_ns: st.ctime_ns,
                    ino: st.ino,
                    dev: st.dev,
                    chunks: cached,
                })?;
            }
        }
        self.sink.push(&entry)
    }
}

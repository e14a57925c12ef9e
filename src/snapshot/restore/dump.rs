//! One file of a snapshot, written to a stream (`seif restore --stdout
//! PATH`, restic's `dump`): its chunks fetched in order, each opened under
//! the key of the snapshot that stored it and checked against the hash the
//! manifest gives it before a byte of it is written. Memory holds one
//! chunk (at most 8 MiB), whatever the file's size.
//!
//! A stream has no temporary name to rename: when a chunk fails midway,
//! what was written before it stands, and the caller must say the output
//! is incomplete.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::RestoreError;
use super::paths::Selection;
use crate::snapshot::Counters;
use crate::snapshot::list::Tables;
use crate::snapshot::manifest::{ChunkRef, Entry, EntryKind};
use crate::snapshot::object::{self, HEADER_LEN, Kind, ObjectHeader};
use crate::snapshot::read::{KeyRing, ManifestEntries, ReadError};
use crate::snapshot::record::{Record, object_key};
use crate::store::Store;

/// What a dump wrote.
#[derive(Clone, Debug)]
pub struct Dumped {
    /// The file's entry.
    pub entry: Entry,
    /// Bytes written.
    pub bytes: u64,
}

/// Finds `path` in the snapshot and writes its bytes to `out`. Bytes
/// written so far are counted in `counters.bytes` (also on failure).
pub fn dump(
    store: &dyn Store,
    record: &Record,
    tables: &Tables,
    keys: &KeyRing,
    path: &str,
    out: &mut impl Write,
    counters: &Counters,
) -> Result<Dumped, RestoreError> {
    let entry = find(store, record, tables, keys, path)?;
    match entry.kind {
        EntryKind::File => {}
        EntryKind::Dir => return Err(RestoreError::NotAFile(entry.path, "a directory")),
        EntryKind::Symlink => return Err(RestoreError::NotAFile(entry.path, "a symlink")),
    }
    let mut headers: HashMap<u32, ObjectHeader> = HashMap::new();
    let mut bytes = 0u64;
    for c in entry.chunks.as_deref().unwrap_or(&[]) {
        let plain = chunk(store, record, tables, keys, &mut headers, c)?;
        if <[u8; 32]>::from(Sha256::digest(&plain)) != c.sha256 {
            return Err(RestoreError::Mismatch(entry.path.clone()));
        }
        out.write_all(&plain)
            .map_err(|source| RestoreError::Output {
                path: PathBuf::from("stdout"),
                source,
            })?;
        bytes += plain.len() as u64;
        Counters::add(&counters.bytes, plain.len() as u64);
    }
    out.flush().map_err(|source| RestoreError::Output {
        path: PathBuf::from("stdout"),
        source,
    })?;
    if Some(bytes) != entry.size {
        return Err(RestoreError::Mismatch(entry.path.clone()));
    }
    Ok(Dumped { entry, bytes })
}

/// The entry of `path`, or the paths it most likely meant.
fn find(
    store: &dyn Store,
    record: &Record,
    tables: &Tables,
    keys: &KeyRing,
    path: &str,
) -> Result<Entry, RestoreError> {
    let sid = record.body.snapshot_id;
    let key = keys.get(&sid).ok_or_else(|| ReadError::Key {
        snapshot: sid,
        message: "not unwrapped".into(),
    })?;
    let wanted = path.trim_matches('/');
    let mut selection = Selection::new(&[wanted.to_owned()]);
    for e in ManifestEntries::new(store, record.body.vault_id, sid, tables, key) {
        let e = e?;
        if e.path == wanted {
            return Ok(e);
        }
        selection.takes(&e);
    }
    let mut missing = selection.missing();
    if missing.is_empty() {
        missing.push((wanted.to_owned(), Vec::new()));
    }
    Err(RestoreError::NotFound(missing))
}

/// One chunk's plaintext: only the 64 KiB blocks of its pack that hold it
/// are fetched and opened.
fn chunk(
    store: &dyn Store,
    record: &Record,
    tables: &Tables,
    keys: &KeyRing,
    headers: &mut HashMap<u32, ObjectHeader>,
    c: &ChunkRef,
) -> Result<Vec<u8>, RestoreError> {
    let pack = tables
        .packs
        .get(c.pack as usize)
        .copied()
        .ok_or_else(|| ReadError::Manifest(format!("a chunk names pack {}", c.pack)))?;
    let bad = |m: String| {
        RestoreError::Read(ReadError::Object {
            what: "object",
            id: pack.id,
            message: m,
        })
    };
    let key = keys.get(&pack.snapshot).ok_or_else(|| ReadError::Key {
        snapshot: pack.snapshot,
        message: "not unwrapped".into(),
    })?;
    let header = match headers.get(&c.pack) {
        Some(h) => h.clone(),
        None => {
            let bytes = store
                .get_range(&object_key(&pack.id), 0..HEADER_LEN as u64)
                .map_err(|e| super::not_found(e, pack.id))?;
            let h = object::check_header(
                &bytes,
                Kind::Pack,
                &record.body.vault_id.0,
                &pack.snapshot.0,
            )
            .map_err(|e| bad(e.to_string()))?;
            headers.insert(c.pack, h.clone());
            h
        }
    };
    let from = u64::from(c.offset);
    let to = from + u64::from(c.len);
    let (span, first) = object::chunk_span(pack.size, from..to)
        .ok_or_else(|| bad("a chunk outside the object".into()))?;
    let bytes = store
        .get_range(&object_key(&pack.id), span)
        .map_err(|e| super::not_found(e, pack.id))?;
    let plain = object::open_chunks(&header, key, pack.size, first, &bytes)
        .map_err(|e| bad(e.to_string()))?;
    let start = (from - first * object::CHUNK as u64) as usize;
    plain
        .get(start..start + c.len as usize)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| bad("a chunk outside the blocks fetched".into()))
}

//! `seif check`: the home side's restore drill. For each snapshot, with a
//! key that opens it: its lists put together and matching its record, the
//! key of every snapshot whose packs it reuses unwrapped and matching its
//! commitment, every manifest part decrypted and every line checked with
//! the reader's own rules, every chunk naming a pack that exists with room
//! for it; and, with `--read-data` (or a subset), every chunk fetched,
//! decrypted and hashed. A snapshot that passes restores.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::Counters;
use super::object::{self, Kind};
use super::read::{self, KeySource, ReadError};
use super::record::{Record, object_key};
use super::verify::ReadData;
use crate::store::{Store, StoreError};
use crate::untrusted::escape;

/// What a check found for one snapshot.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Entries in the manifest.
    pub entries: u64,
    /// Files.
    pub files: u64,
    /// Content bytes.
    pub bytes: u64,
    /// Snapshots whose keys it needs (itself and its bases).
    pub keys: usize,
    /// Packs whose chunks were read.
    pub packs_read: usize,
    /// Chunks read and hashed.
    pub chunks_read: u64,
    /// Why it would not restore (escaped), if anything.
    pub problems: Vec<String>,
}

/// A chunk to read: offset and length in its pack, its SHA-256, and a
/// path that names it (for the report).
type ChunkRef = (u32, u32, [u8; 32], String);

/// Checks one snapshot. Store failures are errors; everything the snapshot
/// itself gets wrong is a problem in the report.
pub fn check(
    store: &dyn Store,
    record: &Record,
    source: &dyn KeySource,
    read_data: ReadData,
    threads: usize,
    counters: &Counters,
) -> Result<CheckReport, StoreError> {
    let mut r = CheckReport::default();
    let problem = |r: &mut CheckReport, e: ReadError| -> Result<(), StoreError> {
        match e {
            ReadError::Store(e) => Err(e),
            e => {
                r.problems.push(escape(&e.to_string()).into_owned());
                Ok(())
            }
        }
    };
    let tables = match read::load_tables(store, record) {
        Ok(t) => t,
        Err(e) => {
            problem(&mut r, e)?;
            return Ok(r);
        }
    };
    let keys = match read::unwrap_keys(store, record, &tables, source) {
        Ok(k) => k,
        Err(e) => {
            problem(&mut r, e)?;
            return Ok(r);
        }
    };
    r.keys = keys.len();
    let own = &keys[&record.body.snapshot_id];
    // Chunks to read, by pack.
    let mut by_pack: BTreeMap<u32, Vec<ChunkRef>> = BTreeMap::new();
    let mut budget = match read_data {
        ReadData::Bytes(n) => n,
        _ => 0,
    };
    let picked: Vec<bool> = tables
        .packs
        .iter()
        .map(|p| read_data.picks(&p.id, p.size, &mut budget))
        .collect();
    let totals = read::check_manifest(
        store,
        record.body.vault_id,
        record.body.snapshot_id,
        &tables,
        own,
        |e| {
            for c in e.chunks.as_deref().unwrap_or(&[]) {
                if picked[c.pack as usize] {
                    by_pack.entry(c.pack).or_default().push((
                        c.offset,
                        c.len,
                        c.sha256,
                        e.path.clone(),
                    ));
                }
            }
            Ok(())
        },
    );
    match totals {
        Ok(t) => {
            r.entries = t.entries;
            r.files = t.files;
            r.bytes = t.bytes;
        }
        Err(e) => {
            problem(&mut r, e)?;
            return Ok(r);
        }
    }
    // A chunk named many times (deduplicated data) is read and hashed once.
    let packs: Vec<(u32, Vec<ChunkRef>)> = by_pack
        .into_iter()
        .map(|(p, mut ranges)| {
            ranges.sort_by_key(|r| (r.0, r.1, r.2));
            ranges.dedup_by(|b, a| (a.0, a.1, a.2) == (b.0, b.1, b.2));
            (p, ranges)
        })
        .collect();
    Counters::add(
        &counters.total_bytes,
        packs
            .iter()
            .map(|(p, _)| tables.packs[*p as usize].size)
            .sum(),
    );
    let found = Mutex::new((Vec::new(), 0u64));
    crate::workers::parallel_for(packs.len(), threads.max(1), |i| {
        let (n, ranges) = &packs[i];
        let pack = tables.packs[*n as usize];
        let mut buf = Vec::new();
        let fail = |m: String| {
            found
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .0
                .push(format!("pack {} (object {}): {}", n, pack.id, escape(&m)));
        };
        match store.get_into(&object_key(&pack.id), pack.size, &mut buf) {
            Ok(()) => {}
            Err(StoreError::NotFound { .. }) => {
                fail("missing from the store".into());
                return Ok(());
            }
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                fail(e.to_string());
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        Counters::add(&counters.objects, 1);
        Counters::add(&counters.bytes, buf.len() as u64);
        if buf.len() as u64 != pack.size {
            fail(format!(
                "{} bytes where the lists say {}",
                buf.len(),
                pack.size
            ));
            return Ok(());
        }
        let key = &keys[&pack.snapshot];
        if let Err(e) = object::open_in_place(
            &mut buf,
            Kind::Pack,
            &record.body.vault_id.0,
            &pack.snapshot.0,
            key,
        ) {
            fail(e.to_string());
            return Ok(());
        }
        let mut bad = Vec::new();
        for (offset, len, sha, path) in ranges {
            let ok = buf
                .get(*offset as usize..(*offset + *len) as usize)
                .is_some_and(|b| {
                    <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(b)) == *sha
                });
            if !ok {
                bad.push(format!("{}: a chunk does not match its hash", escape(path)));
            }
        }
        let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
        f.0.extend(bad);
        f.1 += ranges.len() as u64;
        Ok(())
    })?;
    let (problems, chunks) = found.into_inner().unwrap_or_else(|p| p.into_inner());
    r.problems.extend(problems);
    r.packs_read = packs.len();
    r.chunks_read = chunks;
    Ok(r)
}

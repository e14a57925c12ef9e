//! `seif verify`: the host proves, with no key, that it holds every object
//! of every snapshot intact: each record's signature by a sealer the vault
//! accepts, the chain of records unbroken (and, against the head the home
//! side recorded, not rolled back or forked), every object present with the
//! size the record gives and bytes that hash to its name, every object's
//! public header naming its own snapshot, and a wrapped key for each
//! snapshot. Every problem is named.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::Counters;
use super::key_envelope::KeyEnvelope;
use super::object::{self, Kind};
use super::record::{self, Record, object_key};
use crate::descriptor::Descriptor;
use crate::encoding::to_hex;
use crate::store::{Store, StoreError};

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct Report {
    /// Records that verified.
    pub records: usize,
    /// Objects whose bytes were hashed.
    pub objects_checked: usize,
    /// Bytes hashed.
    pub bytes_checked: u64,
    /// The chain's heads.
    pub heads: Vec<String>,
    /// Objects no record names (left by interrupted pushes): harmless.
    pub unreferenced: Vec<String>,
    /// Everything wrong, each naming the object or record.
    pub problems: Vec<String>,
}

/// Verifies a whole store against a vault descriptor.
pub fn verify(
    store: &dyn Store,
    vault: &Descriptor,
    recorded_head: Option<&str>,
    threads: usize,
    counters: &Counters,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let (records, bad) = super::load_records(store)?;
    for (key, why) in bad {
        report.problems.push(format!("record {key}: {why}"));
    }
    let vault_id = &vault.body().vault_id;
    for r in records.values() {
        if &r.body.vault_id != vault_id {
            report.problems.push(format!(
                "record {}: belongs to another vault ({})",
                r.hash, r.body.vault_id
            ));
        } else if !vault.accepts_sealer(&r.sealer) {
            report.problems.push(format!(
                "record {} (snapshot {}): signed by {}, a sealer the vault does not accept",
                r.hash, r.body.snapshot_id, r.body.sealer
            ));
        }
    }
    report.records = records.len();

    // The chain.
    let chain = record::chain(&records);
    for (child, missing) in &chain.broken {
        report.problems.push(format!("record {child} names the previous record {missing}, which the store does not hold: a record was removed from the chain"));
    }
    if chain.roots.len() > 1 {
        report.problems.push(format!(
            "the chain has {} first records ({}): records from another chain, or a forged start",
            chain.roots.len(),
            chain.roots.join(", ")
        ));
    }
    for f in &chain.forks {
        let children: Vec<&str> = records
            .values()
            .filter(|r| r.body.previous.as_deref() == Some(f))
            .map(|r| r.hash.as_str())
            .collect();
        report.problems.push(format!(
            "forked chain: records {} all follow {f}",
            children.join(" and ")
        ));
    }
    report.heads = chain.heads.clone();
    if let Some(h) = recorded_head {
        if !records.contains_key(h) {
            report.problems.push(format!("the recorded head {h} is not in the store: the store was rolled back, or records were deleted"));
        } else {
            for head in &chain.heads {
                if !record::ancestry(&records, head).iter().any(|r| r.hash == h) {
                    report.problems.push(format!("head {head} does not descend from the recorded head {h}: a forked or replayed chain"));
                }
            }
        }
    }

    // The objects: every one referenced must be there, whole, and its own.
    let stored: BTreeMap<String, u64> = store.list("objects/")?.into_iter().collect();
    // Every reference to each object: one object may be named by several
    // records, and each must find its own snapshot in the header.
    let mut wanted: BTreeMap<String, Vec<(u64, Kind, String, String)>> = BTreeMap::new();
    for r in records.values() {
        let sid = &r.body.snapshot_id;
        for (i, o) in r.body.packs.iter().enumerate() {
            wanted.entry(o.key()).or_default().push((
                o.size,
                Kind::Pack,
                sid.clone(),
                format!("pack {i} of snapshot {sid}"),
            ));
        }
        for (i, o) in r.body.manifest.iter().enumerate() {
            wanted.entry(o.key()).or_default().push((
                o.size,
                Kind::Manifest,
                sid.clone(),
                format!("manifest part {i} of snapshot {sid}"),
            ));
        }
    }
    for (key, refs) in &wanted {
        for (size, _, _, what) in refs {
            match stored.get(key) {
                None => report
                    .problems
                    .push(format!("object {} ({what}) is missing", name_of(key))),
                Some(s) if s != size => report.problems.push(format!(
                    "object {} ({what}) has {s} bytes, the record says {size}",
                    name_of(key)
                )),
                Some(_) => {}
            }
        }
    }
    report.unreferenced = stored
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .map(|k| name_of(k).to_owned())
        .collect();
    Counters::add(&counters.total_bytes, stored.values().sum());
    let keys: Vec<&String> = stored.keys().collect();
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    let checked = Mutex::new((0usize, 0u64));
    let failure: Mutex<Option<StoreError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(key) = keys.get(i) else { return };
                    let bytes = match store.get(key) {
                        Ok(b) => b,
                        Err(e) => {
                            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            return;
                        }
                    };
                    let mut found = Vec::new();
                    let name = name_of(key);
                    let refs = wanted.get(*key).map_or(&[][..], Vec::as_slice);
                    if to_hex(&Sha256::digest(&bytes)) != name {
                        let what = refs.first().map_or("unreferenced".to_owned(), |w| w.3.clone());
                        found.push(format!("object {name} ({what}): its bytes do not match its name: altered or replaced"));
                    } else {
                        // Keyless, but the header is public: an object must
                        // name the snapshot that lists it.
                        let header = object::ObjectHeader::decode(&bytes);
                        for (_, kind, snapshot, what) in refs {
                            match &header {
                                Ok(h) if to_hex(&h.snapshot_id) != *snapshot || h.kind != *kind || to_hex(&h.vault_id) != *vault_id => {
                                    found.push(format!("object {name} ({what}): its header names another snapshot, vault or kind"));
                                }
                                Err(e) => found.push(format!("object {name} ({what}): {e}")),
                                Ok(_) => {}
                            }
                        }
                    }
                    Counters::add(&counters.objects, 1);
                    Counters::add(&counters.bytes, bytes.len() as u64);
                    let mut c = checked.lock().unwrap_or_else(|p| p.into_inner());
                    c.0 += 1;
                    c.1 += bytes.len() as u64;
                    drop(c);
                    problems.lock().unwrap_or_else(|p| p.into_inner()).extend(found);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    report
        .problems
        .extend(problems.into_inner().unwrap_or_else(|p| p.into_inner()));
    let (n, b) = checked.into_inner().unwrap_or_else(|p| p.into_inner());
    report.objects_checked = n;
    report.bytes_checked = b;

    // A wrapped key for every snapshot, for the vault's current key
    // generation (a rotation adds one; a store that missed it cannot be
    // opened with the new shares).
    let mut with_key: BTreeSet<(String, String, u32)> = BTreeSet::new();
    for (key, _) in store.list("keys/")? {
        let bytes = store.get(&key)?;
        let name = name_of(&key);
        if to_hex(&Sha256::digest(&bytes)) != name {
            report.problems.push(format!(
                "key envelope {key}: its bytes do not match its name: altered"
            ));
            continue;
        }
        if let Ok(e) = KeyEnvelope::parse(&bytes)
            && key.starts_with(&format!("keys/{}/", e.snapshot_id))
        {
            with_key.insert((e.snapshot_id, e.commitment, e.generation));
        }
    }
    let generation = vault.body().generation;
    for r in records.values() {
        let gens: Vec<u32> = with_key
            .iter()
            .filter(|(s, c, _)| *s == r.body.snapshot_id && *c == r.body.commitment)
            .map(|(_, _, g)| *g)
            .collect();
        if gens.is_empty() {
            report.problems.push(format!(
                "snapshot {} has no wrapped key in the store: it cannot be opened",
                r.body.snapshot_id
            ));
        } else if !gens.contains(&generation) {
            report.problems.push(format!(
                "snapshot {} has no key for the vault's current key generation {generation} (only for {}): copy the keys/ entries written by the rotation ceremony to this store",
                r.body.snapshot_id,
                gens.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(report)
}

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The key of an object id (for messages and tests).
pub fn key_of(id: &str) -> String {
    object_key(id)
}

/// Records in chain order, oldest first (records off the main chain last).
pub fn ordered(records: &BTreeMap<String, Record>) -> Vec<&Record> {
    let chain = record::chain(records);
    let main = chain
        .heads
        .iter()
        .filter_map(|h| records.get(h))
        .max_by(|a, b| a.body.time.cmp(&b.body.time));
    let mut out: Vec<&Record> = main
        .map(|h| record::ancestry(records, &h.hash))
        .unwrap_or_default();
    out.reverse();
    let on_chain: BTreeSet<&str> = out.iter().map(|r| r.hash.as_str()).collect();
    let mut rest: Vec<&Record> = records
        .values()
        .filter(|r| !on_chain.contains(r.hash.as_str()))
        .collect();
    rest.sort_by(|a, b| a.body.time.cmp(&b.body.time));
    out.extend(rest);
    out
}

//! `seif verify`: the host proves, with no key, that it holds every object
//! of every snapshot intact: each record's signature by a sealer the vault
//! accepts; each store's chain of records unbroken (and, against the head
//! the home side recorded, not rolled back); each snapshot's lists present,
//! whole and adding up to its record; every object they name present with
//! its size and (as much of the store as asked) bytes that hash to its name
//! and a public header naming the snapshot whose key opens it; and a key
//! envelope for every snapshot whose key a kept snapshot needs. Every
//! problem is named, with its text escaped (a host writes what is read).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use super::Counters;
use super::key_envelope::{ENVELOPE_MAX, KeyEnvelope};
use super::list::Tables;
use super::object::{self, Kind, OBJECT_MAX};
use super::record::{self, Record, object_key};
use crate::descriptor::{Descriptor, NotAccepted};
use crate::ids::{BlobId, SnapshotId, VaultId};
use crate::store::{Store, StoreError};
use crate::untrusted::escape;

/// How much object data to read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReadData {
    /// Every object (the default).
    All,
    /// None: existence and size of every object, every signature, the
    /// chains and the lists.
    None,
    /// Group `n` of `m` (1-based), by object id: `m` runs with `n` = 1..m
    /// cover the whole store.
    Group(u32, u32),
    /// A random share of the objects (0 < f ≤ 1).
    Fraction(f64),
    /// Random objects adding up to about this many bytes.
    Bytes(u64),
}

impl ReadData {
    /// Parses restic's `--read-data-subset` forms: `n/m`, `p%`, or a size
    /// (`500M`, `2G`, `1T`, plain bytes).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "'{}' is not a subset: give n/m (e.g. 3/7), a percentage (e.g. 10%), or a size (e.g. 50G)",
                escape(s)
            )
        };
        if let Some((n, m)) = s.split_once('/') {
            let (n, m): (u32, u32) = (n.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if n == 0 || m == 0 || n > m {
                return Err(bad());
            }
            return Ok(ReadData::Group(n, m));
        }
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.parse().map_err(|_| bad())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad());
            }
            return Ok(ReadData::Fraction(p / 100.0));
        }
        let (num, mult) = match s.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let m: u64 = match c.to_ascii_uppercase() {
                    'K' => 1 << 10,
                    'M' => 1 << 20,
                    'G' => 1 << 30,
                    'T' => 1 << 40,
                    _ => return Err(bad()),
                };
                (&s[..i], m)
            }
            _ => (s, 1),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(ReadData::Bytes(n.saturating_mul(mult)))
    }

    /// Whether an object is read under this choice (`budget` counts down
    /// the bytes of [`ReadData::Bytes`]).
    pub fn picks(&self, id: &BlobId, size: u64, budget: &mut u64) -> bool {
        match *self {
            ReadData::All => true,
            ReadData::None => false,
            ReadData::Group(n, m) => {
                u32::from_be_bytes(id.0[..4].try_into().expect("4 bytes")) % m == n - 1
            }
            ReadData::Fraction(f) => rand::random::<f64>() < f,
            ReadData::Bytes(_) => {
                if *budget == 0 {
                    return false;
                }
                *budget = budget.saturating_sub(size);
                true
            }
        }
    }
}

/// How to verify.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The head the home side recorded (64 hex digits or a unique prefix of
    /// at least 12): a rollback is reported.
    pub head: Option<String>,
    /// How much object data to hash.
    pub read_data: ReadData,
    /// Hashing threads.
    pub threads: usize,
}

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct Report {
    /// Records of this vault that verified.
    pub records: usize,
    /// Snapshots whose objects all checked.
    pub snapshots: usize,
    /// Objects referenced by the vault's snapshots.
    pub objects: usize,
    /// Objects whose bytes were hashed.
    pub objects_checked: usize,
    /// Bytes hashed.
    pub bytes_checked: u64,
    /// The chain's heads.
    pub heads: Vec<BlobId>,
    /// Objects and lists no record names (left by interrupted pushes):
    /// harmless, and `seif prune` removes them.
    pub unreferenced: Vec<String>,
    /// Everything wrong, each naming the object or record (escaped).
    pub problems: Vec<String>,
    /// Things a host should know that are not damage (escaped).
    pub notes: Vec<String>,
    /// The store holds another vault's snapshots and none of this one's.
    pub other_vault: Option<VaultId>,
    /// Snapshots expired under the vault's retention policy: not checked
    /// (a prune may have freed their data).
    pub expired: usize,
    /// This vault's key envelopes (wrapped data keys) in the store.
    pub key_envelopes: usize,
    /// Of those, the ones not wrapped post-quantum only (any stanza but
    /// `mlkem768x25519` and age's grease): a quantum adversary could open
    /// them. A failure when the vault requires post-quantum wrapping.
    pub classic_key_envelopes: usize,
    /// This vault's records signed with Ed25519 alone (by sealers listed
    /// `seifsealer1…`): a quantum forger could forge such records.
    pub classic_signed_records: usize,
}

/// Finds the record a `--head` names: 64 hex digits, or a prefix of at
/// least 12 that matches one record. `Err` is a usage error.
pub fn check_head_spec(spec: &str) -> Result<String, String> {
    let s = spec.to_ascii_lowercase();
    if s.len() < 12 || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "--head '{}' is not a record hash: give its 64 hex digits, or at least the first 12 (as `seif ls` shows them)",
            escape(spec)
        ));
    }
    Ok(s)
}

/// Verifies a whole store against a vault descriptor.
pub fn verify(
    store: &dyn Store,
    vault: &Descriptor,
    options: &VerifyOptions,
    counters: &Counters,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let vault_id = VaultId(vault.vault_id());
    let (records, bad) = super::load_records(store)?;
    for (key, why) in bad {
        report
            .problems
            .push(format!("record {}: {}", escape(&key), escape(&why)));
    }
    let mut own: BTreeMap<BlobId, Record> = BTreeMap::new();
    let mut foreign: BTreeMap<VaultId, usize> = BTreeMap::new();
    let arrivals = super::prune::arrivals(store)?;
    let mut dated = Vec::new();
    for (h, r) in records {
        if r.body.vault_id == vault_id {
            dated.push(super::prune::dated(&r, &arrivals));
        }
        match vault.accepts(&r.body.vault_id.0, Some(&r.sealer), false) {
            Ok(()) => {
                own.insert(h, r);
            }
            Err(NotAccepted::OtherVault(_)) => {
                *foreign.entry(r.body.vault_id).or_default() += 1;
            }
            Err(_) => report.problems.push(format!(
                "record {h} (snapshot {}): signed by {}, a sealer the vault does not accept",
                r.body.snapshot_id,
                escape(&r.body.sealer)
            )),
        }
    }
    if own.is_empty() && !foreign.is_empty() {
        report.other_vault = foreign.keys().next().copied();
        return Ok(report);
    }
    for (v, n) in &foreign {
        report.notes.push(format!(
            "{n} record(s) of another vault ({}) are in this store: not chained onto, not checked; remove them if they do not belong here",
            crate::descriptor::format_fingerprint(&v.to_hex())
        ));
    }
    report.records = own.len();
    report.classic_signed_records = own
        .values()
        .filter(|r| r.sealer.mldsa_fingerprint().is_none())
        .count();
    if report.classic_signed_records > 0 && vault.is_hybrid_signed() {
        report.notes.push(format!(
            "{} of {} records are signed with Ed25519 alone (their sealers are listed seifsealer1…): a quantum forger could forge such records; list the pipelines in their hybrid spelling (seifsealerpq1…, ceremony/runbook/sealers.md)",
            report.classic_signed_records, report.records
        ));
    }
    // Snapshots the retention policy (in force, or any earlier one)
    // expired: a prune may have freed their data, so it is not asked for.
    let excused = match &vault.body().retention {
        Some(r) => crate::retention::excused(r, &dated, crate::time::unix_now()),
        None => BTreeSet::new(),
    };

    // The chain (a graph when pushes ran at once).
    let chain = record::chain(&own);
    for (child, missing) in &chain.broken {
        report.problems.push(format!(
            "record {child} names the previous record {missing}, which the store does not hold: a record was removed from the chain"
        ));
    }
    let mut by_snapshot: HashMap<SnapshotId, Vec<BlobId>> = HashMap::new();
    for r in own.values() {
        by_snapshot
            .entry(r.body.snapshot_id)
            .or_default()
            .push(r.hash);
    }
    for (sid, hs) in &by_snapshot {
        if hs.len() > 1 {
            report.problems.push(format!(
                "snapshot {sid} is recorded {} times in this store ({})",
                hs.len(),
                hs.iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    report.heads = chain.heads.clone();
    if let Some(spec) = &options.head {
        let hits: Vec<&BlobId> = own
            .keys()
            .filter(|h| h.to_hex().starts_with(spec.as_str()))
            .collect();
        match hits.as_slice() {
            [] => report.problems.push(format!(
                "the recorded head {} is not in the store: the store was rolled back, or records were deleted",
                escape(spec)
            )),
            [_] => {}
            many => report.problems.push(format!(
                "the recorded head {} matches {} records: give more digits",
                escape(spec),
                many.len()
            )),
        }
    }

    // What every snapshot needs.
    struct Want {
        size: u64,
        kind: Kind,
        snapshot: SnapshotId,
        what: String,
    }
    let mut wanted: BTreeMap<BlobId, Vec<Want>> = BTreeMap::new();
    let mut lists_wanted: BTreeSet<BlobId> = BTreeSet::new();
    let mut key_holders: BTreeMap<SnapshotId, String> = BTreeMap::new();
    let mut broken_snapshots: BTreeSet<SnapshotId> = BTreeSet::new();
    for r in own.values() {
        let sid = r.body.snapshot_id;
        if excused.contains(&r.hash) {
            report.expired += 1;
            continue;
        }
        for l in &r.body.lists {
            lists_wanted.insert(l.id);
        }
        let tables: Tables = match super::read::load_tables(store, r) {
            Ok(t) => t,
            Err(e) => {
                report
                    .problems
                    .push(format!("snapshot {sid}: {}", escape(&e.to_string())));
                broken_snapshots.insert(sid);
                continue;
            }
        };
        key_holders
            .entry(sid)
            .or_insert_with(|| format!("snapshot {sid}"));
        for b in &tables.bases {
            key_holders.entry(b.snapshot_id).or_insert_with(|| {
                format!(
                    "snapshot {} (whose packs snapshot {sid} reuses)",
                    b.snapshot_id
                )
            });
        }
        for (i, (id, size)) in tables.manifest.iter().enumerate() {
            wanted.entry(*id).or_default().push(Want {
                size: *size,
                kind: Kind::Manifest,
                snapshot: sid,
                what: format!("manifest part {i} of snapshot {sid}"),
            });
        }
        for (i, p) in tables.packs.iter().enumerate() {
            wanted.entry(p.id).or_default().push(Want {
                size: p.size,
                kind: Kind::Pack,
                snapshot: p.snapshot,
                what: if p.snapshot == sid {
                    format!("pack {i} of snapshot {sid}")
                } else {
                    format!(
                        "pack {i} of snapshot {sid}, stored by snapshot {}",
                        p.snapshot
                    )
                },
            });
        }
    }
    report.objects = wanted.len();

    // Presence and size, then as much data as asked.
    let listing = store.list("objects/")?;
    for (key, what) in &listing.odd {
        report
            .problems
            .push(format!("{}: {what} where an object belongs", escape(key)));
    }
    let stored: HashMap<&str, u64> = listing
        .blobs
        .iter()
        .map(|b| (b.key.as_str(), b.size))
        .collect();
    let mut to_read: Vec<(BlobId, u64)> = Vec::new();
    let mut budget = match options.read_data {
        ReadData::Bytes(n) => n,
        _ => 0,
    };
    for (id, wants) in &wanted {
        let key = object_key(id);
        match stored.get(key.as_str()) {
            None => {
                for w in wants {
                    report
                        .problems
                        .push(format!("object {id} ({}) is missing", w.what));
                }
            }
            Some(s) if wants.iter().any(|w| w.size != *s) => {
                for w in wants.iter().filter(|w| w.size != *s) {
                    report.problems.push(format!(
                        "object {id} ({}) has {s} bytes, the lists say {}",
                        w.what, w.size
                    ));
                }
            }
            Some(s) => {
                if options.read_data.picks(id, *s, &mut budget) {
                    to_read.push((*id, *s));
                }
            }
        }
    }
    let known_keys: BTreeSet<String> = wanted.keys().map(object_key).collect();
    report.unreferenced = listing
        .blobs
        .iter()
        .filter(|b| !known_keys.contains(&b.key))
        .map(|b| b.key.clone())
        .collect();
    Counters::add(&counters.total_bytes, to_read.iter().map(|(_, s)| s).sum());
    let found = Mutex::new((Vec::new(), 0usize, 0u64));
    crate::workers::parallel_for(to_read.len(), options.threads.max(1), |i| {
        let (id, size) = to_read[i];
        let bytes = match store.get(&object_key(&id), size.min(OBJECT_MAX)) {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => {
                found
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .push(format!("object {id} vanished while it was checked"));
                return Ok(());
            }
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                found
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .push(format!("object {id}: {}", escape(&e.to_string())));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut problems = Vec::new();
        let wants = &wanted[&id];
        if BlobId::of(&bytes) != id {
            // Named by the snapshot that stored it, and how many need it.
            let first = wants
                .iter()
                .find(|w| !w.what.contains("stored by"))
                .unwrap_or(&wants[0]);
            let also = if wants.len() > 1 {
                format!(", needed by {} snapshots", wants.len())
            } else {
                String::new()
            };
            problems.push(format!(
                "object {id} ({}{also}): its bytes do not match its name: altered or replaced",
                first.what
            ));
        } else {
            // Keyless, but the header is public: an object must name the
            // snapshot whose key opens it, and its kind.
            let header = object::ObjectHeader::decode(&bytes);
            for w in wants {
                match &header {
                    Ok(h)
                        if SnapshotId(h.snapshot_id) != w.snapshot
                            || h.kind != w.kind
                            || VaultId(h.vault_id) != vault_id =>
                    {
                        problems.push(format!(
                            "object {id} ({}): its header names another snapshot, vault or kind",
                            w.what
                        ));
                    }
                    Err(e) => problems.push(format!(
                        "object {id} ({}): {}",
                        w.what,
                        escape(&e.to_string())
                    )),
                    Ok(_) => {}
                }
            }
        }
        Counters::add(&counters.objects, 1);
        Counters::add(&counters.bytes, bytes.len() as u64);
        let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
        f.0.extend(problems);
        f.1 += 1;
        f.2 += bytes.len() as u64;
        Ok(())
    })?;
    let (problems, n, b) = found.into_inner().unwrap_or_else(|p| p.into_inner());
    report.problems.extend(problems);
    report.objects_checked = n;
    report.bytes_checked = b;

    // Lists no record names.
    let lists = store.list("lists/")?;
    for (key, what) in &lists.odd {
        report
            .problems
            .push(format!("{}: {what} where a list belongs", escape(key)));
    }
    for l in &lists.blobs {
        let named = l
            .key
            .strip_prefix("lists/")
            .and_then(|n| BlobId::from_hex(n).ok());
        if !named.is_some_and(|id| lists_wanted.contains(&id)) {
            report.unreferenced.push(l.key.clone());
        }
    }

    // A key envelope for every snapshot whose key a snapshot needs, for the
    // vault's current key generation (a rotation adds one; a store that
    // missed it cannot be opened with the new shares).
    let mut with_key: BTreeMap<SnapshotId, BTreeSet<u32>> = BTreeMap::new();
    let keys = store.list("keys/")?;
    for (key, what) in &keys.odd {
        report.problems.push(format!(
            "{}: {what} where a key envelope belongs",
            escape(key)
        ));
    }
    for b in &keys.blobs {
        let bytes = match store.get(&b.key, ENVELOPE_MAX as u64) {
            Ok(bytes) => bytes,
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                report.problems.push(format!(
                    "key envelope {}: {}",
                    escape(&b.key),
                    escape(&e.to_string())
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        let name = b
            .key
            .rsplit('/')
            .next()
            .and_then(|n| BlobId::from_hex(n).ok());
        if name != Some(BlobId::of(&bytes)) {
            report.problems.push(format!(
                "key envelope {}: its bytes do not match its name: altered",
                escape(&b.key)
            ));
            continue;
        }
        if let Ok(e) = KeyEnvelope::parse(&bytes)
            && b.key.starts_with(&KeyEnvelope::prefix(&e.snapshot_id))
            && e.vault_id == vault_id
        {
            with_key
                .entry(e.snapshot_id)
                .or_default()
                .insert(e.generation);
            report.key_envelopes += 1;
            let wrapped =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &e.wrapped_key)
                    .ok();
            if wrapped.as_deref().and_then(crate::wrap::is_pq_only) != Some(true) {
                report.classic_key_envelopes += 1;
            }
        }
    }
    if report.classic_key_envelopes > 0 {
        let text = format!(
            "{} of {} data keys (key envelopes) are still wrapped classic-only (X25519): a future quantum adversary with a copy of this store could open them",
            report.classic_key_envelopes, report.key_envelopes
        );
        if vault.require_pq() {
            report.problems.push(format!(
                "{text}, and the vault requires post-quantum wrapping (require_pq): after the post-quantum upgrade ceremony, `seif drop-classic-keys` removes the classic ones once the new keys are synced here"
            ));
        } else {
            report.notes.push(format!(
                "{text}; the post-quantum upgrade ceremony re-wraps them"
            ));
        }
    }
    let generation = vault.body().generation;
    for (sid, what) in &key_holders {
        match with_key.get(sid) {
            None => report.problems.push(format!("{what} has no key envelope in the store: it cannot be opened")),
            Some(gens) if !gens.contains(&generation) => report.problems.push(format!(
                "{what} has no key for the vault's current key generation {generation} (only for {}): add the key envelopes the rotation ceremony wrote to this store",
                gens.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            )),
            Some(_) => {}
        }
    }
    report.snapshots = own
        .values()
        .filter(|r| !broken_snapshots.contains(&r.body.snapshot_id) && !excused.contains(&r.hash))
        .count();
    if report.expired > 0 {
        let policy = vault
            .body()
            .retention
            .as_ref()
            .map(|r| r.policy.describe())
            .unwrap_or_default();
        report.notes.push(format!(
            "{} snapshot(s) expired under the vault's retention policy ({policy}): not checked; their records stay, and `seif prune` frees the data only they need",
            report.expired
        ));
    }
    Ok(report)
}

/// Records in chain order, oldest first (by the sealers' times, which only
/// order a listing for people).
pub fn ordered(records: &BTreeMap<BlobId, Record>) -> Vec<&Record> {
    let mut out: Vec<&Record> = records.values().collect();
    out.sort_by(|a, b| a.body.time.cmp(&b.body.time).then(a.hash.cmp(&b.hash)));
    out
}

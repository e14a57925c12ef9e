//! `seif prune`: the host frees what the vault's retention policy expires,
//! with no key.
//!
//! Everything a prune needs is public: the policy (in `vault.json`, signed
//! by the vault), the records (signed by sealers), the object lists they
//! name, and the store's own arrival times. A prune
//!
//! 1. refuses a `vault.json` older than a copy the store holds
//!    ([`super::vault_copies`]): a stale descriptor cannot weaken the
//!    policy;
//! 2. decides which snapshots are expired ([`crate::retention`]), counting
//!    only records of this vault by sealers it accepts, and expiring a
//!    snapshot only if it is expired counting every record too (so a
//!    sealer removed later cannot make a verifier see an expired snapshot
//!    as kept);
//! 3. keeps everything any other record needs: the lists of every record it
//!    keeps (of this vault or another, by any sealer), every object those
//!    lists name (a kept incremental snapshot keeps the packs it reuses
//!    from expired ones), and the key envelopes of those snapshots and
//!    their bases;
//! 4. deletes every other object, list and envelope that arrived before
//!    the grace period (younger ones may belong to a push in progress),
//!    objects first, in batches; before each batch it lists the records
//!    again, and plans afresh if a push recorded a snapshot meanwhile.
//!
//! Records are never deleted: an expired snapshot's record stays as a
//! tombstone (about a kilobyte), so the chains stay whole and a verifier
//! can tell a snapshot the policy expired from one an attacker removed.
//! A prune stopped at any point leaves a store that verifies; the next one
//! finishes the job. It deletes nothing while any record cannot be read,
//! or while a kept snapshot's lists cannot: it could not tell what they
//! need.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use super::Counters;
use super::key_envelope::KeyEnvelope;
use super::record::{Record, list_key, object_key};
use crate::descriptor::Descriptor;
use crate::ids::{BlobId, SnapshotId, VaultId};
use crate::retention::{self, Dated, Policy, Reason};
use crate::store::{Listed, Store, StoreError};
use crate::untrusted::escape;

/// Days an unreferenced object is kept by default: longer than any push.
pub const GRACE_DAYS_DEFAULT: u32 = 7;

/// Deletions between two looks at the records.
const BATCH: usize = 1000;

/// Plans made again (pushes recording meanwhile) before a prune gives up.
const REPLANS_MAX: usize = 10;

/// How to prune.
#[derive(Clone, Debug)]
pub struct PruneOptions {
    /// Decide and report; delete nothing.
    pub dry_run: bool,
    /// Keep unreferenced blobs younger than this many days.
    pub grace_days: u32,
    /// Deleting threads.
    pub threads: usize,
    /// The host's "now" (seconds since the epoch).
    pub now: i64,
}

/// Why a prune did not run.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The vault.json given may not decide (stale, forked).
    #[error("{0}")]
    Refused(String),
    /// The store has damage that hides what records need (escaped).
    #[error("{0}")]
    Damaged(String),
    /// Pushes kept recording snapshots while the prune planned.
    #[error(
        "pushes recorded snapshots while the prune planned, {0} times: what it deleted so far was unneeded; run it again when pushes are quiet"
    )]
    Busy(usize),
}

/// One snapshot record, as the plan sees it.
#[derive(Clone, Debug)]
pub struct Fate {
    /// The record.
    pub record: BlobId,
    /// Its snapshot.
    pub snapshot_id: SnapshotId,
    /// When it arrived at the store.
    pub arrived: Option<i64>,
    /// The time its sealer claims (escaped).
    pub claimed: String,
    /// Expired: its data goes.
    pub expired: bool,
    /// Why it is kept (empty if expired).
    pub reasons: Vec<String>,
}

/// What a prune would do.
#[derive(Debug, Default)]
pub struct Plan {
    /// The policy in force (`None`: keep every snapshot).
    pub policy: Option<Policy>,
    /// This vault's records, newest arrival first.
    pub fates: Vec<Fate>,
    /// What goes: objects, then key envelopes, then lists.
    pub delete: Vec<Listed>,
    /// Unreferenced blobs kept for the grace period: count and bytes.
    pub young: (usize, u64),
    /// Blobs kept because a kept snapshot needs them: count and bytes.
    pub kept: (usize, u64),
    /// Things the host should know (escaped).
    pub notes: Vec<String>,
    records_seen: BTreeSet<String>,
}

impl Plan {
    /// Bytes the plan frees.
    pub fn freed(&self) -> u64 {
        self.delete.iter().map(|b| b.size).sum()
    }
}

/// What a prune did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Blobs deleted.
    pub deleted: usize,
    /// Bytes freed.
    pub freed: u64,
    /// Times the plan was made again because a push recorded a snapshot.
    pub replans: usize,
}

/// The record keys and arrival times in a store.
pub fn arrivals(store: &dyn Store) -> Result<HashMap<BlobId, Option<i64>>, StoreError> {
    Ok(store
        .list("records/")?
        .blobs
        .into_iter()
        .filter_map(|b| {
            let h = BlobId::from_hex(b.key.strip_prefix("records/")?).ok()?;
            Some((h, b.arrived))
        })
        .collect())
}

/// A record as retention sees it.
pub fn dated(r: &Record, arrivals: &HashMap<BlobId, Option<i64>>) -> Dated {
    Dated {
        record: r.hash,
        arrived: arrivals.get(&r.hash).copied().flatten(),
        claimed: crate::time::parse_rfc3339(&r.body.time),
    }
}

/// Decides what a prune of `store` under `vault`'s policy would delete.
pub fn plan(
    store: &dyn Store,
    vault: &Descriptor,
    options: &PruneOptions,
) -> Result<Plan, PruneError> {
    let standing = super::vault_copies::standing(store, vault)?;
    if let Some(why) = super::vault_copies::refusal(store, vault, &standing) {
        return Err(PruneError::Refused(why));
    }
    let mut plan = Plan {
        policy: vault.body().retention.as_ref().map(|r| r.policy.clone()),
        notes: standing.ignored,
        ..Plan::default()
    };
    let arrivals = arrivals(store)?;
    let (records, bad) = super::load_records(store)?;
    if let Some((key, why)) = bad.first() {
        return Err(PruneError::Damaged(format!(
            "record {}: {}; {} record(s) cannot be read, and prune deletes nothing while it cannot tell what every record needs. Run `seif verify`, and remove what is not a record (or restore it from another store)",
            escape(key),
            escape(why),
            bad.len()
        )));
    }
    plan.records_seen = records.keys().map(|h| h.to_hex()).collect();

    // Which of this vault's snapshots are expired.
    let vault_id = VaultId(vault.vault_id());
    let own: Vec<&Record> = records
        .values()
        .filter(|r| r.body.vault_id == vault_id)
        .collect();
    let all: Vec<Dated> = own.iter().map(|r| dated(r, &arrivals)).collect();
    let accepted: Vec<Dated> = own
        .iter()
        .filter(|r| vault.accepts_sealer(&r.sealer))
        .map(|r| dated(r, &arrivals))
        .collect();
    let (decided, expired_records) = match &plan.policy {
        Some(policy) => {
            let acc = retention::decide(policy, &accepted, options.now);
            let every = retention::decide(policy, &all, options.now);
            let expired: BTreeSet<BlobId> =
                acc.expired.intersection(&every.expired).copied().collect();
            (acc.kept, expired)
        }
        None => (BTreeMap::new(), BTreeSet::new()),
    };
    // A snapshot recorded twice is kept if either record is.
    let kept_snapshots: HashSet<SnapshotId> = records
        .values()
        .filter(|r| !expired_records.contains(&r.hash))
        .map(|r| r.body.snapshot_id)
        .collect();
    let expired = |r: &Record| {
        expired_records.contains(&r.hash) && !kept_snapshots.contains(&r.body.snapshot_id)
    };
    let mut fates: Vec<Fate> = own
        .iter()
        .map(|r| Fate {
            record: r.hash,
            snapshot_id: r.body.snapshot_id,
            arrived: arrivals.get(&r.hash).copied().flatten(),
            claimed: escape(&r.body.time).into_owned(),
            expired: expired(r),
            reasons: if !vault.accepts_sealer(&r.sealer) {
                vec!["signed by a sealer the vault does not accept: never pruned".into()]
            } else if plan.policy.is_none() {
                vec!["the vault keeps every snapshot".into()]
            } else {
                decided
                    .get(&r.hash)
                    .map(|rs| rs.iter().map(Reason::to_string).collect())
                    .unwrap_or_default()
            },
        })
        .collect();
    fates.sort_by(|a, b| b.arrived.cmp(&a.arrived).then(b.record.cmp(&a.record)));
    plan.fates = fates;
    let foreign = records.len() - own.len();
    if foreign > 0 {
        plan.notes.push(format!(
            "{foreign} record(s) of another vault: never pruned, nor anything they need"
        ));
    }

    // What the kept records need.
    let mut objects: HashSet<String> = HashSet::new();
    let mut lists: HashSet<String> = HashSet::new();
    let mut key_sids: HashSet<SnapshotId> = HashSet::new();
    for r in records.values().filter(|r| !expired(r)) {
        key_sids.insert(r.body.snapshot_id);
        for l in &r.body.lists {
            lists.insert(list_key(&l.id));
        }
        let tables = super::read::read_lists(store, r.body.snapshot_id, &r.body.lists).map_err(
            |e| {
                PruneError::Damaged(format!(
                    "snapshot {} (record {}), which is kept: {}; prune deletes nothing while it cannot tell what a kept snapshot needs. Run `seif verify`, and restore what is missing from another store",
                    r.body.snapshot_id,
                    r.hash,
                    escape(&e.to_string())
                ))
            },
        )?;
        for (id, _) in tables.objects() {
            objects.insert(object_key(&id));
        }
        key_sids.extend(tables.bases.iter().map(|b| b.snapshot_id));
    }

    // Everything else that is old enough goes.
    let cutoff = options.now - i64::from(options.grace_days) * 86_400;
    let mut sort = |prefix: &str, needed: &dyn Fn(&str) -> bool| -> Result<(), StoreError> {
        let listing = store.list(prefix)?;
        for (key, what) in listing.odd {
            plan.notes.push(format!(
                "{}: {what}, not written by seif: left alone",
                escape(&key)
            ));
        }
        for b in listing.blobs {
            if needed(&b.key) {
                plan.kept.0 += 1;
                plan.kept.1 += b.size;
            } else if b.arrived.is_none_or(|a| a > cutoff) {
                plan.young.0 += 1;
                plan.young.1 += b.size;
            } else {
                plan.delete.push(b);
            }
        }
        Ok(())
    };
    sort("objects/", &|k| objects.contains(k))?;
    let envelope_sid = |k: &str| -> Option<SnapshotId> {
        let sid: SnapshotId = k.strip_prefix("keys/")?.split('/').next()?.parse().ok()?;
        k.starts_with(&KeyEnvelope::prefix(&sid)).then_some(sid)
    };
    // An envelope under a name that is not a snapshot id is kept: it is
    // nobody's to judge.
    sort("keys/", &|k| {
        envelope_sid(k).is_none_or(|sid| key_sids.contains(&sid))
    })?;
    sort("lists/", &|k| lists.contains(k))?;
    Ok(plan)
}

/// Plans, then (unless a dry run) deletes, planning again whenever a push
/// recorded a snapshot since the last look.
pub fn prune(
    store: &dyn Store,
    vault: &Descriptor,
    options: &PruneOptions,
    counters: &Counters,
) -> Result<(Plan, Outcome), PruneError> {
    let mut outcome = Outcome::default();
    'plan: loop {
        let plan = plan(store, vault, options)?;
        if options.dry_run {
            return Ok((plan, outcome));
        }
        super::vault_copies::publish(store, vault)?;
        crate::killpoint::reached("prune-planned");
        Counters::add(&counters.total_bytes, plan.freed());
        for batch in plan.delete.chunks(BATCH) {
            let now_seen: BTreeSet<String> = arrivals(store)?.keys().map(|h| h.to_hex()).collect();
            if !now_seen.is_subset(&plan.records_seen) {
                outcome.replans += 1;
                if outcome.replans > REPLANS_MAX {
                    return Err(PruneError::Busy(outcome.replans));
                }
                continue 'plan;
            }
            let done = Mutex::new((0usize, 0u64));
            crate::workers::parallel_for(batch.len(), options.threads.max(1), |i| {
                crate::killpoint::reached("prune-deleting");
                match store.delete(&batch[i].key) {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
                let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                d.0 += 1;
                d.1 += batch[i].size;
                Counters::add(&counters.objects, 1);
                Counters::add(&counters.bytes, batch[i].size);
                Ok(())
            })?;
            let (n, b) = done.into_inner().unwrap_or_else(|p| p.into_inner());
            outcome.deleted += n;
            outcome.freed += b;
            crate::killpoint::reached("prune-batch-deleted");
        }
        return Ok((plan, outcome));
    }
}

/// If `record` is expired under `vault`'s retention policy (the one in
/// force or an earlier one) at `now`, says so for people: when it arrived,
/// and the policy. A restore of a pruned snapshot says this rather than
/// "missing".
pub fn expired_note(
    store: &dyn Store,
    vault: &Descriptor,
    record: &Record,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let Some(retention) = &vault.body().retention else {
        return Ok(None);
    };
    let arrivals = arrivals(store)?;
    let (records, _) = super::load_records(store)?;
    let dated: Vec<Dated> = records
        .values()
        .filter(|r| r.body.vault_id == record.body.vault_id)
        .map(|r| dated(r, &arrivals))
        .collect();
    if !retention::excused(retention, &dated, now).contains(&record.hash) {
        return Ok(None);
    }
    let arrived = arrivals
        .get(&record.hash)
        .copied()
        .flatten()
        .map_or("at an unknown time".into(), |t| {
            format!("on {}", crate::time::rfc3339(t))
        });
    Ok(Some(format!(
        "snapshot {} arrived at {} {arrived} and is expired under the vault's retention policy ({}): its data may have been pruned. Restore a snapshot the policy keeps (`seif forget` lists them)",
        record.body.snapshot_id,
        escape(&store.describe()),
        retention.policy.describe()
    )))
}

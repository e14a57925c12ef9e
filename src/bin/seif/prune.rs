//! `seif prune` and `seif forget`: the host frees what the vault's
//! retention policy expires, with no key (`forget` only shows it).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use seif::snapshot::Counters;
use seif::snapshot::prune::{GRACE_DAYS_DEFAULT, Plan, PruneError, PruneOptions};
use seif::untrusted::escape;
use seif_cli::{Failure, report};
use serde_json::json;

use crate::files::load_vault;
use crate::progress::Progress;
use crate::snapshot::{StoreArgs, existing_store, json_text, store_failure};

pub const PRUNE_AFTER_HELP: &str = concat!(
    "\
The policy is the vault's own: vault.json carries it, signed by the vault
key, and only a ceremony changes it (`seif-ceremony retention set`). A
snapshot's age is when its record arrived at this store (the file's time,
or S3's Last-Modified), never the time its sealer claims; a record whose
claimed time is more than a day from its arrival is kept and not counted.
Nothing younger than the policy's minimum age is expired.

Records stay as tombstones, so the chain and `seif verify` stay whole; what
goes is every object, list and key envelope that no kept snapshot needs and
that arrived before the grace period (--grace, 7 days: a push in progress
may still need younger ones). A prune stopped at any point leaves a store
that verifies; run it again to finish. It refuses a vault.json older than
one the store holds.

Examples:
  seif forget --vault vault.json --store /srv/seif
  seif prune --vault vault.json --store s3://embassy/rr --dry-run
  seif prune --vault vault.json --store s3://embassy/rr

",
    seif_cli::exit_codes_help!()
);

#[derive(Args)]
pub struct PruneArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The vault descriptor: its retention policy and accepted sealers.
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: PathBuf,
    /// Show what would go, and delete nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Keep unreferenced objects younger than this many days (a push in
    /// progress may need them).
    #[arg(long, value_name = "DAYS", default_value_t = GRACE_DAYS_DEFAULT,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    grace: u32,
    /// Deleting threads.
    #[arg(long, value_name = "N", default_value_t = 8)]
    threads: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The vault descriptor: its retention policy and accepted sealers.
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `seif forget`: which snapshots the policy expires, and what a prune
/// would free; nothing is changed.
pub fn forget(args: ForgetArgs) -> Result<(), Failure> {
    prune(PruneArgs {
        store: args.store,
        vault: args.vault,
        dry_run: true,
        grace: GRACE_DAYS_DEFAULT,
        threads: 1,
        json: args.json,
    })
}

pub fn prune(args: PruneArgs) -> Result<(), Failure> {
    let vault = load_vault(&args.vault)?;
    let (store, _) = existing_store(&args.store, false)?;
    let options = PruneOptions {
        dry_run: args.dry_run,
        grace_days: args.grace,
        threads: args.threads.max(1),
        now: seif::time::unix_now(),
    };
    let counters = Arc::new(Counters::default());
    let started = std::time::Instant::now();
    let (plan, outcome) = {
        let _p = Progress::start("prune", Arc::clone(&counters));
        seif::snapshot::prune::prune(store.as_ref(), &vault, &options, &counters).map_err(|e| {
            match e {
                PruneError::Store(e) => store_failure(e).hint(
                    "what was deleted was unneeded, and the store verifies; run the prune again",
                ),
                PruneError::Refused(why) => Failure::refused(escape(&why).into_owned()),
                PruneError::Damaged(why) => Failure::integrity(why),
                e @ PruneError::Busy(_) => Failure::error(e.to_string()),
            }
        })?
    };
    let policy = plan.policy.as_ref().map_or(
        "keep every snapshot (the vault sets no retention policy)".into(),
        |p| p.describe(),
    );
    let expired = plan.fates.iter().filter(|f| f.expired).count();
    if args.json {
        let doc = json!({
            "store": store.describe(),
            "policy": policy,
            "vault_revision": vault.body().revision,
            "dry_run": args.dry_run,
            "snapshots": plan.fates.iter().map(|f| json!({
                "snapshot_id": f.snapshot_id, "record": f.record,
                "arrived": f.arrived.map(seif::time::rfc3339), "claimed": f.claimed,
                "expired": f.expired, "kept_because": f.reasons,
            })).collect::<Vec<_>>(),
            "expired": expired,
            "to_delete": {"blobs": plan.delete.len(), "bytes": plan.freed()},
            "deleted": {"blobs": outcome.deleted, "bytes": outcome.freed},
            "young": {"blobs": plan.young.0, "bytes": plan.young.1},
            "kept": {"blobs": plan.kept.0, "bytes": plan.kept.1},
            "grace_days": args.grace,
            "replans": outcome.replans,
            "notes": plan.notes,
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", json_text(&doc));
        return Ok(());
    }
    // The plan is what `--dry-run` asks for; after a real prune it is a
    // report, which `-q` leaves out.
    if args.dry_run || report::verbosity() >= report::Verbosity::Normal {
        print_plan(&plan, &policy, vault.body().revision);
    }
    for n in &plan.notes {
        report::note(crate::TOOL, &format!("note: {n}"));
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let (n, bytes) = if args.dry_run {
        (plan.delete.len(), plan.freed())
    } else {
        (outcome.deleted, outcome.freed)
    };
    report::summary(&format!(
        "{}: {} snapshots, {expired} expired; {verb} {n} objects, lists and key envelopes ({bytes} bytes); kept {} needed ({} bytes) and {} younger than {} days ({} bytes)",
        escape(&store.describe()),
        plan.fates.len(),
        plan.kept.0,
        plan.kept.1,
        plan.young.0,
        args.grace,
        plan.young.1,
    ))?;
    Ok(())
}

fn print_plan(plan: &Plan, policy: &str, revision: u64) {
    println!("policy: {policy} (vault.json revision {revision})");
    println!(
        "{:<32}  {:<20}  {:<20}  {:<12}  fate",
        "snapshot", "arrived", "claimed", "record"
    );
    for f in &plan.fates {
        println!(
            "{:<32}  {:<20}  {:<20}  {:<12}  {}",
            f.snapshot_id,
            f.arrived.map_or("?".into(), seif::time::rfc3339),
            f.claimed,
            f.record.short(12),
            if f.expired {
                "expired".to_owned()
            } else {
                format!("kept ({})", f.reasons.join(", "))
            }
        );
    }
}

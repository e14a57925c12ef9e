//! `seif sync --from STORE --to STORE`: bring a lagging store up to date
//! from another store of the same vault, with no key (the library half is
//! `seif::snapshot::sync`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use seif::snapshot::Counters;
use seif::snapshot::sync::{SyncOptions, SyncReport};
use seif::store::S3Options;
use seif::untrusted::escape;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::files::load_vault;
use crate::progress::Progress;
use crate::snapshot::{S3Args, json_text, open_store};

pub const SYNC_AFTER_HELP: &str = concat!(
    "\
Copies what --to lacks from --from: records, object lists, objects, key
envelopes, vault.json copies and signed upgrade lists. Nothing in --to is
overwritten or deleted (every name is the SHA-256 of its bytes).
Everything is checked before it is copied and read back after: each blob
against its name, each record's signature against --vault, each object
against its list, each key envelope against a commitment a signed record
gives, each upgrade list's signature against --vault. A record is copied
last, and only when all it needs is in --to, so --to verifies after any
sync.

After a key rotation, `seif sync --from COPY --to STORE` adds the new key
envelopes that `seif-ceremony rotate --store COPY` wrote; after the
post-quantum upgrade (`rotate --post-quantum`), also the upgrade list
signed by the vault (upgrades/), which `seif drop-classic-keys` needs.

A source that is damaged is named, part by part; what it damages is not
copied, the rest is, and sync exits 3.

--s3-endpoint/--s3-region apply to both stores; --from-s3-endpoint and
--from-s3-region override them for --from. Credentials come from the
standard AWS_* variables.

Examples:
  seif sync --vault vault.json --from /srv/seif --to s3://embassy/rr
  seif sync --vault vault.json --from s3://embassy/rr --to /srv/seif --dry-run

",
    seif_cli::exit_codes_help!()
);

#[derive(Args)]
pub struct SyncArgs {
    /// The store to copy from: a local directory, or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "STORE")]
    from: String,
    /// The store to bring up to date.
    #[arg(long, value_name = "STORE")]
    to: String,
    /// The vault descriptor: which records the vault accepts.
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: PathBuf,
    #[command(flatten)]
    s3: S3Args,
    /// S3 endpoint of --from, if not --s3-endpoint's.
    #[arg(long, value_name = "URL")]
    from_s3_endpoint: Option<String>,
    /// S3 region of --from, if not --s3-region's.
    #[arg(long, value_name = "REGION")]
    from_s3_region: Option<String>,
    /// Check everything and say what would be copied; copy nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

pub fn sync(args: SyncArgs) -> Result<(), Failure> {
    let vault = load_vault(&args.vault)?;
    let to_opts = args.s3.options();
    let from_opts = S3Options {
        endpoint: args.from_s3_endpoint.clone().or(to_opts.endpoint.clone()),
        region: args.from_s3_region.clone().or(to_opts.region.clone()),
    };
    let from = open_store(&args.from, &from_opts)?;
    let to = open_store(&args.to, &to_opts)?;
    if from.describe() == to.describe() {
        return Err(Failure::usage("--from and --to name the same store"));
    }
    let counters = Arc::new(Counters::default());
    let started = std::time::Instant::now();
    let r = {
        let _p = Progress::start("sync", Arc::clone(&counters));
        seif::snapshot::sync::sync(
            from.as_ref(),
            to.as_ref(),
            &vault,
            SyncOptions {
                dry_run: args.dry_run,
            },
            &counters,
        )?
    };
    let secs = started.elapsed().as_secs_f64();
    let (src, dst) = (from.describe(), to.describe());
    if args.json {
        let kinds: serde_json::Map<String, serde_json::Value> = r
            .kinds()
            .iter()
            .map(|(k, c)| {
                (
                    k.replace([' ', '.'], "_"),
                    json!({"blobs": c.blobs, "bytes": c.bytes}),
                )
            })
            .collect();
        let total = r.total();
        let doc = json!({
            "from": src, "to": dst, "dry_run": args.dry_run, "ok": r.damaged.is_empty() && r.refused.is_empty(),
            "copied": kinds, "blobs": total.blobs, "bytes": total.bytes,
            "snapshots": r.snapshots, "damaged": r.damaged, "refused": r.refused, "notes": r.notes,
            "seconds": secs,
        });
        seif_cli::outln!("{}", json_text(&doc))?;
    } else {
        for d in &r.damaged {
            report::warn(crate::TOOL, &format!("damaged in {}: {d}", escape(&src)));
        }
        for d in &r.refused {
            report::warn(crate::TOOL, d);
        }
        for n in &r.notes {
            report::note(crate::TOOL, &format!("note: {n}"));
        }
        report::summary(&summary(&r, &src, &dst, args.dry_run, secs))?;
    }
    if !r.damaged.is_empty() {
        return Err(Failure::integrity(format!(
            "{}: {} damaged part(s) (listed above); nothing they belong to was copied to {}",
            escape(&src),
            r.damaged.len(),
            escape(&dst)
        ))
        .hint(format!(
            "{} still verifies; run `seif verify` on {}, and sync from another copy",
            escape(&dst),
            escape(&src)
        )));
    }
    if !r.refused.is_empty() {
        return Err(Failure::refused(format!(
            "{}: {} record(s) the vault does not accept were not copied",
            escape(&src),
            r.refused.len()
        ))
        .hint("remove them from the source if they do not belong there; check --vault"));
    }
    Ok(())
}

fn summary(r: &SyncReport, from: &str, to: &str, dry_run: bool, secs: f64) -> String {
    let total = r.total();
    let verb = if dry_run { "would copy" } else { "copied" };
    let parts: Vec<String> = r
        .kinds()
        .iter()
        .filter(|(_, c)| c.blobs > 0)
        .map(|(k, c)| format!("{} {k} ({} bytes)", c.blobs, c.bytes))
        .collect();
    format!(
        "{} -> {}: {verb} {} blobs, {} bytes{}{}; {:.1} s",
        escape(from),
        escape(to),
        total.blobs,
        total.bytes,
        if parts.is_empty() {
            String::from(" (nothing was missing)")
        } else {
            format!(": {}", parts.join(", "))
        },
        if r.snapshots.is_empty() {
            String::new()
        } else {
            format!("; {} snapshot(s) recorded", r.snapshots.len())
        },
        secs
    )
}

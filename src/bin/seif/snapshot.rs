//! `seif push`, `ls`, `verify` and `restore`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use seif::descriptor::Descriptor;
use seif::report::{self, Failure};
use seif::snapshot::push::{PushError, PushOptions, default_state_dir};
use seif::snapshot::record::Record;
use seif::snapshot::restore::RestoreError;
use seif::snapshot::{self, Counters};
use seif::store::{S3Options, Store};
use serde_json::json;

use crate::files::{io_failure, load_vault};
use crate::progress::Progress;

pub const PUSH_AFTER_HELP: &str = concat!(
    "\
STORE is a local directory (the default kind) or s3://BUCKET/PREFIX, with the
endpoint, region and credentials from --s3-endpoint/--s3-region or the
standard AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY variables. --store may be repeated: one push writes the
same snapshot to every store.

A push killed at any point leaves every store valid; running the same push
again resumes where it stopped (a journal in --state-dir, mode 0600, holds the
unfinished snapshot's key until the push completes).

",
    seif::exit_codes_help!()
);

/// Where snapshots live.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// A store: a local directory, or s3://BUCKET/PREFIX.
    #[arg(long = "store", value_name = "STORE", required = true)]
    pub stores: Vec<String>,
    /// S3 endpoint (e.g. http://127.0.0.1:3900); else AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region; else AWS_REGION.
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
}

impl StoreArgs {
    pub fn open_all(&self) -> Result<Vec<Box<dyn Store>>, Failure> {
        let opts = S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
        };
        self.stores
            .iter()
            .map(|s| {
                seif::store::open(s, &opts).map_err(|e| Failure::error(format!("store {s}: {e}")))
            })
            .collect()
    }

    pub fn open_one(&self) -> Result<Box<dyn Store>, Failure> {
        if self.stores.len() != 1 {
            return Err(Failure::error("give exactly one --store"));
        }
        Ok(self.open_all()?.remove(0))
    }
}

#[derive(Args)]
pub struct PushArgs {
    /// The vault descriptor (vault.json).
    #[arg(long, value_name = "FILE")]
    vault: PathBuf,
    /// This pipeline's sealer key; the vault must accept it.
    #[arg(long, value_name = "FILE")]
    sealer: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
    /// Pad objects to Padmé lengths, hiding exact sizes.
    #[arg(long)]
    pad: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// Where the resume journal lives (default: $XDG_STATE_HOME/seif).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Sealing threads (default: every core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Concurrent uploads.
    #[arg(long, value_name = "N", default_value_t = 4)]
    uploads: usize,
    /// Files and directory trees to push.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn push(args: PushArgs) -> Result<(), Failure> {
    let vault = load_vault(&args.vault)?;
    let sealer = crate::sealer::load(&args.sealer)?;
    if !vault.accepts_sealer(&sealer.public()) {
        return Err(Failure::refused(format!("the vault '{}' does not accept the sealer {} ({})", vault.body().name, sealer.public(), args.sealer.display()))
            .hint("ask the custodians to add it with `seif-ceremony sealers add`, then use the new vault.json"));
    }
    let stores = args.store.open_all()?;
    let mut options = PushOptions::new(args.state_dir.clone().unwrap_or_else(default_state_dir));
    options.pad = args.pad;
    options.uploads = args.uploads.max(1);
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    let counters = Arc::new(Counters::default());
    let started = std::time::Instant::now();
    let summary = {
        let _p = Progress::start("push", Arc::clone(&counters));
        snapshot::push::push(&vault, &sealer, &stores, &args.paths, &options, &counters)
            .map_err(push_failure)?
    };
    let secs = started.elapsed().as_secs_f64();
    for s in &summary.skipped {
        report::warn(crate::TOOL, &format!("skipped {s}"));
    }
    let r = &summary.record;
    if args.json {
        let doc = json!({
            "snapshot_id": r.body.snapshot_id,
            "record": r.hash,
            "previous": r.body.previous,
            "time": r.body.time,
            "files": summary.totals.files,
            "entries": summary.totals.entries,
            "bytes": summary.totals.bytes,
            "objects": r.body.packs.len() + r.body.manifest.len(),
            "stored_bytes": r.stored_bytes(),
            "uploaded_objects": summary.uploaded_objects,
            "uploaded_bytes": summary.uploaded_bytes,
            "resumed_packs": summary.resumed_packs,
            "seconds": secs,
            "stores": args.store.stores,
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        report::note(
            crate::TOOL,
            &format!(
                "pushed snapshot {} to {}: {} files, {} bytes in {} objects ({} bytes stored{}); {:.1} s",
                r.body.snapshot_id,
                args.store.stores.join(", "),
                summary.totals.files,
                summary.totals.bytes,
                r.body.packs.len() + r.body.manifest.len(),
                r.stored_bytes(),
                if summary.resumed_packs > 0 {
                    format!(
                        ", {} packs taken over from an interrupted push",
                        summary.resumed_packs
                    )
                } else {
                    String::new()
                },
                secs
            ),
        );
        report::note(
            crate::TOOL,
            &format!(
                "record {} (the new head: record it to detect rollback, `seif verify --head`)",
                r.hash
            ),
        );
    }
    Ok(())
}

fn push_failure(e: PushError) -> Failure {
    match e {
        PushError::Input { path, source } => io_failure(&path, "cannot read", &source)
            .hint("nothing was recorded; fix it and run the same push again (it resumes)"),
        PushError::Store(e) => Failure::error(e.to_string())
            .hint("the store keeps what was uploaded; run the same push again to resume"),
        other => Failure::error(other.to_string()),
    }
}

#[derive(Args)]
pub struct LsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn ls(args: LsArgs) -> Result<(), Failure> {
    let store = args.store.open_one()?;
    let (records, problems) =
        snapshot::load_records(store.as_ref()).map_err(|e| Failure::error(e.to_string()))?;
    let heads = snapshot::record::chain(&records).heads;
    let ordered = snapshot::verify::ordered(&records);
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let list: Vec<_> = ordered
            .iter()
            .map(|r| {
                json!({
                    "snapshot_id": r.body.snapshot_id, "record": r.hash, "previous": r.body.previous, "time": r.body.time,
                    "sealer": r.body.sealer, "objects": r.body.packs.len() + r.body.manifest.len(), "stored_bytes": r.stored_bytes(),
                    "head": heads.contains(&r.hash),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&json!({"snapshots": list, "unreadable_records": problems.iter().map(|(k, e)| json!({"key": k, "error": e})).collect::<Vec<_>>()})).expect("json"))
    } else {
        let mut text = format!(
            "{:<32}  {:<20}  {:>8}  {:>14}  {:<12}  sealer\n",
            "snapshot", "time", "objects", "stored bytes", "record"
        );
        for r in &ordered {
            text.push_str(&format!(
                "{:<32}  {:<20}  {:>8}  {:>14}  {:<12}  {}{}\n",
                r.body.snapshot_id,
                r.body.time,
                r.body.packs.len() + r.body.manifest.len(),
                r.stored_bytes(),
                &r.hash[..12],
                r.body.sealer,
                if heads.contains(&r.hash) {
                    "  (head)"
                } else {
                    ""
                }
            ));
        }
        write!(out, "{text}")
    };
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Failure::error(format!("writing stdout: {e}")));
    }
    if !problems.is_empty() {
        for (k, e) in &problems {
            report::warn(crate::TOOL, &format!("{k}: {e}"));
        }
        return Err(Failure::integrity(format!(
            "{} record(s) are unreadable or forged; run `seif verify`",
            problems.len()
        )));
    }
    Ok(())
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The vault descriptor: which sealers the vault accepts.
    #[arg(long, value_name = "FILE")]
    vault: PathBuf,
    /// The head record the home side recorded: reports a rollback or a fork.
    #[arg(long, value_name = "HASH")]
    head: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Hashing threads.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let vault = load_vault(&args.vault)?;
    let store = args.store.open_one()?;
    let counters = Arc::new(Counters::default());
    let threads = args
        .threads
        .unwrap_or_else(|| seif::pipeline::default_threads() * 2);
    let started = std::time::Instant::now();
    let r = {
        let _p = Progress::start("verify", Arc::clone(&counters));
        snapshot::verify::verify(
            store.as_ref(),
            &vault,
            args.head.as_deref(),
            threads,
            &counters,
        )
        .map_err(|e| Failure::error(e.to_string()))?
    };
    if args.json {
        let doc = json!({
            "store": store.describe(), "ok": r.problems.is_empty(), "records": r.records, "objects_checked": r.objects_checked,
            "bytes_checked": r.bytes_checked, "heads": r.heads, "unreferenced_objects": r.unreferenced.len(), "problems": r.problems,
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        for p in &r.problems {
            eprintln!("seif: FAIL: {p}");
        }
        println!(
            "{}: {} records, {} objects ({} bytes) hashed, head {}{}",
            store.describe(),
            r.records,
            r.objects_checked,
            r.bytes_checked,
            if r.heads.is_empty() {
                "-".to_owned()
            } else {
                r.heads.join(", ")
            },
            if r.unreferenced.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} unreferenced objects (left by interrupted pushes)",
                    r.unreferenced.len()
                )
            }
        );
    }
    if !r.problems.is_empty() {
        return Err(Failure::integrity(format!(
            "{}: {} problem(s) found (listed above)",
            store.describe(),
            r.problems.len()
        )));
    }
    if !args.json {
        println!(
            "ok: every record is signed by an accepted sealer, the chain is whole, every object is intact"
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct RestoreArgs {
    /// An age identity file (a ceremony grant's recipient, or the vault's).
    #[arg(long, short = 'i', value_name = "KEY", required = true)]
    identity: Vec<PathBuf>,
    /// A grant file from `seif-ceremony grant` for this snapshot.
    #[arg(long, value_name = "FILE")]
    grant: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Judge the snapshot by this vault: it must be the vault's, sealed by a
    /// sealer the vault accepts.
    #[arg(long, value_name = "FILE")]
    vault: Option<PathBuf>,
    /// Where to restore (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Fetch threads.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
    /// The snapshot: `latest`, or 6+ hex digits of its id or record hash.
    snapshot: String,
    /// Only these paths (files or directories) of the snapshot.
    paths: Vec<String>,
}

pub fn restore(args: RestoreArgs) -> Result<(), Failure> {
    seif::hardening::disable_core_dumps()
        .map_err(|e| Failure::error(format!("cannot disable core dumps: {e}")))?;
    let mut identities = Vec::new();
    for path in &args.identity {
        identities.extend(
            seif::wrap::load_identity_file(path)
                .map_err(|e| io_failure(path, "cannot read the identity file", &e))?,
        );
    }
    let ids: Vec<&dyn age::Identity> = identities
        .iter()
        .map(|i| i.as_ref() as &dyn age::Identity)
        .collect();
    let vault = args.vault.as_deref().map(load_vault).transpose()?;
    let store = args.store.open_one()?;
    let (records, _) =
        snapshot::load_records(store.as_ref()).map_err(|e| Failure::error(e.to_string()))?;
    let record = snapshot::find(&records, &args.snapshot).map_err(Failure::error)?;
    if let Some(v) = &vault {
        judge(v, record)?;
    } else {
        report::warn(
            crate::TOOL,
            &format!(
                "not judged against a vault (pass --vault): sealed by {}",
                record.body.sealer
            ),
        );
    }
    let key = match &args.grant {
        None => snapshot::unwrap_key(store.as_ref(), record, &ids).map_err(|e| {
            Failure::integrity(e.to_string()).hint(
                "use the identity a ceremony granted for this snapshot, with its --grant file",
            )
        })?,
        Some(path) => {
            use seif::ceremony::grant::{Grant, Target};
            let bytes =
                std::fs::read(path).map_err(|e| io_failure(path, "cannot read the grant", &e))?;
            let grant = Grant::from_json(&bytes)
                .map_err(|e| Failure::error(format!("{}: {e}", path.display())))?;
            if let Some(v) = &vault {
                grant
                    .verify(v)
                    .map_err(|e| Failure::integrity(format!("{}: {e}", path.display())))?;
            }
            let target = Target::Snapshot {
                snapshot_id: record.body.snapshot_id.clone(),
            };
            grant
                .unwrap_for(&target, &record.vault_id(), &record.commitment(), &ids)
                .map_err(|e| {
                    Failure::integrity(format!(
                        "{}: cannot open snapshot {}: {e}",
                        path.display(),
                        record.body.snapshot_id
                    ))
                })?
        }
    };
    let counters = Arc::new(Counters::default());
    let threads = args
        .threads
        .unwrap_or_else(|| seif::pipeline::default_threads() + 2);
    let started = std::time::Instant::now();
    let summary = {
        let _p = Progress::start("restore", Arc::clone(&counters));
        snapshot::restore::restore(
            store.as_ref(),
            record,
            &key,
            &args.out,
            &args.paths,
            threads,
            &counters,
        )
        .map_err(restore_failure)?
    };
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let doc = json!({"snapshot_id": record.body.snapshot_id, "record": record.hash, "out": args.out, "files": summary.files, "dirs": summary.dirs,
            "symlinks": summary.symlinks, "bytes": summary.bytes, "fetched_bytes": summary.fetched, "seconds": secs});
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        report::note(
            crate::TOOL,
            &format!(
                "restored snapshot {} into {}: {} files, {} directories, {} symlinks, {} bytes, every file checked against its hash; {:.1} s",
                record.body.snapshot_id,
                args.out.display(),
                summary.files,
                summary.dirs,
                summary.symlinks,
                summary.bytes,
                secs
            ),
        );
    }
    Ok(())
}

/// Refuses a record of another vault or by a sealer the vault does not accept.
pub fn judge(vault: &Descriptor, record: &Record) -> Result<(), Failure> {
    if record.vault_id() != vault.vault_id() {
        return Err(Failure::integrity(format!(
            "snapshot {} belongs to another vault",
            record.body.snapshot_id
        )));
    }
    if !vault.accepts_sealer(&record.sealer) {
        return Err(Failure::refused(format!(
            "snapshot {} was sealed by {}, a sealer the vault does not accept",
            record.body.snapshot_id, record.body.sealer
        )));
    }
    Ok(())
}

fn restore_failure(e: RestoreError) -> Failure {
    match e {
        RestoreError::Output { path, source } => io_failure(&path, "cannot write", &source),
        RestoreError::OutputExists(p) => Failure::error(format!("{} exists and is not empty", p.display())).hint("restore into a new directory"),
        RestoreError::NotFound(p) => Failure::error(format!("not in the snapshot: {}", p.join(", "))),
        RestoreError::Store(e) => Failure::error(e.to_string()),
        other => Failure::integrity(other.to_string()).hint("the store's copy is damaged or was tampered with; run `seif verify` on it and restore from another store"),
    }
}

//! `seif push`, `ls`, `verify`, `check` and `restore`. Every string read
//! from a store is escaped before it is printed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use seif::ceremony::grant::{Grant, Target};
use seif::descriptor::{Descriptor, format_fingerprint};
use seif::ids::{Commitment, SnapshotId, VaultId};
use seif::snapshot::push::{PushError, PushOptions, default_state_dir};
use seif::snapshot::read::{Identities, KeySource, ReadError};
use seif::snapshot::record::Record;
use seif::snapshot::restore::write::Existing;
use seif::snapshot::restore::{RestoreError, RestoreOptions};
use seif::snapshot::verify::{ReadData, VerifyOptions};
use seif::snapshot::{self, Counters};
use seif::store::{S3Options, Store, StoreError};
use seif::untrusted::escape;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::files::{io_failure, load_vault};
use crate::progress::Progress;

pub const PUSH_AFTER_HELP: &str = concat!(
    "\
STORE is a local directory (the default kind) or s3://BUCKET/PREFIX, with the
endpoint, region and credentials from --s3-endpoint/--s3-region or the
standard AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY variables. --store may be repeated: one push writes the
same snapshot to every store, and gives each store what it lacks.

A push is incremental: a file whose size, times and inode are unchanged
since this pipeline's last snapshot of the same paths is not read, and only
chunks no earlier snapshot holds are stored (--full stores everything
afresh). The pipeline keeps its chunk index, file list and resume journal in
--state-dir (mode 0700, files 0600); none of them holds a key to a finished
snapshot.

A push killed at any point leaves every store valid; running the same push
again resumes the same snapshot. Before the record is written, the stored
manifest is read back and checked (--no-check skips it).

Examples:
  seif push --vault vault.json --sealer rr.key --store /srv/seif --store s3://embassy/rr /data/registry
  pg_dump registry | seif push --vault vault.json --sealer rr.key --store s3://embassy/rr --stdin-name registry.sql
  seif push --progress --vault vault.json --sealer rr.key --store s3://embassy/rr /data/registry
  seif push --abandon

",
    seif_cli::exit_codes_help!()
);

/// How to reach S3-compatible stores.
#[derive(Args, Clone, Default)]
pub struct S3Args {
    /// S3 endpoint (e.g. http://127.0.0.1:3900); else AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region; else AWS_REGION.
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
        }
    }
}

/// Opens one store named on the command line.
pub fn open_store(spec: &str, s3: &S3Options) -> Result<Box<dyn Store>, Failure> {
    // Every store error names the store already.
    let store = seif::store::open(spec, s3).map_err(store_failure)?;
    report::detail(crate::TOOL, &format!("store {}", escape(&store.describe())));
    Ok(store)
}

/// Where snapshots live.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// A store: a local directory, or s3://BUCKET/PREFIX.
    #[arg(long = "store", value_name = "STORE", env = "SEIF_STORE")]
    pub stores: Vec<String>,
    #[command(flatten)]
    pub s3: S3Args,
}

impl StoreArgs {
    pub fn open_all(&self) -> Result<Vec<Box<dyn Store>>, Failure> {
        if self.stores.is_empty() {
            return Err(Failure::usage(
                "give a store with --store DIR or --store s3://BUCKET/PREFIX",
            ));
        }
        let opts = self.s3.options();
        self.stores.iter().map(|s| open_store(s, &opts)).collect()
    }

    pub fn open_one(&self) -> Result<Box<dyn Store>, Failure> {
        if self.stores.len() != 1 {
            return Err(Failure::error("give exactly one --store"));
        }
        Ok(self.open_all()?.remove(0))
    }
}

/// A JSON summary as printed: pretty, with no raw control or bidi
/// character even inside strings read from a store.
pub fn json_text(doc: &serde_json::Value) -> String {
    seif::untrusted::json_for_screen(&serde_json::to_string_pretty(doc).expect("json"))
}

/// A store error, escaped (an S3 server or a hostile host wrote part of it).
pub fn store_failure(e: StoreError) -> Failure {
    Failure::from(e)
}

/// Opens a store that must already exist and hold records.
pub fn existing_store(
    args: &StoreArgs,
    allow_empty: bool,
) -> Result<(Box<dyn Store>, snapshot::Records), Failure> {
    let store = args.open_one()?;
    let records = snapshot::load_records(store.as_ref()).map_err(store_failure)?;
    if records.0.is_empty() && records.1.is_empty() && !allow_empty {
        let exists = store
            .list("objects/")
            .map(|l| !l.blobs.is_empty())
            .unwrap_or(false)
            || std::path::Path::new(&store.describe()).is_dir()
            || store.describe().starts_with("s3://");
        let f = if exists && store.describe().starts_with("s3://") {
            Failure::error(format!(
                "{}: no snapshot record under this prefix",
                escape(&store.describe())
            ))
            .hint("check the bucket and prefix; a new, empty store passes with --allow-empty")
        } else if exists {
            Failure::integrity(format!("{}: the store holds no snapshot record", escape(&store.describe())))
                .hint("a store that should hold snapshots has lost them; a new, empty store passes with --allow-empty")
        } else {
            Failure::error(format!("{}: no such store", escape(&store.describe())))
                .hint("check the path")
        };
        return Err(f);
    }
    Ok((store, records))
}

#[derive(Args)]
pub struct PushArgs {
    /// The vault descriptor (vault.json).
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: Option<PathBuf>,
    /// This pipeline's sealer key; the vault must accept it.
    #[arg(long, value_name = "FILE", env = "SEIF_SEALER")]
    sealer: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Pad objects to Padmé lengths, hiding exact sizes.
    #[arg(long)]
    pad: bool,
    /// Store everything afresh, ignoring the chunk index and file list.
    #[arg(long)]
    full: bool,
    /// Do not read the stored manifest back before writing the record.
    #[arg(long)]
    no_check: bool,
    /// Chain onto a store that no longer holds the last record this
    /// pipeline wrote there (only after finding out why it lost it).
    #[arg(long)]
    accept_rollback: bool,
    /// Read back and hash every reused object this time (after an incident
    /// at a host), not only those unchecked for a month.
    #[arg(long)]
    recheck_all: bool,
    /// Bytes of reused objects a push reads back and hashes when they were
    /// not checked for a month (e.g. 1G, 0 for none).
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    recheck_budget: String,
    /// Remove every unfinished push's journal (each holds the data key of
    /// an unfinished snapshot) and exit.
    #[arg(long, conflicts_with_all = ["full", "paths"])]
    abandon: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// Where the journal, index and file list live (default: $XDG_STATE_HOME/seif).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Sealing threads (default: every core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Concurrent uploads.
    #[arg(long, value_name = "N", default_value_t = 4)]
    uploads: usize,
    /// Store standard input as one file of this name at the top of the
    /// snapshot (`pg_dump db | seif push … --stdin-name db.sql`), read once
    /// in constant memory. A stream is never skipped as unchanged, and a
    /// push of a stream that was cut off cannot be resumed: run it again
    /// with the whole stream.
    #[arg(long, value_name = "NAME")]
    stdin_name: Option<String>,
    /// Files and directory trees to push.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn push(args: PushArgs) -> Result<(), Failure> {
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    if args.abandon {
        let gone = seif::snapshot::push::abandon(&state_dir).map_err(push_failure)?;
        for g in &gone {
            report::note(
                crate::TOOL,
                &format!(
                    "removed the unfinished push journal {}",
                    state_dir.join(g).display()
                ),
            );
        }
        if gone.is_empty() {
            report::note(
                crate::TOOL,
                &format!("no unfinished push in {}", state_dir.display()),
            );
        }
        return Ok(());
    }
    let (Some(vault_path), Some(sealer_path)) = (&args.vault, &args.sealer) else {
        return Err(Failure::usage(
            "push needs --vault, --sealer, --store and at least one PATH (or --stdin-name)",
        ));
    };
    let store_args = &args.store;
    if args.paths.is_empty() && args.stdin_name.is_none() {
        return Err(Failure::usage(
            "push needs at least one PATH, or --stdin-name NAME",
        ));
    }
    let vault = load_vault(vault_path)?;
    let sealer = crate::sealer::load(sealer_path)?;
    let public = sealer.public();
    let Some(listed) = vault.listed_as(&public) else {
        return Err(Failure::refused(format!("the vault '{}' does not accept the sealer {public} ({})", escape(&vault.body().name), sealer_path.display()))
            .hint("if this is the right vault.json, ask the custodians to add the sealer with `seif-ceremony sealers add`; if not, use the vault.json of the vault this pipeline pushes to"));
    };
    if listed.mldsa_fingerprint().is_none() && vault.is_hybrid_signed() {
        report::warn(
            crate::TOOL,
            &format!(
                "the vault lists this sealer in the classic spelling ({listed}), so its records carry an Ed25519 signature only, which a quantum computer could forge; ask the custodians to add {public} (`seif sealer public {}`) (ceremony/runbook/sealers.md, \"Hybrid keys\")",
                sealer_path.display()
            ),
        );
    }
    let (stores, mut down) = snapshot::push::reachable(store_args.open_all()?);
    if stores.is_empty() && !down.is_empty() {
        let (_, e) = down.remove(0);
        let hint = if matches!(e, StoreError::Denied { .. }) {
            "nothing was pushed: fix the credentials and run the same push again"
        } else {
            "no store could be reached, so nothing was pushed: run the same push again once a store is back"
        };
        return Err(store_failure(e).hint(hint));
    }
    for (name, e) in &down {
        report::warn(
            crate::TOOL,
            &format!(
                "{}: cannot be reached ({}); pushing to the other stores",
                escape(name),
                escape(&e.to_string())
            ),
        );
    }
    let mut options = PushOptions::new(state_dir);
    options.pad = args.pad;
    options.full = args.full;
    options.check = !args.no_check;
    options.accept_rollback = args.accept_rollback;
    options.recheck_bytes = match seif::snapshot::verify::ReadData::parse(&args.recheck_budget) {
        Ok(seif::snapshot::verify::ReadData::Bytes(n)) => n,
        _ if args.recheck_budget == "0" => 0,
        _ => {
            return Err(Failure::usage(format!(
                "--recheck-budget '{}' is not a size (e.g. 1G, 500M, 0)",
                escape(&args.recheck_budget)
            )));
        }
    };
    if args.recheck_all {
        options.recheck_bytes = u64::MAX;
        options.recheck_days = 0;
    }
    options.stdin_name = args.stdin_name.clone();
    options.totals = Progress::shown();
    options.uploads = args.uploads.max(1);
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    report::detail(
        crate::TOOL,
        &format!(
            "sealer {public} from {}; {}",
            sealer_path.display(),
            if args.full {
                "a full copy (--full): nothing is reused from earlier snapshots"
            } else {
                "incremental: unchanged files and stored chunks are reused"
            }
        ),
    );
    let counters = Arc::new(Counters::default());
    let started = std::time::Instant::now();
    let summary = {
        let _p = Progress::start("push", Arc::clone(&counters));
        snapshot::push::push(&vault, &sealer, &stores, &args.paths, &options, &counters)
            .map_err(push_failure)?
    };
    let secs = started.elapsed().as_secs_f64();
    report::detail(
        crate::TOOL,
        &format!(
            "read {} of {} files; {} bytes of chunks stored, {} bytes reused",
            summary.totals.files - summary.unchanged_files.min(summary.totals.files),
            summary.totals.files,
            summary.uploaded_bytes,
            summary.reused_bytes
        ),
    );
    for s in &summary.skipped {
        report::warn(crate::TOOL, &format!("skipped {}", escape(s)));
    }
    for s in &summary.set_aside {
        report::warn(crate::TOOL, &escape(s));
    }
    for s in &summary.damaged {
        report::warn(crate::TOOL, &escape(s));
    }
    if let Some(id) = summary.finished_interrupted {
        report::note(
            crate::TOOL,
            &format!("finished the interrupted push's snapshot {id} first"),
        );
    }
    let Some((_, r)) = summary.records.first() else {
        return Err(Failure::error("no store was written"));
    };
    let s = &r.body.summary;
    if args.json {
        let doc = json!({
            "snapshot_id": r.body.snapshot_id,
            "records": summary.records.iter().map(|(store, r)| json!({"store": store, "record": r.hash, "previous": r.body.previous})).collect::<Vec<_>>(),
            "time": r.body.time,
            "files": summary.totals.files,
            "entries": summary.totals.entries,
            "bytes": summary.totals.bytes,
            "unchanged_files": summary.unchanged_files,
            "reused_bytes": summary.reused_bytes,
            "objects": s.packs + s.manifest_parts,
            "new_packs": s.new_packs,
            "bases": s.bases,
            "stored_bytes": s.bytes,
            "uploaded_objects": summary.uploaded_objects,
            "uploaded_bytes": summary.uploaded_bytes,
            "copied_objects": summary.copied_objects,
            "resumed_packs": summary.resumed_packs,
            "finished_interrupted": summary.finished_interrupted,
            "skipped": summary.skipped,
            "seconds": secs,
            "stores": summary.records.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            "failed_stores": down.iter().map(|(s, e)| json!({"store": s, "error": e.to_string()})).collect::<Vec<_>>(),
        });
        println!("{}", json_text(&doc));
    } else {
        report::note(
            crate::TOOL,
            &format!(
                "pushed snapshot {} to {}: {} files, {} bytes ({} files unchanged, {} bytes reused from earlier snapshots); stored {} new objects, {} bytes{}{}; {:.1} s",
                r.body.snapshot_id,
                summary
                    .records
                    .iter()
                    .map(|(s, _)| escape(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                summary.totals.files,
                summary.totals.bytes,
                summary.unchanged_files,
                summary.reused_bytes,
                summary.uploaded_objects,
                summary.uploaded_bytes,
                if summary.resumed_packs > 0 {
                    format!(
                        ", {} packs taken over from an interrupted push",
                        summary.resumed_packs
                    )
                } else {
                    String::new()
                },
                if summary.copied_objects > 0 {
                    format!(
                        ", {} objects copied to a store that lacked them",
                        summary.copied_objects
                    )
                } else {
                    String::new()
                },
                secs
            ),
        );
        for (store, r) in &summary.records {
            report::note(
                crate::TOOL,
                &format!(
                    "{}: record {} (the store's new head: record it to detect rollback, `seif verify --head`)",
                    escape(store),
                    r.hash
                ),
            );
        }
    }
    if !down.is_empty() {
        let names: Vec<String> = down.iter().map(|(s, _)| escape(s).into_owned()).collect();
        return Err(Failure::error(format!(
            "{} of {} stores failed: {}",
            down.len(),
            down.len() + summary.records.len(),
            down.iter()
                .map(|(s, e)| format!("{}: {}", escape(s), escape(&e.to_string())))
                .collect::<Vec<_>>()
                .join("; ")
        ))
        .hint(format!(
            "the snapshot is recorded in {}; when {} is back, bring it level with `seif sync --from {} --to {}` (or run the same push again)",
            summary.records.iter().map(|(s, _)| escape(s).into_owned()).collect::<Vec<_>>().join(", "),
            names.join(", "),
            escape(&summary.records[0].0),
            names[0]
        )));
    }
    Ok(())
}

fn push_failure(e: PushError) -> Failure {
    match e {
        PushError::Input { path, source } => io_failure(&path, "cannot read", &source)
            .hint("no snapshot was recorded; fix it and run the same push again"),
        PushError::Unrepresentable { .. } | PushError::NotUtf8(_) => {
            Failure::error(e.to_string()).hint("rename or remove it, or push the tree without it")
        }
        PushError::Store(e @ StoreError::Denied { .. }) => store_failure(e)
            .hint("fix the credentials, then run the same push again: what was stored stays"),
        PushError::Store(e) => store_failure(e)
            .hint("what was stored stays; run the same push again to go on where it stopped"),
        PushError::Check(_) => Failure::integrity(escape(&e.to_string()).into_owned())
            .hint("no record was written, so no store claims this snapshot; run `seif verify` on the store and push again"),
        PushError::Rollback { .. } => Failure::integrity(e.to_string()).hint(
            "find out why the store lost it (a restored backup of the store? a host's mistake or attack?); once you know, `seif push --accept-rollback` chains onto what the store holds",
        ),
        PushError::Stores { ref failed, .. } => Failure::error(escape(&e.to_string()).into_owned()).hint(format!(
            "the snapshot is recorded in the other stores; run the same push again to record it in {} too",
            failed.iter().map(|(s, _)| escape(s).into_owned()).collect::<Vec<_>>().join(", ")
        )),
        PushError::Journal { .. } | PushError::State { .. } => Failure::refused(escape(&e.to_string()).into_owned()),
        PushError::SealerNotAccepted(_) => Failure::refused(e.to_string()),
        PushError::StaleVault(_) => Failure::refused(escape(&e.to_string()).into_owned()),
        PushError::Vanished { .. } => Failure::error(escape(&e.to_string()).into_owned()),
        other => Failure::error(escape(&other.to_string()).into_owned()),
    }
}

#[derive(Args)]
pub struct LsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// List a snapshot's files with this age identity (a ceremony grant's
    /// recipient); without it, the store's records are listed.
    #[arg(long, short = 'i', value_name = "KEY")]
    identity: Vec<PathBuf>,
    /// A grant file from `seif-ceremony grant` (repeatable).
    #[arg(long, value_name = "FILE", requires = "identity")]
    grant: Vec<PathBuf>,
    /// Judge the snapshot by this vault.
    #[arg(long, value_name = "FILE", requires = "identity")]
    vault: Option<PathBuf>,
    /// The snapshot whose files to list (with --identity): `latest`, or
    /// 6+ hex digits of its id or record hash.
    #[arg(requires = "identity")]
    snapshot: Option<String>,
    /// Only these paths of the snapshot (and what lies below them).
    paths: Vec<String>,
}

pub fn ls(args: LsArgs) -> Result<(), Failure> {
    if !args.identity.is_empty() {
        let keys = KeyArgs {
            identity: args.identity,
            grant: args.grant,
            vault: args.vault,
        };
        return crate::browse::ls_snapshot(
            &keys,
            &args.store,
            args.snapshot.as_deref().unwrap_or("latest"),
            &args.paths,
            args.json,
        );
    }
    let (_store, (records, problems)) = existing_store(&args.store, true)?;
    let heads = snapshot::record::chain(&records).heads;
    let ordered = snapshot::verify::ordered(&records);
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let list: Vec<_> = ordered
            .iter()
            .map(|r| {
                json!({
                    "snapshot_id": r.body.snapshot_id, "record": r.hash, "previous": r.body.previous, "time": r.body.time,
                    "vault_id": r.body.vault_id, "sealer": r.body.sealer, "summary": r.body.summary,
                    "head": heads.contains(&r.hash),
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            json_text(
                &json!({"snapshots": list, "unreadable_records": problems.iter().map(|(k, e)| json!({"key": k, "error": e})).collect::<Vec<_>>()})
            )
        )
    } else {
        let mut text = format!(
            "{:<32}  {:<20}  {:>8}  {:>14}  {:>14}  {:<12}  sealer\n",
            "snapshot", "time", "objects", "stored bytes", "new bytes", "record"
        );
        for r in &ordered {
            let s = &r.body.summary;
            text.push_str(&format!(
                "{:<32}  {:<20}  {:>8}  {:>14}  {:>14}  {:<12}  {}{}\n",
                r.body.snapshot_id,
                escape(&r.body.time),
                s.packs + s.manifest_parts,
                s.bytes,
                s.new_bytes,
                r.hash.short(12),
                escape(&r.body.sealer),
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
            report::warn(crate::TOOL, &format!("{}: {}", escape(k), escape(e)));
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
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: PathBuf,
    /// The head record the home side recorded (64 hex digits, or at least
    /// the first 12): reports a rollback.
    #[arg(long, value_name = "HASH")]
    head: Option<String>,
    /// Hash only part of the objects: n/m (group n of m: m runs cover the
    /// store), a percentage (10%), or a size (50G), chosen at random.
    #[arg(long, value_name = "SUBSET", conflicts_with = "metadata_only")]
    read_data_subset: Option<String>,
    /// Hash no object: check that every object exists with its size, every
    /// signature, the chain and the lists.
    #[arg(long)]
    metadata_only: bool,
    /// Accept a store with no record yet (a new host).
    #[arg(long)]
    allow_empty: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Hashing threads.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let vault = load_vault(&args.vault)?;
    let head = args
        .head
        .as_deref()
        .map(snapshot::verify::check_head_spec)
        .transpose()
        .map_err(Failure::usage)?;
    let read_data = match (&args.read_data_subset, args.metadata_only) {
        (_, true) => ReadData::None,
        (Some(s), _) => ReadData::parse(s).map_err(Failure::usage)?,
        (None, false) => ReadData::All,
    };
    let (store, _) = existing_store(&args.store, args.allow_empty)?;
    // A stale vault.json would judge by an old policy and old sealers.
    let standing =
        snapshot::vault_copies::standing(store.as_ref(), &vault).map_err(store_failure)?;
    if let Some(why) = snapshot::vault_copies::refusal(store.as_ref(), &vault, &standing) {
        return Err(Failure::refused(escape(&why).into_owned()));
    }
    let counters = Arc::new(Counters::default());
    let options = VerifyOptions {
        head,
        read_data,
        threads: args
            .threads
            .unwrap_or_else(|| seif::workers::default_threads() * 2),
    };
    let started = std::time::Instant::now();
    let r = {
        let _p = Progress::start("verify", Arc::clone(&counters));
        snapshot::verify::verify(store.as_ref(), &vault, &options, &counters)
            .map_err(store_failure)?
    };
    if let Some(other) = r.other_vault {
        return Err(Failure::refused(format!(
            "{} holds the snapshots of another vault ({}), not of {} ({}, vault {})",
            escape(&store.describe()),
            format_fingerprint(&other.to_hex()),
            args.vault.display(),
            escape(&vault.body().name),
            format_fingerprint(&vault.body().vault_id)
        ))
        .hint("give the vault.json of the vault this store belongs to"));
    }
    report::detail(
        crate::TOOL,
        &format!(
            "{} snapshots; {} key envelopes, {} of them classic-only; {} unreferenced objects; {} expired by the retention policy",
            r.snapshots,
            r.key_envelopes,
            r.classic_key_envelopes,
            r.unreferenced.len(),
            r.expired
        ),
    );
    if args.json {
        let doc = json!({
            "store": store.describe(), "ok": r.problems.is_empty(), "records": r.records, "snapshots": r.snapshots,
            "objects": r.objects, "objects_checked": r.objects_checked,
            "bytes_checked": r.bytes_checked, "heads": r.heads, "unreferenced": r.unreferenced.len(), "problems": r.problems,
            "notes": r.notes, "expired": r.expired, "seconds": started.elapsed().as_secs_f64(),
            "key_envelopes": r.key_envelopes, "classic_key_envelopes": r.classic_key_envelopes,
            "classic_signed_records": r.classic_signed_records,
        });
        println!("{}", json_text(&doc));
    } else {
        for p in &r.problems {
            eprintln!("seif: FAIL: {p}");
        }
        for n in &r.notes {
            report::note(crate::TOOL, &format!("note: {n}"));
        }
        report::summary(&format!(
            "{}: {} records, {} objects ({} hashed, {} bytes), heads {}{}",
            escape(&store.describe()),
            r.records,
            r.objects,
            r.objects_checked,
            r.bytes_checked,
            if r.heads.is_empty() {
                "-".to_owned()
            } else {
                r.heads
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if r.unreferenced.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} unreferenced objects or lists (left by interrupted pushes)",
                    r.unreferenced.len()
                )
            }
        ))?;
    }
    if !r.problems.is_empty() {
        let f = Failure::integrity(format!(
            "{}: {} problem(s) found{}",
            escape(&store.describe()),
            r.problems.len(),
            if args.json {
                " (listed in the JSON)"
            } else {
                " (listed above)"
            }
        ));
        return Err(f);
    }
    if !args.json {
        let what = match read_data {
            ReadData::All => "every object is intact",
            ReadData::None => "every object is present with its size (no data read)",
            _ => "every object is present with its size, and the subset read is intact",
        };
        report::summary(&format!(
            "ok: every record is signed by an accepted sealer, the chain is whole, {what}"
        ))?;
    }
    Ok(())
}

#[derive(Args)]
pub struct KeyArgs {
    /// An age identity file (a ceremony grant's recipient, or the vault's).
    #[arg(
        long,
        short = 'i',
        value_name = "KEY",
        required = true,
        env = "SEIF_IDENTITY"
    )]
    pub identity: Vec<PathBuf>,
    /// A grant file from `seif-ceremony grant` (repeatable): the snapshots
    /// it covers open with its recipient's identity.
    #[arg(long, value_name = "FILE")]
    pub grant: Vec<PathBuf>,
    /// Judge the snapshot by this vault: it must be the vault's, sealed by a
    /// sealer the vault accepts.
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    pub vault: Option<PathBuf>,
}

/// Keys from grants first, then from the store's envelopes.
pub struct Keys {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    grants: Vec<(PathBuf, Grant)>,
}

impl Keys {
    pub fn load(args: &KeyArgs, vault: Option<&Descriptor>) -> Result<Self, Failure> {
        let mut identities = Vec::new();
        for path in &args.identity {
            identities.extend(
                seif::wrap::load_identity_file(path)
                    .map_err(|e| io_failure(path, "cannot read the identity file", &e))?,
            );
        }
        let mut grants = Vec::new();
        for path in &args.grant {
            let bytes =
                std::fs::read(path).map_err(|e| io_failure(path, "cannot read the grant", &e))?;
            // One grant, or several (a snapshot that reuses earlier
            // snapshots' packs comes with a grant for each), one JSON
            // document after another.
            let values =
                serde_json::Deserializer::from_slice(&bytes).into_iter::<serde_json::Value>();
            for value in values {
                let value = value.map_err(|e| {
                    Failure::error(format!("{}: not a seif grant: {e}", path.display()))
                })?;
                let g = Grant::from_json(value.to_string().as_bytes()).map_err(|e| {
                    Failure::error(format!("{}: {}", path.display(), escape(&e.to_string())))
                })?;
                if let Some(v) = vault {
                    g.verify(v)
                        .map_err(|e| Failure::integrity(format!("{}: {e}", path.display())))?;
                }
                grants.push((path.clone(), g));
            }
        }
        Ok(Keys { identities, grants })
    }
}

impl KeySource for Keys {
    fn key(
        &self,
        store: &dyn Store,
        vault: VaultId,
        snapshot: SnapshotId,
        commitment: &Commitment,
    ) -> Result<seif::secrets::DataKey, String> {
        let ids: Vec<&dyn age::Identity> = self
            .identities
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity)
            .collect();
        let target = Target::Snapshot {
            snapshot_id: snapshot.to_hex(),
        };
        let mut why = Vec::new();
        for (path, g) in &self.grants {
            match g.unwrap_for(&target, &vault.0, &commitment.0, &ids) {
                Ok(k) => return Ok(k),
                Err(e) => why.push(format!("{}: {e}", path.display())),
            }
        }
        Identities(&ids)
            .key(store, vault, snapshot, commitment)
            .map_err(|e| {
                if why.is_empty() {
                    e
                } else {
                    format!("{}; {e}", why.join("; "))
                }
            })
    }
}

/// Refuses a record of another vault or by a sealer the vault does not
/// accept (the vault's one rule, `Descriptor::accepts`).
pub fn judge(vault: &Descriptor, record: &Record) -> Result<(), Failure> {
    vault
        .accepts(&record.body.vault_id.0, Some(&record.sealer), false)
        .map_err(|why| {
            let id = record.body.snapshot_id;
            let f = Failure::of(&why, why.to_string());
            match why {
                seif::descriptor::NotAccepted::OtherVault(_) => {
                    f.reworded(format!("snapshot {id} belongs to another vault"))
                }
                _ => f.reworded(format!(
                    "snapshot {id} was sealed by {}, a sealer the vault does not accept",
                    escape(&record.body.sealer)
                )),
            }
        })
}

fn read_failure(e: ReadError) -> Failure {
    Failure::from(e)
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Where to restore (new, or empty; a directory of your own).
    #[arg(long, value_name = "DIR", required_unless_present = "stdout")]
    out: Option<PathBuf>,
    /// Write one file's bytes to stdout instead (restic's `dump`), each
    /// chunk checked before it is written.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["out", "paths", "resume", "force"])]
    stdout: Option<String>,
    /// Go on with a restore that stopped: files already there with the
    /// right content are kept, the rest restored.
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Restore into a directory that holds files, replacing them.
    #[arg(long)]
    force: bool,
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
    let vault = args.keys.vault.as_deref().map(load_vault).transpose()?;
    let keys = Keys::load(&args.keys, vault.as_ref())?;
    let (store, (records, _)) = existing_store(&args.store, false)?;
    let record = snapshot::find(&records, &args.snapshot).map_err(Failure::error)?;
    if let Some(v) = &vault {
        judge(v, record)?;
    } else {
        report::warn(
            crate::TOOL,
            &format!(
                "not judged against a vault (pass --vault): sealed by {}",
                escape(&record.body.sealer)
            ),
        );
    }
    let tables = snapshot::read::load_tables(store.as_ref(), record)
        .map_err(|e| pruned_or(store.as_ref(), vault.as_ref(), record, e))?;
    let ring = snapshot::read::unwrap_keys(store.as_ref(), record, &tables, &keys)
        .map_err(|e| pruned_or(store.as_ref(), vault.as_ref(), record, e))?;
    let counters = Arc::new(Counters::default());
    if let Some(path) = &args.stdout {
        return dump(store.as_ref(), record, &tables, &ring, path, &counters);
    }
    let Some(out) = &args.out else {
        return Err(Failure::usage("give --out DIR, or --stdout PATH"));
    };
    let options = RestoreOptions {
        threads: args
            .threads
            .unwrap_or_else(|| seif::workers::default_threads() + 2),
        existing: if args.resume {
            Existing::Resume
        } else if args.force {
            Existing::Overwrite
        } else {
            Existing::Refuse
        },
    };
    let started = std::time::Instant::now();
    let summary = {
        let _p = Progress::start("restore", Arc::clone(&counters));
        snapshot::restore::restore(
            store.as_ref(),
            record,
            &tables,
            &ring,
            out,
            &args.paths,
            options,
            &counters,
        )
        .map_err(restore_failure)?
    };
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let doc = json!({"snapshot_id": record.body.snapshot_id, "record": record.hash, "out": out, "files": summary.files, "dirs": summary.dirs,
            "symlinks": summary.symlinks, "bytes": summary.bytes, "kept": summary.kept, "fetched_bytes": summary.fetched, "seconds": secs});
        println!("{}", json_text(&doc));
    } else {
        report::note(
            crate::TOOL,
            &format!(
                "restored snapshot {} into {}: {} files, {} directories, {} symlinks, {} bytes{}, every chunk checked against its hash; {:.1} s",
                record.body.snapshot_id,
                out.display(),
                summary.files,
                summary.dirs,
                summary.symlinks,
                summary.bytes,
                if summary.kept > 0 {
                    format!(" ({} files already there, kept)", summary.kept)
                } else {
                    String::new()
                },
                secs
            ),
        );
    }
    Ok(())
}

/// `seif restore --stdout PATH`: one file's bytes to stdout. A failure
/// after the first byte says the output is incomplete.
fn dump(
    store: &dyn Store,
    record: &Record,
    tables: &seif::snapshot::list::Tables,
    ring: &seif::snapshot::read::KeyRing,
    path: &str,
    counters: &Counters,
) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match snapshot::restore::dump::dump(store, record, tables, ring, path, &mut out, counters) {
        Ok(_) => Ok(()),
        Err(RestoreError::Output { source, .. }) => Err(Failure::stdout(&source)),
        Err(e) => {
            let written = Counters::get(&counters.bytes);
            let f = restore_failure(e);
            if written == 0 {
                return Err(f.hint("nothing was written to stdout"));
            }
            let message = format!(
                "{}; the output is incomplete: {written} bytes were written before it, discard them",
                f.message
            );
            Err(f
                .reworded(message)
                .hint("restore from another store, or run `seif check --read-data` on this one"))
        }
    }
}

/// A snapshot that does not read: if the vault's retention policy expired
/// it, that is what people are told (not "missing"); otherwise the read
/// error.
pub fn pruned_or(
    store: &dyn Store,
    vault: Option<&Descriptor>,
    record: &Record,
    e: ReadError,
) -> Failure {
    match vault {
        Some(v) => {
            if let Ok(Some(why)) =
                snapshot::prune::expired_note(store, v, record, seif::time::unix_now())
            {
                return Failure::error(why).hint(format!("what failed: {}", escape(&e.to_string())));
            }
            read_failure(e)
        }
        None => read_failure(e).hint(
            "if the vault has a retention policy, a prune may have freed this snapshot: pass --vault to tell",
        ),
    }
}

fn restore_failure(e: RestoreError) -> Failure {
    Failure::from(e)
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Check every snapshot in the store.
    #[arg(long, conflicts_with = "snapshot")]
    all: bool,
    /// Also fetch, decrypt and hash every chunk.
    #[arg(long, conflicts_with = "read_data_subset")]
    read_data: bool,
    /// Fetch, decrypt and hash part of the packs: n/m, a percentage, or a size.
    #[arg(long, value_name = "SUBSET")]
    read_data_subset: Option<String>,
    /// Threads.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The snapshot: `latest` (the default), or 6+ hex digits of its id or record hash.
    snapshot: Option<String>,
}

pub fn check(args: CheckArgs) -> Result<(), Failure> {
    seif::hardening::disable_core_dumps()
        .map_err(|e| Failure::error(format!("cannot disable core dumps: {e}")))?;
    let read_data = match (&args.read_data_subset, args.read_data) {
        (Some(s), _) => ReadData::parse(s).map_err(Failure::usage)?,
        (None, true) => ReadData::All,
        (None, false) => ReadData::None,
    };
    let vault = args.keys.vault.as_deref().map(load_vault).transpose()?;
    let keys = Keys::load(&args.keys, vault.as_ref())?;
    let (store, (records, problems)) = existing_store(&args.store, false)?;
    let chosen: Vec<&Record> = if args.all {
        snapshot::verify::ordered(&records)
    } else {
        vec![
            snapshot::find(&records, args.snapshot.as_deref().unwrap_or("latest"))
                .map_err(Failure::error)?,
        ]
    };
    let counters = Arc::new(Counters::default());
    let threads = args
        .threads
        .unwrap_or_else(|| seif::workers::default_threads() + 2);
    let mut failed = 0;
    let mut results = Vec::new();
    for (k, e) in &problems {
        report::warn(crate::TOOL, &format!("{}: {}", escape(k), escape(e)));
    }
    let _p = Progress::start("check", Arc::clone(&counters));
    for r in chosen {
        if let Some(v) = &vault
            && let Err(f) = judge(v, r)
        {
            failed += 1;
            eprintln!("seif: FAIL: snapshot {}: {}", r.body.snapshot_id, f.message);
            results.push(
                json!({"snapshot_id": r.body.snapshot_id, "ok": false, "problems": [f.message]}),
            );
            continue;
        }
        let c = snapshot::check::check(store.as_ref(), r, &keys, read_data, threads, &counters)
            .map_err(store_failure)?;
        if !c.problems.is_empty() {
            failed += 1;
            for p in &c.problems {
                eprintln!("seif: FAIL: snapshot {}: {p}", r.body.snapshot_id);
            }
        } else if !args.json {
            report::summary(&format!(
                "snapshot {}: ok: {} entries, {} files, {} bytes, {} keys{}",
                r.body.snapshot_id,
                c.entries,
                c.files,
                c.bytes,
                c.keys,
                if c.packs_read > 0 {
                    format!(
                        ", {} chunks in {} packs read and hashed",
                        c.chunks_read, c.packs_read
                    )
                } else {
                    String::new()
                }
            ))?;
        }
        results.push(json!({"snapshot_id": r.body.snapshot_id, "record": r.hash, "ok": c.problems.is_empty(), "entries": c.entries,
            "files": c.files, "bytes": c.bytes, "keys": c.keys, "packs_read": c.packs_read, "chunks_read": c.chunks_read, "problems": c.problems}));
    }
    drop(_p);
    if args.json {
        println!(
            "{}",
            json_text(&json!({"store": store.describe(), "snapshots": results}))
        );
    }
    if failed > 0 {
        return Err(
            Failure::integrity(format!("{failed} snapshot(s) would not restore"))
                .hint("run `seif verify` on the store; restore from another store, and push again"),
        );
    }
    Ok(())
}

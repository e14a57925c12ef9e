//! `seif-ceremony open` and `grant`: with the vault key back, open sealed
//! files on the laptop, or re-wrap their data keys to a recovery team's age
//! recipient (reading only the headers: the bulk data never passes through
//! the laptop).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use seif::atomic::AtomicFile;
use seif::ceremony::evidence::{FileRecord, HashingWriter, hash_bytes};
use seif::ceremony::grant::{Grant, Target};
use seif::ceremony::precheck::{self, Need, Problem, Refused, output_path};
use seif::descriptor::Descriptor;
use seif::encoding::to_hex;
use seif::sealed::open::{OpenOptions, Opener};
use seif::snapshot::record::Record;
use seif::untrusted::Shown;
use seif_cli::errors::open_failure;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::context::{
    NOTHING_ASKED, ShareArgs, VaultArgs, check_out_dir, file_read, finalize_activation,
    gather_shares, load_vault, print_log_head, reconstruct, record,
};
use crate::{Session, TOOL, say, screen};

#[derive(Args)]
pub struct OpenArgs {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    shares: ShareArgs,
    /// Where to write the plaintexts (created if missing; mode 0600 files).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Accept unsigned sealed files (anyone holding vault.json could have made them).
    #[arg(long)]
    allow_unsigned: bool,
    /// Replace outputs that exist.
    #[arg(long)]
    force: bool,
    /// A local copy of a store: the INPUTs are then snapshots in it
    /// (`latest`, `all`, or 6+ hex digits of a snapshot id or record hash),
    /// each restored into OUT/SNAPSHOT_ID/.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Sealed files to open (or snapshots, with --store).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

#[derive(Args)]
pub struct GrantArgs {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    shares: ShareArgs,
    /// The recovery team's age recipient: post-quantum (age1pq1…), or
    /// classic (age1…, from a post-quantum vault only with
    /// --allow-classic-recipient).
    #[arg(long, value_name = "RECIPIENT")]
    to: String,
    /// Grant to a classic (age1…) recipient from a post-quantum vault: the
    /// grant's key is then open to a future quantum adversary. Recorded in
    /// the ceremony log.
    #[arg(long)]
    allow_classic_recipient: bool,
    /// Where to write the grant files (INPUT name + .grant).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Accept unsigned sealed files.
    #[arg(long)]
    allow_unsigned: bool,
    /// Replace outputs that exist.
    #[arg(long)]
    force: bool,
    /// A local copy of a store: the INPUTs are then snapshots in it; their
    /// grants go to OUT/SNAPSHOT_ID.grant.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Sealed files whose keys to grant (only their headers are read), or
    /// snapshots with --store.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

/// A refusal before any share is asked for; its exit code is the gravest
/// of its inputs' (a missing file 1, a damaged one 3, another vault's 4).
pub fn refused(r: Refused) -> Failure {
    Failure::from(r).hint(NOTHING_ASKED)
}

/// Hashes every sealed file a step will read, before any share is asked
/// for: a file that cannot be read to its end is found now. The records
/// go into the step's log entry.
pub fn hash_inputs(inputs: &[precheck::Input]) -> Result<Vec<FileRecord>, Failure> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for i in inputs {
        match FileRecord::read(&i.path) {
            Ok(f) => files.push(f),
            Err(error) => problems.push(Problem::InputUnreadable {
                path: i.path.clone(),
                error,
            }),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(refused(Refused(problems)))
    }
}

/// Checks the outputs before any share is asked for. Nothing is created
/// yet, so a refused step leaves no empty directory behind.
fn prepare_out(dir: &Path, outputs: &[PathBuf], force: bool) -> Result<(), Failure> {
    check_out_dir(dir)?;
    for o in outputs {
        if !force && o.symlink_metadata().is_ok() {
            return Err(Failure::error(format!("{} already exists", o.display()))
                .hint("choose another --out, or pass --force"));
        }
    }
    Ok(())
}

fn create_out(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::error(format!("cannot create {}: {e}", dir.display())))
}

/// Loads a local store and the snapshots named in `inputs`, checked before
/// any share is asked for (see `precheck::snapshots`).
pub fn precheck_snapshots(
    descriptor: &Descriptor,
    store: &Path,
    inputs: &[PathBuf],
) -> Result<(Box<dyn seif::store::Store>, Vec<Record>), Failure> {
    let s = seif::store::open(
        &store.display().to_string(),
        &seif::store::S3Options::default(),
    )
    .map_err(|e| {
        Failure::of(
            &e,
            format!("store {}: {}", store.display(), Shown(&e.to_string())),
        )
    })?;
    let (records, problems) = seif::snapshot::load_records(s.as_ref()).map_err(Failure::from)?;
    for (k, e) in &problems {
        report::warn(
            TOOL,
            &format!("{}: {}: {}", store.display(), Shown(k), Shown(e)),
        );
    }
    // One step takes sealed files or, with --store, snapshots: not both.
    if let Some(file) = inputs.iter().find(|p| p.is_file()) {
        return Err(Failure::usage(format!(
            "{} is a sealed file, and with --store every INPUT names a snapshot: one step takes either sealed files or snapshots",
            file.display()
        ))
        .hint("run the step twice: once with the sealed files, once with --store and the snapshots"));
    }
    let specs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let picked = precheck::snapshots(descriptor, &records, &specs).map_err(refused)?;
    Ok((s, picked))
}

/// Writes a small output (a grant) atomically once the step is logged, with
/// named kill points after its temporary file and after its rename.
fn write_output(path: &Path, bytes: &[u8], force: bool, step: &str) -> std::io::Result<()> {
    let mut f = AtomicFile::create(path, force)?;
    f.write_all(bytes)?;
    f.flush()?;
    f.file().sync_all()?;
    seif::killpoint::reached(&format!("{step}:temp-written"));
    f.commit(0o644)?;
    seif::killpoint::reached(&format!("{step}:committed"));
    Ok(())
}

/// A snapshot restored into a hidden directory beside its output, renamed
/// into place only once the step is logged.
struct StagedTree {
    staging: PathBuf,
    out: PathBuf,
}

impl StagedTree {
    fn new(out: &Path) -> Self {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tag = seif::encoding::to_hex(&seif::secrets::random_array::<6>());
        StagedTree {
            staging: out.with_file_name(format!(".{name}.seif-tmp-{tag}")),
            out: out.to_owned(),
        }
    }

    /// Moves the tree into place; with `force`, an existing output is set
    /// aside first and removed after.
    fn commit(self, force: bool) -> std::io::Result<()> {
        let aside = (force && self.out.symlink_metadata().is_ok()).then(|| {
            let tag = seif::encoding::to_hex(&seif::secrets::random_array::<6>());
            self.out.with_file_name(format!(
                ".{}.seif-old-{tag}",
                self.out.file_name().unwrap_or_default().to_string_lossy()
            ))
        });
        if let Some(aside) = &aside {
            std::fs::rename(&self.out, aside)?;
        }
        std::fs::rename(&self.staging, &self.out)?;
        if let Some(parent) = self.out.parent() {
            seif::atomic::sync_dir(parent)?;
        }
        if let Some(aside) = aside {
            std::fs::remove_dir_all(&aside).or_else(|_| std::fs::remove_file(&aside))?;
        }
        Ok(())
    }
}

fn open_snapshots(args: OpenArgs, store_dir: &Path, session: &Session) -> Result<(), Failure> {
    let mut vault = load_vault(&args.vault, session)?;
    let since = vault.log.entries().len();
    let mut files = vec![file_read(&args.vault.vault)?];
    let (store, records) = precheck_snapshots(&vault.descriptor, store_dir, &args.inputs)?;
    let outputs: Vec<PathBuf> = records
        .iter()
        .map(|r| args.out.join(r.body.snapshot_id.to_hex()))
        .collect();
    prepare_out(&args.out, &outputs, args.force)?;
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(&mut vault, &mut gathered, "open", &files)?;
    finalize_activation(&mut vault, &quorum)?;
    create_out(&args.out)?;
    // Each snapshot is restored into a hidden directory first; none
    // appears under its name before the step is in the log.
    let mut results = Vec::new();
    let mut staged = Vec::new();
    let mut lines = Vec::new();
    let mut failures = Failures::default();
    for (r, out) in records.iter().zip(&outputs) {
        let tree = StagedTree::new(out);
        let ids = quorum.keys.identities();
        let outcome = seif::snapshot::read::open_snapshot(
            store.as_ref(),
            r,
            &seif::snapshot::read::Identities(&ids),
        )
        .map_err(Failure::from)
        .and_then(|(tables, keys)| {
            seif::snapshot::restore::restore(
                store.as_ref(),
                r,
                &tables,
                &keys,
                &tree.staging,
                &[],
                seif::snapshot::restore::RestoreOptions::default(),
                &Default::default(),
            )
            .map_err(Failure::from)
        });
        match outcome {
            Ok(s) => {
                seif::killpoint::reached("open:restored");
                lines.push(format!(
                    "restored snapshot {} -> {} ({} files, {} bytes, each checked)",
                    r.body.snapshot_id,
                    out.display(),
                    s.files,
                    s.bytes
                ));
                results.push(json!({"snapshot": r.body.snapshot_id, "record": r.hash, "output": out.display().to_string(), "files": s.files, "bytes": s.bytes, "outcome": "opened"}));
                staged.push(tree);
            }
            Err(f) => {
                let _ = std::fs::remove_dir_all(&tree.staging);
                report::warn(
                    TOOL,
                    &format!("snapshot {}: {}", r.body.snapshot_id, Shown(&f.message)),
                );
                results.push(json!({"snapshot": r.body.snapshot_id, "record": r.hash, "outcome": format!("failed: {}", f.message)}));
                failures.add(&f);
            }
        }
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "open",
        json!({ "store": store.describe(), "snapshots": results }),
        files,
    )?;
    seif::killpoint::reached("open:logged");
    for (tree, line) in staged.into_iter().zip(&lines) {
        let out = tree.out.clone();
        tree.commit(args.force).map_err(|e| {
            Failure::error(format!(
                "cannot move the restored tree to {}: {e}",
                out.display()
            ))
        })?;
        seif::killpoint::reached("open:committed");
        say!("{line}");
    }
    print_log_head(&vault.log);
    finish("open", &vault, since, failures, records.len(), "snapshots")
}

/// Ends a step that opened several inputs: the summary (marked failed if
/// any input failed), and the failure.
fn finish(
    step: &str,
    vault: &seif::ceremony::vault::Vault,
    since: usize,
    failures: Failures,
    total: usize,
    what: &str,
) -> Result<(), Failure> {
    let summary = screen::summary(step, &vault.descriptor, &vault.log, since);
    match failures.outcome(total, what) {
        Ok(()) => {
            screen::print_summary(&summary);
            Ok(())
        }
        Err(f) => {
            screen::print_summary(&screen::failed(summary, &f.message));
            Err(f)
        }
    }
}

fn grant_snapshots(args: GrantArgs, store_dir: &Path, session: &Session) -> Result<(), Failure> {
    let mut vault = load_vault(&args.vault, session)?;
    let classic = classic_grant(&args, &vault.descriptor)?;
    let since = vault.log.entries().len();
    let mut files = vec![file_read(&args.vault.vault)?];
    let (store, records) = precheck_snapshots(&vault.descriptor, store_dir, &args.inputs)?;
    let outputs: Vec<PathBuf> = records
        .iter()
        .map(|r| args.out.join(format!("{}.grant", r.body.snapshot_id)))
        .collect();
    prepare_out(&args.out, &outputs, args.force)?;
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(&mut vault, &mut gathered, "grant", &files)?;
    finalize_activation(&mut vault, &quorum)?;
    // Every grant is made before anything is written or logged.
    let mut grants = Vec::new();
    let mut granted = Vec::new();
    for (r, out) in records.iter().zip(&outputs) {
        // A snapshot that reuses earlier snapshots' packs needs their keys
        // too: its grant file holds a grant for each.
        let ids = quorum.keys.identities();
        let (tables, keys) = seif::snapshot::read::open_snapshot(
            store.as_ref(),
            r,
            &seif::snapshot::read::Identities(&ids),
        )
        .map_err(Failure::from)?;
        let mut grant = String::new();
        for sid in tables.key_holders(r.body.snapshot_id) {
            let target = Target::Snapshot {
                snapshot_id: sid.to_hex(),
            };
            let g = Grant::issue(
                &vault.descriptor,
                &quorum.keys,
                target,
                &keys[&sid],
                &args.to,
            )
            .map_err(|e| Failure::error(e.to_string()))?;
            grant.push_str(&g.to_json_pretty());
            grant.push('\n');
        }
        granted.push(json!({"snapshot": r.body.snapshot_id, "record": r.hash, "grant": out.display().to_string()}));
        let (sha256, n) = hash_bytes(grant.as_bytes());
        files.push(FileRecord::written(out, sha256, n).map_err(|e| Failure::error(e.to_string()))?);
        grants.push((
            out,
            grant,
            format!(
                "granted snapshot {} to {} -> {}",
                r.body.snapshot_id,
                args.to,
                out.display()
            ),
        ));
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "grant",
        grant_details(
            json!({ "recipient": args.to, "store": store.describe(), "snapshots": granted }),
            classic,
        ),
        files,
    )?;
    seif::killpoint::reached("grant:logged");
    create_out(&args.out)?;
    for (out, grant, line) in grants {
        write_output(out, grant.as_bytes(), args.force, "grant")
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", out.display())))?;
        say!("{line}");
    }
    say!(
        "the recovery team restores with: seif restore --identity THEIR_KEY --grant SNAPSHOT.grant --vault vault.json --store STORE --out DIR SNAPSHOT"
    );
    print_log_head(&vault.log);
    screen::print_summary(&screen::summary(
        "grant",
        &vault.descriptor,
        &vault.log,
        since,
    ));
    Ok(())
}

pub fn run_open(args: OpenArgs, session: &Session) -> Result<(), Failure> {
    if let Some(dir) = args.store.clone() {
        return open_snapshots(args, &dir, session);
    }
    let mut vault = load_vault(&args.vault, session)?;
    let since = vault.log.entries().len();
    let mut files = vec![file_read(&args.vault.vault)?];
    let inputs = precheck::sealed_files(&vault.descriptor, &args.inputs, args.allow_unsigned)
        .map_err(refused)?;
    files.extend(hash_inputs(&inputs)?);
    let outputs: Vec<PathBuf> = inputs
        .iter()
        .map(|i| output_path(&args.out, i, ""))
        .collect();
    prepare_out(&args.out, &outputs, args.force)?;
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(&mut vault, &mut gathered, "open", &files)?;
    finalize_activation(&mut vault, &quorum)?;
    create_out(&args.out)?;
    let identities = quorum.keys.identities();
    // Each input is decrypted and authenticated into a temporary file
    // beside its output; none appears under its name before the step is
    // in the log.
    let mut results = Vec::new();
    let mut staged = Vec::new();
    let mut failures = Failures::default();
    for (input, out_path) in inputs.iter().zip(&outputs) {
        // Each failure keeps the kind of its error: a chunk that fails
        // authentication is exit 3, a full disk exit 1.
        let name = input.path.display().to_string();
        let outcome = (|| -> Result<(AtomicFile, u64, Option<String>, String), Failure> {
            let file =
                File::open(&input.path).map_err(|e| Failure::io(&input.path, "cannot read", &e))?;
            let opener = Opener::new(file).map_err(|e| open_failure(&name, e))?;
            let key = opener
                .unwrap_key(&identities)
                .map_err(|e| open_failure(&name, e))?;
            let mut out = AtomicFile::create(out_path, args.force)
                .map_err(|e| Failure::io(out_path, "cannot create", &e))?;
            let (opened, sha256) = {
                let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, &mut out));
                let opened = opener
                    .decrypt_to(&key, &mut w, &OpenOptions::default())
                    .map_err(|e| open_failure(&name, e))?;
                w.flush()
                    .map_err(|e| Failure::io(out_path, "cannot write", &e))?;
                let (sha256, _, _) = w.finish();
                (opened, sha256)
            };
            out.file()
                .sync_all()
                .map_err(|e| Failure::io(out_path, "cannot write", &e))?;
            Ok((out, opened.content_len, opened.metadata.name, sha256))
        })();
        match outcome {
            Ok((file, len, original, sha256)) => {
                files.push(
                    FileRecord::written(out_path, sha256, len)
                        .map_err(|e| Failure::error(e.to_string()))?,
                );
                seif::killpoint::reached("open:temp-written");
                let line = format!(
                    "opened {} -> {} ({len} bytes{})",
                    input.path.display(),
                    out_path.display(),
                    original
                        .as_deref()
                        .map_or(String::new(), |n| format!(", originally '{}'", Shown(n)))
                );
                results.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "sealer": input.header.sealer.map(|s| s.to_string()), "output": out_path.display().to_string(), "bytes": len, "outcome": "opened"}));
                staged.push((file, out_path, line));
            }
            Err(f) => {
                report::warn(
                    TOOL,
                    &format!(
                        "{}: {}; nothing was written for it",
                        input.path.display(),
                        Shown(&f.message)
                    ),
                );
                results.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "outcome": format!("failed: {}", f.message)}));
                failures.add(&f);
            }
        }
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "open",
        json!({ "inputs": results }),
        files,
    )?;
    seif::killpoint::reached("open:logged");
    for (file, out_path, line) in staged {
        file.commit(0o600)
            .map_err(|e| Failure::error(format!("cannot finish {}: {e}", out_path.display())))?;
        seif::killpoint::reached("open:committed");
        say!("{line}");
    }
    print_log_head(&vault.log);
    finish("open", &vault, since, failures, inputs.len(), "inputs")
}

/// The inputs of a step that failed, counted, with the gravest kind among
/// them: it decides the step's exit code.
#[derive(Default)]
struct Failures {
    count: usize,
    kind: Option<seif_cli::Kind>,
}

impl Failures {
    fn add(&mut self, f: &Failure) {
        self.count += 1;
        self.kind = Some(self.kind.map_or(f.kind, |k| k.graver(f.kind)));
    }

    fn outcome(self, of: usize, what: &str) -> Result<(), Failure> {
        match self.kind {
            None => Ok(()),
            Some(kind) => Err(Failure::new(
                kind,
                format!("{} of {of} {what} failed to open (see above)", self.count),
            )),
        }
    }
}

/// Whether a grant to `to` gives a post-quantum vault's key to a classic
/// recipient; refused unless `--allow-classic-recipient` (before any share
/// is asked for).
fn classic_grant(args: &GrantArgs, descriptor: &Descriptor) -> Result<bool, Failure> {
    let classic = !seif::wrap::parse_recipient(&args.to)
        .map_err(|e| Failure::error(format!("--to: {}", Shown(&e.to_string()))))?
        .is_pq();
    let pq_vault = descriptor.is_pq() || descriptor.require_pq();
    if classic && pq_vault && !args.allow_classic_recipient {
        return Err(Failure::refused(
            "--to is a classic age1… recipient, but this vault wraps its keys post-quantum: a grant to it would be open to a future quantum adversary. Use the recovery team's age1pq1… recipient (`seif identity new`, or age-keygen -pq with age >= 1.3), or pass --allow-classic-recipient to grant anyway (the log records it)",
        ));
    }
    Ok(classic && pq_vault)
}

/// The log details of a grant, with `classic_recipient: true` when a
/// post-quantum vault's key went to a classic recipient.
fn grant_details(mut details: serde_json::Value, classic: bool) -> serde_json::Value {
    if classic {
        details["classic_recipient"] = json!(true);
    }
    details
}

pub fn run_grant(args: GrantArgs, session: &Session) -> Result<(), Failure> {
    seif::wrap::parse_recipient(&args.to)
        .map_err(|e| Failure::error(format!("--to: {}", Shown(&e.to_string()))))?;
    if let Some(dir) = args.store.clone() {
        return grant_snapshots(args, &dir, session);
    }
    let mut vault = load_vault(&args.vault, session)?;
    let classic = classic_grant(&args, &vault.descriptor)?;
    let since = vault.log.entries().len();
    let mut files = vec![file_read(&args.vault.vault)?];
    let inputs = precheck::sealed_files(&vault.descriptor, &args.inputs, args.allow_unsigned)
        .map_err(refused)?;
    files.extend(hash_inputs(&inputs)?);
    let outputs: Vec<PathBuf> = inputs
        .iter()
        .map(|i| output_path(&args.out, i, ".grant"))
        .collect();
    prepare_out(&args.out, &outputs, args.force)?;
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(&mut vault, &mut gathered, "grant", &files)?;
    finalize_activation(&mut vault, &quorum)?;
    // Every grant is made before anything is written or logged.
    let mut grants = Vec::new();
    let mut granted = Vec::new();
    for (input, out_path) in inputs.iter().zip(&outputs) {
        let key = seif::wrap::unwrap(
            &input.header.wrapped_key,
            &quorum.keys.identities(),
            &input.header.commitment,
        )
        .map_err(|e| Failure::integrity(format!("{}: {e}", input.path.display())))?;
        let target = Target::SealedFile {
            name: input.name.clone(),
            header_hash: to_hex(&input.header.hash()),
        };
        let grant = Grant::issue(&vault.descriptor, &quorum.keys, target, &key, &args.to)
            .map_err(|e| Failure::error(e.to_string()))?;
        granted.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "grant": out_path.display().to_string()}));
        let text = grant.to_json_pretty();
        let (sha256, n) = hash_bytes(text.as_bytes());
        files.push(
            FileRecord::written(out_path, sha256, n).map_err(|e| Failure::error(e.to_string()))?,
        );
        grants.push((
            out_path,
            text,
            format!(
                "granted {} to {} -> {}",
                input.path.display(),
                args.to,
                out_path.display()
            ),
        ));
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "grant",
        grant_details(json!({ "recipient": args.to, "inputs": granted }), classic),
        files,
    )?;
    seif::killpoint::reached("grant:logged");
    create_out(&args.out)?;
    for (out_path, grant, line) in grants {
        write_output(out_path, grant.as_bytes(), args.force, "grant")
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", out_path.display())))?;
        say!("{line}");
    }
    say!(
        "the recovery team opens each file with: seif open --identity THEIR_KEY --grant FILE.grant --vault vault.json -o OUTPUT FILE"
    );
    print_log_head(&vault.log);
    screen::print_summary(&screen::summary(
        "grant",
        &vault.descriptor,
        &vault.log,
        since,
    ));
    Ok(())
}

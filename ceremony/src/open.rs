//! `seif-ceremony open` and `grant`: with the vault key back, open sealed
//! files on the laptop, or re-wrap their data keys to a recovery team's age
//! recipient (reading only the headers: the bulk data never passes through
//! the laptop).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use clap::Args;
use seif::atomic::AtomicFile;
use seif::ceremony::grant::{Grant, Target};
use seif::descriptor::Descriptor;
use seif::encoding::to_hex;
use seif::report::{self, Failure};
use seif::sealed::open::{OpenOptions, Opener};
use seif::snapshot::record::Record;
use serde_json::json;

use crate::TOOL;
use crate::context::{
    ShareArgs, VaultArgs, finalize_activation, load_vault, print_log_head, reconstruct, record,
};

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
    /// The recovery team's age recipient (age1…).
    #[arg(long, value_name = "RECIPIENT")]
    to: String,
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

/// A sealed input, checked before any share is asked for.
pub struct Input {
    pub path: PathBuf,
    pub name: String,
    pub header: seif::sealed::Header,
}

/// Reads every input's header and refuses, before the custodians present
/// their shares, any that is not this vault's or not from an accepted sealer.
pub fn precheck_inputs(
    descriptor: &Descriptor,
    inputs: &[PathBuf],
    allow_unsigned: bool,
) -> Result<Vec<Input>, Failure> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for path in inputs {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let header = match File::open(path)
            .map_err(|e| e.to_string())
            .and_then(|f| Opener::new(f).map_err(|e| e.to_string()))
        {
            Ok(o) => o.header().clone(),
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        if header.vault_id != descriptor.vault_id() {
            problems.push(format!(
                "{}: sealed to another vault ({}…)",
                path.display(),
                &to_hex(&header.vault_id)[..16]
            ));
        } else {
            match header.sealer {
                Some(s) if !descriptor.accepts_sealer(&s) => problems.push(format!("{}: sealed by {s}, a sealer the vault does not accept", path.display())),
                None if !allow_unsigned => problems.push(format!("{}: unsigned (anyone holding vault.json could have made it); pass --allow-unsigned if you know its origin", path.display())),
                _ => out.push(Input { path: path.clone(), name, header }),
            }
        }
    }
    if !problems.is_empty() {
        return Err(Failure::refused(format!(
            "refused before asking for shares: {}",
            problems.join("; ")
        )));
    }
    Ok(out)
}

/// `dump.seif` opens to `dump`; a grant for it is `dump.seif.grant`.
fn output_path(dir: &Path, input: &Input, suffix: &str) -> PathBuf {
    if !suffix.is_empty() {
        return dir.join(format!("{}{suffix}", input.name));
    }
    match input.name.strip_suffix(".seif") {
        Some(stem) if !stem.is_empty() => dir.join(stem),
        _ => dir.join(format!("{}.opened", input.name)),
    }
}

/// Checks the outputs before any share is asked for. Nothing is created
/// yet, so a refused step leaves no empty directory behind.
fn prepare_out(dir: &Path, outputs: &[PathBuf], force: bool) -> Result<(), Failure> {
    if dir.exists() && !dir.is_dir() {
        return Err(Failure::error(format!(
            "{} exists and is not a directory",
            dir.display()
        )));
    }
    for o in outputs {
        if !force && o.exists() {
            return Err(Failure::error(format!("{} already exists", o.display()))
                .hint("choose another --out, or pass --force"));
        }
    }
    Ok(())
}

/// Snapshots named on the command line, checked before any share is asked
/// for: they must be this vault's, sealed by a sealer it accepts.
pub fn precheck_snapshots(
    descriptor: &Descriptor,
    store: &Path,
    specs: &[PathBuf],
) -> Result<(Box<dyn seif::store::Store>, Vec<Record>), Failure> {
    let s = seif::store::open(
        &store.display().to_string(),
        &seif::store::S3Options::default(),
    )
    .map_err(|e| Failure::error(format!("store {}: {e}", store.display())))?;
    let (records, problems) =
        seif::snapshot::load_records(s.as_ref()).map_err(|e| Failure::error(e.to_string()))?;
    for (k, e) in &problems {
        report::warn(TOOL, &format!("{}: {k}: {e}", store.display()));
    }
    let mut out = Vec::new();
    let mut refused = Vec::new();
    // `all` names every snapshot in the store, oldest first.
    let found: Vec<(String, Result<&Record, String>)> = specs
        .iter()
        .flat_map(|spec| {
            let spec = spec.display().to_string();
            if spec == "all" {
                seif::snapshot::verify::ordered(&records)
                    .into_iter()
                    .map(|r| (r.hash.to_hex(), Ok(r)))
                    .collect::<Vec<_>>()
            } else {
                let r = seif::snapshot::find(&records, &spec);
                vec![(spec, r)]
            }
        })
        .collect();
    for (spec, found) in found {
        match found {
            Err(e) => refused.push(format!("{spec}: {e}")),
            Ok(r) if r.body.vault_id.0 != descriptor.vault_id() => refused.push(format!(
                "snapshot {}: belongs to another vault",
                r.body.snapshot_id
            )),
            Ok(r) if !descriptor.accepts_sealer(&r.sealer) => refused.push(format!(
                "snapshot {}: sealed by {}, a sealer the vault does not accept",
                r.body.snapshot_id,
                seif::untrusted::escape(&r.body.sealer)
            )),
            Ok(r) => out.push(r.clone()),
        }
    }
    if !refused.is_empty() {
        return Err(Failure::refused(format!(
            "refused before asking for shares: {}",
            refused.join("; ")
        )));
    }
    Ok((s, out))
}

fn open_snapshots(args: OpenArgs, store_dir: &Path) -> Result<(), Failure> {
    let mut vault = load_vault(&args.vault)?;
    let (store, records) = precheck_snapshots(&vault.descriptor, store_dir, &args.inputs)?;
    let outputs: Vec<PathBuf> = records
        .iter()
        .map(|r| args.out.join(r.body.snapshot_id.to_hex()))
        .collect();
    prepare_out(&args.out, &outputs, false)?;
    let (quorum, rejected) = reconstruct(&mut vault, &args.shares, "open")?;
    finalize_activation(&mut vault, &quorum)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::error(format!("cannot create {}: {e}", args.out.display())))?;
    let mut results = Vec::new();
    let mut failures = 0;
    for (r, out) in records.iter().zip(&outputs) {
        let ids: [&dyn age::Identity; 1] = [quorum.keys.age_identity()];
        let outcome = seif::snapshot::read::open_snapshot(
            store.as_ref(),
            r,
            &seif::snapshot::read::Identities(&ids),
        )
        .map_err(|e| e.to_string())
        .and_then(|(tables, keys)| {
            seif::snapshot::restore::restore(
                store.as_ref(),
                r,
                &tables,
                &keys,
                out,
                &[],
                seif::snapshot::restore::RestoreOptions::default(),
                &Default::default(),
            )
            .map_err(|e| e.to_string())
        });
        match outcome {
            Ok(s) => {
                println!(
                    "restored snapshot {} -> {} ({} files, {} bytes, each checked)",
                    r.body.snapshot_id,
                    out.display(),
                    s.files,
                    s.bytes
                );
                results.push(json!({"snapshot": r.body.snapshot_id, "record": r.hash, "output": out.display().to_string(), "files": s.files, "bytes": s.bytes, "outcome": "opened"}));
            }
            Err(e) => {
                failures += 1;
                report::warn(TOOL, &format!("snapshot {}: {e}", r.body.snapshot_id));
                results.push(json!({"snapshot": r.body.snapshot_id, "record": r.hash, "outcome": format!("failed: {e}")}));
            }
        }
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "open",
        json!({ "store": store.describe(), "snapshots": results }),
    )?;
    print_log_head(&vault.log);
    if failures > 0 {
        return Err(Failure::integrity(format!(
            "{failures} of {} snapshots failed to open (see above)",
            records.len()
        )));
    }
    Ok(())
}

fn grant_snapshots(args: GrantArgs, store_dir: &Path) -> Result<(), Failure> {
    let mut vault = load_vault(&args.vault)?;
    let (store, records) = precheck_snapshots(&vault.descriptor, store_dir, &args.inputs)?;
    let outputs: Vec<PathBuf> = records
        .iter()
        .map(|r| args.out.join(format!("{}.grant", r.body.snapshot_id)))
        .collect();
    prepare_out(&args.out, &outputs, args.force)?;
    let (quorum, rejected) = reconstruct(&mut vault, &args.shares, "grant")?;
    finalize_activation(&mut vault, &quorum)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::error(format!("cannot create {}: {e}", args.out.display())))?;
    let mut granted = Vec::new();
    for (r, out) in records.iter().zip(&outputs) {
        // A snapshot that reuses earlier snapshots' packs needs their keys
        // too: one file holds a grant for each.
        let ids: [&dyn age::Identity; 1] = [quorum.keys.age_identity()];
        let (tables, keys) = seif::snapshot::read::open_snapshot(
            store.as_ref(),
            r,
            &seif::snapshot::read::Identities(&ids),
        )
        .map_err(|e| Failure::integrity(e.to_string()))?;
        let mut text = String::new();
        for sid in tables.key_holders(r.body.snapshot_id) {
            let target = Target::Snapshot {
                snapshot_id: sid.to_hex(),
            };
            let grant = Grant::issue(
                &vault.descriptor,
                &quorum.keys,
                target,
                &keys[&sid],
                &args.to,
            )
            .map_err(|e| Failure::error(e.to_string()))?;
            text.push_str(&grant.to_json_pretty());
            text.push('\n');
        }
        seif::atomic::write_file(out, text.as_bytes(), 0o644, args.force)
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", out.display())))?;
        println!(
            "granted snapshot {} to {} -> {}",
            r.body.snapshot_id,
            args.to,
            out.display()
        );
        granted.push(json!({"snapshot": r.body.snapshot_id, "record": r.hash, "grant": out.display().to_string()}));
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "grant",
        json!({ "recipient": args.to, "store": store.describe(), "snapshots": granted }),
    )?;
    println!(
        "the recovery team restores with: seif restore --identity THEIR_KEY --grant SNAPSHOT.grant --vault vault.json --store STORE --out DIR SNAPSHOT"
    );
    print_log_head(&vault.log);
    Ok(())
}

pub fn run_open(args: OpenArgs) -> Result<(), Failure> {
    if let Some(dir) = args.store.clone() {
        return open_snapshots(args, &dir);
    }
    let mut vault = load_vault(&args.vault)?;
    let inputs = precheck_inputs(&vault.descriptor, &args.inputs, args.allow_unsigned)?;
    let outputs: Vec<PathBuf> = inputs
        .iter()
        .map(|i| output_path(&args.out, i, ""))
        .collect();
    prepare_out(&args.out, &outputs, args.force)?;
    let (quorum, rejected) = reconstruct(&mut vault, &args.shares, "open")?;
    finalize_activation(&mut vault, &quorum)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::error(format!("cannot create {}: {e}", args.out.display())))?;
    let identity = quorum.keys.age_identity();
    let mut results = Vec::new();
    let mut failures = 0;
    for (input, out_path) in inputs.iter().zip(&outputs) {
        let outcome = (|| -> Result<(u64, Option<String>), String> {
            let opener = Opener::new(File::open(&input.path).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let key = opener.unwrap_key(&[identity]).map_err(|e| e.to_string())?;
            let mut out = AtomicFile::create(out_path, args.force).map_err(|e| e.to_string())?;
            let opened = {
                let mut w = BufWriter::with_capacity(1 << 20, &mut out);
                let opened = opener
                    .decrypt_to(&key, &mut w, &OpenOptions::default())
                    .map_err(|e| e.to_string())?;
                std::io::Write::flush(&mut w).map_err(|e| e.to_string())?;
                opened
            };
            out.commit(0o600).map_err(|e| e.to_string())?;
            Ok((opened.content_len, opened.metadata.name))
        })();
        match outcome {
            Ok((len, original)) => {
                println!(
                    "opened {} -> {} ({len} bytes{})",
                    input.path.display(),
                    out_path.display(),
                    original
                        .as_ref()
                        .map_or(String::new(), |n| format!(", originally '{n}'"))
                );
                results.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "sealer": input.header.sealer.map(|s| s.to_string()), "output": out_path.display().to_string(), "bytes": len, "outcome": "opened"}));
            }
            Err(e) => {
                failures += 1;
                report::warn(
                    TOOL,
                    &format!("{}: {e}; nothing was written for it", input.path.display()),
                );
                results.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "outcome": format!("failed: {e}")}));
            }
        }
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "open",
        json!({ "inputs": results }),
    )?;
    print_log_head(&vault.log);
    if failures > 0 {
        return Err(Failure::integrity(format!(
            "{failures} of {} inputs failed to open (see above)",
            inputs.len()
        )));
    }
    Ok(())
}

pub fn run_grant(args: GrantArgs) -> Result<(), Failure> {
    seif::wrap::parse_recipient(&args.to).map_err(|e| Failure::error(format!("--to: {e}")))?;
    if let Some(dir) = args.store.clone() {
        return grant_snapshots(args, &dir);
    }
    let mut vault = load_vault(&args.vault)?;
    let inputs = precheck_inputs(&vault.descriptor, &args.inputs, args.allow_unsigned)?;
    let outputs: Vec<PathBuf> = inputs
        .iter()
        .map(|i| output_path(&args.out, i, ".grant"))
        .collect();
    prepare_out(&args.out, &outputs, args.force)?;
    let (quorum, rejected) = reconstruct(&mut vault, &args.shares, "grant")?;
    finalize_activation(&mut vault, &quorum)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::error(format!("cannot create {}: {e}", args.out.display())))?;
    let mut granted = Vec::new();
    for (input, out_path) in inputs.iter().zip(&outputs) {
        let key = seif::wrap::unwrap(
            &input.header.wrapped_key,
            &[quorum.keys.age_identity()],
            &input.header.commitment,
        )
        .map_err(|e| Failure::integrity(format!("{}: {e}", input.path.display())))?;
        let target = Target::SealedFile {
            name: input.name.clone(),
            header_hash: to_hex(&input.header.hash()),
        };
        let grant = Grant::issue(&vault.descriptor, &quorum.keys, target, &key, &args.to)
            .map_err(|e| Failure::error(e.to_string()))?;
        seif::atomic::write_file(
            out_path,
            grant.to_json_pretty().as_bytes(),
            0o644,
            args.force,
        )
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", out_path.display())))?;
        println!(
            "granted {} to {} -> {}",
            input.path.display(),
            args.to,
            out_path.display()
        );
        granted.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "grant": out_path.display().to_string()}));
    }
    record(
        &mut vault,
        &quorum,
        &rejected,
        "grant",
        json!({ "recipient": args.to, "inputs": granted }),
    )?;
    println!(
        "the recovery team opens each file with: seif open --identity THEIR_KEY --grant FILE.grant --vault vault.json -o OUTPUT FILE"
    );
    print_log_head(&vault.log);
    Ok(())
}

//! `seif-ceremony reshare` (a new share set of the same secret) and
//! `rotate` (a new secret, with the data keys of given sealed files
//! re-wrapped to it). Both write a new vault directory (`--out`), which
//! carries the ceremony log on; the old directory is left untouched.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE};
use seif::ceremony::{CeremonyError, issue_share_set, write_vault_dir};
use seif::descriptor::SetStatus;
use seif::encoding::to_hex;
use seif::keys::VaultKeys;
use seif::report::{self, Failure};
use seif::sealed::Header;
use seif::secrets::VaultSecret;
use serde_json::json;

use crate::TOOL;
use crate::context::{ShareArgs, Vault, VaultArgs, finalize_activation, load_vault, reconstruct};
use crate::init::{ceremony_failure, custodian_summary, parse_custodians, print_set_summary};
use crate::open::{precheck_inputs, precheck_snapshots};
use crate::prompt::Prompter;

#[derive(Args)]
pub struct ReshareArgs {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    shares: ShareArgs,
    /// The new set's threshold (at least 2).
    #[arg(long)]
    threshold: usize,
    /// A custodian of the new set: LABEL=pgp:FILE, LABEL=age:RECIPIENT or LABEL=passphrase.
    #[arg(long = "custodian", value_name = "LABEL=SPEC", required = true)]
    custodians: Vec<String>,
    /// The vault's new directory (vault.json, shares/, ceremony.log).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args)]
pub struct RotateArgs {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    shares: ShareArgs,
    /// The new set's threshold (default: the current one).
    #[arg(long)]
    threshold: Option<usize>,
    /// A custodian of the new secret: LABEL=pgp:FILE, LABEL=age:RECIPIENT or LABEL=passphrase.
    #[arg(long = "custodian", value_name = "LABEL=SPEC", required = true)]
    custodians: Vec<String>,
    /// The vault's new directory; re-wrapped files go to DIR/rotated/.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Accept unsigned sealed files.
    #[arg(long)]
    allow_unsigned: bool,
    /// A local copy of a store: the INPUTs are then snapshots in it, and a
    /// key wrapped to the new generation is added to the store for each.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Sealed files whose data keys to re-wrap to the new secret (or
    /// snapshots, with --store).
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

fn check_out(out: &Path) -> Result<(), Failure> {
    if out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(ceremony_failure(CeremonyError::OutputExists(out.into())));
    }
    Ok(())
}

/// Copies the log into the new directory and appends the step's entry.
fn carry_log(
    vault: &Vault,
    staging: &Path,
    descriptor: &seif::descriptor::Descriptor,
    keys: &VaultKeys,
    draft: Draft,
) -> Result<(), CeremonyError> {
    let to = staging.join(LOG_FILE);
    std::fs::copy(vault.log.path(), &to).map_err(|source| CeremonyError::Io {
        path: to.clone(),
        source,
    })?;
    let mut log = CeremonyLog::open(&to)?;
    log.append(descriptor, draft, Some(keys))?;
    Ok(())
}

pub fn run_reshare(args: ReshareArgs) -> Result<(), Failure> {
    let custodians = parse_custodians(&args.custodians)?;
    seif::shares::check_threshold(args.threshold, custodians.len())
        .map_err(|e| Failure::error(format!("--threshold {}: {e}", args.threshold)))?;
    check_out(&args.out)?;
    let mut vault = load_vault(&args.vault)?;
    let quorum = reconstruct(&mut vault, &args.shares, "reshare")?;
    finalize_activation(&mut vault, &quorum)?;
    let mut prompter = Prompter::new(&args.shares.passphrase_files)?;
    let d = &vault.descriptor;
    let issued = issue_share_set(
        &quorum.secret,
        d.vault_id(),
        d.body().generation,
        args.threshold,
        SetStatus::Pending,
        &custodians,
        &mut prompter,
    )
    .map_err(ceremony_failure)?;
    let old_set = d.active_set().id.clone();
    let new_set = issued.set.clone();
    let next = d
        .revise(&quorum.keys, |b| {
            for s in &mut b.share_sets {
                if s.status == SetStatus::Pending {
                    s.status = SetStatus::Retired;
                }
            }
            b.share_sets.push(issued.set);
        })
        .map_err(|e| Failure::error(e.to_string()))?;
    let draft = Draft {
        event: "reshare".into(),
        participants: quorum.participants.clone(),
        details: json!({"old_set": old_set, "new_set": new_set.id, "threshold": new_set.threshold, "count": new_set.custodians.len(), "custodians": custodian_summary(&new_set), "descriptor_revision": next.body().revision}),
    };
    write_vault_dir(&args.out, &next, &issued.files, |staging| {
        carry_log(&vault, staging, &next, &quorum.keys, draft)
    })
    .map_err(ceremony_failure)?;
    drop(quorum);
    println!(
        "new share set written to {} (the old directory is unchanged)",
        args.out.display()
    );
    print_set_summary(&next, &issued.files, &args.out);
    println!(
        "the new set is PENDING: it becomes active, and set {old_set} retired, once {} of its custodians have each run\n    seif-ceremony verify-share --vault {} {}/shares/LABEL.share.*",
        new_set.threshold,
        args.out.join("vault.json").display(),
        args.out.display()
    );
    let log =
        CeremonyLog::open(&args.out.join(LOG_FILE)).map_err(|e| Failure::error(e.to_string()))?;
    crate::context::print_log_head(&log);
    Ok(())
}

pub fn run_rotate(args: RotateArgs) -> Result<(), Failure> {
    let custodians = parse_custodians(&args.custodians)?;
    check_out(&args.out)?;
    let mut vault = load_vault(&args.vault)?;
    let threshold = args
        .threshold
        .unwrap_or(usize::from(vault.descriptor.active_set().threshold));
    seif::shares::check_threshold(threshold, custodians.len())
        .map_err(|e| Failure::error(format!("threshold {threshold}: {e}")))?;
    let (inputs, snapshots) = match &args.store {
        None => (
            precheck_inputs(&vault.descriptor, &args.inputs, args.allow_unsigned)?,
            None,
        ),
        Some(dir) => (
            Vec::new(),
            Some(precheck_snapshots(&vault.descriptor, dir, &args.inputs)?),
        ),
    };
    if args.inputs.is_empty() {
        report::warn(
            TOOL,
            "no sealed files given: anything sealed to the old key will need the old shares to open",
        );
    }
    let quorum = reconstruct(&mut vault, &args.shares, "rotate")?;
    finalize_activation(&mut vault, &quorum)?;
    let mut prompter = Prompter::new(&args.shares.passphrase_files)?;
    let new_secret = VaultSecret::generate();
    let new_keys = VaultKeys::derive(&new_secret);
    let d = &vault.descriptor;
    let generation = d.body().generation + 1;
    let issued = issue_share_set(
        &new_secret,
        d.vault_id(),
        generation,
        threshold,
        SetStatus::Active,
        &custodians,
        &mut prompter,
    )
    .map_err(ceremony_failure)?;
    let new_set = issued.set.clone();
    let next = d
        .rotate(&quorum.keys, &new_keys, |b| {
            for s in &mut b.share_sets {
                s.status = SetStatus::Retired;
            }
            b.share_sets.push(issued.set);
        })
        .map_err(|e| Failure::error(e.to_string()))?;
    let recipients = next.body().recipients.clone();
    let mut rotated = Vec::new();
    write_vault_dir(&args.out, &next, &issued.files, |staging| {
        let dir = staging.join("rotated");
        std::fs::create_dir(&dir).map_err(|source| CeremonyError::Io { path: dir.clone(), source })?;
        for input in &inputs {
            let to = dir.join(&input.name);
            rewrap_file(&input.path, &to, &quorum.keys, &recipients).map_err(|source| CeremonyError::Io { path: input.path.clone(), source })?;
            rotated.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "output": format!("rotated/{}", input.name)}));
        }
        // Snapshots: a key wrapped to the new generation, beside the old one,
        // in the store copy (the record and the data are untouched).
        if let Some((store, records)) = &snapshots {
            for r in records {
                let key = seif::snapshot::unwrap_key(store.as_ref(), r, &[quorum.keys.age_identity()])
                    .map_err(|e| CeremonyError::Io { path: PathBuf::from(&r.body.snapshot_id), source: std::io::Error::other(e.to_string()) })?;
                let env = seif::snapshot::key_envelope::KeyEnvelope::wrap(&key, &r.body.vault_id, &r.body.snapshot_id, generation, &recipients)
                    .map_err(|e| CeremonyError::Io { path: PathBuf::from(&r.body.snapshot_id), source: std::io::Error::other(e.to_string()) })?;
                store.put(&env.store_key(), &env.to_bytes()).map_err(|e| CeremonyError::Io { path: PathBuf::from(store.describe()), source: std::io::Error::other(e.to_string()) })?;
                rotated.push(json!({"snapshot": r.body.snapshot_id, "record": r.hash, "key": env.store_key()}));
            }
        }
        let draft = Draft {
            event: "rotate".into(),
            participants: quorum.participants.clone(),
            details: json!({"old_generation": generation - 1, "new_generation": generation, "new_set": new_set.id, "threshold": new_set.threshold, "custodians": custodian_summary(&new_set), "inputs": rotated}),
        };
        carry_log(&vault, staging, &next, &new_keys, draft)
    })
    .map_err(ceremony_failure)?;
    drop((quorum, new_secret));
    println!(
        "vault key rotated to generation {generation}; written to {} (the old directory is unchanged)",
        args.out.display()
    );
    print_set_summary(&next, &issued.files, &args.out);
    for input in &inputs {
        println!(
            "  re-wrapped {} -> {}",
            input.path.display(),
            args.out.join("rotated").join(&input.name).display()
        );
    }
    println!(
        "replace the old sealed files with the re-wrapped ones at every store, then destroy the old shares: until then they still open the old copies"
    );
    let log =
        CeremonyLog::open(&args.out.join(LOG_FILE)).map_err(|e| Failure::error(e.to_string()))?;
    crate::context::print_log_head(&log);
    Ok(())
}

/// Writes a copy of a sealed file whose data key is wrapped to `recipients`
/// instead. The signed header, the chunks and the trailer are copied byte
/// for byte: nothing is re-encrypted and the sealer's signature still holds.
fn rewrap_file(
    from: &Path,
    to: &Path,
    old: &VaultKeys,
    recipients: &[String],
) -> std::io::Result<()> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut input = BufReader::new(File::open(from)?);
    let header = Header::read(&mut input).map_err(|e| invalid(e.to_string()))?;
    let key = seif::wrap::unwrap(
        &header.wrapped_key,
        &[old.age_identity()],
        &header.commitment,
    )
    .map_err(|e| invalid(e.to_string()))?;
    let new_header = Header {
        wrapped_key: seif::wrap::wrap(&key, recipients).map_err(|e| invalid(e.to_string()))?,
        ..header
    };
    let mut out = seif::atomic::AtomicFile::create(to, false)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, &mut out);
        w.write_all(&new_header.encode())?;
        std::io::copy(&mut input, &mut w)?;
        w.flush()?;
    }
    out.commit(0o644)
}

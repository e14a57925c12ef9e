//! `seif-ceremony reshare` (a new share set of the same secret) and
//! `rotate` (a new secret, with the data keys of given sealed files
//! re-wrapped to it). Both write a new vault directory (`--out`), which
//! carries the ceremony log on; the old directory is left untouched.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use seif::ceremony::evidence::{FileRecord, HashingWriter, hash_bytes};
use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE};
use seif::ceremony::precheck::Need;
use seif::ceremony::{CeremonyError, issue_share_set, write_vault_dir};
use seif::descriptor::SetStatus;
use seif::encoding::to_hex;
use seif::keys::VaultKeys;
use seif::sealed::Header;
use seif::secrets::VaultSecret;
use seif::snapshot::key_envelope::KeyEnvelope;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::context::{
    ShareArgs, Vault, VaultArgs, check_out_dir, file_read, finalize_activation, gather_shares,
    load_vault, reconstruct,
};
use crate::init::{
    NewCustodians, ceremony_failure, custodian_summary, parse_custodians, print_set_summary,
    written_files,
};
use crate::open::{hash_inputs, precheck_snapshots, refused};
use crate::{Session, TOOL, say, screen};

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
    /// The post-quantum upgrade of a classic vault: the new generation
    /// wraps with the hybrid mlkem768x25519 recipient only (and requires
    /// it), every re-wrapped key is checked to open with it alone, and with
    /// --store a signed upgrade list lets the host then delete the classic
    /// envelopes (`seif drop-classic-keys`).
    #[arg(long)]
    post_quantum: bool,
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
    check_out_dir(out)
}

/// Copies the log into the new directory and appends the step's entry,
/// with the session's witnesses and note.
fn carry_log(
    vault: &Vault,
    staging: &Path,
    descriptor: &seif::descriptor::Descriptor,
    keys: &VaultKeys,
    draft: Draft,
    session: &Session,
) -> Result<(), CeremonyError> {
    let to = staging.join(LOG_FILE);
    std::fs::copy(vault.log.path(), &to).map_err(|source| CeremonyError::Io {
        path: to.clone(),
        source,
    })?;
    let mut log = CeremonyLog::open(&to)?;
    log.attend(session.attendance.clone());
    log.append(descriptor, draft, Some(keys))?;
    Ok(())
}

/// The closing summary of a step that wrote a new vault directory: the
/// entries after the `since` of the log it carried on.
fn summarize_new_dir(step: &str, out: &Path, since: usize) -> Result<CeremonyLog, Failure> {
    let log = CeremonyLog::open(&out.join(LOG_FILE)).map_err(|e| Failure::error(e.to_string()))?;
    let d = crate::context::load_descriptor(&out.join(seif::ceremony::VAULT_FILE))?;
    crate::context::print_log_head(&log);
    screen::print_summary(&screen::summary(step, &d, &log, since));
    Ok(log)
}

pub fn run_reshare(args: ReshareArgs, session: &Session) -> Result<(), Failure> {
    let NewCustodians {
        specs: custodians,
        files: cert_files,
    } = parse_custodians(&args.custodians)?;
    seif::shares::check_threshold(args.threshold, custodians.len())
        .map_err(|e| Failure::error(format!("--threshold {}: {e}", args.threshold)))?;
    crate::init::warn_no_margin(args.threshold, custodians.len());
    check_out(&args.out)?;
    let mut vault = load_vault(&args.vault, session)?;
    let mut files = vec![file_read(&args.vault.vault)?];
    files.extend(cert_files);
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(&mut vault, &mut gathered, "reshare", &files)?;
    finalize_activation(&mut vault, &quorum)?;
    let since = vault.log.entries().len();
    let prompter = gathered.prompter();
    let d = &vault.descriptor;
    let issued = issue_share_set(
        &quorum.secret,
        d.vault_id(),
        d.body().generation,
        args.threshold,
        SetStatus::Pending,
        &custodians,
        prompter,
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
    files.extend(written_files(&args.out, &next, &issued.files)?);
    let draft = Draft {
        event: "reshare".into(),
        participants: quorum.participants.clone(),
        details: json!({"old_set": old_set, "new_set": new_set.id, "threshold": new_set.threshold, "count": new_set.custodians.len(), "custodians": custodian_summary(&new_set), "descriptor_revision": next.body().revision, "rejected_shares": rejected}),
        files,
    };
    write_vault_dir(&args.out, &next, &issued.files, |staging| {
        carry_log(&vault, staging, &next, &quorum.keys, draft, session)
    })
    .map_err(ceremony_failure)?;
    drop(quorum);
    say!(
        "new share set written to {} (the old directory is unchanged)",
        args.out.display()
    );
    print_set_summary(&next, &issued.files, &args.out);
    say!(
        "the new set is PENDING: it becomes active, and set {old_set} retired, once {} of its custodians have each run\n    seif-ceremony verify-share --vault {} [--identity THEIR_KEY] {}/shares/LABEL.share.*",
        new_set.threshold,
        args.out.join("vault.json").display(),
        args.out.display()
    );
    summarize_new_dir("reshare", &args.out, since)?;
    Ok(())
}

pub fn run_rotate(args: RotateArgs, session: &Session) -> Result<(), Failure> {
    let NewCustodians {
        specs: custodians,
        files: cert_files,
    } = parse_custodians(&args.custodians)?;
    check_out(&args.out)?;
    let mut vault = load_vault(&args.vault, session)?;
    if args.post_quantum && vault.descriptor.is_pq() {
        return Err(Failure::usage(format!(
            "{}: the vault is already post-quantum (its recipient is age1pq1…): there is nothing to upgrade",
            args.vault.vault.display()
        ))
        .hint("a plain `seif-ceremony rotate` (without --post-quantum) keeps a post-quantum vault post-quantum"));
    }
    let mut files = vec![file_read(&args.vault.vault)?];
    files.extend(cert_files);
    let threshold = args
        .threshold
        .unwrap_or(usize::from(vault.descriptor.active_set().threshold));
    seif::shares::check_threshold(threshold, custodians.len())
        .map_err(|e| Failure::error(format!("threshold {threshold}: {e} (pass --threshold)")))?;
    crate::init::warn_no_margin(threshold, custodians.len());
    // An INPUT that is a file is a sealed file; with --store, anything else
    // names snapshots (`all` for every one).
    let (file_args, snapshot_args): (Vec<PathBuf>, Vec<PathBuf>) =
        args.inputs.iter().cloned().partition(|p| p.is_file());
    if !snapshot_args.is_empty() && args.store.is_none() {
        return Err(Failure::error(format!(
            "{}: no such file (snapshots need --store DIR)",
            snapshot_args[0].display()
        )));
    }
    let inputs =
        seif::ceremony::precheck::sealed_files(&vault.descriptor, &file_args, args.allow_unsigned)
            .map_err(refused)?;
    files.extend(hash_inputs(&inputs)?);
    let snapshots = match &args.store {
        None => None,
        Some(dir) => Some(precheck_snapshots(&vault.descriptor, dir, &snapshot_args)?),
    };
    if args.inputs.is_empty() {
        report::warn(
            TOOL,
            "no sealed files or snapshots given: anything sealed to the old key will need the old shares to open",
        );
    }
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(&mut vault, &mut gathered, "rotate", &files)?;
    finalize_activation(&mut vault, &quorum)?;
    let since = vault.log.entries().len();

    // Every data key first: a file or snapshot the old key cannot open
    // (another generation, damage) stops the rotation before anything is
    // written.
    let old = quorum.keys.identities();
    let mut unopenable = Vec::new();
    for input in &inputs {
        if let Err(e) =
            seif::wrap::unwrap(&input.header.wrapped_key, &old, &input.header.commitment)
        {
            unopenable.push(format!("{}: {e} (is it wrapped to an earlier key generation? use the copy re-wrapped by that rotation)", input.path.display()));
        }
    }
    // Every key a chosen snapshot needs: its own, and those of the earlier
    // snapshots whose packs it reuses (once each).
    let mut snapshot_keys: Vec<(
        seif::ids::SnapshotId,
        seif::ids::BlobId,
        seif::secrets::DataKey,
    )> = Vec::new();
    if let Some((store, records)) = &snapshots {
        for r in records {
            match seif::snapshot::read::open_snapshot(
                store.as_ref(),
                r,
                &seif::snapshot::read::Identities(&old),
            ) {
                Ok((tables, mut keys)) => {
                    for sid in tables.key_holders(r.body.snapshot_id) {
                        if !snapshot_keys.iter().any(|(s, _, _)| *s == sid)
                            && let Some(k) = keys.remove(&sid)
                        {
                            snapshot_keys.push((sid, r.hash, k));
                        }
                    }
                }
                Err(e) => unopenable.push(format!("snapshot {}: {e}", r.body.snapshot_id)),
            }
        }
    }
    if args.post_quantum
        && let Some((store, _)) = &snapshots
    {
        let covered: std::collections::BTreeSet<_> =
            snapshot_keys.iter().map(|(s, _, _)| *s).collect();
        warn_snapshots_left_out(store.as_ref(), &covered);
    }
    if !unopenable.is_empty() {
        return Err(Failure::integrity(format!(
            "nothing was rotated: {}",
            unopenable.join("; ")
        )));
    }

    let prompter = gathered.prompter();
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
        prompter,
    )
    .map_err(ceremony_failure)?;
    let new_set = issued.set.clone();
    let retire_and_add = |b: &mut seif::descriptor::DescriptorBody| {
        for s in &mut b.share_sets {
            s.status = SetStatus::Retired;
        }
        b.share_sets.push(issued.set);
    };
    let next = if args.post_quantum {
        d.rotate_to_post_quantum(&quorum.keys, &new_keys, retire_and_add)
    } else {
        d.rotate(&quorum.keys, &new_keys, retire_and_add)
    }
    .map_err(|e| Failure::error(e.to_string()))?;
    let target = Rewrap {
        recipients: next.body().recipients.clone(),
        require_pq: next.require_pq(),
        keys: &new_keys,
    };
    let mut upgrade_list = None;
    files.extend(written_files(&args.out, &next, &issued.files)?);
    let mut rotated = Vec::new();
    let mut lines = Vec::new();
    let other = |path: String, e: String| CeremonyError::Io {
        path: PathBuf::from(path),
        source: std::io::Error::other(e),
    };
    write_vault_dir(&args.out, &next, &issued.files, |staging| {
        if !inputs.is_empty() {
            let dir = staging.join("rotated");
            std::fs::create_dir(&dir).map_err(|source| CeremonyError::Io { path: dir.clone(), source })?;
            for input in &inputs {
                let to = dir.join(&input.name);
                let (sha256, n) = rewrap_file(&input.path, &to, &quorum.keys, &target).map_err(|source| CeremonyError::Io { path: input.path.clone(), source })?;
                let final_path = args.out.join("rotated").join(&input.name);
                files.push(FileRecord::written(&final_path, sha256, n).map_err(|source| CeremonyError::Io { path: final_path.clone(), source })?);
                seif::killpoint::reached("rotate:file-rewrapped");
                rotated.push(json!({"input": input.name, "header_hash": to_hex(&input.header.hash()), "output": format!("rotated/{}", input.name)}));
                lines.push(format!("  re-wrapped and checked {} -> {}", input.path.display(), args.out.join("rotated").join(&input.name).display()));
            }
        }
        // Snapshots: a key wrapped to the new generation, beside the old one,
        // in the store copy (the record and the data are untouched).
        if let Some((store, records)) = &snapshots {
            let _ = records;
            let vault_id = seif::ids::VaultId(d.vault_id());
            let mut listed = Vec::new();
            for (sid, via, key) in &snapshot_keys {
                let env = target.envelope(key, vault_id, *sid, generation)
                    .map_err(|e| other(sid.to_hex(), e))?;
                let bytes = env.to_bytes();
                store.put(&env.store_key(), &bytes).map_err(|e| other(store.describe(), e.to_string()))?;
                if let Some(dir) = &args.store {
                    let path = dir.join(env.store_key());
                    let (sha256, n) = hash_bytes(&bytes);
                    files.push(FileRecord::written(&path, sha256, n).map_err(|source| CeremonyError::Io { path: path.clone(), source })?);
                }
                seif::killpoint::reached("rotate:key-added");
                rotated.push(json!({"snapshot": sid, "record": via, "key": env.store_key()}));
                lines.push(format!("  snapshot {sid}: key for generation {generation} added as {}/{}", store.describe(), env.store_key()));
                listed.push(seif::snapshot::upgrade_list::ListedEnvelope { snapshot_id: *sid, envelope: seif::ids::BlobId::of(&bytes) });
            }
            // The upgrade: the vault's word, for a keyless host, that each
            // of these post-quantum envelopes was checked, so it may delete
            // the classic ones (FORMAT.md §8.10).
            if args.post_quantum {
                let written = write_upgrade_list(store.as_ref(), args.store.as_deref().expect("snapshots come with --store"), staging, &args.out, &new_keys, vault_id, generation, listed)?;
                lines.push(format!("  upgrade list signed by generation {generation}: {}/{} (and {})", store.describe(), written.store_key, args.out.join(UPGRADE_LIST_FILE).display()));
                files.extend(written.files);
                upgrade_list = Some(written.store_key);
            }
        }
        let draft = Draft {
            event: "rotate".into(),
            participants: quorum.participants.clone(),
            details: post_quantum_details(json!({"old_generation": generation - 1, "new_generation": generation, "new_set": new_set.id, "threshold": new_set.threshold,
                "custodians": custodian_summary(&new_set), "inputs": rotated, "rejected_shares": rejected}), args.post_quantum, &upgrade_list),
            files: std::mem::take(&mut files),
        };
        carry_log(&vault, staging, &next, &new_keys, draft, session)
    })
    .map_err(ceremony_failure)?;
    drop((quorum, new_secret));
    say!(
        "vault key rotated to generation {generation}; written to {} (the old directory is unchanged)",
        args.out.display()
    );
    print_set_summary(&next, &issued.files, &args.out);
    for l in &lines {
        say!("{l}");
    }
    if !inputs.is_empty() {
        say!(
            "replace the old sealed files with the re-wrapped ones at every store: until then the old shares still open the old copies"
        );
    }
    if args.post_quantum {
        say!(
            "the vault is now post-quantum (generation {generation}: the mlkem768x25519 recipient only, require_pq set)"
        );
    }
    if snapshots.is_some() && args.post_quantum {
        say!(
            "at every host that holds these snapshots: `seif sync --vault NEW/vault.json --from THIS-COPY --to STORE` adds the post-quantum envelopes and the signed upgrade list, then `seif drop-classic-keys --vault NEW/vault.json --store STORE` deletes the classic-only envelopes (ceremony/runbook/rotate.md, the post-quantum upgrade)"
        );
    } else if snapshots.is_some() {
        say!(
            "add the store's new keys/ entries to every host that holds these snapshots (they are public; records and data are unchanged): `seif sync --vault NEW/vault.json --from THIS-COPY --to STORE` adds them, checked, and replaces nothing"
        );
    }
    say!("then destroy the old shares (ceremony/runbook/rotate.md)");
    summarize_new_dir("rotate", &args.out, since)?;
    Ok(())
}

/// Warns when an upgrade re-wraps the keys of only some of the snapshots
/// in the store copy (the others were not named, nor are they bases of a
/// named one): those keep their classic-only keys, and the host step
/// deletes nothing while any is there. A warning, not a refusal: a
/// snapshot may be meant to expire (its classic key goes when it is
/// pruned).
fn warn_snapshots_left_out(
    store: &dyn seif::store::Store,
    covered: &std::collections::BTreeSet<seif::ids::SnapshotId>,
) {
    // What the host step goes by: every snapshot with an envelope under
    // keys/ (a pruned snapshot has none, and needs nothing).
    let Ok(listing) = store.list("keys/") else {
        return; // precheck_snapshots has just read this store; the host step names any problem
    };
    let left: std::collections::BTreeSet<_> = listing
        .blobs
        .iter()
        .filter_map(|b| b.key.split('/').nth(1))
        .filter_map(|s| seif::ids::SnapshotId::from_hex(s).ok())
        .filter(|s| !covered.contains(s))
        .collect();
    if let Some(first) = left.first() {
        report::warn(
            TOOL,
            &format!(
                "--post-quantum: {} snapshot(s) with a key in the store copy are left out (the first: {first}): their data keys stay classic-only, openable only with the old shares, and `seif drop-classic-keys` deletes nothing while they are there; to include them, discard the new directory (nothing from it leaves the room) and run again naming them, or `all`",
                left.len()
            ),
        );
    }
}

/// The file in the new vault directory that holds a copy of the signed
/// upgrade list (the store copy holds it under `upgrades/`).
const UPGRADE_LIST_FILE: &str = "pq-upgrade.json";

/// What a rotation re-wraps data keys to: the new generation's recipients
/// under its policy, and its keys to check each wrap with.
struct Rewrap<'a> {
    recipients: Vec<String>,
    require_pq: bool,
    keys: &'a VaultKeys,
}

impl Rewrap<'_> {
    /// Wraps a data key, then checks the wrap before anything is written:
    /// it opens with the new generation's identity to the same key (the
    /// commitment), and for a post-quantum generation it holds
    /// mlkem768x25519 stanzas only and opens with the hybrid identity
    /// alone, so a classic stanza can neither slip in nor be what works.
    fn wrap(&self, key: &seif::secrets::DataKey) -> Result<Vec<u8>, String> {
        let wrapped = seif::wrap::wrap_with_policy(key, &self.recipients, self.require_pq)
            .map_err(|e| e.to_string())?;
        let commitment = seif::wrap::key_commitment(key);
        let all = self.keys.identities();
        let with: &[&dyn age::Identity] = if self.require_pq {
            if seif::wrap::is_pq_only(&wrapped) != Some(true) {
                return Err("the re-wrapped key is not wrapped post-quantum only".into());
            }
            &all[..1]
        } else {
            &all[..]
        };
        seif::wrap::unwrap(&wrapped, with, &commitment)
            .map_err(|e| format!("the re-wrapped key does not open with the new key: {e}"))?;
        Ok(wrapped)
    }

    /// A snapshot's key envelope for the new generation, checked as
    /// [`Rewrap::wrap`] says.
    fn envelope(
        &self,
        key: &seif::secrets::DataKey,
        vault_id: seif::ids::VaultId,
        snapshot_id: seif::ids::SnapshotId,
        generation: u32,
    ) -> Result<KeyEnvelope, String> {
        let wrapped = self.wrap(key)?;
        Ok(KeyEnvelope::from_wrapped(
            key,
            vault_id,
            snapshot_id,
            generation,
            &wrapped,
        ))
    }
}

/// Where the signed upgrade list went.
struct WrittenList {
    store_key: String,
    files: Vec<FileRecord>,
}

/// Signs the upgrade list with the new generation's key, and writes it to
/// the store copy (`upgrades/<sha256>`) and the new vault directory.
#[allow(clippy::too_many_arguments)]
fn write_upgrade_list(
    store: &dyn seif::store::Store,
    store_dir: &Path,
    staging: &Path,
    out: &Path,
    keys: &VaultKeys,
    vault_id: seif::ids::VaultId,
    generation: u32,
    listed: Vec<seif::snapshot::upgrade_list::ListedEnvelope>,
) -> Result<WrittenList, CeremonyError> {
    use seif::snapshot::upgrade_list::UpgradeList;
    let io = |path: PathBuf, e: String| CeremonyError::Io {
        path,
        source: std::io::Error::other(e),
    };
    let bytes = UpgradeList::sign(keys, vault_id, generation, listed)
        .map_err(|e| io(out.join(UPGRADE_LIST_FILE), e.to_string()))?;
    let store_key = UpgradeList::store_key(&bytes);
    store
        .put(&store_key, &bytes)
        .map_err(|e| io(PathBuf::from(store.describe()), e.to_string()))?;
    let staged = staging.join(UPGRADE_LIST_FILE);
    std::fs::write(&staged, &bytes).map_err(|source| CeremonyError::Io {
        path: staged.clone(),
        source,
    })?;
    seif::killpoint::reached("rotate:upgrade-list-written");
    let (sha256, n) = hash_bytes(&bytes);
    let mut files = Vec::new();
    for path in [store_dir.join(&store_key), out.join(UPGRADE_LIST_FILE)] {
        files.push(
            FileRecord::written(&path, sha256.clone(), n).map_err(|source| CeremonyError::Io {
                path: path.clone(),
                source,
            })?,
        );
    }
    Ok(WrittenList { store_key, files })
}

/// A rotation's log details, marked when it was the post-quantum upgrade.
fn post_quantum_details(
    mut details: serde_json::Value,
    post_quantum: bool,
    upgrade_list: &Option<String>,
) -> serde_json::Value {
    if post_quantum {
        details["post_quantum_upgrade"] = json!(true);
        details["upgrade_list"] = json!(upgrade_list);
    }
    details
}

/// Writes a copy of a sealed file whose data key is wrapped to the new
/// generation instead (checked, see [`Rewrap::wrap`]). The signed header, the chunks and the trailer are copied byte
/// for byte: nothing is re-encrypted and the sealer's signature still holds.
/// The copy is then opened in full (to nowhere), so a damaged file is
/// refused rather than passed on as if it were good.
/// Returns the copy's SHA-256 (hex) and size.
fn rewrap_file(
    from: &Path,
    to: &Path,
    old: &VaultKeys,
    target: &Rewrap,
) -> std::io::Result<(String, u64)> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut input = BufReader::new(File::open(from)?);
    let header = Header::read(&mut input).map_err(|e| invalid(e.to_string()))?;
    let key = seif::wrap::unwrap(&header.wrapped_key, &old.identities(), &header.commitment)
        .map_err(|e| invalid(e.to_string()))?;
    let new_header = Header {
        wrapped_key: target.wrap(&key).map_err(invalid)?,
        ..header
    };
    let mut out = seif::atomic::AtomicFile::create(to, false)?;
    let (sha256, n) = {
        let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, &mut out));
        w.write_all(&new_header.encode())?;
        std::io::copy(&mut input, &mut w)?;
        w.flush()?;
        let (sha256, n, _) = w.finish();
        (sha256, n)
    };
    let check = out.reopen()?;
    let opener = seif::sealed::open::Opener::new(BufReader::new(check))
        .map_err(|e| invalid(e.to_string()))?;
    opener
        .decrypt_to(&key, &mut std::io::sink(), &Default::default())
        .map_err(|e| {
            invalid(format!(
                "{}: {e}; not re-wrapped: rotate an intact copy",
                from.display()
            ))
        })?;
    out.commit(0o644)?;
    Ok((sha256, n))
}

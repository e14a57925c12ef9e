//! What every quorum step shares: loading vault.json and the ceremony log,
//! reading the presented shares (naming each bad one), bringing the key back,
//! and recording the step.

use std::path::{Path, PathBuf};

use clap::Args;
use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE};
use seif::ceremony::quorum::{self, Presented, Quorum};
pub use seif::ceremony::vault::Vault;
use seif::ceremony::vault::VaultError;
use seif::custody::{Identities, open_share, read_share_bytes};
use seif::descriptor::Descriptor;
use seif::untrusted::Shown;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::TOOL;
use crate::prompt::Prompter;

/// The vault a step works on.
#[derive(Args, Clone)]
pub struct VaultArgs {
    /// The vault descriptor.
    #[arg(long, value_name = "FILE")]
    pub vault: PathBuf,
    /// The ceremony log (default: ceremony.log beside vault.json).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The vault fingerprint the witnesses recorded at init (64 hex digits,
    /// spaces allowed): refuse any other vault.
    #[arg(long, value_name = "FINGERPRINT")]
    pub expect_vault: Option<String>,
}

/// The shares presented, and what opens them.
#[derive(Args, Clone)]
pub struct ShareArgs {
    /// A share file (encrypted, or already decrypted); `-` reads a decrypted
    /// share from stdin (`gpg -d alice.share.asc | seif-ceremony … --share -`).
    #[arg(long = "share", value_name = "SHARE", required = true)]
    pub shares: Vec<PathBuf>,
    /// An OpenPGP secret key file or an age identity file that opens a share.
    #[arg(long = "identity", value_name = "KEY")]
    pub identities: Vec<PathBuf>,
    /// Read a passphrase from FILE instead of a prompt; KEY is a custodian
    /// label or an OpenPGP key fingerprint.
    #[arg(long = "passphrase-file", value_name = "KEY=FILE")]
    pub passphrase_files: Vec<String>,
}

/// Loads vault.json as both binaries do (`seif_cli::files::load_vault`).
pub fn load_descriptor(path: &Path) -> Result<Descriptor, Failure> {
    seif_cli::files::load_vault(path)
}

pub fn log_path(args: &VaultArgs) -> PathBuf {
    args.log.clone().unwrap_or_else(|| {
        args.vault
            .parent()
            .map_or_else(|| PathBuf::from(LOG_FILE), |d| d.join(LOG_FILE))
    })
}

/// Refuses a vault other than the one the witnesses recorded.
pub fn check_expected(args: &VaultArgs, d: &Descriptor) -> Result<(), Failure> {
    let Some(expected) = &args.expect_vault else {
        return Ok(());
    };
    let expected: String = expected
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if expected != d.body().vault_id {
        return Err(Failure::integrity(format!(
            "{} is the vault {}, not the recorded {}",
            args.vault.display(),
            seif::descriptor::format_fingerprint(&d.body().vault_id),
            seif::descriptor::format_fingerprint(&expected)
        ))
        .hint("use the vault.json the ceremony records name; stop the ceremony if none matches"));
    }
    Ok(())
}

/// The line every step prints first, for the witnesses to compare.
pub fn print_vault_line(d: &Descriptor) {
    let b = d.body();
    println!(
        "vault '{}', fingerprint {} (vault.json revision {}, key generation {})",
        Shown(&b.name),
        seif::descriptor::format_fingerprint(&b.vault_id),
        b.revision,
        b.generation
    );
}

/// Loads vault.json and its log, and checks them against each other. A
/// step that was interrupted after it was logged and before it wrote
/// vault.json is completed here, and said so.
pub fn load_vault(args: &VaultArgs) -> Result<Vault, Failure> {
    let descriptor = load_descriptor(&args.vault)?;
    check_expected(args, &descriptor)?;
    print_vault_line(&descriptor);
    attach_log(&args.vault, descriptor, &log_path(args))
}

/// Attaches the log to vault.json (`Vault::attach_log`), and says so when a
/// step interrupted before it wrote vault.json was completed from the log.
pub fn attach_log(vault_json: &Path, descriptor: Descriptor, log: &Path) -> Result<Vault, Failure> {
    let (vault, completed) =
        Vault::attach_log(vault_json, descriptor, log).map_err(vault_failure)?;
    if let Some(c) = completed {
        report::note(
            TOOL,
            &format!(
                "the step of log entry {} ({}) was interrupted before it wrote vault.json; vault.json revision {} was written from the log, completing it",
                c.entry, c.event, c.revision
            ),
        );
    }
    Ok(vault)
}

/// A person's message for a vault that cannot be loaded or changed.
pub fn vault_failure(e: VaultError) -> Failure {
    Failure::from(e)
}

/// Reads the presented shares. Returns the decrypted ones and a named
/// problem for each that could not be read or decrypted.
pub fn read_shares(
    args: &ShareArgs,
    prompter: &mut Prompter,
) -> Result<(Vec<Presented>, Vec<String>), Failure> {
    let mut ids = Identities::default();
    for path in &args.identities {
        ids.add_file(path)
            .map_err(|e| Failure::error(format!("identity {}: {e}", path.display())))?;
    }
    if args.shares.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(Failure::error("only one --share can read stdin ('-')"));
    }
    let mut presented = Vec::new();
    let mut problems = Vec::new();
    for path in &args.shares {
        let (source, bytes) = if path.as_os_str() == "-" {
            (
                "stdin".to_owned(),
                read_share_bytes(std::io::stdin().lock()),
            )
        } else {
            let source = path.display().to_string();
            let bytes = std::fs::File::open(path).and_then(read_share_bytes);
            (source, bytes)
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("share {source}: cannot be read: {e}"));
                continue;
            }
        };
        if bytes.is_empty() {
            problems.push(format!(
                "share {source}: it is empty (did the decryption that feeds it, e.g. gpg -d, fail?)"
            ));
            continue;
        }
        match open_share(&bytes, &ids, prompter) {
            // A share from a pipe is named by its custodian, once known.
            Ok(share) if source == "stdin" => {
                let source = format!("stdin ({})", share.custodian);
                presented.push(Presented { source, share })
            }
            Ok(share) => presented.push(Presented { source, share }),
            Err(e) => problems.push(format!("share {source}: {e}")),
        }
    }
    Ok((presented, problems))
}

/// Checks and combines the shares. Every bad share is named; with too few
/// good ones the refusal is logged (unsigned) and returned.
pub fn reconstruct(
    vault: &mut Vault,
    shares: &ShareArgs,
    step: &str,
) -> Result<(Quorum, Vec<String>), Failure> {
    let mut prompter = Prompter::new(&shares.passphrase_files)?;
    let (presented, mut problems) = read_shares(shares, &mut prompter)?;
    let good = quorum::assess(&vault.descriptor, &vault.log, presented, &mut problems);
    for p in &problems {
        report::warn(TOOL, p);
    }
    match quorum::reconstruct(&vault.descriptor, &vault.log, &good) {
        Ok(q) => {
            println!(
                "key check passed: {} shares of set {} reconstructed the vault key of '{}' (generation {})",
                q.participants.len(),
                q.set_id,
                Shown(&vault.descriptor.body().name),
                vault.descriptor.body().generation
            );
            Ok((q, problems))
        }
        Err(e) => {
            let draft = Draft {
                event: "refused".into(),
                participants: vec![],
                details: json!({ "step": step, "reason": e.to_string(), "problems": problems }),
            };
            let logged = vault.record(None, draft);
            let f = Failure::from(e);
            let f = if problems.is_empty() {
                f
            } else {
                f.hint(format!(
                    "{} share(s) were not usable; see the warnings above",
                    problems.len()
                ))
            };
            if let Err(le) = logged {
                report::warn(TOOL, &format!("the refusal could not be logged: {le}"));
            }
            Err(f)
        }
    }
}

/// If a pending share set has been verified by its threshold of custodians,
/// records the switch in vault.json (a new revision) and the log.
pub fn finalize_activation(vault: &mut Vault, quorum: &Quorum) -> Result<(), Failure> {
    if let Some(a) = vault
        .activate_if_due(&quorum.keys, &quorum.participants)
        .map_err(vault_failure)?
    {
        println!(
            "share set {} was verified by its custodians and is now active; set {} is retired (vault.json revision {})",
            a.active, a.retired, a.revision
        );
    }
    Ok(())
}

/// Appends a signed entry for this step.
pub fn record(
    vault: &mut Vault,
    quorum: &Quorum,
    rejected: &[String],
    event: &str,
    details: serde_json::Value,
) -> Result<(), Failure> {
    // Shares refused on the way are recorded with the step.
    let mut details = details;
    if !rejected.is_empty()
        && let Some(map) = details.as_object_mut()
    {
        map.insert("rejected_shares".into(), json!(rejected));
    }
    let draft = Draft {
        event: event.into(),
        participants: quorum.participants.clone(),
        details,
    };
    vault
        .record(Some(&quorum.keys), draft)
        .map_err(|e| Failure::error(format!("cannot append to the ceremony log: {e}")))?;
    Ok(())
}

/// The closing lines every step prints for the witnesses.
pub fn print_log_head(log: &CeremonyLog) {
    println!(
        "ceremony log {}: {} entries, head {} (witnesses: record it)",
        log.path().display(),
        log.entries().len(),
        log.head().unwrap_or("-")
    );
}

//! What every quorum step shares: loading vault.json and the ceremony log,
//! checking every input before any custodian is asked for a secret,
//! reading the presented shares (naming each bad one), bringing the key
//! back, and recording the step with its evidence.

use std::path::{Path, PathBuf};

use clap::Args;
use seif::ceremony::evidence::FileRecord;
use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE};
use seif::ceremony::precheck::{self, Need, Openers, ShareInput};
use seif::ceremony::quorum::{self, Presented, Quorum};
pub use seif::ceremony::vault::Vault;
use seif::ceremony::vault::VaultError;
use seif::custody::{Identities, open_share, read_share_bytes};
use seif::descriptor::Descriptor;
use seif::untrusted::Shown;
use seif_cli::report::{self, Failure};
use serde_json::json;
use zeroize::Zeroizing;

use crate::prompt::Prompter;
use crate::{Session, TOOL, say};

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
    #[command(flatten)]
    pub card: crate::card::CardArgs,
}

/// The hint of every refusal made before any custodian was asked for a
/// secret.
pub const NOTHING_ASKED: &str =
    "fix the command and run the step again: nobody was asked for a secret, and nothing was logged";

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

/// The fingerprint given with `--expect-vault`, whole: 64 hex digits once
/// spaces are removed. Anything else (a fingerprint cut short, a typo) is
/// a usage error, said before anything is read: it is not "another vault".
pub fn expected_fingerprint(args: &VaultArgs) -> Result<Option<String>, Failure> {
    let Some(given) = &args.expect_vault else {
        return Ok(None);
    };
    let hex: String = given
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let digits = hex.chars().filter(char::is_ascii_hexdigit).count();
    if hex.len() != 64 || digits != 64 {
        return Err(Failure::usage(format!(
            "--expect-vault '{}': a vault fingerprint is 64 hex digits (16 groups of 4); this has {digits} hex digit{}{}",
            Shown(given),
            if digits == 1 { "" } else { "s" },
            if digits == hex.len() { "" } else { " and other characters" }
        ))
        .hint("copy the whole VAULT FINGERPRINT from the vault record sheet"));
    }
    Ok(Some(hex))
}

/// Refuses a vault other than the one the witnesses recorded.
pub fn check_expected(args: &VaultArgs, d: &Descriptor) -> Result<(), Failure> {
    let Some(expected) = expected_fingerprint(args)? else {
        return Ok(());
    };
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
    say!(
        "vault '{}', fingerprint {} (vault.json revision {}, key generation {})",
        Shown(&b.name),
        seif::descriptor::format_fingerprint(&b.vault_id),
        b.revision,
        b.generation
    );
}

/// Loads vault.json and its log, and checks them against each other. A
/// step that was interrupted after it was logged and before it wrote
/// vault.json is completed here, and said so. (The vault line is printed
/// by [`gather_shares`].) The log then records the
/// session's witnesses and note in every entry this step appends.
pub fn load_vault(args: &VaultArgs, session: &Session) -> Result<Vault, Failure> {
    expected_fingerprint(args)?;
    let descriptor = load_descriptor(&args.vault)?;
    check_expected(args, &descriptor)?;
    let (mut vault, completed) =
        Vault::attach_log(&args.vault, descriptor, &log_path(args)).map_err(vault_failure)?;
    vault.log.attend(session.attendance.clone());
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

/// The record of a file a step reads (vault.json, a sealed file, a
/// certificate), hashed now.
pub fn file_read(path: &Path) -> Result<FileRecord, Failure> {
    FileRecord::read(path)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))
}

/// Checks that an output directory can be made: it is a directory if it
/// exists, and otherwise its parent is an existing directory (a medium
/// not mounted is found now, not after the shares).
pub fn check_out_dir(dir: &Path) -> Result<(), Failure> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Failure::error(format!(
                "{} exists and is not a directory",
                dir.display()
            )));
        }
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Failure::error(format!(
            "--out {}: {} is not a directory (is the medium mounted?)",
            dir.display(),
            parent.display()
        ))
        .hint(NOTHING_ASKED));
    }
    Ok(())
}

/// Every share file, identity and passphrase file, read and checked before
/// any custodian is asked for a secret.
pub struct Gathered {
    shares: Vec<(String, Zeroizing<Vec<u8>>)>,
    ids: Identities,
    prompter: Prompter,
    /// The share files read (never stdin: a decrypted share is not
    /// hashed into the log).
    pub files: Vec<FileRecord>,
}

/// Reads and checks, before anyone types anything: every `--identity` and
/// `--passphrase-file`, every share file (stdin too, so that `gpg -d`
/// asks for its PIN first), their kinds and count (see
/// [`precheck::shares`]), and that the log can be written. A refusal here
/// is not logged. Then prints the vault line: after a share piped from
/// `gpg -d` has been read, so that GnuPG's own messages come before it on
/// the screen, not in the middle of it.
pub fn gather_shares(args: &ShareArgs, vault: &Vault, need: Need) -> Result<Gathered, Failure> {
    let gathered = gather(
        &args.shares,
        &args.identities,
        &args.passphrase_files,
        &args.card,
        &vault.descriptor,
        Some(&vault.log),
        need,
    )?;
    print_vault_line(&vault.descriptor);
    Ok(gathered)
}

/// [`gather_shares`], for a step that may have no log (verify-share).
pub fn gather(
    shares: &[PathBuf],
    identities: &[PathBuf],
    passphrase_files: &[String],
    card: &crate::card::CardArgs,
    descriptor: &Descriptor,
    log: Option<&CeremonyLog>,
    need: Need,
) -> Result<Gathered, Failure> {
    let prompter = Prompter::new(passphrase_files)?;
    prompter.check_files()?;
    let mut ids = Identities::default();
    let mut files = Vec::new();
    if let Some(module) = &card.pkcs11_module {
        // The module is native code run by the ceremony (in a child
        // process): its path and SHA-256 go into the log.
        files.push(file_read(module).map_err(|f| f.hint(NOTHING_ASKED))?);
        ids.set_card(crate::card::opener(module.clone(), card.pin_files()?));
    } else if !card.pin_files.is_empty() {
        return Err(Failure::usage("--pin-file needs --pkcs11-module"));
    }
    for path in identities {
        ids.add_file(path).map_err(|e| {
            Failure::error(format!("identity {}: {e}", path.display())).hint(NOTHING_ASKED)
        })?;
    }
    if shares.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(Failure::usage("only one --share can read stdin ('-')"));
    }
    let mut read = Vec::new();
    let mut problems = Vec::new();
    for path in shares {
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
        match bytes {
            Ok(b) => {
                if path.as_os_str() != "-" {
                    let (sha256, n) = seif::ceremony::evidence::hash_bytes(&b);
                    files.push(FileRecord {
                        role: seif::ceremony::evidence::FileRole::Read,
                        path: seif::ceremony::evidence::record_path(path)
                            .map_err(|e| Failure::error(e.to_string()))?,
                        sha256,
                        bytes: n,
                    });
                }
                read.push((source, b));
            }
            Err(e) => problems.push(precheck::Problem::Share(format!(
                "share {}: cannot be read: {e}",
                Shown(&source)
            ))),
        }
    }
    let inputs: Vec<ShareInput<'_>> = read
        .iter()
        .map(|(source, bytes)| ShareInput {
            source,
            bytes: bytes.as_slice(),
        })
        .collect();
    let openers = Openers {
        age: ids.has_age(),
        openpgp: ids.has_openpgp(),
        card: card.pkcs11_module.is_some(),
    };
    if let Err(precheck::Refused(more)) = precheck::shares(descriptor, log, &inputs, openers, need)
    {
        problems.extend(more);
    }
    if !problems.is_empty() {
        return Err(Failure::from(precheck::Refused(problems)).hint(NOTHING_ASKED));
    }
    if let Some(log) = log {
        log.check_writable().map_err(|e| {
            Failure::error(format!("ceremony log: {e}"))
                .hint("the step and any refusal must be logged: use a writable copy of the vault folder; nobody was asked for a secret")
        })?;
    }
    Ok(Gathered {
        shares: read,
        ids,
        prompter,
        files,
    })
}

impl Gathered {
    /// The passphrase source, for the new passphrases of a reshare or
    /// rotation.
    pub fn prompter(&mut self) -> &mut Prompter {
        &mut self.prompter
    }

    /// The identities given.
    pub fn identities(&self) -> &Identities {
        &self.ids
    }
}

/// Opens the gathered shares, asking for passphrases now. Returns the
/// decrypted ones and a named problem for each that could not be opened.
fn open_shares(g: &mut Gathered) -> (Vec<Presented>, Vec<String>) {
    let mut presented = Vec::new();
    let mut problems = Vec::new();
    for (source, bytes) in &g.shares {
        let source = source.clone();
        match open_share(bytes, &mut g.ids, &mut g.prompter) {
            // A share from a pipe is named by its custodian, once known.
            Ok(share) if source == "stdin" => {
                let source = format!("stdin ({})", share.custodian);
                presented.push(Presented { source, share })
            }
            Ok(share) => presented.push(Presented { source, share }),
            Err(e) => problems.push(format!("share {source}: {e}")),
        }
    }
    (presented, problems)
}

/// Opens the one gathered share (verify-share), asking for its passphrase
/// now.
pub fn open_one(g: &mut Gathered) -> Result<Presented, Failure> {
    let (mut presented, problems) = open_shares(g);
    match (presented.pop(), problems.into_iter().next()) {
        (Some(p), None) => Ok(p),
        (_, Some(problem)) => Err(Failure::integrity(problem)),
        (None, None) => Err(Failure::error("no share was given")),
    }
}

/// Opens the gathered shares, checks and combines them. Every bad share is
/// named; with too few good ones the refusal is logged (unsigned, with the
/// files read so far) and returned.
pub fn reconstruct(
    vault: &mut Vault,
    gathered: &mut Gathered,
    step: &str,
    files_read: &[FileRecord],
) -> Result<(Quorum, Vec<String>), Failure> {
    let (presented, mut problems) = open_shares(gathered);
    let good = quorum::assess(&vault.descriptor, &vault.log, presented, &mut problems);
    for p in &problems {
        report::warn(TOOL, p);
    }
    match quorum::reconstruct(&vault.descriptor, &vault.log, &good) {
        Ok(q) => {
            say!(
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
                files: files_read.to_vec(),
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
        say!(
            "share set {} was verified by its custodians and is now active; set {} is retired (vault.json revision {})",
            a.active,
            a.retired,
            a.revision
        );
    }
    Ok(())
}

/// Appends a signed entry for this step, with the files it read and wrote.
pub fn record(
    vault: &mut Vault,
    quorum: &Quorum,
    rejected: &[String],
    event: &str,
    details: serde_json::Value,
    files: Vec<FileRecord>,
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
        files,
    };
    vault
        .record(Some(&quorum.keys), draft)
        .map_err(|e| Failure::error(format!("cannot append to the ceremony log: {e}")))?;
    Ok(())
}

/// The closing lines every step prints for the witnesses.
pub fn print_log_head(log: &CeremonyLog) {
    say!(
        "ceremony log {}: {} entries, head {} (witnesses: record it)",
        log.path().display(),
        log.entries().len(),
        log.head().unwrap_or("-")
    );
}

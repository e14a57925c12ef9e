//! `seif-ceremony init`: the vault is born.

use std::path::{Path, PathBuf};

use clap::Args;
use seif::ceremony::evidence::{FileRecord, hash_bytes};
use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE, Participant};
use seif::ceremony::{CeremonyError, SHARES_DIR, VAULT_FILE, create_vault, write_vault_dir};
use seif::custody::{CustodianKey, CustodianSpec, CustodyError};
use seif::descriptor::{Descriptor, SealerEntry, ShareSet, format_fingerprint};
use seif::sealer::SealerPublicKey;
use seif_cli::report::Failure;
use serde_json::json;

use crate::context::{check_out_dir, file_read};
use crate::prompt::Prompter;
use crate::{Session, say, screen};

pub const AFTER_HELP: &str = concat!(
    "\
A custodian is LABEL=SPEC, where SPEC is one of:
  pgp:FILE        an OpenPGP certificate (armored or binary); the share is an
                  OpenPGP message that GnuPG and smartcards can decrypt
  age:RECIPIENT   an age recipient (age1…); the share is an age file
  passphrase      a passphrase asked twice at a prompt (or --passphrase-file
                  LABEL=FILE); the share is sealed with Argon2id and
                  XChaCha20-Poly1305

Writes OUT/vault.json, OUT/shares/LABEL.share.*, OUT/ceremony.log, all at once
(a killed init leaves no OUT). Prints the vault fingerprint: the witnesses
record it; every later step can be checked against it.

",
    seif_cli::exit_codes_help!()
);

#[derive(Args)]
pub struct InitArgs {
    /// The vault's name.
    #[arg(long)]
    name: String,
    /// How many custodians must meet to open the vault (at least 2).
    #[arg(long)]
    threshold: usize,
    /// A custodian: LABEL=pgp:FILE, LABEL=age:RECIPIENT or LABEL=passphrase.
    #[arg(long = "custodian", value_name = "LABEL=SPEC", required = true)]
    custodians: Vec<String>,
    /// A sealer the vault accepts: PUBKEY or LABEL=PUBKEY (seifsealer1…).
    #[arg(long = "sealer", value_name = "PUBKEY")]
    sealers: Vec<String>,
    /// Read LABEL's new passphrase from FILE instead of a prompt.
    #[arg(long = "passphrase-file", value_name = "LABEL=FILE")]
    passphrase_files: Vec<String>,
    /// The new vault directory (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The retention policy hosts prune by (none: keep every snapshot;
    /// `seif-ceremony retention set` changes it later).
    #[command(flatten)]
    retention: crate::retention::PolicyArgs,
}

/// New custodians as given with `--custodian`, and the certificate files
/// read for them (recorded in the log with their hashes).
pub struct NewCustodians {
    /// The custodians, in order.
    pub specs: Vec<CustodianSpec>,
    /// The `pgp:FILE` certificates read.
    pub files: Vec<FileRecord>,
}

/// Parses `--custodian` arguments, naming the one that is wrong. An
/// expired OpenPGP certificate is refused, with how to extend it; one that
/// expires within [`seif::custody::openpgp::EXPIRY_WARNING`] is warned
/// about, with its date.
pub fn parse_custodians(args: &[String]) -> Result<NewCustodians, Failure> {
    if args.len() > 255 {
        return Err(Failure::error(format!(
            "{} custodians: at most 255 can share a secret over GF(256)",
            args.len()
        )));
    }
    let mut specs = Vec::new();
    let mut files = Vec::new();
    for a in args {
        let spec = CustodianSpec::parse(a).map_err(|e| custodian_failure(a, e))?;
        if let Some((_, path)) = a.split_once("=pgp:") {
            files.push(file_read(Path::new(path))?);
        }
        warn_expiry(&spec);
        specs.push(spec);
    }
    Ok(NewCustodians { specs, files })
}

fn custodian_failure(arg: &str, e: CustodyError) -> Failure {
    let shown = seif::untrusted::Shown(arg);
    match e {
        CustodyError::Certificate {
            source:
                seif::custody::openpgp::PgpError::Expired {
                    ref fingerprint, ..
                },
            ..
        } => {
            let hint = seif::custody::openpgp::extend_hint(fingerprint);
            Failure::refused(format!("--custodian {shown}: {e}")).hint(hint)
        }
        other => Failure::error(format!("--custodian {shown}: {other}")),
    }
}

/// Warns about an OpenPGP custodian whose certificate stops being usable
/// within [`seif::custody::openpgp::EXPIRY_WARNING`].
fn warn_expiry(spec: &CustodianSpec) {
    if let CustodianKey::Card(key, cert) = &spec.key {
        return show_card(&spec.label, key, cert.as_deref());
    }
    let CustodianKey::OpenPgp(cert) = &spec.key else {
        return;
    };
    if let Some(until) = cert.usable_until() {
        warn_expires(
            &format!("custodian '{}'", spec.label),
            &cert.fingerprint(),
            until,
        );
    }
}

/// A card custodian's key, for the administrator to check against the
/// person at the table: the certificate's subject (the official an ID card
/// names) and its end, with a warning within a year of it: an ID card
/// lasts five years, and a share must be reshared to the new card while
/// the old one still opens it.
fn show_card(
    label: &str,
    key: &seif::custody::card::CardKey,
    cert: Option<&seif::custody::card::Certificate>,
) {
    let short = crate::card::key_short(key);
    let Some(cert) = cert else {
        seif_cli::report::note(
            crate::TOOL,
            &format!(
                "custodian '{label}': card key {short} (a bare public key: check it against the token's own listing)"
            ),
        );
        return;
    };
    let until = seif::time::rfc3339(cert.not_after as i64);
    seif_cli::report::note(
        crate::TOOL,
        &format!(
            "custodian '{label}': card key {short} of the certificate '{}', valid until {until}: check that it names the custodian at the table",
            seif::untrusted::Shown(&cert.subject)
        ),
    );
    let year = 365 * 24 * 3600;
    if (cert.not_after as i64) < seif::time::unix_now() + year {
        seif_cli::report::warn(
            crate::TOOL,
            &format!(
                "custodian '{label}': the card certificate expires on {until}, within a year: after that the card may be replaced; reshare this custodian's share to their new card while this one still opens it (ceremony/runbook)"
            ),
        );
    }
}

/// The warning about a certificate that expires within
/// [`seif::custody::openpgp::EXPIRY_WARNING`] (or has expired).
pub fn warn_expires(who: &str, fingerprint: &str, until: std::time::SystemTime) {
    use seif::custody::openpgp::{EXPIRY_WARNING, date_of, extend_hint};
    let now = std::time::SystemTime::now();
    if until > now + EXPIRY_WARNING {
        return;
    }
    let what = if until <= now {
        format!(
            "expired on {}: a reshare or rotation refuses it",
            date_of(until)
        )
    } else {
        format!(
            "expires on {}: after that date a reshare or rotation refuses it",
            date_of(until)
        )
    };
    seif_cli::report::warn(
        crate::TOOL,
        &format!(
            "{who}: OpenPGP certificate {fingerprint} {what}; {}",
            extend_hint(fingerprint)
        ),
    );
}

/// Parses `--sealer` arguments.
pub fn parse_sealers(args: &[String]) -> Result<Vec<SealerEntry>, Failure> {
    let mut out: Vec<SealerEntry> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let (label, key) = match a.split_once('=') {
            Some((l, k)) => (l.to_owned(), k),
            None => (format!("sealer-{}", i + 1), a.as_str()),
        };
        let key: SealerPublicKey = key
            .parse()
            .map_err(|e| Failure::error(format!("--sealer {a}: {e}")))?;
        if out.iter().any(|s| s.key == key.to_string()) {
            return Err(Failure::error(format!("--sealer {a}: given twice")));
        }
        out.push(SealerEntry {
            key: key.to_string(),
            label,
        });
    }
    Ok(out)
}

/// Warns when every custodian is needed: a threshold equal to the number of
/// custodians leaves no margin for a lost share.
pub fn warn_no_margin(threshold: usize, count: usize) {
    if threshold == count {
        seif_cli::report::warn(
            crate::TOOL,
            &format!(
                "threshold {threshold} of {count}: every custodian is needed, and losing one share loses the vault"
            ),
        );
    }
}

/// A person's message for a failed ceremony step (`seif_cli::errors`).
pub fn ceremony_failure(e: CeremonyError) -> Failure {
    Failure::from(e)
}

pub fn run(args: InitArgs, session: &Session) -> Result<(), Failure> {
    let NewCustodians {
        specs: custodians,
        files: mut files_read,
    } = parse_custodians(&args.custodians)?;
    seif::shares::check_threshold(args.threshold, custodians.len())
        .map_err(|e| Failure::error(format!("--threshold {}: {e}", args.threshold)))?;
    warn_no_margin(args.threshold, custodians.len());
    let sealers = parse_sealers(&args.sealers)?;
    let retention = if args.retention.given() {
        Some(args.retention.policy()?)
    } else {
        None
    };
    if args.out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(ceremony_failure(CeremonyError::OutputExists(
            args.out.clone(),
        )));
    }
    check_out_dir(&args.out)?;
    let mut prompter = Prompter::new(&args.passphrase_files)?;
    prompter.check_files()?;
    let vault = create_vault(
        &args.name,
        args.threshold,
        &custodians,
        sealers,
        retention,
        &mut prompter,
    )
    .map_err(ceremony_failure)?;
    let d = &vault.descriptor;
    let mut head = String::new();
    let written = written_files(&args.out, d, &vault.files)?;
    files_read.extend(written);
    write_vault_dir(&args.out, d, &vault.files, |staging| {
        let mut log = CeremonyLog::new(&staging.join(LOG_FILE));
        log.attend(session.attendance.clone());
        let set = d.active_set();
        let details = json!({
            "name": d.body().name,
            "threshold": set.threshold,
            "count": set.custodians.len(),
            "share_set": set.id,
            "custodians": custodian_summary(set),
            "sealers": d.body().sealers,
            "retention": d.body().retention.as_ref().map(|r| &r.policy),
            "descriptor_revision": d.body().revision,
        });
        let entry = log.append(
            d,
            Draft {
                event: "init".into(),
                participants: Vec::<Participant>::new(),
                details,
                files: files_read,
            },
            Some(&vault.keys),
        )?;
        head = entry.hash.clone();
        Ok(())
    })
    .map_err(ceremony_failure)?;
    drop(vault.secret);
    print_new_vault(d, &args.out, &vault.files);
    say!(
        "ceremony log: {}, 1 entry, head {head}",
        args.out.join(LOG_FILE).display()
    );
    let log =
        CeremonyLog::open(&args.out.join(LOG_FILE)).map_err(|e| Failure::error(e.to_string()))?;
    screen::print_summary(&screen::summary("init", d, &log, 0));
    Ok(())
}

/// The records of what a new vault directory holds: vault.json and the
/// share files, with their hashes (as `sha256sum` shows them after).
pub fn written_files(
    out: &Path,
    d: &Descriptor,
    shares: &[(String, Vec<u8>)],
) -> Result<Vec<FileRecord>, Failure> {
    let mut files = Vec::new();
    let record = |path: PathBuf, bytes: &[u8]| {
        let (sha256, n) = hash_bytes(bytes);
        FileRecord::written(&path, sha256, n).map_err(|e| Failure::error(e.to_string()))
    };
    files.push(record(out.join(VAULT_FILE), d.to_json_pretty().as_bytes())?);
    for (name, bytes) in shares {
        files.push(record(out.join(SHARES_DIR).join(name), bytes)?);
    }
    Ok(files)
}

pub fn custodian_summary(set: &ShareSet) -> serde_json::Value {
    json!(set.custodians.iter().map(|c| json!({"index": c.index, "label": c.label, "protection": c.protection, "key": c.key})).collect::<Vec<_>>())
}

/// The summary the witnesses read.
pub fn print_new_vault(d: &Descriptor, out: &std::path::Path, files: &[(String, Vec<u8>)]) {
    let b = d.body();
    say!(
        "vault '{}' written to {}",
        seif::untrusted::Shown(&b.name),
        out.display()
    );
    say!();
    say!("  VAULT FINGERPRINT (witnesses: record it; it is the vault id)");
    say!("    {}", format_fingerprint(&b.vault_id));
    say!();
    print_set_summary(d, files, out);
    if b.sealers.is_empty() {
        say!("  sealers:     none yet (add them with `seif-ceremony sealers add`)");
    } else {
        say!("  sealers:");
        for s in &b.sealers {
            say!("    {}  {}", s.key, seif::untrusted::Shown(&s.label));
        }
    }
    say!(
        "  retention:   {}",
        b.retention.as_ref().map_or(
            "keep every snapshot (set a policy with `seif-ceremony retention set`)".into(),
            |r| r.policy.describe()
        )
    );
    say!(
        "  descriptor:  {} revision {}, revision hash {}",
        out.join("vault.json").display(),
        b.revision,
        d.fingerprint()
    );
}

pub fn print_set_summary(d: &Descriptor, files: &[(String, Vec<u8>)], out: &std::path::Path) {
    let set = d.body().share_sets.last().expect("a set");
    say!(
        "  share set:   {} ({}), threshold {} of {}, key generation {}",
        set.id,
        format!("{:?}", set.status).to_lowercase(),
        set.threshold,
        set.custodians.len(),
        set.generation
    );
    say!("  custodians:");
    let label_w = set
        .custodians
        .iter()
        .map(|c| c.label.len())
        .max()
        .unwrap_or(0);
    let key_w = set
        .custodians
        .iter()
        .map(|c| c.key.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(1);
    for (c, (file, _)) in set.custodians.iter().zip(files) {
        say!(
            "    {:>3}  {:<label_w$}  {:<10}  {:<key_w$}  {}",
            c.index,
            c.label,
            format!("{:?}", c.protection).to_lowercase(),
            c.key.as_deref().unwrap_or("-"),
            out.join(SHARES_DIR).join(file).display()
        );
    }
}

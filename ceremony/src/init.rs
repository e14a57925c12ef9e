//! `seif-ceremony init`: the vault is born.

use std::path::PathBuf;

use clap::Args;
use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE, Participant};
use seif::ceremony::{CeremonyError, SHARES_DIR, create_vault, write_vault_dir};
use seif::custody::CustodianSpec;
use seif::descriptor::{Descriptor, SealerEntry, ShareSet, format_fingerprint};
use seif::sealer::SealerPublicKey;
use seif_cli::report::Failure;
use serde_json::json;

use crate::prompt::Prompter;

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

/// Parses `--custodian` arguments, naming the one that is wrong.
pub fn parse_custodians(args: &[String]) -> Result<Vec<CustodianSpec>, Failure> {
    if args.len() > 255 {
        return Err(Failure::error(format!(
            "{} custodians: at most 255 can share a secret over GF(256)",
            args.len()
        )));
    }
    args.iter()
        .map(|a| {
            CustodianSpec::parse(a).map_err(|e| Failure::error(format!("--custodian {a}: {e}")))
        })
        .collect()
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

pub fn run(args: InitArgs) -> Result<(), Failure> {
    let custodians = parse_custodians(&args.custodians)?;
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
    let mut prompter = Prompter::new(&args.passphrase_files)?;
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
    write_vault_dir(&args.out, d, &vault.files, |staging| {
        let mut log = CeremonyLog::new(&staging.join(LOG_FILE));
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
            },
            Some(&vault.keys),
        )?;
        head = entry.hash.clone();
        Ok(())
    })
    .map_err(ceremony_failure)?;
    drop(vault.secret);
    print_new_vault(d, &args.out, &vault.files);
    println!(
        "ceremony log: {}, 1 entry, head {head}",
        args.out.join(LOG_FILE).display()
    );
    Ok(())
}

pub fn custodian_summary(set: &ShareSet) -> serde_json::Value {
    json!(set.custodians.iter().map(|c| json!({"index": c.index, "label": c.label, "protection": c.protection, "key": c.key})).collect::<Vec<_>>())
}

/// The summary the witnesses read.
pub fn print_new_vault(d: &Descriptor, out: &std::path::Path, files: &[(String, Vec<u8>)]) {
    let b = d.body();
    println!(
        "vault '{}' written to {}",
        seif::untrusted::Shown(&b.name),
        out.display()
    );
    println!();
    println!("  VAULT FINGERPRINT (witnesses: record it; it is the vault id)");
    println!("    {}", format_fingerprint(&b.vault_id));
    println!();
    print_set_summary(d, files, out);
    if b.sealers.is_empty() {
        println!("  sealers:     none yet (add them with `seif-ceremony sealers add`)");
    } else {
        println!("  sealers:");
        for s in &b.sealers {
            println!("    {}  {}", s.key, seif::untrusted::Shown(&s.label));
        }
    }
    println!(
        "  retention:   {}",
        b.retention.as_ref().map_or(
            "keep every snapshot (set a policy with `seif-ceremony retention set`)".into(),
            |r| r.policy.describe()
        )
    );
    println!(
        "  descriptor:  {} revision {}, revision hash {}",
        out.join("vault.json").display(),
        b.revision,
        d.fingerprint()
    );
}

pub fn print_set_summary(d: &Descriptor, files: &[(String, Vec<u8>)], out: &std::path::Path) {
    let set = d.body().share_sets.last().expect("a set");
    println!(
        "  share set:   {} ({}), threshold {} of {}, key generation {}",
        set.id,
        format!("{:?}", set.status).to_lowercase(),
        set.threshold,
        set.custodians.len(),
        set.generation
    );
    println!("  custodians:");
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
        println!(
            "    {:>3}  {:<label_w$}  {:<10}  {:<key_w$}  {}",
            c.index,
            c.label,
            format!("{:?}", c.protection).to_lowercase(),
            c.key.as_deref().unwrap_or("-"),
            out.join(SHARES_DIR).join(file).display()
        );
    }
}

//! `seif-ceremony show`: what vault.json says, for the witnesses to compare
//! with their records (no key, no share needed).

use clap::Args;
use seif::ceremony::log::{CeremonyLog, effective_status};
use seif::descriptor::format_fingerprint;
use seif::untrusted::Shown;
use seif_cli::report::Failure;

use crate::context::{VaultArgs, check_expected, expected_fingerprint, load_descriptor, log_path};

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    vault: VaultArgs,
}

pub fn run(args: ShowArgs) -> Result<(), Failure> {
    expected_fingerprint(&args.vault)?;
    let d = load_descriptor(&args.vault.vault)?;
    check_expected(&args.vault, &d)?;
    let path = log_path(&args.vault);
    let log = if path.exists() {
        Some(CeremonyLog::open(&path).map_err(|e| {
            Failure::integrity(format!("ceremony log: {e}"))
                .hint("restore the log from the ceremony records")
        })?)
    } else {
        None
    };
    let b = d.body();
    println!("vault '{}'", Shown(&b.name));
    println!("  VAULT FINGERPRINT  {}", format_fingerprint(&b.vault_id));
    println!(
        "  vault.json         revision {}, updated {}, revision hash {}",
        b.revision,
        b.updated,
        d.fingerprint()
    );
    println!(
        "  key generation     {} (age recipient {})",
        b.generation,
        b.recipients.join(", ")
    );
    for set in &b.share_sets {
        let status = match &log {
            Some(l) => format!("{:?}", effective_status(&d, l, set)).to_lowercase(),
            None => format!("{:?}", set.status).to_lowercase(),
        };
        let acks = log.as_ref().map_or(String::new(), |l| {
            format!(", {} verified in the log", l.acks(set).len())
        });
        println!(
            "  share set {}  {status}, {} of {}, generation {}{acks}",
            set.id,
            set.threshold,
            set.custodians.len(),
            set.generation
        );
        for c in &set.custodians {
            println!(
                "      {:>3}  {:<16}  {:<10}  {}",
                c.index,
                c.label,
                format!("{:?}", c.protection).to_lowercase(),
                c.key.as_deref().unwrap_or("-")
            );
        }
    }
    if b.sealers.is_empty() {
        println!("  sealers            none");
    }
    for s in &b.sealers {
        println!("  sealer             {}  {}", s.key, Shown(&s.label));
    }
    println!(
        "  retention          {}",
        b.retention
            .as_ref()
            .map_or("keep every snapshot (no policy)".into(), |r| r
                .policy
                .describe())
    );
    match &log {
        Some(l) => println!(
            "  ceremony log       {} entries, head {}",
            l.entries().len(),
            l.head().unwrap_or("-")
        ),
        None => println!("  ceremony log       not found beside vault.json (pass --log)"),
    }
    // The witnesses compare what vault.json says; it must also be the
    // revision the log records.
    if let Some(l) = &log {
        let problems = l.cross_check(&d);
        if !problems.is_empty() {
            return Err(Failure::integrity(format!(
                "{} and its ceremony log disagree: {}",
                args.vault.vault.display(),
                problems.join("; ")
            ))
            .hint("take vault.json and the log from the ceremony records; stop the ceremony if they disagree"));
        }
    }
    Ok(())
}

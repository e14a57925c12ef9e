//! `seif-ceremony log verify|print`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use seif::ceremony::log::CeremonyLog;
use seif::ceremony::paper::{self, Verdict};
use seif::untrusted::Shown;
use seif_cli::report::Failure;

use crate::context::load_descriptor;

#[derive(Subcommand)]
pub enum LogCommand {
    /// Check the log's hash chain and the vault key's signatures.
    Verify(VerifyArgs),
    /// Render the log for paper (80 columns, no folding needed), with lines
    /// for the signatures of every role present.
    Print(PrintArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The ceremony log.
    log: PathBuf,
    /// The vault descriptor (its key history holds every signing key).
    #[arg(long, value_name = "FILE")]
    vault: PathBuf,
    /// A head hash the witnesses recorded earlier: the log must still hold it
    /// (it was not rolled back or replaced).
    #[arg(long, value_name = "HASH")]
    head: Option<String>,
}

#[derive(Args)]
pub struct PrintArgs {
    /// The ceremony log.
    log: PathBuf,
    /// Verify against this vault descriptor and say so on paper.
    #[arg(long, value_name = "FILE")]
    vault: Option<PathBuf>,
}

pub fn run(cmd: LogCommand) -> Result<(), Failure> {
    match cmd {
        LogCommand::Verify(a) => verify(a),
        LogCommand::Print(a) => print(a),
    }
}

fn open(path: &std::path::Path) -> Result<CeremonyLog, Failure> {
    // A log that cannot be read is exit 1; one that is malformed, exit 3.
    CeremonyLog::open(path).map_err(|e| Failure::of(&e, e.to_string()))
}

fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let descriptor = load_descriptor(&args.vault)?;
    let log = open(&args.log)?;
    let problems = log.verify(&descriptor);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("seif-ceremony: {}: {p}", args.log.display());
        }
        return Err(Failure::integrity(format!(
            "{}: {} problem(s): the log was altered or forged, or does not belong with {}",
            args.log.display(),
            problems.len(),
            args.vault.display()
        )));
    }
    if let Some(head) = &args.head {
        let head: String = head
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        match log.entries().iter().position(|e| e.hash == head) {
            Some(i) => {
                let after = &log.entries()[i + 1..];
                println!(
                    "the recorded head is entry {} ({} entries were added after it)",
                    i + 1,
                    after.len()
                );
                if !after.is_empty() {
                    println!(
                        "entries after the recorded head are not covered by it (not witnessed at the ceremony that recorded it); check each was made at this ceremony:"
                    );
                }
                for e in after {
                    println!(
                        "  entry {} {} {}: {}",
                        e.body.seq,
                        e.body.time,
                        e.body.event,
                        match e.signature {
                            Some(_) => format!(
                                "signed by the vault key (generation {})",
                                e.body.generation
                            ),
                            None =>
                                "NOT SIGNED (anyone able to write the file could have written it)"
                                    .into(),
                        }
                    );
                }
            }
            None => {
                return Err(Failure::integrity(format!(
                    "{}: the recorded head {} is not in the log: entries were removed, or the log was replaced",
                    args.log.display(),
                    Shown(&head)
                )));
            }
        }
    }
    let signed = log
        .entries()
        .iter()
        .filter(|e| e.signature.is_some())
        .count();
    println!(
        "ok: {} entries ({signed} signed by the vault key, {} NOT signed: custodian checks or refusals), chain intact, vault.json revision {} as the log records, head {}",
        log.entries().len(),
        log.entries().len() - signed,
        descriptor.body().revision,
        log.head().unwrap_or("-")
    );
    Ok(())
}

fn print(args: PrintArgs) -> Result<(), Failure> {
    let log = open(&args.log)?;
    let verdict = match &args.vault {
        Some(v) => {
            let d = load_descriptor(v)?;
            let problems = log.verify(&d);
            if problems.is_empty() {
                Verdict::Verified {
                    vault_path: v.display().to_string(),
                    name: d.body().name.clone(),
                    revision: d.body().revision,
                }
            } else {
                Verdict::Problems {
                    vault_path: v.display().to_string(),
                    problems,
                }
            }
        }
        None => Verdict::ChainOnly,
    };
    write_stdout(&paper::render(
        &log,
        &args.log.display().to_string(),
        &verdict,
    ))
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<(), Failure> {
    seif_cli::report::print(text)
}

//! `seif-ceremony log verify|print`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use seif::ceremony::log::CeremonyLog;
use seif::descriptor::format_fingerprint;
use seif::report::Failure;

use crate::context::load_descriptor;

#[derive(Subcommand)]
pub enum LogCommand {
    /// Check the log's hash chain and the vault key's signatures.
    Verify(VerifyArgs),
    /// Render the log for paper, with lines for the witnesses' signatures.
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
    CeremonyLog::open(path).map_err(|e| Failure::integrity(format!("{e}")))
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
            "{}: {} problem(s): the log was altered or forged",
            args.log.display(),
            problems.len()
        )));
    }
    if let Some(head) = &args.head {
        match log.entries().iter().position(|e| &e.hash == head) {
            Some(i) => println!(
                "the recorded head is entry {} ({} entries were added after it)",
                i + 1,
                log.entries().len() - i - 1
            ),
            None => {
                return Err(Failure::integrity(format!(
                    "{}: the recorded head {head} is not in the log: entries were removed, or the log was replaced",
                    args.log.display()
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
        "ok: {} entries ({signed} signed by the vault key, {} unsigned custodian checks or refusals), chain intact, head {}",
        log.entries().len(),
        log.entries().len() - signed,
        log.head().unwrap_or("-")
    );
    Ok(())
}

fn print(args: PrintArgs) -> Result<(), Failure> {
    use std::fmt::Write as _;
    let log = open(&args.log)?;
    let verdict = match &args.vault {
        Some(v) => {
            let d = load_descriptor(v)?;
            let problems = log.verify(&d);
            if problems.is_empty() {
                format!(
                    "VERIFIED against {} (vault '{}')",
                    v.display(),
                    d.body().name
                )
            } else {
                format!(
                    "DOES NOT VERIFY against {}: {}",
                    v.display(),
                    problems.join("; ")
                )
            }
        }
        None => "hash chain intact; signatures not checked (pass --vault)".into(),
    };
    let rule = "=".repeat(78);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "{rule}\nSEIF CEREMONY LOG\n{rule}");
    let _ = writeln!(w, "file:     {}", args.log.display());
    if let Some(first) = log.entries().first() {
        let _ = writeln!(w, "vault id: {}", format_fingerprint(&first.body.vault_id));
    }
    let _ = writeln!(w, "entries:  {}", log.entries().len());
    let _ = writeln!(w, "head:     {}", log.head().unwrap_or("-"));
    let _ = writeln!(w, "status:   {verdict}\n");
    for e in log.entries() {
        let b = &e.body;
        let signer = if e.signature.is_some() {
            format!("signed by the vault key, generation {}", b.generation)
        } else {
            "unsigned".into()
        };
        let _ = writeln!(w, "{}", "-".repeat(78));
        let _ = writeln!(
            w,
            "#{}  {}  {}  ({signer})",
            b.seq,
            b.time,
            b.event.to_uppercase()
        );
        let _ = writeln!(w, "    tool:        {}", b.tool);
        let _ = writeln!(w, "    descriptor:  {}", b.descriptor);
        for p in &b.participants {
            let _ = writeln!(
                w,
                "    custodian:   index {} {} ({}), set {}",
                p.index,
                p.label,
                p.key.as_deref().unwrap_or("passphrase"),
                p.set
            );
        }
        if let serde_json::Value::Object(map) = &b.details {
            for (k, v) in map {
                for line in wrap(&format!("{k}: {v}"), 74) {
                    let _ = writeln!(w, "    {line}");
                }
            }
        }
        let _ = writeln!(w, "    entry hash:  {}\n", e.hash);
        let _ = writeln!(
            w,
            "    Witness: ____________________________   Witness: ____________________________\n"
        );
    }
    let _ = writeln!(
        w,
        "{rule}\nWe attest that this printout is a true record of the ceremony.\n"
    );
    for role in [
        "Ceremony administrator",
        "Internal auditor",
        "Witness",
        "Witness",
    ] {
        let _ = writeln!(
            w,
            "{role:<23} ______________________  Date: ____________  Signature: ______________"
        );
    }
    write_stdout(&out)
}

/// Cuts a line into pieces of at most `width` characters for paper; the
/// pieces after the first are indented.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![chars.iter().take(width).collect::<String>()];
    for piece in chars[chars.len().min(width)..].chunks(width - 2) {
        out.push(format!("  {}", piece.iter().collect::<String>()));
    }
    out
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::error(format!("writing stdout: {e}"))),
    }
}

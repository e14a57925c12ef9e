//! `seif seal` and `seif inspect`.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use clap::Args;
use seif::atomic::AtomicFile;
use seif::descriptor::{Descriptor, NotAccepted, format_fingerprint};
use seif::encoding::to_hex;
use seif::sealed::Metadata;
use seif::sealed::inspect::{InspectError, SignatureStatus, inspect as inspect_file};
use seif::sealed::seal::{SealError, SealOptions, SealTarget, seal as seal_stream};
use seif_cli::report::{self, Failure};

use crate::files::{io_failure, is_dash, load_vault, open_input, refuse_terminal_stdout, show};
use crate::sealer;

#[derive(Args)]
pub struct SealArgs {
    /// The vault descriptor (vault.json) to seal to.
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: PathBuf,
    /// This pipeline's sealer key: signs the sealed file. Without it the file
    /// is unsigned, and anyone holding vault.json could have made it.
    #[arg(long, value_name = "FILE", env = "SEIF_SEALER")]
    sealer: Option<PathBuf>,
    /// Pad to a Padmé length, hiding the exact size (costs at most 12%).
    #[arg(long)]
    pad: bool,
    /// Where to write the sealed file; `-` or omitted writes stdout. A file
    /// appears only once complete.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Worker threads (default: every core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// log2 of the chunk size (14..=22); for tests and experiments.
    #[arg(long, value_name = "LOG2", hide = true, default_value_t = seif::sealed::format::CHUNK_LOG2_DEFAULT)]
    chunk_log2: u8,
    /// The file to seal; `-` or omitted reads stdin.
    input: Option<PathBuf>,
}

pub fn seal(args: SealArgs) -> Result<(), Failure> {
    let vault = load_vault(&args.vault)?;
    let sealer = match &args.sealer {
        // The library refuses a sealer the vault does not accept
        // (`SealError::SealerNotAccepted`), before it reads or writes.
        Some(path) => Some(sealer::load(path)?),
        None => {
            report::warn(
                crate::TOOL,
                "sealing without --sealer: the file is unsigned, so nobody can tell it from one forged by whoever holds vault.json; a ceremony refuses it unless told otherwise",
            );
            None
        }
    };
    let options = SealOptions {
        pad: args.pad,
        threads: args.threads.unwrap_or_else(seif::pipeline::default_threads),
        chunk_log2: args.chunk_log2,
    };
    let target = SealTarget::from_descriptor(&vault);
    let input_name = show(&args.input);

    let (input, metadata): (Box<dyn io::Read + Send>, Metadata) = if is_dash(&args.input) {
        (Box::new(io::stdin()), Metadata::default())
    } else {
        let path = args.input.as_deref().expect("not dash");
        let file = open_input(path)?;
        let meta = file
            .metadata()
            .map_err(|e| io_failure(path, "cannot read", &e))?;
        let metadata = Metadata {
            name: path.file_name().and_then(|n| n.to_str()).map(str::to_owned),
            mode: Some(meta.mode() & 0o7777),
            mtime: Some(meta.mtime()),
        };
        (Box::new(file), metadata)
    };

    let map_err = |e: SealError, out_name: &str| {
        match e {
        SealError::Read(e) => Failure::of(&e, format!("reading {input_name} failed: {e}")),
        SealError::Write(e) if out_name == "stdout" => Failure::stdout(&e),
        SealError::Write(e) => io_failure(std::path::Path::new(out_name), "writing", &e),
        SealError::SealerNotAccepted(ref key) => Failure::of(
            &e,
            format!(
                "the vault '{}' does not accept the sealer {key} ({})",
                seif::untrusted::Shown(&vault.body().name),
                args.sealer.as_deref().unwrap_or(std::path::Path::new("-")).display()
            ),
        )
        .hint(format!(
            "ask the custodians to run `seif-ceremony sealers add --vault vault.json --share … {key}`, then use the new vault.json"
        )),
        other => Failure::of(&other, format!("sealing {input_name}: {other}")),
    }
    };

    let summary = if is_dash(&args.output) {
        refuse_terminal_stdout()?;
        let mut out = crate::files::raw_stdout()?;
        seal_stream(
            input,
            &mut out,
            &target,
            sealer.as_ref(),
            &metadata,
            &options,
        )
        .map_err(|e| map_err(e, "stdout"))?
    } else {
        let path = args.output.as_deref().expect("not dash");
        let mut out = AtomicFile::create(path, args.force)
            .map_err(|e| io_failure(path, "cannot create", &e))?;
        // Unbuffered: the sealer writes whole batches of chunks.
        let summary = seal_stream(
            input,
            &mut out,
            &target,
            sealer.as_ref(),
            &metadata,
            &options,
        )
        .map_err(|e| map_err(e, &path.display().to_string()))?;
        out.commit(0o644)
            .map_err(|e| io_failure(path, "cannot finish", &e))?;
        summary
    };
    report::note(
        crate::TOOL,
        &format!(
            "sealed {} ({} bytes) into {} ({} bytes, {} chunks){}",
            input_name,
            summary.content_len,
            // `show` names a missing path "stdin"; for an output it is stdout.
            if is_dash(&args.output) {
                "stdout".to_owned()
            } else {
                show(&args.output)
            },
            summary.stored_len,
            summary.chunks,
            match &sealer {
                Some(k) => format!(", signed by {}", k.public()),
                None => ", unsigned".into(),
            }
        ),
    );
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Check the file against this vault: its vault id, and whether the vault
    /// accepts its sealer.
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: Option<PathBuf>,
    /// Print JSON for machines.
    #[arg(long)]
    json: bool,
    /// The sealed file; `-` reads stdin.
    input: PathBuf,
}

pub fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let vault: Option<Descriptor> = args.vault.as_deref().map(load_vault).transpose()?;
    let name = args.input.display().to_string();
    let result = if args.input.as_os_str() == "-" {
        inspect_file(io::stdin().lock())
    } else {
        inspect_file(io::BufReader::new(open_input(&args.input)?))
    };
    let i = result.map_err(|e| match e {
        InspectError::Read(e) => io_failure(&args.input, "reading", &e),
        other => Failure::of(&other, format!("{name}: {other}")),
    })?;
    let vault_matches = vault.as_ref().map(|v| v.vault_id() == i.header.vault_id);
    let (sig_word, sealer) = match &i.signature {
        SignatureStatus::Unsigned => ("unsigned", None),
        SignatureStatus::Valid(s) => ("valid", Some(*s)),
        SignatureStatus::Invalid(s) => ("INVALID", Some(*s)),
        SignatureStatus::Removed(s) => ("REMOVED", Some(*s)),
    };
    let accepted = match (&vault, &sealer) {
        (Some(v), Some(s)) => Some(v.file_sealer_label(s).is_some()),
        (Some(_), None) => Some(false),
        _ => None,
    };
    let vault_id = to_hex(&i.header.vault_id);
    // age adds random "grease" stanzas; name the real ones, count the rest.
    let known = [
        "X25519",
        "scrypt",
        "mlkem768x25519",
        "ssh-ed25519",
        "ssh-rsa",
    ];
    let real: Vec<&str> = i
        .wrapped_to
        .iter()
        .map(String::as_str)
        .filter(|t| known.contains(t))
        .collect();
    let grease = i.wrapped_to.len() - real.len();
    let wrapped = format!(
        "{}{}",
        if real.is_empty() {
            "no known recipient type".to_owned()
        } else {
            real.join(", ")
        },
        if grease > 0 {
            format!(
                " (+{grease} random grease stanza{})",
                if grease == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    );
    let mut out = io::stdout().lock();
    let written = if args.json {
        let doc = serde_json::json!({
            "file": name,
            "format_version": seif::sealed::format::VERSION,
            "vault_id": vault_id,
            "vault_matches": vault_matches,
            // As the vault lists it (the header holds the Ed25519 key only).
            "sealer": sealer.map(|s| {
                vault
                    .as_ref()
                    .and_then(|v| v.file_sealer(&s))
                    .map_or_else(|| s.to_string(), |e| e.key.clone())
            }),
            "signature": sig_word.to_lowercase(),
            "sealer_accepted": accepted,
            "chunk_size": i.header.chunk_size(),
            "chunks": i.chunks,
            "stored_size": i.stored_len,
            "wrapped_to": i.wrapped_to,
        });
        writeln!(out, "{}", crate::snapshot::json_text(&doc))
    } else {
        let vault_line = match (&vault, vault_matches) {
            (Some(v), Some(true)) => {
                format!(
                    "matches {} ('{}')",
                    show_path(&args.vault),
                    seif::untrusted::Shown(&v.body().name)
                )
            }
            (Some(_), _) => format!("DOES NOT MATCH {}", show_path(&args.vault)),
            (None, _) => "not checked (pass --vault)".into(),
        };
        let sealer_line = match (&sealer, &vault) {
            (None, _) => "none: the file is unsigned".into(),
            (Some(s), Some(v)) => match v.file_sealer(s) {
                Some(e) => format!(
                    "{} (accepted as '{}'), signature {sig_word}",
                    e.key,
                    seif::untrusted::Shown(&e.label)
                ),
                None => format!("{s} (NOT accepted by the vault), signature {sig_word}"),
            },
            (Some(s), None) => format!("{s}, signature {sig_word}"),
        };
        writeln!(
            out,
            "file:        {name}\nformat:      seif sealed file, version {}\nvault id:    {}\nvault:       {vault_line}\nsealer:      {sealer_line}\nchunks:      {} of {} KiB\nstored size: {} bytes\nwrapped to:  {}\npayload:     not authenticated here (no key); `seif open` checks every chunk\n",
            seif::sealed::format::VERSION,
            format_fingerprint(&vault_id),
            i.chunks,
            i.header.chunk_size() / 1024,
            i.stored_len,
            wrapped,
        )
    };
    written.map_err(|e| Failure::stdout(&e))?;
    if let SignatureStatus::Invalid(_) | SignatureStatus::Removed(_) = &i.signature {
        return Err(Failure::integrity(format!(
            "{name}: the sealer's signature is {}",
            sig_word.to_lowercase()
        )));
    }
    let Some(v) = &vault else { return Ok(()) };
    v.accepts_file(&i.header.vault_id, sealer.as_ref(), false)
        .map_err(|why| {
            let f = Failure::of(&why, why.to_string());
            match why {
                NotAccepted::OtherVault(_) => {
                    f.reworded(format!("{name} is sealed to another vault"))
                }
                NotAccepted::Unsigned => f.reworded(format!(
                    "{name}: the vault does not accept its sealer (the file is unsigned)"
                )),
                _ => f.reworded(format!("{name}: the vault does not accept its sealer")),
            }
        })
}

fn show_path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map_or(String::new(), |p| p.display().to_string())
}

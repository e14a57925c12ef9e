//! `seif open`.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use clap::Args;
use seif::atomic::AtomicFile;
use seif::descriptor::Descriptor;
use seif::descriptor::NotAccepted;
use seif::sealed::open::{OpenError, OpenOptions, Opened, Opener};
use seif::untrusted::Shown;
use seif::wrap::load_identity_file;
use seif_cli::errors::open_failure;
use seif_cli::report::{self, Failure};

use crate::files::{io_failure, load_vault, open_input, refuse_terminal_stdout};

pub const OPEN_AFTER_HELP: &str = concat!(
    "\
Writing to a file (-o OUT): nothing appears under OUT unless the whole input
authenticated, chunk by chunk, trailer and signature included. The plaintext
is written to a hidden temporary file beside OUT (mode 0600) and renamed at
the end; on any failure it is removed. OUT is private to you (the owner's
bits of the mode recorded in the sealed file, at most 0600 or 0700 for an
executable); --keep-mode gives it the recorded mode. The umask applies.

Writing to stdout (no -o, or -o -): each chunk is written only after it
authenticates, but a truncated or altered file is only known to be bad when
the end is reached. seif then exits non-zero; whoever reads the pipe must
discard what it got (use `set -o pipefail` in shell scripts).

Examples:
  seif open --identity team.key --grant grant.json -o registry.csv registry.csv.seif
  seif open -i team.key --grant grant.json --vault vault.json registry.sql.seif | psql registry

",
    seif_cli::exit_codes_help!()
);

#[derive(Args)]
pub struct OpenArgs {
    /// An age identity file (AGE-SECRET-KEY-1…), as a ceremony grant hands
    /// to a recovery team. May be given more than once.
    #[arg(
        long,
        short = 'i',
        value_name = "KEY",
        required = true,
        env = "SEIF_IDENTITY"
    )]
    identity: Vec<PathBuf>,
    /// Judge the file by this vault: it must be sealed to it, by a sealer
    /// it accepts.
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: Option<PathBuf>,
    /// A grant file from a ceremony (`seif-ceremony grant`): opens the file
    /// with the key it wraps to your identity.
    #[arg(long, value_name = "FILE")]
    grant: Option<PathBuf>,
    /// With --vault, accept an unsigned file (anyone holding vault.json
    /// could have made it).
    #[arg(long, requires = "vault")]
    allow_unsigned: bool,
    /// Where to write the plaintext; `-` or omitted writes stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// Give OUT the permission bits recorded in the sealed file, limited by
    /// the umask. Without it, OUT is private to you whatever the sealed
    /// file says: the owner's bits only (at most 0600, 0700 for an
    /// executable), also limited by the umask.
    #[arg(long)]
    keep_mode: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Worker threads (default: every core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// The sealed file; `-` reads stdin.
    input: PathBuf,
}

pub fn open(args: OpenArgs) -> Result<(), Failure> {
    seif::hardening::disable_core_dumps()
        .map_err(|e| Failure::error(format!("cannot disable core dumps: {e}")))?;
    // Read before any thread starts (reading the umask sets it).
    let umask = process_umask();
    let mut identities = Vec::new();
    for path in &args.identity {
        identities.extend(
            load_identity_file(path)
                .map_err(|e| io_failure(path, "cannot read the identity file", &e))?,
        );
    }
    let identity_refs: Vec<&dyn age::Identity> = identities
        .iter()
        .map(|i| i.as_ref() as &dyn age::Identity)
        .collect();
    let vault = args.vault.as_deref().map(load_vault).transpose()?;
    let name = args.input.display().to_string();
    let options = OpenOptions {
        threads: args.threads.unwrap_or_else(seif::pipeline::default_threads),
    };

    let input: Box<dyn io::Read + Send> = if args.input.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(open_input(&args.input)?)
    };
    let opener = Opener::new(input).map_err(|e| open_failure(&name, e))?;
    if let Some(v) = &vault {
        check_against_vault(v, opener.header(), &name, args.allow_unsigned)?;
    }
    let key = match &args.grant {
        None => opener
            .unwrap_key(&identity_refs)
            .map_err(|e| open_failure(&name, e))?,
        Some(path) => {
            unwrap_with_grant(path, opener.header(), vault.as_ref(), &identity_refs, &name)?
        }
    };

    let opened = match args.output.as_deref() {
        None => write_stdout(opener, &key, &options, &name)?,
        Some(p) if p.as_os_str() == "-" => write_stdout(opener, &key, &options, &name)?,
        Some(path) => {
            let mut out = AtomicFile::create(path, args.force)
                .map_err(|e| io_failure(path, "cannot create", &e))?;
            // Buffered: the opener writes each chunk in two pieces (it holds
            // back the last bytes until it knows where the content ends),
            // and small writes cost more than one copy of every byte.
            let opened = {
                let mut w = io::BufWriter::with_capacity(1 << 20, &mut out);
                let opened = opener
                    .decrypt_to(&key, &mut w, &options)
                    .map_err(|e| open_failure(&name, e).hint_nothing_written(path))?;
                io::Write::flush(&mut w).map_err(|e| io_failure(path, "writing", &e))?;
                opened
            };
            if let Some(mtime) = opened.metadata.mtime {
                let t = if mtime >= 0 {
                    UNIX_EPOCH + Duration::from_secs(mtime as u64)
                } else {
                    UNIX_EPOCH - Duration::from_secs(mtime.unsigned_abs())
                };
                out.file()
                    .set_modified(t)
                    .map_err(|e| io_failure(path, "cannot set the time of", &e))?;
            }
            let mode = output_mode(opened.metadata.mode, args.keep_mode, umask);
            out.commit(mode)
                .map_err(|e| io_failure(path, "cannot finish", &e))?;
            opened
        }
    };
    report::note(crate::TOOL, &describe(&name, &opened, vault.as_ref()));
    Ok(())
}

/// The mode of a plaintext written to a file. Permission bits only (set-id
/// and sticky bits from a sealed file are never honoured), never more than
/// the umask allows, and, unless `keep` (`--keep-mode`), the owner's bits
/// only: plaintext is never readable by others unless asked for.
fn output_mode(recorded: Option<u32>, keep: bool, umask: u32) -> u32 {
    let bits = match recorded {
        Some(m) if keep => m & 0o777,
        Some(m) => m & 0o700,
        None => 0o600,
    };
    bits & !umask
}

/// The process's umask.
fn process_umask() -> u32 {
    use rustix::fs::Mode;
    let old = rustix::process::umask(Mode::from_raw_mode(0o077));
    rustix::process::umask(old);
    old.as_raw_mode()
}

/// Unwraps the data key from a ceremony's grant: the grant must be for this
/// very file (its signed header) and, with --vault, signed by the vault.
fn unwrap_with_grant(
    path: &std::path::Path,
    header: &seif::sealed::Header,
    vault: Option<&Descriptor>,
    identities: &[&dyn age::Identity],
    name: &str,
) -> Result<seif::secrets::DataKey, Failure> {
    use seif::ceremony::grant::{Grant, Target};
    let bytes = std::fs::read(path).map_err(|e| io_failure(path, "cannot read the grant", &e))?;
    let grant =
        Grant::from_json(&bytes).map_err(|e| Failure::error(format!("{}: {e}", path.display())))?;
    if let Some(v) = vault {
        grant
            .verify(v)
            .map_err(|e| Failure::integrity(format!("{}: {e}", path.display())))?;
    }
    let target = Target::SealedFile {
        name: name.to_owned(),
        header_hash: seif::encoding::to_hex(&header.hash()),
    };
    grant
        .unwrap_for(&target, &header.vault_id, &header.commitment, identities)
        .map_err(|e| Failure::integrity(format!("{}: cannot open {name}: {e}", path.display())))
}

fn write_stdout(
    opener: Opener<Box<dyn io::Read + Send>>,
    key: &seif::secrets::DataKey,
    options: &OpenOptions,
    name: &str,
) -> Result<Opened, Failure> {
    refuse_terminal_stdout()?;
    // Whole 1 MiB writes: the opener hands over each chunk in two pieces.
    let mut out = io::BufWriter::with_capacity(1 << 20, crate::files::raw_stdout()?);
    let opened = opener
        .decrypt_to(key, &mut out, options)
        .map_err(|e| match e {
            // The reader stopped reading (`seif open x | head`): not an error.
            OpenError::Write(e) => Failure::stdout(&e),
            e => open_failure(name, e).hint(
                "discard everything written to stdout: the input did not authenticate to its end",
            ),
        })?;
    io::Write::flush(&mut out).map_err(|e| Failure::stdout(&e))?;
    Ok(opened)
}

fn describe(name: &str, opened: &Opened, vault: Option<&Descriptor>) -> String {
    let by = match (&opened.signed_by, vault) {
        (Some(s), Some(v)) => match v.file_sealer(s) {
            Some(e) => format!("sealed by '{}' ({})", Shown(&e.label), e.key),
            None => format!("sealed by '?' ({s})"),
        },
        (Some(s), None) => {
            format!("sealed by {s} (not judged: pass --vault to check it is accepted)")
        }
        (None, _) => "UNSIGNED (no sealer signature)".into(),
    };
    format!(
        "opened {name}: {} bytes{}, {by}",
        opened.content_len,
        opened
            .metadata
            .name
            .as_ref()
            .map_or(String::new(), |n| format!(" (originally '{}')", Shown(n))),
    )
}

/// Refuses before any decryption if the file is not this vault's, its
/// sealer is not one the vault accepts, or it is unsigned (unless allowed):
/// the vault's one rule, [`Descriptor::accepts`].
pub fn check_against_vault(
    vault: &Descriptor,
    header: &seif::sealed::Header,
    name: &str,
    allow_unsigned: bool,
) -> Result<(), Failure> {
    let Err(why) = vault.accepts_file(&header.vault_id, header.sealer.as_ref(), allow_unsigned)
    else {
        return Ok(());
    };
    let f = Failure::of(&why, why.to_string());
    Err(match why {
        NotAccepted::OtherVault(id) => f.reworded(format!(
            "{name} is sealed to another vault (vault id {}), not to '{}'",
            seif::encoding::to_hex(&id),
            Shown(&vault.body().name)
        )),
        NotAccepted::Sealer(s) => f
            .reworded(format!(
                "{name} was sealed by {s}, a sealer the vault does not accept"
            ))
            .hint("if that pipeline is legitimate, a ceremony must add it (`seif-ceremony sealers add`)"),
        _ => f
            .reworded(format!(
                "{name} is unsigned: anyone holding vault.json could have made it"
            ))
            .hint("if you know where it came from, pass --allow-unsigned"),
    })
}

trait NothingWritten {
    fn hint_nothing_written(self, path: &std::path::Path) -> Self;
}

impl NothingWritten for Failure {
    fn hint_nothing_written(self, path: &std::path::Path) -> Self {
        if self.hint.is_some() {
            return self;
        }
        let path = path.display().to_string();
        self.hint(format!("nothing was written to {path}"))
    }
}

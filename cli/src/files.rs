//! Inputs and outputs as a person names them: a path, or `-` for stdin or
//! stdout; loading the vault and keys with errors that name the file.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use crate::report::Failure;
use seif::descriptor::Descriptor;

/// Whether a path argument means stdin/stdout.
pub fn is_dash(p: &Option<PathBuf>) -> bool {
    p.as_deref().is_none_or(|p| p == Path::new("-"))
}

/// Shows a path for messages (`-` for stdin).
pub fn show(p: &Option<PathBuf>) -> String {
    match p {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "stdin".into(),
    }
}

/// Opens an input file, with an error that names it.
pub fn open_input(path: &Path) -> Result<File, Failure> {
    let file = File::open(path).map_err(|e| io_failure(path, "cannot read", &e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_failure(path, "cannot read", &e))?;
    if meta.is_dir() {
        return Err(Failure::error(format!(
            "{} is a directory; seal takes one file or stdin (use `seif push` for trees)",
            path.display()
        )));
    }
    Ok(file)
}

/// An I/O failure naming the file (see [`Failure::io`]).
pub fn io_failure(path: &Path, what: &str, e: &io::Error) -> Failure {
    Failure::io(path, what, e)
}

/// Writes a new secret key file (mode 0600), complete or not at all. An
/// existing file is never replaced, and no flag offers to: a key replaced
/// by mistake is a pipeline or a team locked out.
pub fn write_new_key(out: &Path, text: &[u8], what: &str) -> Result<(), Failure> {
    seif::atomic::write_file(out, text, 0o600, false).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            Failure::error(format!(
                "cannot write the {what} {}: the file already exists, and a secret key is never replaced",
                out.display()
            ))
            .hint("choose another name; if the old key is truly no longer needed, move it away first")
        } else {
            io_failure(out, &format!("cannot write the {what}"), &e)
        }
    })
}

/// Loads and verifies a vault descriptor, for both binaries: a file that
/// cannot be read or is not a descriptor is exit 1, one that breaks its
/// rules or signature (altered or forged) exit 3.
pub fn load_vault(path: &Path) -> Result<Descriptor, Failure> {
    let vault = Descriptor::load(path).map_err(|e| match e {
        seif::descriptor::DescriptorError::Io(e) => {
            io_failure(path, "cannot read the vault descriptor", &e)
        }
        other => {
            let f = Failure::of(&other, format!("{}: {other}", path.display()));
            if f.kind == crate::Kind::Integrity {
                f.hint("take vault.json again from the ceremony's records and compare its vault id with the one the witnesses recorded")
            } else {
                f
            }
        }
    })?;
    let b = vault.body();
    crate::report::detail(
        "seif",
        &format!(
            "vault '{}' from {}: vault id {}, key generation {}, revision {}, {} wrapping",
            seif::untrusted::escape(&b.name),
            path.display(),
            &b.vault_id[..b.vault_id.len().min(16)],
            b.generation,
            b.revision,
            if vault.is_pq() {
                "post-quantum"
            } else {
                "classic"
            }
        ),
    );
    Ok(vault)
}

/// Refuses to write binary data to a terminal.
pub fn refuse_terminal_stdout() -> Result<(), Failure> {
    if io::stdout().is_terminal() {
        return Err(
            Failure::error("refusing to write binary data to a terminal")
                .hint("pass -o FILE, or redirect stdout to a file or a pipe"),
        );
    }
    Ok(())
}

/// Stdout as a plain file, without the standard library's line buffering:
/// bulk output is written in whole, large blocks (line buffering would cut
/// every block at its last newline byte, into misaligned writes).
pub fn raw_stdout() -> Result<File, Failure> {
    use std::os::fd::AsFd;
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| Failure::error(format!("cannot use stdout: {e}")))
}

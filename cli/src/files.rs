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

/// Loads and verifies a vault descriptor, for both binaries: a file that
/// cannot be read or is not a descriptor is exit 1, one that breaks its
/// rules or signature (altered or forged) exit 3.
pub fn load_vault(path: &Path) -> Result<Descriptor, Failure> {
    Descriptor::load(path).map_err(|e| match e {
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
    })
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

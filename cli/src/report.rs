//! How the binaries report outcomes: one prefixed printer for messages, and
//! exit codes that scripts can rely on (documented in each `--help`).
//!
//! A failure is one line that says what went wrong, which file or share, and
//! (as a hint) what to do. Its exit code follows from its [`Kind`], which is
//! built from the library's error types (see [`crate::errors`]), never from
//! the text of a message: a store whose error says "Broken pipe" is still a
//! failing store.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};

/// Exit codes shared by `seif` and `seif-ceremony`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// An operational error: a file missing or unreadable, a disk full, bad input.
    Error = 1,
    /// A usage error: unknown flag, missing argument.
    Usage = 2,
    /// Verification failed: data altered, truncated, forged, or a wrong key.
    Integrity = 3,
    /// Refused by policy: not this vault's, an unaccepted sealer, too few
    /// shares, an unsafe setting.
    Refused = 4,
}

/// The exit-code table printed at the end of `--help`, as a literal so that
/// `concat!` can put it after a command's own notes.
#[macro_export]
macro_rules! exit_codes_help {
    () => {
        "Exit codes:
  0  success
  1  error: a file is missing or unreadable, a store failed, the disk is full, bad input
  2  usage error
  3  verification failed: data altered, truncated or forged, or the wrong key
  4  refused by policy: not this vault's, unaccepted sealer, too few shares, unsafe setting"
    };
}

/// The exit-code table printed at the end of `--help`.
pub const EXIT_CODES_HELP: &str = exit_codes_help!();

/// What kind of failure a [`Failure`] is: it decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// An operational error (exit 1).
    Error,
    /// A usage error (exit 2).
    Usage,
    /// A verification failure (exit 3).
    Integrity,
    /// A refusal by policy (exit 4).
    Refused,
    /// Whoever reads this process's stdout stopped reading (EPIPE on our
    /// own stdout: `seif open x | head`). Not an error: the reader chose to
    /// stop, so the process exits 0 and says nothing. Only
    /// [`Failure::stdout`] makes one.
    StdoutClosed,
}

impl Kind {
    /// The exit code.
    pub fn exit(self) -> Exit {
        match self {
            Kind::Error => Exit::Error,
            Kind::Usage => Exit::Usage,
            Kind::Integrity => Exit::Integrity,
            Kind::Refused => Exit::Refused,
            Kind::StdoutClosed => Exit::Ok,
        }
    }

    /// Of two failures of one step (several inputs, each failing its own
    /// way), the kind that decides the exit code: a verification failure
    /// outranks a refusal, which outranks an error or a usage error; a
    /// closed stdout outranks nothing.
    pub fn graver(self, other: Kind) -> Kind {
        let rank = |k: Kind| match k {
            Kind::StdoutClosed => 0,
            Kind::Usage => 1,
            Kind::Error => 2,
            Kind::Refused => 3,
            Kind::Integrity => 4,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// A failure to report.
#[derive(Debug)]
pub struct Failure {
    /// What kind of failure (the exit code).
    pub kind: Kind,
    /// What went wrong, naming the file or share.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// An operational error.
    pub fn error(message: impl Into<String>) -> Self {
        Failure::new(Kind::Error, message)
    }

    /// A usage error: the command line asks for something that cannot be.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Kind::Usage, message)
    }

    /// A verification failure.
    pub fn integrity(message: impl Into<String>) -> Self {
        Failure::new(Kind::Integrity, message)
    }

    /// A refusal.
    pub fn refused(message: impl Into<String>) -> Self {
        Failure::new(Kind::Refused, message)
    }

    /// Writing this process's own stdout failed. A closed pipe
    /// ([`io::ErrorKind::BrokenPipe`]) is [`Kind::StdoutClosed`], a quiet
    /// success; anything else is an error. Call it only for errors of a
    /// write to stdout: the same error kind from a store, a socket or a
    /// file is a failure like any other.
    pub fn stdout(e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::new(Kind::StdoutClosed, "stdout was closed by its reader")
        } else {
            Failure::error(format!("writing stdout: {e}"))
        }
    }

    /// The same failure (its kind and hint) in other words.
    pub fn reworded(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds what to do.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The exit code.
    pub fn exit(&self) -> Exit {
        self.kind.exit()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// How much a command says on its own account: its notes, its closing
/// summary and its progress. What it was asked for (a listing, `--json`),
/// warnings and failures are printed at every level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: nothing but what was asked for, warnings and failures; the
    /// exit code says how it went.
    Quiet = 0,
    /// The default.
    Normal = 1,
    /// `-v`: also what the command is doing and why (the vault and stores
    /// it uses, what it decided), for an operator reading a log.
    Verbose = 2,
}

// One process, one command line: set once by `main`, read everywhere.
static VERBOSITY: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

/// Sets the verbosity for the rest of the process (`main`, from `-q`/`-v`).
pub fn set_verbosity(v: Verbosity) {
    VERBOSITY.store(v as u8, Ordering::Relaxed);
}

/// The verbosity `main` set.
pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// Prints a note to stderr, prefixed with the tool's name (not with `-q`).
pub fn note(tool: &str, message: &str) {
    if verbosity() >= Verbosity::Normal {
        let _ = writeln!(io::stderr().lock(), "{tool}: {message}");
    }
}

/// Prints what a command is doing to stderr, only with `-v`.
pub fn detail(tool: &str, message: &str) {
    if verbosity() >= Verbosity::Verbose {
        let _ = writeln!(io::stderr().lock(), "{tool}: {message}");
    }
}

/// Writes a command's closing summary (`ok: …`) to stdout, not with `-q`.
pub fn summary(text: &str) -> Result<(), Failure> {
    if verbosity() >= Verbosity::Normal {
        print(&format!("{text}\n"))
    } else {
        Ok(())
    }
}

/// Prints a warning to stderr.
pub fn warn(tool: &str, message: &str) {
    let _ = writeln!(io::stderr().lock(), "{tool}: warning: {message}");
}

/// Writes `text` to stdout. A reader that stops early (`| head`) makes a
/// [`Kind::StdoutClosed`] failure, which ends the command quietly with
/// exit 0 (where `print!` would panic).
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::stdout(&e))
}

/// `println!` that returns a [`Failure`] instead of panicking when stdout
/// is closed: `outln!("…", …)?`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::report::print(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Runs a command and turns its outcome into an exit code. Only a closed
/// stdout ([`Kind::StdoutClosed`]) ends quietly with 0.
pub fn finish(tool: &str, outcome: Result<(), Failure>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(f) if f.kind == Kind::StdoutClosed => std::process::ExitCode::SUCCESS,
        Err(f) => {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "{tool}: error: {}", f.message);
            if let Some(h) = &f.hint {
                let _ = writeln!(err, "{tool}: hint: {h}");
            }
            std::process::ExitCode::from(f.exit() as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of a failure never decides its exit code: only a broken
    /// pipe on stdout, made by `Failure::stdout`, is a quiet success.
    #[test]
    fn a_broken_pipe_is_quiet_only_on_stdout() {
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(Failure::stdout(&pipe).kind, Kind::StdoutClosed);
        assert_eq!(Failure::stdout(&pipe).exit(), Exit::Ok);
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert_eq!(Failure::stdout(&full).kind, Kind::Error);
        let said = Failure::error("store s3://b/p: Broken pipe (os error 32)");
        assert!(said.message.contains("Broken pipe"));
        assert_eq!(said.exit(), Exit::Error);
    }

    #[test]
    fn the_gravest_kind_decides() {
        use Kind::*;
        assert_eq!(Error.graver(Integrity), Integrity);
        assert_eq!(Integrity.graver(Refused), Integrity);
        assert_eq!(Refused.graver(Error), Refused);
        assert_eq!(StdoutClosed.graver(Error), Error);
        assert_eq!(Usage.graver(Usage), Usage);
    }
}

//! How the binaries report outcomes: one prefixed printer for messages, and
//! exit codes that scripts can rely on (documented in each `--help`).
//!
//! A failure is one line that says what went wrong, which file or share, and
//! (as a hint) what to do.

use std::fmt;
use std::io::Write;

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
    /// Refused by policy: an unaccepted sealer, too few shares, an unsafe setting.
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
  4  refused by policy: unaccepted sealer, too few shares, unsafe setting"
    };
}

/// The exit-code table printed at the end of `--help`.
pub const EXIT_CODES_HELP: &str = exit_codes_help!();

/// A failure to report.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: Exit,
    /// What went wrong, naming the file or share.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Failure {
    /// An operational error.
    pub fn error(message: impl Into<String>) -> Self {
        Failure {
            code: Exit::Error,
            message: message.into(),
            hint: None,
        }
    }

    /// A usage error: the command line asks for something that cannot be.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: Exit::Usage,
            message: message.into(),
            hint: None,
        }
    }

    /// A verification failure.
    pub fn integrity(message: impl Into<String>) -> Self {
        Failure {
            code: Exit::Integrity,
            message: message.into(),
            hint: None,
        }
    }

    /// A refusal.
    pub fn refused(message: impl Into<String>) -> Self {
        Failure {
            code: Exit::Refused,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what to do.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this failure is a closed output pipe (not worth a message).
    pub fn is_broken_pipe(&self) -> bool {
        self.message.contains(BROKEN_PIPE_MARK)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

const BROKEN_PIPE_MARK: &str = "Broken pipe";

/// Prints a note to stderr, prefixed with the tool's name.
pub fn note(tool: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{tool}: {message}");
}

/// Prints a warning to stderr.
pub fn warn(tool: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{tool}: warning: {message}");
}

/// Runs a command and turns its outcome into an exit code. A closed output
/// pipe (`seif open x | head`) is not an error: the reader chose to stop.
pub fn finish(tool: &str, outcome: Result<(), Failure>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(f) if f.is_broken_pipe() => std::process::ExitCode::SUCCESS,
        Err(f) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{tool}: error: {}", f.message);
            if let Some(h) = &f.hint {
                let _ = writeln!(err, "{tool}: hint: {h}");
            }
            std::process::ExitCode::from(f.code as u8)
        }
    }
}

//! Each library error as a person's message and a kind of failure, decided
//! by its type and variant, never by its text. This is the one home of
//! "which exit code does this failure get" for both binaries: a failing
//! store is exit 1 whatever its server wrote, a chunk that fails
//! authentication is exit 3 in `seif open` and in the ceremony alike, and a
//! full disk is exit 1 everywhere.
//!
//! Every `From` here keeps the library's message (escaped where it quotes a
//! store, a share or a file) and adds the hint a person needs.

use std::io;

use seif::ceremony::CeremonyError;
use seif::ceremony::log::LogError;
use seif::ceremony::precheck::{Problem, Refused};
use seif::ceremony::quorum::QuorumError;
use seif::ceremony::vault::VaultError;
use seif::descriptor::{DescriptorError, NotAccepted};
use seif::sealed::format::FormatError;
use seif::sealed::inspect::InspectError;
use seif::sealed::open::OpenError;
use seif::sealed::seal::SealError;
use seif::snapshot::read::ReadError;
use seif::snapshot::restore::RestoreError;
use seif::snapshot::sync::SyncError;
use seif::store::StoreError;
use seif::untrusted::escape;
use seif::wrap::WrapError;

use crate::report::{Failure, Kind};

/// The kind of failure an error is, from its type and variant.
pub trait Classify {
    /// Its kind (and so its exit code).
    fn kind(&self) -> Kind;
}

impl Classify for io::Error {
    /// An I/O error of a file or a store is an operational error, whatever
    /// its kind; data that fails its checks (`InvalidData`) is a
    /// verification failure.
    fn kind(&self) -> Kind {
        match self.kind() {
            io::ErrorKind::InvalidData => Kind::Integrity,
            _ => Kind::Error,
        }
    }
}

impl Classify for StoreError {
    fn kind(&self) -> Kind {
        Kind::Error
    }
}

impl Classify for SyncError {
    /// A store that fails is an error; a store of another vault, or a
    /// vault.json older than the stores', is refused; a destination that
    /// reads back other bytes than were written fails verification.
    fn kind(&self) -> Kind {
        match self {
            SyncError::OtherVault { .. } | SyncError::StaleVault(_) => Kind::Refused,
            SyncError::ReadBack { .. } => Kind::Integrity,
            _ => Kind::Error,
        }
    }
}

impl Classify for DescriptorError {
    /// A vault.json that cannot be read or is not a descriptor this seif
    /// reads is bad input; one that breaks its own rules or signature was
    /// altered or forged.
    fn kind(&self) -> Kind {
        match self {
            DescriptorError::Io(_)
            | DescriptorError::Malformed(_)
            | DescriptorError::UnknownFormat(_) => Kind::Error,
            _ => Kind::Integrity,
        }
    }
}

impl Classify for NotAccepted {
    fn kind(&self) -> Kind {
        Kind::Refused
    }
}

impl Classify for FormatError {
    fn kind(&self) -> Kind {
        match self {
            FormatError::NotSealed => Kind::Error,
            _ => Kind::Integrity,
        }
    }
}

impl Classify for WrapError {
    fn kind(&self) -> Kind {
        match self {
            WrapError::BadRecipient(_) | WrapError::NoRecipients => Kind::Error,
            _ => Kind::Integrity,
        }
    }
}

impl Classify for OpenError {
    fn kind(&self) -> Kind {
        match self {
            OpenError::Read(e) | OpenError::Write(e) => Classify::kind(e),
            OpenError::Format(e) => e.kind(),
            OpenError::Unwrap(e) => e.kind(),
            _ => Kind::Integrity,
        }
    }
}

impl Classify for SealError {
    fn kind(&self) -> Kind {
        match self {
            SealError::SealerNotAccepted(_) => Kind::Refused,
            _ => Kind::Error,
        }
    }
}

impl Classify for InspectError {
    fn kind(&self) -> Kind {
        match self {
            InspectError::Read(e) => Classify::kind(e),
            _ => Kind::Integrity,
        }
    }
}

impl Classify for LogError {
    fn kind(&self) -> Kind {
        match self {
            LogError::Io { .. } | LogError::Changed(_) => Kind::Error,
            _ => Kind::Integrity,
        }
    }
}

impl Classify for VaultError {
    fn kind(&self) -> Kind {
        match self {
            VaultError::Log(e) => e.kind(),
            VaultError::DoesNotVerify { .. } => Kind::Integrity,
            _ => Kind::Error,
        }
    }
}

impl Classify for CeremonyError {
    fn kind(&self) -> Kind {
        match self {
            CeremonyError::Io { source, .. } => Classify::kind(source),
            CeremonyError::Descriptor(e) => e.kind(),
            CeremonyError::Log(e) => e.kind(),
            _ => Kind::Error,
        }
    }
}

impl Classify for QuorumError {
    fn kind(&self) -> Kind {
        match self {
            QuorumError::NotEnough { .. } => Kind::Refused,
            _ => Kind::Integrity,
        }
    }
}

impl Classify for ReadError {
    fn kind(&self) -> Kind {
        match self {
            ReadError::Store(e) => e.kind(),
            _ => Kind::Integrity,
        }
    }
}

impl Classify for RestoreError {
    fn kind(&self) -> Kind {
        match self {
            RestoreError::Read(e) => e.kind(),
            RestoreError::Store(e) => e.kind(),
            RestoreError::Output { source, .. } => Classify::kind(source),
            RestoreError::OutputExists(_)
            | RestoreError::NotFound(_)
            | RestoreError::NotAFile(..)
            | RestoreError::NoRoom { .. } => Kind::Error,
            RestoreError::OutputUnsafe(..) => Kind::Refused,
            _ => Kind::Integrity,
        }
    }
}

impl Classify for Problem {
    fn kind(&self) -> Kind {
        match self {
            Problem::Unreadable { error, .. } => error.kind(),
            Problem::File { why, .. } | Problem::Snapshot { why, .. } => why.kind(),
            Problem::NoSuchSnapshot { .. } => Kind::Error,
            Problem::Share(_) => Kind::Refused,
            Problem::InputUnreadable { error, .. } => Classify::kind(error),
            _ => Kind::Error,
        }
    }
}

impl Classify for Refused {
    /// Several inputs refused at once: the gravest decides.
    fn kind(&self) -> Kind {
        self.0
            .iter()
            .map(Classify::kind)
            .fold(Kind::StdoutClosed, Kind::graver)
    }
}

/// The hint for a file that could not be read or written, by its error.
pub fn io_hint(e: &io::Error) -> Option<&'static str> {
    match e.kind() {
        io::ErrorKind::NotFound => Some("check the path"),
        io::ErrorKind::PermissionDenied => Some("check the file's permissions"),
        io::ErrorKind::StorageFull => {
            Some("free some space (nothing was left half-written) and run it again")
        }
        _ => None,
    }
}

impl Failure {
    /// A failure of `e`: its kind, and `message`.
    pub fn of(e: &impl Classify, message: impl Into<String>) -> Self {
        Failure::new(e.kind(), message)
    }

    /// An I/O failure naming the file: `{what} {path}: {e}`, with a hint
    /// for a missing file, a permission or a full disk.
    pub fn io(path: &std::path::Path, what: &str, e: &io::Error) -> Self {
        let f = Failure::new(Classify::kind(e), format!("{what} {}: {e}", path.display()));
        match io_hint(e) {
            Some(h) => f.hint(h),
            None => f,
        }
    }
}

impl From<StoreError> for Failure {
    /// A store's error, escaped (an S3 server or a hostile host wrote part
    /// of it).
    fn from(e: StoreError) -> Self {
        Failure::of(&e, escape(&e.to_string()).into_owned())
    }
}

impl From<SyncError> for Failure {
    /// Store names and keys come from a host: escaped.
    fn from(e: SyncError) -> Self {
        let f = Failure::of(&e, escape(&e.to_string()).into_owned());
        match e {
            SyncError::OtherVault { .. } => {
                f.hint("check --from and --to, and give the vault.json of the vault both stores belong to")
            }
            SyncError::ReadBack { .. } => f.hint(
                "nothing was deleted; run `seif verify` on the destination and find out why it stores other bytes",
            ),
            SyncError::Store(_) => f.hint(
                "what was copied stays, and no record names a blob it lacks; run the same sync again",
            ),
            _ => f,
        }
    }
}

impl From<DescriptorError> for Failure {
    fn from(e: DescriptorError) -> Self {
        Failure::of(&e, e.to_string())
    }
}

impl From<QuorumError> for Failure {
    fn from(e: QuorumError) -> Self {
        Failure::of(&e, format!("refused: {e}"))
    }
}

impl From<NotAccepted> for Failure {
    fn from(e: NotAccepted) -> Self {
        Failure::of(&e, e.to_string())
    }
}

impl From<LogError> for Failure {
    fn from(e: LogError) -> Self {
        Failure::of(&e, format!("ceremony log {e}"))
    }
}

impl From<VaultError> for Failure {
    fn from(e: VaultError) -> Self {
        let kind = e.kind();
        match e {
            VaultError::Log(LogError::Io { path, source }) => Failure::new(
                kind,
                format!("ceremony log {}: {source}", path.display()),
            )
            .hint(
                "pass the vault's ceremony log with --log, or restore it from the ceremony records",
            ),
            VaultError::Log(e) => Failure::new(kind, format!("ceremony log: {e}"))
                .hint("restore the log from the ceremony records"),
            VaultError::DoesNotVerify { log, problems } => Failure::new(
                kind,
                format!(
                    "the ceremony log {} does not verify against vault.json: {}",
                    log.display(),
                    problems.join("; ")
                ),
            )
            .hint("run `seif-ceremony log verify`, and take vault.json and the log from the ceremony records"),
            other => Failure::new(kind, other.to_string()),
        }
    }
}

impl From<CeremonyError> for Failure {
    fn from(e: CeremonyError) -> Self {
        let kind = e.kind();
        match e {
            CeremonyError::OutputExists(p) => Failure::new(
                kind,
                format!("{} already exists and is not empty", p.display()),
            )
            .hint("choose a new --out directory; nothing was written"),
            CeremonyError::Io { path, source } => {
                let f = Failure::new(kind, format!("{}: {source}", path.display()));
                match io_hint(&source) {
                    Some(h) => f.hint(h),
                    None => f,
                }
            }
            other => Failure::new(kind, other.to_string()),
        }
    }
}

impl From<Refused> for Failure {
    fn from(e: Refused) -> Self {
        Failure::of(&e, e.to_string())
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Self {
        let kind = e.kind();
        match e {
            ReadError::Store(e) => Failure::from(e),
            ReadError::Key { .. } => Failure::new(kind, escape(&e.to_string()).into_owned())
                .hint("use the identity a ceremony granted for this snapshot, with its --grant file(s); a grant must cover every snapshot whose packs it reuses"),
            other => Failure::new(kind, escape(&other.to_string()).into_owned())
                .hint("the store's copy is damaged or was tampered with; run `seif verify` on it and restore from another store"),
        }
    }
}

impl From<RestoreError> for Failure {
    fn from(e: RestoreError) -> Self {
        let kind = e.kind();
        match e {
            RestoreError::Output { path, source } => Failure::io(&path, "cannot write", &source)
                .hint("files already restored are whole and checked; fix it and run the same restore with --resume"),
            RestoreError::OutputExists(p) => Failure::new(kind, format!("{} exists and is not empty", p.display()))
                .hint("restore into a new directory, or pass --resume to go on with a restore that stopped, or --force to replace"),
            RestoreError::NoRoom { .. } => Failure::new(kind, e.to_string()).hint("make room, or restore only some paths"),
            RestoreError::NotFound(_) => Failure::new(kind, e.to_string()).hint("paths are as `seif ls --identity … SNAPSHOT` shows them"),
            RestoreError::Store(e) => Failure::from(e),
            RestoreError::Read(e) => Failure::from(e),
            RestoreError::OutputUnsafe(..) => Failure::new(kind, e.to_string()),
            other => Failure::new(kind, other.to_string()).hint("the store's copy is damaged or was tampered with; run `seif verify` on it and restore from another store"),
        }
    }
}

/// A person's message for each way opening a sealed file (`name`) can fail.
pub fn open_failure(name: &str, e: OpenError) -> Failure {
    let kind = e.kind();
    match e {
        OpenError::Read(e) => Failure::io(std::path::Path::new(name), "reading", &e),
        OpenError::Write(e) => Failure::new(
            kind,
            format!("writing the plaintext of {name} failed: {e}"),
        )
        .hint(if e.kind() == io::ErrorKind::StorageFull {
            "free some space and run it again; no partial output was kept"
        } else {
            "no partial output was kept"
        }),
        OpenError::Unwrap(WrapError::NoMatchingIdentity) => Failure::new(
            kind,
            format!(
                "none of the given identities can open {name}: it is for another key, or its wrapped key is damaged"
            ),
        )
        .hint("use the identity that the ceremony granted for this file"),
        OpenError::Format(FormatError::NotSealed) => {
            Failure::new(kind, format!("{name} is not a seif sealed file"))
        }
        other => Failure::new(kind, format!("{name}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Exit;

    /// Exit codes follow the error's type: a store that says "Broken
    /// pipe", a full disk while opening, a chunk that fails, another
    /// vault's file.
    #[test]
    fn exit_codes_follow_the_type() {
        let pipe = StoreError::Backend {
            store: "s3://bucket/prefix".into(),
            message: "error sending request: Broken pipe (os error 32)".into(),
        };
        assert_eq!(Failure::from(pipe).exit(), Exit::Error);
        let full = OpenError::Write(io::Error::from(io::ErrorKind::StorageFull));
        let f = open_failure("data.seif", full);
        assert_eq!(f.exit(), Exit::Error);
        assert!(f.hint.unwrap().contains("free some space"));
        assert_eq!(
            open_failure("data.seif", OpenError::Chunk { index: 3 }).exit(),
            Exit::Integrity
        );
        assert_eq!(
            open_failure("x", OpenError::Format(FormatError::NotSealed)).exit(),
            Exit::Error
        );
        assert_eq!(
            Failure::from(NotAccepted::OtherVault([1; 32])).exit(),
            Exit::Refused
        );
        assert_eq!(
            Failure::from(DescriptorError::BadSignature).kind,
            Kind::Integrity
        );
        assert_eq!(
            Failure::of(&DescriptorError::Malformed("x".into()), "m").kind,
            Kind::Error
        );
        assert_eq!(
            Failure::from(QuorumError::NotEnough {
                good: 1,
                need: 2,
                set: "s".into()
            })
            .exit(),
            Exit::Refused
        );
        assert_eq!(
            Failure::from(QuorumError::KeyCheckFailed).exit(),
            Exit::Integrity
        );
    }
}

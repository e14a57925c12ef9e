//! Evidence a witness can keep: what every ceremony log entry records about
//! the step beyond its event and details.
//!
//! - the SHA-256 of the executable that wrote the entry (`/proc/self/exe`),
//!   which the witnesses compare with the release record of the binary
//!   (README of the runbooks, section 3.3);
//! - the witnesses present, named with `--witness NAME` (by the rule of
//!   custodian labels, so that a name cannot carry terminal control or
//!   forge a line of the printout);
//! - an exception the Ceremony Administrator notes with `--note TEXT`
//!   (printable text, at most [`NOTE_MAX`] characters);
//! - the files the step read and wrote, each with its SHA-256 and size, so
//!   that a printout ties every input and output to the hash the witnesses
//!   compared with `sha256sum`.
//!
//! The vault fingerprint, the vault.json revision and the custodians whose
//! shares were used are fields of every entry already (`vault_id`,
//! `descriptor_revision`, `participants`).
//!
//! Everything here is written by [`super::log::CeremonyLog::append`] and
//! checked for its shape when a log is read, with the same limits
//! ([`check`]): a writer obeys its reader's limits.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::to_hex;

/// The most witnesses one entry names.
pub const WITNESSES_MAX: usize = 16;
/// The longest note, in characters.
pub const NOTE_MAX: usize = 1000;
/// The longest path recorded for a file, in bytes.
pub const PATH_MAX: usize = 1024;
/// The most files one entry records.
pub const FILES_MAX: usize = 20_000;

/// What an entry records about its step (the body field `evidence`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// SHA-256 (64 hex) of the executable that wrote the entry; `null` if
    /// it could not be read.
    pub binary: Option<String>,
    /// The witnesses present, as named with `--witness`.
    pub witnesses: Vec<String>,
    /// An exception the Ceremony Administrator noted (`--note`).
    pub note: Option<String>,
    /// The files the step read and wrote.
    pub files: Vec<FileRecord>,
}

/// Whether a step read or wrote a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    /// An input.
    Read,
    /// An output.
    Written,
}

/// A file a step read or wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Read or written.
    pub role: FileRole,
    /// The path, as given on the command line (or below an output
    /// directory); free text, shown escaped.
    pub path: String,
    /// Its SHA-256, 64 hex (what `sha256sum` prints).
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Who attended a step, and what the administrator noted: the part of
/// [`Evidence`] a step's command line gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attendance {
    /// Witness names (checked by [`check_witness`]).
    pub witnesses: Vec<String>,
    /// The note (checked by [`check_note`]).
    pub note: Option<String>,
}

/// Why a witness name, a note or a file record is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// A witness name that breaks the label rule.
    #[error(
        "witness name '{0}' must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with '.' (e.g. anu.tamm)"
    )]
    BadWitness(String),
    /// The same witness twice.
    #[error("witness '{0}' is named twice")]
    DuplicateWitness(String),
    /// Too many witnesses.
    #[error("at most {WITNESSES_MAX} witnesses can be named")]
    TooManyWitnesses,
    /// A note that is empty, too long, or holds control characters.
    #[error(
        "the note must be 1 to {NOTE_MAX} characters of printable text (no line breaks or control characters)"
    )]
    BadNote,
    /// A path too long to record.
    #[error("{0}: the path is longer than {PATH_MAX} bytes; use a shorter one")]
    PathTooLong(String),
    /// Too many files for one entry.
    #[error("a step can record at most {FILES_MAX} files")]
    TooManyFiles,
}

/// Checks a witness name: the rule of custodian labels.
pub fn check_witness(name: &str) -> Result<(), EvidenceError> {
    crate::custody::check_label(name)
        .map_err(|_| EvidenceError::BadWitness(crate::untrusted::escape(name).into_owned()))
}

/// Checks a note: 1 to [`NOTE_MAX`] characters, none of them a control,
/// format or separator character.
pub fn check_note(note: &str) -> Result<(), EvidenceError> {
    let n = note.chars().count();
    if n == 0 || n > NOTE_MAX || crate::untrusted::has_hidden_characters(note) {
        return Err(EvidenceError::BadNote);
    }
    Ok(())
}

impl Attendance {
    /// Checks every witness name and the note, and refuses a name given
    /// twice.
    pub fn new(witnesses: Vec<String>, note: Option<String>) -> Result<Self, EvidenceError> {
        if witnesses.len() > WITNESSES_MAX {
            return Err(EvidenceError::TooManyWitnesses);
        }
        for (i, w) in witnesses.iter().enumerate() {
            check_witness(w)?;
            if witnesses[..i].contains(w) {
                return Err(EvidenceError::DuplicateWitness(w.clone()));
            }
        }
        if let Some(n) = &note {
            check_note(n)?;
        }
        Ok(Attendance { witnesses, note })
    }
}

/// Checks the shape of evidence read from a log, with the writer's limits.
pub fn check(e: &Evidence) -> Result<(), String> {
    let hex64 = |s: &str| {
        s.len() == 64
            && s.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    if e.binary.as_deref().is_some_and(|b| !hex64(b)) {
        return Err("the binary's hash is not 64 hex digits".into());
    }
    Attendance::new(e.witnesses.clone(), e.note.clone()).map_err(|e| match e {
        EvidenceError::BadWitness(_) => "a witness name breaks the label rule".to_owned(),
        other => other.to_string(),
    })?;
    if e.files.len() > FILES_MAX {
        return Err(EvidenceError::TooManyFiles.to_string());
    }
    for f in &e.files {
        if f.path.is_empty() || f.path.len() > PATH_MAX || !hex64(&f.sha256) {
            return Err(format!(
                "a file record's path is not 1 to {PATH_MAX} bytes, or its hash is not 64 hex digits"
            ));
        }
    }
    Ok(())
}

/// The SHA-256 of the running executable (`/proc/self/exe`), read once per
/// process; `None` where it cannot be read.
pub fn binary_sha256() -> Option<String> {
    static HASH: OnceLock<Option<String>> = OnceLock::new();
    HASH.get_or_init(|| hash_file(Path::new("/proc/self/exe")).ok().map(|(h, _)| h))
        .clone()
}

/// The SHA-256 (hex) and size of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((to_hex(&h.finalize()), n))
}

/// The SHA-256 (hex) and size of bytes about to be written.
pub fn hash_bytes(bytes: &[u8]) -> (String, u64) {
    (to_hex(&Sha256::digest(bytes)), bytes.len() as u64)
}

/// A writer that hashes what passes through it (an opened plaintext, on
/// its way to its file), for the record of a file written.
pub struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: std::io::Write> HashingWriter<W> {
    /// Hashes what is written to `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    /// The SHA-256 (hex) and size of what was written, and the writer.
    pub fn finish(self) -> (String, u64, W) {
        (to_hex(&self.hash.finalize()), self.bytes, self.inner)
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The path as recorded: lossy UTF-8, refused if longer than [`PATH_MAX`].
pub fn record_path(path: &Path) -> Result<String, EvidenceError> {
    let s = path.to_string_lossy().into_owned();
    if s.is_empty() || s.len() > PATH_MAX {
        return Err(EvidenceError::PathTooLong(
            crate::untrusted::escape(&s).into_owned(),
        ));
    }
    Ok(s)
}

impl FileRecord {
    /// A file read, hashed now.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let (sha256, bytes) = hash_file(path)?;
        Ok(FileRecord {
            role: FileRole::Read,
            path: record_path(path).map_err(std::io::Error::other)?,
            sha256,
            bytes,
        })
    }

    /// A file written (or about to be), with its hash and size.
    pub fn written(path: &Path, sha256: String, bytes: u64) -> std::io::Result<Self> {
        Ok(FileRecord {
            role: FileRole::Written,
            path: record_path(path).map_err(std::io::Error::other)?,
            sha256,
            bytes,
        })
    }

    /// A file written, hashed from disk now.
    pub fn written_file(path: &Path) -> std::io::Result<Self> {
        let (sha256, bytes) = hash_file(path)?;
        Self::written(path, sha256, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_notes_follow_their_rules() {
        assert!(Attendance::new(vec!["anu.tamm".into(), "rein_k".into()], None).is_ok());
        for bad in ["", ".hidden", "Anu Tamm", "anu\u{1b}[2J", &"x".repeat(65)] {
            assert!(
                matches!(
                    Attendance::new(vec![bad.into()], None),
                    Err(EvidenceError::BadWitness(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            Attendance::new(vec!["anu".into(), "anu".into()], None),
            Err(EvidenceError::DuplicateWitness("anu".into()))
        );
        assert_eq!(
            Attendance::new(vec!["w".into(); WITNESSES_MAX + 1], None),
            Err(EvidenceError::TooManyWitnesses)
        );
        assert!(check_note("step 11 repeated: a typo in --threshold; kõik korras").is_ok());
        for bad in [
            String::new(),
            "two\nlines".into(),
            "bidi \u{202e}txt.exe".into(),
            "x".repeat(NOTE_MAX + 1),
        ] {
            assert_eq!(check_note(&bad), Err(EvidenceError::BadNote), "{bad:?}");
        }
        assert!(check_note(&"õ".repeat(NOTE_MAX)).is_ok());
    }

    #[test]
    fn the_reader_checks_what_the_writer_checks() {
        let good = Evidence {
            binary: Some("ab".repeat(32)),
            witnesses: vec!["anu".into()],
            note: Some("ok".into()),
            files: vec![FileRecord {
                role: FileRole::Read,
                path: "vault/vault.json".into(),
                sha256: "cd".repeat(32),
                bytes: 3,
            }],
        };
        assert_eq!(check(&good), Ok(()));
        let mut e = good.clone();
        e.binary = Some("AB".repeat(32));
        assert!(check(&e).is_err());
        let mut e = good.clone();
        e.witnesses = vec!["a b".into()];
        assert!(check(&e).is_err());
        let mut e = good.clone();
        e.note = Some("\u{7}".into());
        assert!(check(&e).is_err());
        let mut e = good.clone();
        e.files[0].path = "p".repeat(PATH_MAX + 1);
        assert!(check(&e).is_err());
        let mut e = good;
        e.files[0].sha256 = "x".into();
        assert!(check(&e).is_err());
    }

    #[test]
    fn the_binary_is_hashed_as_sha256sum_would() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(binary_sha256(), Some(hash_bytes(&exe).0));
    }
}

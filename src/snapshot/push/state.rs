//! A pipeline's local state: the state directory (`--state-dir`), the keys
//! that authenticate what the pipeline keeps there, and the line format of
//! its files.
//!
//! Everything a push keeps between runs (the resume journal, the chunk
//! index, the last snapshot's file list, the heads it last wrote) decides
//! what the next snapshot will contain. So it is trusted only if this user
//! wrote it and nobody else could have: the directory and every file are
//! owned by the running user and writable by nobody else (files 0600,
//! never through a symlink), and every line or file carries a MAC under a
//! key derived from the sealer's secret key. A journal planted by another
//! local user, or one from another pipeline, is refused; a damaged index
//! is set aside and the push stores afresh.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rustix::fs::{Mode, OFlags};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::PushError;
use crate::sealer::SealerSecretKey;

/// The keys a pipeline derives from its sealer key for its own state.
pub struct LocalKeys {
    /// Authenticates the journal, the index, the file list and the heads.
    pub mac: Zeroizing<[u8; 32]>,
    /// Keys the chunk fingerprints in the index (so a stolen index does not
    /// confirm guesses of content).
    pub chunk_id: Zeroizing<[u8; 32]>,
    /// Keys the content-defined chunker's gear table (so chunk boundaries
    /// depend on a secret).
    pub gear: Zeroizing<[u8; 32]>,
}

impl LocalKeys {
    /// Derives them from the sealer key.
    pub fn derive(sealer: &SealerSecretKey) -> Self {
        LocalKeys {
            mac: sealer.derive("seif/v1/pipeline/state-mac"),
            chunk_id: sealer.derive("seif/v1/pipeline/chunk-id"),
            gear: sealer.derive("seif/v1/pipeline/cdc-gear"),
        }
    }
}

/// HMAC-SHA256 under `key`.
pub fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn state_err(path: &Path, message: impl Into<String>) -> PushError {
    PushError::State {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The state directory, checked.
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens the state directory, creating it (mode 0700) if missing. It
    /// must be a directory (not a symlink) owned by the running user and
    /// writable by nobody else, in a parent that others cannot write to
    /// (or that is sticky, like /tmp, where others cannot replace it).
    pub fn open(path: &Path) -> Result<Self, PushError> {
        let path = std::path::absolute(path).map_err(|e| state_err(path, e.to_string()))?;
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| state_err(parent, e.to_string()))?;
                }
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&path)
                    .map_err(|e| state_err(&path, e.to_string()))?;
            }
            Err(e) => return Err(state_err(&path, e.to_string())),
            Ok(_) => {}
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|e| state_err(&path, e.to_string()))?;
        if !meta.file_type().is_dir() {
            return Err(state_err(
                &path,
                "not a directory (a symlink is not accepted)",
            ));
        }
        if meta.uid() != euid() {
            return Err(state_err(
                &path,
                format!(
                    "owned by user {}, not by the user running seif ({}): another user could have planted its contents; use a state directory of your own (--state-dir)",
                    meta.uid(),
                    euid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(state_err(
                &path,
                format!(
                    "writable by group or others (mode {:o}): run `chmod 700 {}`",
                    meta.mode() & 0o7777,
                    path.display()
                ),
            ));
        }
        if let Some(parent) = path.parent()
            && let Ok(pm) = std::fs::metadata(parent)
            && pm.mode() & 0o002 != 0
            && pm.mode() & 0o1000 == 0
        {
            return Err(state_err(
                &path,
                format!(
                    "its parent {} is writable by everyone and not sticky: another user could replace the state directory",
                    parent.display()
                ),
            ));
        }
        Ok(StateDir { path })
    }

    /// The path of a file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a state file for reading, if it exists: never through a
    /// symlink, a regular file owned by the running user, readable and
    /// writable by nobody else.
    pub fn open_private(&self, name: &str) -> Result<Option<File>, PushError> {
        let path = self.file(name);
        let fd = match rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(state_err(
                    &path,
                    "a symbolic link, not a file seif wrote: remove it",
                ));
            }
            Err(e) => return Err(state_err(&path, std::io::Error::from(e).to_string())),
        };
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| state_err(&path, e.to_string()))?;
        if !meta.file_type().is_file() {
            return Err(state_err(&path, "not a regular file: remove it"));
        }
        if meta.uid() != euid() {
            return Err(state_err(
                &path,
                format!(
                    "owned by user {}, not by the user running seif: it may have been planted; remove it after checking who wrote it",
                    meta.uid()
                ),
            ));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(state_err(
                &path,
                format!(
                    "readable or writable by others (mode {:o}): it was not left so by seif; remove it",
                    meta.permissions().mode() & 0o7777
                ),
            ));
        }
        Ok(Some(file))
    }

    /// Removes a state file (no error if it is gone).
    pub fn remove(&self, name: &str) -> Result<(), PushError> {
        let path = self.file(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(state_err(&path, e.to_string())),
        }
    }

    /// The names of state files starting with `prefix`.
    pub fn names(&self, prefix: &str) -> Result<Vec<String>, PushError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.path).map_err(|e| state_err(&self.path, e.to_string()))? {
            let e = e.map_err(|e| state_err(&self.path, e.to_string()))?;
            if let Some(n) = e.file_name().to_str()
                && n.starts_with(prefix)
            {
                out.push(n.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Writes MAC'd lines: `JSON \t HEX(HMAC(key, u64 index || domain || JSON)) \n`.
/// The index binds each line to its place (no line can be dropped, moved
/// or repeated unseen, except at the end, which only loses information),
/// and the domain to the kind of file.
pub struct MacWriter<W: Write> {
    out: W,
    key: Zeroizing<[u8; 32]>,
    domain: &'static str,
    index: u64,
}

impl<W: Write> MacWriter<W> {
    /// Starts a file of `domain`.
    pub fn new(out: W, key: &[u8; 32], domain: &'static str) -> Self {
        MacWriter {
            out,
            key: Zeroizing::new(*key),
            domain,
            index: 0,
        }
    }

    /// Appends one line of JSON (which never holds a raw tab or newline).
    pub fn line(&mut self, json: &[u8]) -> std::io::Result<()> {
        debug_assert!(!json.contains(&b'\n') && !json.contains(&b'\t'));
        let tag = mac(
            &self.key,
            &[
                &self.index.to_be_bytes(),
                self.domain.as_bytes(),
                &[0],
                json,
            ],
        );
        self.index += 1;
        let mut line = Zeroizing::new(Vec::with_capacity(json.len() + 66));
        line.extend_from_slice(json);
        line.push(b'\t');
        line.extend_from_slice(crate::encoding::to_hex(&tag).as_bytes());
        line.push(b'\n');
        self.out.write_all(&line)
    }

    /// Continues a file that already holds `index` lines.
    pub fn resume(out: W, key: &[u8; 32], domain: &'static str, index: u64) -> Self {
        MacWriter {
            out,
            key: Zeroizing::new(*key),
            domain,
            index,
        }
    }

    /// Lines written so far.
    pub fn count(&self) -> u64 {
        self.index
    }

    /// The writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The writer, back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Reads MAC'd lines written by [`MacWriter`]; a line that does not verify
/// is an error (the caller decides whether that means "set aside" or
/// "refuse"). A last line cut off by a crash (no newline) ends the file.
pub struct MacReader<R: BufRead> {
    input: R,
    key: Zeroizing<[u8; 32]>,
    domain: &'static str,
    index: u64,
}

impl<R: BufRead> MacReader<R> {
    /// Reads a file of `domain`.
    pub fn new(input: R, key: &[u8; 32], domain: &'static str) -> Self {
        MacReader {
            input,
            key: Zeroizing::new(*key),
            domain,
            index: 0,
        }
    }

    /// The next line's JSON, checked; `None` at the end.
    pub fn next_line(&mut self) -> Option<Result<Zeroizing<Vec<u8>>, String>> {
        let mut raw = Zeroizing::new(Vec::new());
        match self.input.read_until(b'\n', &mut raw) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(e.to_string())),
        }
        if raw.last() != Some(&b'\n') {
            return None; // cut off mid-write: what came before stands
        }
        raw.pop();
        let Some(tab) = raw.iter().rposition(|&b| b == b'\t') else {
            return Some(Err(format!("line {} has no MAC", self.index + 1)));
        };
        let json = Zeroizing::new(raw[..tab].to_vec());
        let want = mac(
            &self.key,
            &[
                &self.index.to_be_bytes(),
                self.domain.as_bytes(),
                &[0],
                &json,
            ],
        );
        let got =
            crate::encoding::from_hex::<32>(std::str::from_utf8(&raw[tab + 1..]).unwrap_or(""));
        self.index += 1;
        match got {
            Ok(g) if subtle::ConstantTimeEq::ct_eq(&g[..], &want[..]).into() => Some(Ok(json)),
            _ => Some(Err(format!(
                "line {} does not verify: written by another pipeline or user, or damaged",
                self.index
            ))),
        }
    }
}

/// Opens a private state file for buffered MAC'd reading.
pub fn mac_reader(
    state: &StateDir,
    name: &str,
    key: &[u8; 32],
    domain: &'static str,
) -> Result<Option<MacReader<BufReader<File>>>, PushError> {
    Ok(state
        .open_private(name)?
        .map(|f| MacReader::new(BufReader::with_capacity(1 << 20, f), key, domain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_lines_detect_edits_moves_and_other_keys() {
        let key = [7u8; 32];
        let mut w = MacWriter::new(Vec::new(), &key, "test");
        for l in [b"{\"a\":1}".as_slice(), b"{\"b\":2}", b"{\"c\":3}"] {
            w.line(l).unwrap();
        }
        let bytes = w.into_inner();
        let read = |b: &[u8], k: &[u8; 32], d| {
            let mut r = MacReader::new(b, k, d);
            let mut out = Vec::new();
            while let Some(l) = r.next_line() {
                out.push(l.map(|l| l.to_vec()));
            }
            out
        };
        let good = read(&bytes, &key, "test");
        assert_eq!(good.len(), 3);
        assert!(good.iter().all(|l| l.is_ok()));
        assert!(read(&bytes, &[8u8; 32], "test")[0].is_err(), "another key");
        assert!(
            read(&bytes, &key, "other")[0].is_err(),
            "another kind of file"
        );
        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let swapped = format!("{}\n{}\n", lines[1], lines[0]);
        assert!(
            read(swapped.as_bytes(), &key, "test")[0].is_err(),
            "a moved line"
        );
        let edited = text.replacen("\"a\":1", "\"a\":2", 1);
        assert!(
            read(edited.as_bytes(), &key, "test")[0].is_err(),
            "an edited line"
        );
        let cut = &bytes[..bytes.len() - 5];
        assert_eq!(
            read(cut, &key, "test").len(),
            2,
            "a line cut off ends the file"
        );
    }
}

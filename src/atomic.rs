//! Output files that appear only when complete: a temporary file beside the
//! destination, fsync, rename, fsync of the directory. A killed process or a
//! full disk leaves at most a hidden `.NAME.seif-tmp-*` file, never a
//! half-written file under the name a reader expects.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written to a temporary name. Dropping it without
/// [`AtomicFile::commit`] removes the temporary file.
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
    overwrite: bool,
}

/// The error for an output that exists and may not be replaced.
pub fn exists_error(dest: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} already exists; choose another name or pass --force to replace it",
            dest.display()
        ),
    )
}

fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl AtomicFile {
    /// Starts writing `dest`. Unless `overwrite`, refuses an existing `dest`
    /// now (and again, race-free, at commit). The temporary file is created
    /// with mode 0600, so plaintext is never readable by others while it is
    /// written.
    pub fn create(dest: &Path, overwrite: bool) -> io::Result<Self> {
        if !overwrite && dest.symlink_metadata().is_ok() {
            return Err(exists_error(dest));
        }
        let name = dest.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name")
        })?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.seif-tmp-", name.to_string_lossy()))
            .tempfile_in(parent_dir(dest))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_owned(),
            overwrite,
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// A second, independent handle on the temporary file (to read back
    /// what was written before committing it).
    pub fn reopen(&self) -> io::Result<File> {
        self.tmp.reopen()
    }

    /// The destination path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes the data to disk, sets `mode`, and renames the file into place.
    pub fn commit(self, mode: u32) -> io::Result<()> {
        let AtomicFile {
            tmp,
            dest,
            overwrite,
        } = self;
        tmp.as_file().sync_all()?;
        tmp.as_file()
            .set_permissions(Permissions::from_mode(mode))?;
        if overwrite {
            tmp.persist(&dest).map_err(|e| e.error)?;
        } else {
            tmp.persist_noclobber(&dest).map_err(|e| {
                if e.error.kind() == io::ErrorKind::AlreadyExists {
                    exists_error(&dest)
                } else {
                    e.error
                }
            })?;
        }
        sync_dir(parent_dir(&dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// fsyncs a directory, so that a rename in it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes a whole small file atomically.
pub fn write_file(dest: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> io::Result<()> {
    let mut f = AtomicFile::create(dest, overwrite)?;
    f.write_all(bytes)?;
    f.commit(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn appears_only_on_commit_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let mut f = AtomicFile::create(&dest, false).unwrap();
        f.write_all(b"data").unwrap();
        assert!(!dest.exists());
        f.commit(0o600).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
        assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o777, 0o600);
        let err = write_file(&dest, b"x", 0o600, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("--force"));
        write_file(&dest, b"new", 0o644, true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        // An abandoned file leaves nothing behind.
        let other = dir.path().join("other");
        drop(AtomicFile::create(&other, false).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

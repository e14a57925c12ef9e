//! A plain local directory as a store. Writes go to a temporary file in the
//! same directory, are fsynced, renamed into place, and the directory is
//! fsynced, so a blob is either absent or complete, even across a power cut.
//!
//! Reads trust nothing about what they find: a blob is opened without
//! following a symlink and without blocking (a FIFO would otherwise hang the
//! open), checked to be a regular file on the open handle, and read only up
//! to the size the caller's format allows. Listing never follows a symlink
//! and names every entry that is not a plain file or directory.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::{Listed, Listing, Store, StoreError, check_key};

/// A store in a local directory.
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store in `root`. Nothing is created until the first write, so a
    /// mistyped path is not turned into an empty store.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Ok(LocalStore {
            root: root.to_owned(),
        })
    }

    /// Where the store is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            store: self.describe(),
            source,
        }
    }

    fn not_found_or(&self, key: &str, e: std::io::Error) -> StoreError {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound {
                store: self.describe(),
                key: key.into(),
            }
        } else {
            self.io(e)
        }
    }

    /// Opens a blob for reading: no symlink followed, no blocking open of a
    /// FIFO, and a regular file on the handle itself (no check-then-use
    /// race). Returns the file and its size.
    fn open_blob(&self, key: &str) -> Result<(fs::File, u64), StoreError> {
        let path = self.path(key)?;
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            let e = std::io::Error::from(e);
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                StoreError::NotRegular {
                    store: self.describe(),
                    key: key.into(),
                    what: "a symbolic link".into(),
                }
            } else {
                self.not_found_or(key, e)
            }
        })?;
        let file = fs::File::from(fd);
        let meta = file.metadata().map_err(|e| self.io(e))?;
        if !meta.file_type().is_file() {
            return Err(StoreError::NotRegular {
                store: self.describe(),
                key: key.into(),
                what: kind_of(&meta.file_type()).into(),
            });
        }
        Ok((file, meta.len()))
    }
}

/// What a directory entry is, for messages.
fn kind_of(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let dir = path.parent().expect("keys have a parent");
        fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".seif-tmp-")
            .tempfile_in(dir)
            .map_err(|e| self.io(e))?;
        tmp.write_all(data)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| self.io(e))?;
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(|e| self.io(e))?;
        tmp.persist(&path).map_err(|e| self.io(e.error))?;
        crate::killpoint::reached("store-put-renamed");
        crate::atomic::sync_dir(dir).map_err(|e| self.io(e))
    }

    fn get(&self, key: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::new();
        self.get_into(key, limit, &mut buf)?;
        Ok(buf)
    }

    fn get_into(&self, key: &str, limit: u64, buf: &mut Vec<u8>) -> Result<(), StoreError> {
        let (file, size) = self.open_blob(key)?;
        let too_large = |size| StoreError::TooLarge {
            store: self.describe(),
            key: key.into(),
            size,
            limit,
        };
        if size > limit {
            return Err(too_large(size));
        }
        buf.clear();
        buf.reserve(size as usize);
        // One byte past the limit tells a file that grew while being read.
        file.take(limit + 1)
            .read_to_end(buf)
            .map_err(|e| self.io(e))?;
        if buf.len() as u64 > limit {
            return Err(too_large(buf.len() as u64));
        }
        Ok(())
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        let (mut f, len) = self.open_blob(key)?;
        if range.end > len || range.start > range.end {
            return Err(StoreError::Backend {
                store: self.describe(),
                message: format!("{key}: range {range:?} is beyond its {len} bytes"),
            });
        }
        f.seek(SeekFrom::Start(range.start))
            .map_err(|e| self.io(e))?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        f.read_exact(&mut buf).map_err(|e| self.io(e))?;
        Ok(buf)
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match fs::symlink_metadata(self.path(key)?) {
            Ok(m) if m.file_type().is_file() => Ok(Some(m.len())),
            Ok(m) => Err(StoreError::NotRegular {
                store: self.describe(),
                key: key.into(),
                what: kind_of(&m.file_type()).into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Listing, StoreError> {
        let base = prefix.trim_end_matches('/');
        check_key(base)?;
        let mut out = Listing::default();
        let mut stack = vec![self.root.join(base)];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.io(e))?;
                let name = entry.file_name();
                let rel = entry
                    .path()
                    .strip_prefix(&self.root)
                    .map(|r| r.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| name.to_string_lossy().into_owned());
                if name.as_encoded_bytes().starts_with(b".") {
                    continue; // temporary files of writes in progress
                }
                // Never follows a symlink: `file_type` and `symlink_metadata`
                // describe the entry itself.
                let kind = entry.file_type().map_err(|e| self.io(e))?;
                if kind.is_dir() {
                    stack.push(entry.path());
                } else if kind.is_file() {
                    let meta = entry.metadata().map_err(|e| self.io(e))?;
                    out.blobs.push(Listed {
                        key: rel,
                        size: meta.len(),
                        arrived: Some(meta.mtime()),
                    });
                } else {
                    out.odd.push((rel, kind_of(&kind).into()));
                }
            }
        }
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.not_found_or(key, e)),
        }
    }
}

//! A plain local directory as a store. Writes go to a temporary file in the
//! same directory, are fsynced, renamed into place, and the directory is
//! fsynced, so a blob is either absent or complete, even across a power cut.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{Store, StoreError, check_key};

/// A store in a local directory.
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) a store directory.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(root).map_err(|source| StoreError::Io {
            store: root.display().to_string(),
            source,
        })?;
        Ok(LocalStore {
            root: root.to_owned(),
        })
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
        crate::atomic::sync_dir(dir).map_err(|e| self.io(e))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        fs::read(self.path(key)?).map_err(|e| self.not_found_or(key, e))
    }

    fn get_into(&self, key: &str, buf: &mut Vec<u8>) -> Result<(), StoreError> {
        let mut f = fs::File::open(self.path(key)?).map_err(|e| self.not_found_or(key, e))?;
        buf.clear();
        f.read_to_end(buf).map_err(|e| self.io(e))?;
        Ok(())
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        let mut f = fs::File::open(self.path(key)?).map_err(|e| self.not_found_or(key, e))?;
        let len = f.metadata().map_err(|e| self.io(e))?.len();
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
        match fs::metadata(self.path(key)?) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let base = prefix.trim_end_matches('/');
        check_key(base)?;
        let mut out = Vec::new();
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
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue; // temporary files of writes in progress
                }
                let meta = entry.metadata().map_err(|e| self.io(e))?;
                if meta.is_dir() {
                    stack.push(entry.path());
                } else if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                    out.push((rel.to_string_lossy().into_owned(), meta.len()));
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

//! The output tree, built through directory handles only.
//!
//! A restore runs as whoever asks for it (often root), into a directory
//! that someone else could try to redirect. So the output directory must
//! be the running user's own (created here with mode 0700, or an existing
//! empty one owned by this user), it is opened once without following a
//! symlink, and every directory, file and link below it is made relative
//! to an open handle of its parent (`mkdirat`, `openat` with `O_NOFOLLOW`,
//! `symlinkat`, `renameat2` with `RENAME_NOREPLACE`): no path is resolved
//! again between a check and its use, and no symlink is ever followed,
//! whether the snapshot made it or someone planted it.
//!
//! A file is written under a temporary name, and renamed to its own only
//! once every chunk checked; its mode (never more than the snapshot says)
//! and time are set on the handle.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Timestamps};

use super::RestoreError;
use crate::snapshot::manifest::Entry;

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Output {
        path: path.to_owned(),
        source,
    }
}

fn errno_at(path: &Path) -> impl Fn(rustix::io::Errno) -> RestoreError + '_ {
    move |e| RestoreError::Output {
        path: path.to_owned(),
        source: e.into(),
    }
}

/// How to treat what is already in the output directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Existing {
    /// The directory must be new or empty.
    #[default]
    Refuse,
    /// Skip files already restored whose content matches the manifest,
    /// restore the rest (after a restore stopped, e.g. by a full disk).
    Resume,
    /// Replace what is there.
    Overwrite,
}

/// The output directory, checked and open.
pub struct OutTree {
    root: Arc<OwnedFd>,
    path: PathBuf,
    /// Open directories from the root down to the last one entered (walk
    /// order visits each directory's contents together).
    stack: Vec<(String, Arc<OwnedFd>)>,
    /// Directories to give their mode and time at the end, deepest last.
    dirs: Vec<(String, u32, i64)>,
    existing: Existing,
}

/// Checks and opens (or makes) the output directory; nothing is created if
/// a check fails.
pub fn open_out(path: &Path, existing: Existing) -> Result<OutTree, RestoreError> {
    let me = rustix::process::geteuid().as_raw();
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::DirBuilderExt;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io_at(parent))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(path)
                .map_err(io_at(path))?;
        }
        Err(e) => return Err(io_at(path)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(RestoreError::OutputUnsafe(
                path.to_owned(),
                "a symbolic link; restore into a directory of your own".into(),
            ));
        }
        Ok(_) => {}
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno_at(path))?;
    let st = rustix::fs::fstat(&fd).map_err(errno_at(path))?;
    if st.st_uid != me {
        return Err(RestoreError::OutputUnsafe(
            path.to_owned(),
            format!(
                "owned by user {}, not by you ({me}): another user could read or redirect what is restored; restore into a directory of your own",
                st.st_uid
            ),
        ));
    }
    if existing == Existing::Refuse
        && std::fs::read_dir(path)
            .map_err(io_at(path))?
            .next()
            .is_some()
    {
        return Err(RestoreError::OutputExists(path.to_owned()));
    }
    Ok(OutTree {
        root: Arc::new(fd),
        path: path.to_owned(),
        stack: Vec::new(),
        dirs: Vec::new(),
        existing,
    })
}

/// Whether an output directory can be used, checked before anything else
/// (so that a refusal leaves nothing behind).
pub fn precheck_out(path: &Path, existing: Existing) -> Result<(), RestoreError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(path)(e)),
        Ok(m) if m.file_type().is_symlink() => Err(RestoreError::OutputUnsafe(
            path.to_owned(),
            "a symbolic link; restore into a directory of your own".into(),
        )),
        Ok(m) if !m.is_dir() => Err(RestoreError::OutputUnsafe(
            path.to_owned(),
            "not a directory".into(),
        )),
        Ok(m) if m.uid() != rustix::process::geteuid().as_raw() => Err(RestoreError::OutputUnsafe(
            path.to_owned(),
            format!(
                "owned by user {}, not by you: restore into a directory of your own",
                m.uid()
            ),
        )),
        Ok(_)
            if existing == Existing::Refuse
                && std::fs::read_dir(path)
                    .map_err(io_at(path))?
                    .next()
                    .is_some() =>
        {
            Err(RestoreError::OutputExists(path.to_owned()))
        }
        Ok(_) => Ok(()),
    }
}

fn split(rel: &str) -> (Option<&str>, &str) {
    match rel.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, rel),
    }
}

/// Where a file goes: its directory's handle and its name.
#[derive(Clone)]
pub struct Place {
    dir: Arc<OwnedFd>,
    name: String,
    /// For messages.
    pub path: PathBuf,
}

impl OutTree {
    /// The root handle, for checks made off the writing thread.
    pub fn root_handle(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.root)
    }

    /// The free space of the output's file system, in bytes.
    pub fn free_bytes(&self) -> Option<u64> {
        rustix::fs::fstatvfs(&*self.root)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
    }

    /// The handle of the directory that holds `rel`, entering it through
    /// the stack (entries come in walk order, so a directory's parent is
    /// always on the stack when the directory is reached).
    fn parent_of(&mut self, rel: &str) -> Result<Arc<OwnedFd>, RestoreError> {
        let (parent, _) = split(rel);
        let Some(parent) = parent else {
            self.stack.clear();
            return Ok(Arc::clone(&self.root));
        };
        while let Some((top, _)) = self.stack.last() {
            if top == parent {
                break;
            }
            self.stack.pop();
        }
        if let Some((_, fd)) = self.stack.last() {
            return Ok(Arc::clone(fd));
        }
        // Not entered yet (a restore of chosen paths skips the entries above
        // them): open each component from the root, never following a link.
        let mut fd = Arc::clone(&self.root);
        let mut at = String::new();
        for c in parent.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(c);
            let next = rustix::fs::openat(
                &*fd,
                c,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno_at(&self.path.join(&at)))?;
            fd = Arc::new(next);
            self.stack.push((at.clone(), Arc::clone(&fd)));
        }
        Ok(fd)
    }

    /// Makes a directory (mode and time come at the end).
    pub fn dir(&mut self, e: &Entry) -> Result<(), RestoreError> {
        let parent = self.parent_of(&e.path)?;
        let path = self.path.join(&e.path);
        let (_, name) = split(&e.path);
        match rustix::fs::mkdirat(&*parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) if self.existing != Existing::Refuse => {}
            Err(e) => return Err(errno_at(&path)(e)),
        }
        let fd = rustix::fs::openat(
            &*parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno_at(&path))?;
        self.stack.push((e.path.clone(), Arc::new(fd)));
        self.dirs.push((e.path.clone(), e.mode, e.mtime));
        Ok(())
    }

    /// Makes a symlink.
    pub fn symlink(&mut self, e: &Entry) -> Result<(), RestoreError> {
        let parent = self.parent_of(&e.path)?;
        let path = self.path.join(&e.path);
        let (_, name) = split(&e.path);
        let target = e.target.as_deref().unwrap_or("");
        match rustix::fs::symlinkat(target, &*parent, name) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) if self.existing != Existing::Refuse => {
                // Resume or overwrite: a link already there is replaced (a
                // link is never followed, so replacing is safe).
                rustix::fs::unlinkat(&*parent, name, AtFlags::empty()).map_err(errno_at(&path))?;
                rustix::fs::symlinkat(target, &*parent, name).map_err(errno_at(&path))?;
            }
            Err(e) => return Err(errno_at(&path)(e)),
        }
        let t = timestamps(e.mtime);
        // A file system that cannot time a link is not an error.
        let _ = rustix::fs::utimensat(&*parent, name, &t, AtFlags::SYMLINK_NOFOLLOW);
        Ok(())
    }

    /// Where a file goes.
    pub fn place(&mut self, e: &Entry) -> Result<Place, RestoreError> {
        let dir = self.parent_of(&e.path)?;
        let (_, name) = split(&e.path);
        Ok(Place {
            dir,
            name: name.to_owned(),
            path: self.path.join(&e.path),
        })
    }

    /// Whether a file already restored (a resumed restore) has exactly the
    /// content `matches` says.
    pub fn already(
        &self,
        place: &Place,
        size: u64,
        matches: impl FnOnce(&mut File) -> bool,
    ) -> bool {
        if self.existing != Existing::Resume {
            return false;
        }
        let Ok(fd) = rustix::fs::openat(
            &*place.dir,
            place.name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return false;
        };
        let mut f = File::from(fd);
        f.metadata().is_ok_and(|m| m.is_file() && m.len() == size) && matches(&mut f)
    }

    /// Gives every directory its mode and time, deepest first, once all
    /// their contents are written (so writing does not change them, and a
    /// read-only directory does not stop its own restore).
    pub fn finish(mut self) -> Result<(), RestoreError> {
        self.stack.clear();
        let dirs = std::mem::take(&mut self.dirs);
        for (rel, mode, mtime) in dirs.iter().rev() {
            let path = self.path.join(rel);
            let mut fd = Arc::clone(&self.root);
            for c in rel.split('/') {
                fd = Arc::new(
                    rustix::fs::openat(
                        &*fd,
                        c,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(errno_at(&path))?,
                );
            }
            rustix::fs::futimens(&*fd, &timestamps(*mtime)).map_err(errno_at(&path))?;
            rustix::fs::fchmod(&*fd, Mode::from_raw_mode(mode & 0o777)).map_err(errno_at(&path))?;
        }
        // One flush of the whole file system at the end instead of one per
        // file: the data is durable when seif reports success.
        let _ = rustix::fs::syncfs(&*self.root);
        Ok(())
    }
}

fn timestamps(mtime: i64) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// A file being written under a temporary name beside its own.
pub struct NewFile {
    file: std::io::BufWriter<File>,
    place: Place,
    tmp: String,
    done: bool,
}

impl NewFile {
    /// Creates the temporary file (0600, never through a link).
    pub fn create(place: Place) -> Result<Self, RestoreError> {
        let mut tries = 0;
        loop {
            let tmp = format!(
                ".seif-restore-{}",
                crate::encoding::to_hex(&crate::secrets::random_array::<8>())
            );
            match rustix::fs::openat(
                &*place.dir,
                tmp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => {
                    return Ok(NewFile {
                        file: std::io::BufWriter::with_capacity(1 << 20, File::from(fd)),
                        place,
                        tmp,
                        done: false,
                    });
                }
                Err(rustix::io::Errno::EXIST) if tries < 8 => tries += 1,
                Err(e) => return Err(errno_at(&place.path)(e)),
            }
        }
    }

    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        self.file.write_all(bytes).map_err(io_at(&self.place.path))
    }

    /// Gives it its mode (at most what the snapshot says, and never more
    /// than the owner's 0777 bits) and time, and renames it into place.
    pub fn commit(mut self, e: &Entry, overwrite: bool) -> Result<(), RestoreError> {
        let path = self.place.path.clone();
        self.file.flush().map_err(io_at(&path))?;
        let f = self.file.get_ref();
        rustix::fs::fchmod(f.as_fd(), Mode::from_raw_mode(e.mode & 0o777))
            .map_err(errno_at(&path))?;
        rustix::fs::futimens(f.as_fd(), &timestamps(e.mtime)).map_err(errno_at(&path))?;
        let flags = if overwrite {
            RenameFlags::empty()
        } else {
            RenameFlags::NOREPLACE
        };
        rustix::fs::renameat_with(
            &*self.place.dir,
            self.tmp.as_str(),
            &*self.place.dir,
            self.place.name.as_str(),
            flags,
        )
        .map_err(errno_at(&path))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.done {
            // Never leave a half-written file behind.
            let _ = rustix::fs::unlinkat(&*self.place.dir, self.tmp.as_str(), AtFlags::empty());
        }
    }
}

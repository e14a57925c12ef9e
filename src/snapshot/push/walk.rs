//! The tree walk: depth first, names sorted bytewise, each directory before
//! its contents (the manifest's walk order), holding one sorted listing per
//! level. Every name is checked against the manifest's own rules as it is
//! met, so a push never stores a path its restore would refuse.
//!
//! Files are opened without following a symlink and without blocking (a
//! regular file swapped for a FIFO during the walk would otherwise hang the
//! open forever); what is not a regular file on the open handle is skipped
//! with a warning.

use std::ffi::OsString;
use std::fs::{File, FileType, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::PushError;
use crate::snapshot::manifest;

/// One pushed path, named in the snapshot by its last component.
#[derive(Clone, Debug)]
pub struct Root {
    /// Where it is.
    pub fs_path: PathBuf,
    /// Its name at the top of the snapshot.
    pub name: String,
    /// Standard input, stored as one file named `name` (`fs_path` is
    /// only a label).
    pub stream: bool,
}

/// Where a push reads standard input from, for messages and for the
/// journal's and file list's names.
pub const STDIN_LABEL: &str = "<stdin>";

/// The pushed paths, and standard input as one file named `stdin` if
/// given, sorted by name (the walk order at the top level).
pub fn roots(paths: &[PathBuf], stdin: Option<&str>) -> Result<Vec<Root>, PushError> {
    let mut out: Vec<Root> = Vec::new();
    if let Some(name) = stdin {
        let label = PathBuf::from(STDIN_LABEL);
        if name.contains('/') {
            return Err(PushError::Unrepresentable {
                path: label,
                why: format!(
                    "--stdin-name '{}' holds a '/': give a file name, not a path",
                    crate::untrusted::escape(name)
                ),
            });
        }
        manifest::check_path(name).map_err(|why| PushError::Unrepresentable {
            path: label.clone(),
            why,
        })?;
        out.push(Root {
            fs_path: label,
            name: name.to_owned(),
            stream: true,
        });
    }
    for p in paths {
        std::fs::symlink_metadata(p).map_err(|e| PushError::input(p, e))?;
        let abs = std::path::absolute(p).map_err(|e| PushError::input(p, e))?;
        let name = abs
            .components()
            .rfind(|c| matches!(c, std::path::Component::Normal(_)))
            .ok_or_else(|| PushError::Input {
                path: p.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "push a named directory or file, not the root",
                ),
            })?;
        let name = name
            .as_os_str()
            .to_str()
            .ok_or_else(|| PushError::NotUtf8(p.clone()))?
            .to_owned();
        manifest::check_path(&name).map_err(|why| PushError::Unrepresentable {
            path: p.clone(),
            why,
        })?;
        if out.iter().any(|r| r.name == name) {
            return Err(PushError::DuplicateRoot(name));
        }
        out.push(Root {
            fs_path: p.clone(),
            name,
            stream: false,
        });
    }
    out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(out)
}

/// One item of the walk.
pub struct Item {
    /// Where it is.
    pub fs_path: PathBuf,
    /// Its path in the snapshot.
    pub rel: String,
    /// Its metadata, not following a symlink (standard input's: a pipe's
    /// or a file's).
    pub meta: Metadata,
    /// Standard input, read as one file.
    pub stream: bool,
}

/// What a walk met that it left out, with why.
pub type Skipped = Vec<String>;

/// A depth-first walk in walk order.
pub struct Walker {
    roots: std::vec::IntoIter<Root>,
    stack: Vec<(PathBuf, String, Vec<OsString>, usize)>,
}

impl Walker {
    /// Walks `roots`.
    pub fn new(roots: &[Root]) -> Self {
        Walker {
            roots: Vec::from(roots).into_iter(),
            stack: Vec::new(),
        }
    }

    /// The next item; entries that vanish during the walk are skipped
    /// (noted in `skipped`), names the format cannot hold are an error.
    pub fn next(&mut self, skipped: &mut Skipped) -> Result<Option<Item>, PushError> {
        loop {
            let (fs_path, rel) = if let Some((dir, rel_dir, names, next)) = self.stack.last_mut() {
                if *next == names.len() {
                    self.stack.pop();
                    continue;
                }
                let name = &names[*next];
                *next += 1;
                child(dir, rel_dir, name)?
            } else if let Some(root) = self.roots.next() {
                if root.stream {
                    let meta = stdin_metadata().map_err(|e| PushError::input(&root.fs_path, e))?;
                    return Ok(Some(Item {
                        fs_path: root.fs_path,
                        rel: root.name,
                        meta,
                        stream: true,
                    }));
                }
                (root.fs_path, root.name)
            } else {
                return Ok(None);
            };
            let meta = match std::fs::symlink_metadata(&fs_path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.stack.is_empty() => {
                    skipped.push(format!("{}: vanished during the push", fs_path.display()));
                    continue;
                }
                Err(e) => return Err(PushError::input(&fs_path, e)),
            };
            if meta.is_dir() {
                let names = match list_dir(&fs_path) {
                    Ok(n) => n,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound && !self.stack.is_empty() =>
                    {
                        skipped.push(format!("{}: vanished during the push", fs_path.display()));
                        continue;
                    }
                    Err(e) => return Err(PushError::input(&fs_path, e)),
                };
                self.stack.push((fs_path.clone(), rel.clone(), names, 0));
            }
            return Ok(Some(Item {
                fs_path,
                rel,
                meta,
                stream: false,
            }));
        }
    }
}

/// Standard input's metadata, from the descriptor itself.
/// An entry `name` of the directory `dir` (`rel_dir` in the snapshot):
/// its path on disk and in the snapshot, refused if the format cannot hold
/// the name (not UTF-8, or a path its reader refuses).
fn child(dir: &Path, rel_dir: &str, name: &OsString) -> Result<(PathBuf, String), PushError> {
    let fs_path = dir.join(name);
    let Some(name) = name.to_str() else {
        return Err(PushError::NotUtf8(fs_path));
    };
    let rel = format!("{rel_dir}/{name}");
    manifest::check_path(&rel).map_err(|why| PushError::Unrepresentable {
        path: fs_path.clone(),
        why,
    })?;
    Ok((fs_path, rel))
}

fn stdin_metadata() -> std::io::Result<Metadata> {
    use std::os::fd::AsFd;
    let fd = rustix::io::dup(std::io::stdin().as_fd())?;
    File::from(fd).metadata()
}

fn list_dir(path: &Path) -> std::io::Result<Vec<OsString>> {
    let mut names: Vec<OsString> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// A symlink's target, as the manifest stores it (UTF-8, within limits).
pub fn link_target(item: &Item) -> Result<String, PushError> {
    link_target_at(&item.fs_path)
}

fn link_target_at(path: &Path) -> Result<String, PushError> {
    let target = std::fs::read_link(path).map_err(|e| PushError::input(path, e))?;
    let target = target
        .to_str()
        .ok_or_else(|| PushError::NotUtf8(path.to_path_buf()))?
        .to_owned();
    if target.is_empty() || target.len() > manifest::TARGET_MAX {
        return Err(PushError::Unrepresentable {
            path: path.to_path_buf(),
            why: format!(
                "a symlink target of {} bytes (the format holds 1 to {})",
                target.len(),
                manifest::TARGET_MAX
            ),
        });
    }
    Ok(target)
}

/// Opens a file met by the walk: `None` (with a note in `skipped`) if it
/// is no longer a regular file, or has vanished.
pub fn open_file(
    path: &Path,
    skipped: &mut Skipped,
) -> Result<Option<(File, Metadata)>, PushError> {
    crate::killpoint::reached("push-before-open");
    let fd = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            skipped.push(format!("{}: vanished during the push", path.display()));
            return Ok(None);
        }
        Err(rustix::io::Errno::LOOP) => {
            skipped.push(format!(
                "{}: became a symlink during the push",
                path.display()
            ));
            return Ok(None);
        }
        Err(e) => return Err(PushError::input(path, e.into())),
    };
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| PushError::input(path, e))?;
    if !meta.file_type().is_file() {
        skipped.push(format!(
            "{}: no longer a regular file when opened",
            path.display()
        ));
        return Ok(None);
    }
    Ok(Some((file, meta)))
}

/// What a quick walk before the push found: every name checked, and the
/// totals for progress.
#[derive(Debug, Default)]
pub struct Prescan {
    /// Regular files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Walks the tree once with no file opened: refuses, before anything is
/// stored, any name or link the format cannot hold, naming the first in
/// walk order; counts the files and, with `bytes`, their bytes, so that
/// progress can show a total. Types come from the directory listings, so
/// without `bytes` no file is stat'ed at all (on a tree of small files the
/// stat of every file was most of this walk's time, spent while no other
/// work could start).
pub fn prescan(roots: &[Root], bytes: bool) -> Result<Prescan, PushError> {
    let mut p = Prescan::default();
    // The directories being listed, depth first. Names and types only: no
    // level holds its directory open, however deep the tree.
    let mut stack: Vec<Listing> = Vec::new();
    for root in roots.iter().filter(|r| !r.stream) {
        let meta = std::fs::symlink_metadata(&root.fs_path)
            .map_err(|e| PushError::input(&root.fs_path, e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            stack.push(listing(&root.fs_path, root.name.clone())?);
        } else if ft.is_file() {
            p.files += 1;
            p.bytes += meta.len();
        } else if ft.is_symlink() {
            link_target_at(&root.fs_path)?;
        }
        while let Some(l) = stack.last_mut() {
            let Some((name, ft)) = l.entries.get(l.next) else {
                stack.pop();
                continue;
            };
            l.next += 1;
            let ft = *ft;
            let (fs_path, rel) = child(&l.dir, &l.rel, name)?;
            // Gone since it was listed: the push's own walk notes it.
            let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
            if ft.is_dir() {
                match listing(&fs_path, rel) {
                    Ok(l) => stack.push(l),
                    Err(PushError::Input { source, .. }) if gone(&source) => {}
                    Err(e) => return Err(e),
                }
            } else if ft.is_file() {
                p.files += 1;
                if bytes {
                    match std::fs::symlink_metadata(&fs_path) {
                        Ok(m) => p.bytes += m.len(),
                        Err(e) if gone(&e) => {}
                        Err(e) => return Err(PushError::input(&fs_path, e)),
                    }
                }
            } else if ft.is_symlink() {
                link_target_at(&fs_path)?;
            }
        }
    }
    Ok(p)
}

/// A directory being prescanned: its entries and their types (from the
/// listing where the file system gives them), sorted by name as the walk
/// takes them, and the next to look at.
struct Listing {
    dir: PathBuf,
    rel: String,
    entries: Vec<(OsString, FileType)>,
    next: usize,
}

fn listing(dir: &Path, rel: String) -> Result<Listing, PushError> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| PushError::input(dir, e))? {
        let e = e.map_err(|e| PushError::input(dir, e))?;
        match e.file_type() {
            Ok(t) => entries.push((e.file_name(), t)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(PushError::input(&e.path(), err)),
        }
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(Listing {
        dir: dir.to_path_buf(),
        rel,
        entries,
        next: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn root(p: &Path) -> Vec<Root> {
        roots(&[p.to_path_buf()], None).unwrap()
    }

    #[test]
    fn the_prescan_counts_files_and_stats_them_only_for_bytes() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("a/b")).unwrap();
        std::fs::write(top.join("a/one"), [1u8; 100]).unwrap();
        std::fs::write(top.join("a/b/two"), [2u8; 20]).unwrap();
        std::fs::write(top.join("three"), [3u8; 3]).unwrap();
        std::os::unix::fs::symlink("a/one", top.join("link")).unwrap();
        let p = prescan(&root(&top), true).unwrap();
        assert_eq!((p.files, p.bytes), (3, 123));
        let p = prescan(&root(&top), false).unwrap();
        assert_eq!((p.files, p.bytes), (3, 0), "no bytes without a stat");
    }

    #[test]
    fn the_prescan_names_the_first_bad_name_in_walk_order() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        // Made in reverse, so that a listing in creation or hash order
        // would likely meet another first.
        for dir in ["e", "d", "c", "b", "a"] {
            let sub = top.join(dir);
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(sub.join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"x").unwrap();
            std::fs::write(sub.join("fine"), b"x").unwrap();
        }
        match prescan(&root(&top), false) {
            Err(PushError::NotUtf8(p)) => assert!(p.starts_with(top.join("a")), "{p:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_prescan_refuses_a_link_the_format_cannot_hold() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("deep")).unwrap();
        std::fs::write(top.join("deep/fine"), b"x").unwrap();
        let target = std::ffi::OsStr::from_bytes(b"not-utf8-\xff");
        std::os::unix::fs::symlink(target, top.join("deep/link")).unwrap();
        match prescan(&root(&top), false) {
            Err(PushError::NotUtf8(p)) => assert_eq!(p, top.join("deep/link")),
            other => panic!("{other:?}"),
        }
    }
}

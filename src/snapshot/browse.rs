//! Looking into snapshots without restoring them: list a snapshot's
//! entries (`seif ls --identity`), find paths by a glob across snapshots
//! (`seif find`), and compare two snapshots (`seif diff`). Each reads the
//! manifest a part at a time through [`ManifestEntries`], so memory holds
//! one part, never the tree; a diff walks both manifests side by side
//! (entries come in walk order, FORMAT.md 8.2).
//!
//! Paths come from a manifest: text from a sealed file, which the caller
//! must escape before printing.

use std::cmp::Ordering;

use super::list::Tables;
use super::manifest::{Entry, EntryKind};
use super::read::{KeyRing, ManifestEntries, ReadError};
use super::record::Record;
use crate::store::Store;

/// Every entry of a snapshot's manifest, in walk order, each checked.
pub fn entries<'a>(
    store: &'a dyn Store,
    record: &Record,
    tables: &'a Tables,
    ring: &'a KeyRing,
) -> Result<ManifestEntries<'a>, ReadError> {
    let sid = record.body.snapshot_id;
    let key = ring.get(&sid).ok_or_else(|| ReadError::Key {
        snapshot: sid,
        message: "not unwrapped".into(),
    })?;
    Ok(ManifestEntries::new(
        store,
        record.body.vault_id,
        sid,
        tables,
        key,
    ))
}

/// Whether `path` is one of `under` or lies below one (all if `under` is
/// empty). Paths given are taken without leading or trailing `/`.
pub fn is_under(path: &str, under: &[String]) -> bool {
    under.is_empty()
        || under.iter().any(|u| {
            let u = u.trim_matches('/');
            u.is_empty() || path == u || path.strip_prefix(u).is_some_and(|r| r.starts_with('/'))
        })
}

/// `ls -l`'s type and permission letters: `drwxr-x---`.
pub fn mode_string(kind: EntryKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::File => '-',
    });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// The type's name as the manifest spells it.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "symlink",
    }
}

/// A glob, matched against a whole path or (when it holds no `/`) against
/// each path's last component, as `find -name` does: `*` is any run of
/// characters but `/`, `**` any run including `/`, `?` one character but
/// `/`, `[abc]` one of a set. Anything else matches itself.
pub fn glob_matches(glob: &str, path: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    if glob.contains('/') {
        let p: Vec<char> = path.chars().collect();
        matches(&g, &p)
    } else {
        let last: Vec<char> = path.rsplit('/').next().unwrap_or(path).chars().collect();
        matches(&g, &last)
    }
}

fn matches(g: &[char], p: &[char]) -> bool {
    // Iterative with backtracking over the last star (no recursion depth
    // a long hostile path could exhaust).
    let (mut gi, mut pi) = (0, 0);
    let mut star: Option<(usize, usize, bool)> = None;
    while pi < p.len() {
        if gi < g.len() {
            match g[gi] {
                '*' => {
                    let deep = g.get(gi + 1) == Some(&'*');
                    gi += if deep { 2 } else { 1 };
                    star = Some((gi, pi, deep));
                    continue;
                }
                '?' if p[pi] != '/' => {
                    gi += 1;
                    pi += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, len)) = class(&g[gi..], p[pi])
                        && ok
                    {
                        gi += len;
                        pi += 1;
                        continue;
                    }
                }
                c if c == p[pi] && c != '?' => {
                    gi += 1;
                    pi += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sg, sp, deep)) if deep || p[sp] != '/' => {
                star = Some((sg, sp + 1, deep));
                gi = sg;
                pi = sp + 1;
            }
            _ => return false,
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

/// A `[…]` class at the start of `g`: whether `c` is in it, and its length.
fn class(g: &[char], c: char) -> Option<(bool, usize)> {
    let end = g.iter().skip(1).position(|&x| x == ']')? + 1;
    let set = &g[1..end];
    let (negate, set) = match set.first() {
        Some('!' | '^') => (true, &set[1..]),
        _ => (false, set),
    };
    let mut hit = false;
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == '-' {
            hit |= set[i] <= c && c <= set[i + 2];
            i += 3;
        } else {
            hit |= set[i] == c;
            i += 1;
        }
    }
    Some((hit != negate && c != '/', end + 1))
}

/// The walk order of paths: component by component, each bytewise.
pub fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// How one path differs between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Only in the second.
    Added(Entry),
    /// Only in the first.
    Removed(Entry),
    /// In both, with what changed (`type`, `size`, `content`, `mode`,
    /// `mtime`, `target`).
    Changed {
        /// As it was.
        old: Entry,
        /// As it is.
        new: Entry,
        /// What changed.
        what: Vec<&'static str>,
    },
}

impl Change {
    /// The path.
    pub fn path(&self) -> &str {
        match self {
            Change::Added(e) | Change::Removed(e) => &e.path,
            Change::Changed { new, .. } => &new.path,
        }
    }
}

/// What changed between two entries of one path (empty: nothing).
/// Content is compared by the chunks' hashes, so no data is read; a file
/// cut differently by another pipeline shows as changed content.
pub fn differences(a: &Entry, b: &Entry) -> Vec<&'static str> {
    let mut what = Vec::new();
    if a.kind != b.kind {
        what.push("type");
    }
    if a.size != b.size {
        what.push("size");
    }
    let hashes = |e: &Entry| {
        e.chunks
            .as_ref()
            .map(|c| c.iter().map(|c| c.sha256).collect::<Vec<_>>())
    };
    if a.kind == b.kind && a.size == b.size && hashes(a) != hashes(b) {
        what.push("content");
    }
    if a.target != b.target {
        what.push("target");
    }
    if a.mode != b.mode {
        what.push("mode");
    }
    if a.mtime != b.mtime {
        what.push("mtime");
    }
    what
}

/// Walks two manifests side by side and calls `each` for every path that
/// was added, removed or changed, in walk order.
pub fn diff(
    mut old: impl Iterator<Item = Result<Entry, ReadError>>,
    mut new: impl Iterator<Item = Result<Entry, ReadError>>,
    mut each: impl FnMut(Change) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut a = old.next().transpose()?;
    let mut b = new.next().transpose()?;
    loop {
        match (a.take(), b.take()) {
            (None, None) => return Ok(()),
            (Some(x), None) => {
                each(Change::Removed(x))?;
                a = old.next().transpose()?;
            }
            (None, Some(y)) => {
                each(Change::Added(y))?;
                b = new.next().transpose()?;
            }
            (Some(x), Some(y)) => match walk_order(&x.path, &y.path) {
                Ordering::Less => {
                    each(Change::Removed(x))?;
                    a = old.next().transpose()?;
                    b = Some(y);
                }
                Ordering::Greater => {
                    each(Change::Added(y))?;
                    a = Some(x);
                    b = new.next().transpose()?;
                }
                Ordering::Equal => {
                    let what = differences(&x, &y);
                    if !what.is_empty() {
                        each(Change::Changed {
                            old: x,
                            new: y,
                            what,
                        })?;
                    }
                    a = old.next().transpose()?;
                    b = new.next().transpose()?;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind, size: Option<u64>, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            mtime: 1,
            size,
            chunks: size.map(|_| Vec::new()),
            target: None,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_matches("*.csv", "registry/harju/x.csv"));
        assert!(!glob_matches("*.csv", "registry/harju/x.csv.bak"));
        assert!(glob_matches("x.?sv", "a/x.csv"));
        assert!(glob_matches("registry/*/x.csv", "registry/harju/x.csv"));
        assert!(!glob_matches("registry/*.csv", "registry/harju/x.csv"));
        assert!(glob_matches("registry/**.csv", "registry/harju/x.csv"));
        assert!(glob_matches("**/x.csv", "registry/harju/x.csv"));
        assert!(glob_matches("[xy].csv", "a/y.csv"));
        assert!(!glob_matches("[!xy].csv", "a/y.csv"));
        assert!(glob_matches("[a-c]*", "b"));
        assert!(glob_matches("*", "anything"));
        assert!(!glob_matches("", "a"));
        // No exponential blow-up on a hostile pattern and path.
        let long = "a".repeat(10_000);
        assert!(!glob_matches("*a*a*a*a*a*a*a*b", &long));
    }

    #[test]
    fn under_and_order() {
        let u = vec!["registry/harju/".to_string()];
        assert!(is_under("registry/harju", &u));
        assert!(is_under("registry/harju/x.csv", &u));
        assert!(!is_under("registry/harjumaa", &u));
        assert!(is_under("anything", &[]));
        assert_eq!(walk_order("a/b", "a.b"), Ordering::Less);
        assert_eq!(walk_order("a", "a/b"), Ordering::Less);
    }

    #[test]
    fn a_diff_names_added_removed_and_changed() {
        let old = vec![
            e("r", EntryKind::Dir, None, 0o755),
            e("r/a", EntryKind::File, Some(1), 0o644),
            e("r/b", EntryKind::File, Some(2), 0o644),
            e("r/c", EntryKind::File, Some(3), 0o644),
        ];
        let new = vec![
            e("r", EntryKind::Dir, None, 0o755),
            e("r/a", EntryKind::File, Some(1), 0o600),
            e("r/b/x", EntryKind::File, Some(2), 0o644),
            e("r/d", EntryKind::File, Some(3), 0o644),
        ];
        let mut out = Vec::new();
        diff(old.into_iter().map(Ok), new.into_iter().map(Ok), |c| {
            out.push(match &c {
                Change::Added(e) => format!("+{}", e.path),
                Change::Removed(e) => format!("-{}", e.path),
                Change::Changed { new, what, .. } => format!("M{} {what:?}", new.path),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(out, ["Mr/a [\"mode\"]", "-r/b", "+r/b/x", "-r/c", "+r/d"]);
        assert_eq!(mode_string(EntryKind::Dir, 0o750), "drwxr-x---");
    }
}

//! Which entries a restore of chosen paths takes: each path asked for (a
//! file, or a directory with everything under it) and the directories
//! above it; and, for a path the snapshot does not hold, the paths it most
//! likely meant.

use crate::snapshot::manifest::{Entry, EntryKind};

/// The chosen paths, normalised (no leading or trailing `/`).
pub struct Selection {
    wanted: Vec<String>,
    found: Vec<bool>,
    /// Near misses for each path: `(rank, path)`, rank 0 for a path that
    /// ends with the one asked for, 1 for the same file name.
    suggestions: Vec<Vec<(u8, String)>>,
}

/// Near misses kept of each rank, and shown in all.
const SUGGESTIONS: usize = 5;

impl Selection {
    /// Everything (no path given) or the given paths.
    pub fn new(only: &[String]) -> Self {
        let wanted: Vec<String> = only
            .iter()
            .map(|p| p.trim_matches('/').to_owned())
            .collect();
        Selection {
            found: vec![false; wanted.len()],
            suggestions: vec![Vec::new(); wanted.len()],
            wanted,
        }
    }

    /// Whether every entry is taken.
    pub fn all(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Whether `e` is taken, noting which asked-for path it answers (and,
    /// for the ones not found, collecting near misses).
    pub fn takes(&mut self, e: &Entry) -> bool {
        if self.all() {
            return true;
        }
        let mut take = false;
        for (i, w) in self.wanted.iter().enumerate() {
            if e.path == *w || e.path.starts_with(&format!("{w}/")) {
                self.found[i] = true;
                take = true;
            } else if e.kind == EntryKind::Dir && w.starts_with(&format!("{}/", e.path)) {
                // A directory above a wanted path.
                take = true;
            } else if !self.found[i]
                && let Some(rank) = near(&e.path, w)
                && self.suggestions[i]
                    .iter()
                    .filter(|(r, _)| *r == rank)
                    .count()
                    < SUGGESTIONS
            {
                self.suggestions[i].push((rank, e.path.clone()));
            }
        }
        take
    }

    /// The paths asked for that the snapshot does not hold, each with the
    /// paths it most likely meant.
    pub fn missing(&self) -> Vec<(String, Vec<String>)> {
        self.wanted
            .iter()
            .zip(&self.found)
            .zip(&self.suggestions)
            .filter(|((_, f), _)| !**f)
            .map(|((w, _), s)| {
                // Suffix matches first, each rank in walk order.
                let mut s = s.clone();
                s.sort_by_key(|(rank, _)| *rank);
                (
                    w.clone(),
                    s.into_iter().take(SUGGESTIONS).map(|(_, p)| p).collect(),
                )
            })
            .collect()
    }
}

/// Whether `path` is a likely meaning of `wanted`, and how likely: 0 if
/// it ends with it (the leading directories were left out), 1 if it has
/// the same last component (the file moved).
fn near(path: &str, wanted: &str) -> Option<u8> {
    if wanted.is_empty() {
        return None;
    }
    if path.ends_with(&format!("/{wanted}")) {
        return Some(0);
    }
    let last = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    (last(path) == last(wanted)).then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: 0o644,
            mtime: 0,
            size: None,
            chunks: None,
            target: None,
        }
    }

    #[test]
    fn parents_are_taken_and_near_misses_suggested() {
        let mut s = Selection::new(&["registry/harju/".into(), "harju/x.csv".into()]);
        assert!(s.takes(&e("registry", EntryKind::Dir)));
        assert!(s.takes(&e("registry/harju", EntryKind::Dir)));
        assert!(s.takes(&e("registry/harju/x.csv", EntryKind::File)));
        assert!(!s.takes(&e("registry/tartu", EntryKind::Dir)));
        let missing = s.missing();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, "harju/x.csv");
        assert_eq!(missing[0].1, vec!["registry/harju/x.csv".to_string()]);
    }

    #[test]
    fn a_suffix_match_comes_before_a_file_of_the_same_name() {
        let mut s = Selection::new(&["harju/x.csv".into()]);
        for p in ["a/x.csv", "b/x.csv", "registry/harju/x.csv"] {
            s.takes(&e(p, EntryKind::File));
        }
        assert_eq!(
            s.missing()[0].1,
            ["registry/harju/x.csv", "a/x.csv", "b/x.csv"]
        );
    }
}

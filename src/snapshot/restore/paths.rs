//! Which entries a restore of chosen paths takes: each path asked for (a
//! file, or a directory with everything under it) and the directories
//! above it; and, for a path the snapshot does not hold, the paths it most
//! likely meant.

use crate::snapshot::manifest::{Entry, EntryKind};

/// The chosen paths, normalised (no leading or trailing `/`).
pub struct Selection {
    wanted: Vec<String>,
    found: Vec<bool>,
    suggestions: Vec<Vec<String>>,
}

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
            } else if !self.found[i] && self.suggestions[i].len() < 5 && near(&e.path, w) {
                self.suggestions[i].push(e.path.clone());
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
            .map(|((w, _), s)| (w.clone(), s.clone()))
            .collect()
    }
}

/// Whether `path` is a likely meaning of `wanted`: it ends with it (the
/// leading directories were left out), or has the same last component.
fn near(path: &str, wanted: &str) -> bool {
    if wanted.is_empty() {
        return false;
    }
    if path.ends_with(&format!("/{wanted}")) {
        return true;
    }
    let last = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    last(path) == last(wanted)
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
}

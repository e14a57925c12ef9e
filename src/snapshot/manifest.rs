//! The manifest: what a snapshot holds (paths, sizes, modes, times,
//! symlinks, per-file SHA-256, and where each file's bytes lie in the
//! packs), as JSON Lines, encrypted in one or more manifest objects. Only a
//! holder of the snapshot's data key sees it; the host sees object sizes.
//!
//! ```text
//! {"format":"seif-manifest/1","snapshot_id":"…"}
//! {"path":"db/dump.sql","type":"file","size":123,"mode":420,"mtime":1795779501,"sha256":"…","segments":[[0,0,123]]}
//! {"path":"db","type":"dir","mode":493,"mtime":1795779501}
//! {"path":"db/latest","type":"symlink","mode":511,"mtime":1795779501,"target":"dump.sql"}
//! {"end":{"entries":3,"files":1,"bytes":123}}
//! ```
//!
//! A segment `[p, o, n]` is `n` bytes at plaintext offset `o` of pack `p`
//! (an index into the record's `packs`). Lines never span manifest parts;
//! each part may end in zero padding.

use serde::{Deserialize, Serialize};

/// The manifest's format line value.
pub const FORMAT: &str = "seif-manifest/1";
/// Plaintext bytes per manifest part (before padding).
pub const PART_SIZE: usize = 4 << 20;
/// The longest manifest line accepted.
pub const LINE_MAX: usize = 64 * 1024;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// A piece of a file: `len` bytes at plaintext `offset` of pack `pack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment(pub u32, pub u64, pub u64);

impl Segment {
    /// The pack index.
    pub fn pack(&self) -> u32 {
        self.0
    }
    /// The offset in the pack's plaintext.
    pub fn offset(&self) -> u64 {
        self.1
    }
    /// The length.
    pub fn len(&self) -> u64 {
        self.2
    }
    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.2 == 0
    }
}

/// One entry of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Relative, `/`-separated, UTF-8; no `.`, `..` or empty component.
    pub path: String,
    /// File, directory or symlink.
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Unix permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// Files: the size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Files: SHA-256 of the content, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Files: where the content lies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Symlinks: the target, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Totals in the manifest's last line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Entries of every kind.
    pub entries: u64,
    /// Regular files.
    pub files: u64,
    /// Content bytes.
    pub bytes: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    format: String,
    snapshot_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    end: Totals,
}

/// Checks a manifest path: relative, `/`-separated, no empty, `.` or `..`
/// component, no NUL. A hostile manifest cannot write outside the restore
/// directory.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 4096 || path.starts_with('/') || path.contains('\0') {
        return Err(format!("unsafe path {path:?}"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!("unsafe path {path:?}"));
    }
    Ok(())
}

impl Entry {
    /// Checks the entry's fields against its kind.
    pub fn validate(&self) -> Result<(), String> {
        check_path(&self.path)?;
        if self.mode > 0o7777 {
            return Err(format!("{}: mode out of range", self.path));
        }
        match self.kind {
            EntryKind::File => {
                let size = self
                    .size
                    .ok_or_else(|| format!("{}: a file without a size", self.path))?;
                let hash = self
                    .sha256
                    .as_deref()
                    .ok_or_else(|| format!("{}: a file without a hash", self.path))?;
                crate::encoding::from_hex::<32>(hash)
                    .map_err(|_| format!("{}: malformed hash", self.path))?;
                let total: u64 = self.segments.iter().map(Segment::len).sum();
                if total != size {
                    return Err(format!(
                        "{}: its segments hold {total} bytes, not {size}",
                        self.path
                    ));
                }
                if self.target.is_some() {
                    return Err(format!("{}: a file with a link target", self.path));
                }
            }
            EntryKind::Dir | EntryKind::Symlink => {
                if self.size.is_some() || self.sha256.is_some() || !self.segments.is_empty() {
                    return Err(format!("{}: content fields on a non-file", self.path));
                }
                if (self.kind == EntryKind::Symlink) != self.target.is_some() {
                    return Err(format!("{}: link target missing or misplaced", self.path));
                }
            }
        }
        Ok(())
    }
}

/// Builds the manifest's plaintext, cut into parts at line boundaries.
pub struct Writer {
    part: Vec<u8>,
    totals: Totals,
}

impl Writer {
    /// Starts a manifest.
    pub fn new(snapshot_id: &str) -> Self {
        let mut part = Vec::with_capacity(PART_SIZE + LINE_MAX);
        serde_json::to_writer(
            &mut part,
            &Head {
                format: FORMAT.into(),
                snapshot_id: snapshot_id.into(),
            },
        )
        .expect("serializes");
        part.push(b'\n');
        Writer {
            part,
            totals: Totals::default(),
        }
    }

    /// Adds an entry; returns a full part's plaintext when one is ready.
    pub fn push(&mut self, entry: &Entry) -> Option<Vec<u8>> {
        self.totals.entries += 1;
        if entry.kind == EntryKind::File {
            self.totals.files += 1;
            self.totals.bytes += entry.size.unwrap_or(0);
        }
        serde_json::to_writer(&mut self.part, entry).expect("serializes");
        self.part.push(b'\n');
        (self.part.len() >= PART_SIZE)
            .then(|| std::mem::replace(&mut self.part, Vec::with_capacity(PART_SIZE + LINE_MAX)))
    }

    /// Ends the manifest; returns the last part and the totals.
    pub fn finish(mut self) -> (Vec<u8>, Totals) {
        serde_json::to_writer(&mut self.part, &End { end: self.totals }).expect("serializes");
        self.part.push(b'\n');
        (self.part, self.totals)
    }
}

/// Reads manifest parts in order, checking the structure as it goes.
pub struct Reader {
    snapshot_id: String,
    started: bool,
    ended: Option<Totals>,
    seen: Totals,
}

impl Reader {
    /// Expects the manifest of `snapshot_id`.
    pub fn new(snapshot_id: &str) -> Self {
        Reader {
            snapshot_id: snapshot_id.into(),
            started: false,
            ended: None,
            seen: Totals::default(),
        }
    }

    /// Parses one part's plaintext into entries.
    pub fn part(&mut self, plain: &[u8]) -> Result<Vec<Entry>, String> {
        let end = plain.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let text = &plain[..end];
        if !text.is_empty() && !text.ends_with(b"\n") {
            return Err("a manifest part does not end with a complete line".into());
        }
        let mut out = Vec::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if line.len() > LINE_MAX {
                return Err("a manifest line is too long".into());
            }
            if self.ended.is_some() {
                return Err("entries follow the manifest's end".into());
            }
            if !self.started {
                let head: Head =
                    serde_json::from_slice(line).map_err(|e| format!("bad manifest head: {e}"))?;
                if head.format != FORMAT {
                    return Err(format!("unknown manifest format {}", head.format));
                }
                if head.snapshot_id != self.snapshot_id {
                    return Err("the manifest belongs to another snapshot".into());
                }
                self.started = true;
                continue;
            }
            if line.starts_with(b"{\"end\"") {
                let end: End =
                    serde_json::from_slice(line).map_err(|e| format!("bad manifest end: {e}"))?;
                self.ended = Some(end.end);
                continue;
            }
            let entry: Entry =
                serde_json::from_slice(line).map_err(|e| format!("bad manifest entry: {e}"))?;
            entry.validate()?;
            self.seen.entries += 1;
            if entry.kind == EntryKind::File {
                self.seen.files += 1;
                self.seen.bytes += entry.size.unwrap_or(0);
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// Checks that the manifest ended, with the totals it announced.
    pub fn finish(self) -> Result<Totals, String> {
        match self.ended {
            None => Err("the manifest is truncated (no end line)".into()),
            Some(t) if t != self.seen => {
                Err("the manifest's totals do not match its entries".into())
            }
            Some(t) => Ok(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            mtime: 1,
            size: Some(size),
            sha256: Some("00".repeat(32)),
            segments: vec![Segment(0, 0, size)],
            target: None,
        }
    }

    #[test]
    fn round_trip_in_parts() {
        let mut w = Writer::new("abc");
        let mut parts = Vec::new();
        let mut entries = Vec::new();
        for i in 0..40_000 {
            let e = file(&format!("dir/file-{i:06}"), i);
            if let Some(p) = w.push(&e) {
                parts.push(p);
            }
            entries.push(e);
        }
        let (last, totals) = w.finish();
        parts.push(last);
        assert!(parts.len() > 1);
        let mut r = Reader::new("abc");
        let mut got = Vec::new();
        for mut p in parts {
            p.extend_from_slice(&[0u8; 100]); // padding
            got.extend(r.part(&p).unwrap());
        }
        assert_eq!(r.finish().unwrap(), totals);
        assert_eq!(got, entries);
    }

    #[test]
    fn refusals() {
        let (plain, _) = Writer::new("abc").finish();
        assert!(Reader::new("other").part(&plain).is_err());
        let mut r = Reader::new("abc");
        r.part(&plain[..plain.len() - 1]).unwrap_err();
        let w = Writer::new("abc");
        let (p, _) = w.finish();
        let head_only = &p[..p.iter().position(|&b| b == b'\n').unwrap() + 1];
        let mut r = Reader::new("abc");
        r.part(head_only).unwrap();
        assert!(
            r.finish().is_err(),
            "a manifest cut after its head is truncated"
        );
        for bad in ["../x", "/abs", "a//b", "a/./b", ""] {
            assert!(file(bad, 0).validate().is_err(), "{bad}");
        }
        let mut e = file("ok", 10);
        e.segments = vec![Segment(0, 0, 5)];
        assert!(e.validate().is_err());
    }
}

//! The manifest: what a snapshot holds (paths, sizes, modes, times,
//! symlinks, and the chunks each file is made of), as JSON Lines, encrypted
//! in one or more manifest parts. Only a holder of the snapshot's data key
//! sees it; the host sees object sizes.
//!
//! ```text
//! {"format":"seif-manifest/2","snapshot_id":"…","totals":{"bytes":123,"entries":3,"files":1}}
//! {"mode":493,"mtime":1795779501,"path":"db","type":"dir"}
//! {"chunks":[[0,0,123,"<sha256>"]],"mode":420,"mtime":1795779501,"path":"db/dump.sql","size":123,"type":"file"}
//! {"mode":511,"mtime":1795779501,"path":"db/latest","target":"dump.sql","type":"symlink"}
//! {"end":{"bytes":123,"entries":3,"files":1}}
//! ```
//!
//! A chunk `[p, o, n, h]` is `n` bytes at plaintext offset `o` of pack `p`
//! (an index into the snapshot's pack table, FORMAT.md §8.3), whose SHA-256
//! is `h`. A file with more than [`CHUNKS_PER_LINE`] chunks continues on
//! `{"more":[…]}` lines right after it, so no file, however large, makes a
//! line longer than [`LINE_MAX`]. Lines never span manifest parts (an
//! entry's continuation lines may). Each part may end in zero padding.
//!
//! **A writer obeys its reader's limits**: [`Writer`] refuses what
//! [`Reader`] would refuse (with the same checks, in [`Entry::validate`]),
//! so a push can never store a manifest that its own restore rejects.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::ids::SnapshotId;

/// The manifest's format line value.
pub const FORMAT: &str = "seif-manifest/2";
/// Plaintext bytes per manifest part: a part is stored once it holds this
/// much (its last line may take it a little further).
pub const PART_SIZE: usize = 4 << 20;
/// The most plaintext a manifest part may hold.
pub const PART_MAX: usize = PART_SIZE + 2 * LINE_MAX;
/// The longest manifest line accepted.
pub const LINE_MAX: usize = 64 * 1024;
/// The longest path accepted, in bytes (Linux's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// The longest path component accepted, in bytes (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// The longest symlink target accepted, in bytes.
pub const TARGET_MAX: usize = 4096;
/// Chunks on one line (an entry line or a `more` line). At most
/// 256 × (3 numbers + 64 hex + punctuation) ≈ 26 KB, so a line with a
/// path of [`PATH_MAX`] bytes and a target stays under [`LINE_MAX`].
pub const CHUNKS_PER_LINE: usize = 256;
/// The largest chunk (and so the largest pack a writer fills).
pub const CHUNK_MAX: u32 = 8 << 20;

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

/// A piece of a file: `len` bytes at plaintext `offset` of pack `pack`,
/// whose SHA-256 is `sha256`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    /// The pack, an index into the snapshot's pack table.
    pub pack: u32,
    /// The offset in the pack's plaintext.
    pub offset: u32,
    /// The length, 1..=[`CHUNK_MAX`].
    pub len: u32,
    /// SHA-256 of the chunk's bytes.
    pub sha256: [u8; 32],
}

impl Serialize for ChunkRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (
            self.pack,
            self.offset,
            self.len,
            crate::encoding::to_hex(&self.sha256),
        )
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ChunkRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (pack, offset, len, hash) =
            <(u32, u32, u32, std::borrow::Cow<'de, str>)>::deserialize(d)?;
        let sha256 = crate::encoding::from_hex::<32>(&hash).map_err(serde::de::Error::custom)?;
        Ok(ChunkRef {
            pack,
            offset,
            len,
            sha256,
        })
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
    /// Files: the chunks, in order (empty for an empty file). Directories
    /// and symlinks have none (the field is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<ChunkRef>>,
    /// Symlinks: the target, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Totals of a manifest: in its first line (what the writer promises, so
/// a reader knows the size of a restore before it writes anything) and its
/// last (what it wrote); both must match what is there.
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

impl Totals {
    fn add(&mut self, e: &Entry) {
        self.entries += 1;
        if e.kind == EntryKind::File {
            self.files += 1;
            self.bytes += e.size.unwrap_or(0);
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    format: String,
    snapshot_id: SnapshotId,
    totals: Totals,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    end: Totals,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct More {
    more: Vec<ChunkRef>,
}

/// Checks a manifest path: relative, `/`-separated, at most [`PATH_MAX`]
/// bytes, every component 1..=[`NAME_MAX`] bytes and neither `.` nor `..`,
/// no NUL. A hostile manifest cannot write outside the restore directory.
pub fn check_path(path: &str) -> Result<(), String> {
    // Escaped only when a refusal is formatted: every path of every push
    // and restore passes here.
    let shown = crate::untrusted::Shown(path);
    if path.is_empty() || path.starts_with('/') || path.contains('\0') {
        return Err(format!("unsafe path \"{shown}\""));
    }
    if path.len() > PATH_MAX {
        return Err(format!(
            "path of {} bytes, more than {PATH_MAX}: \"{shown}\"",
            path.len()
        ));
    }
    for c in path.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(format!("unsafe path \"{shown}\""));
        }
        if c.len() > NAME_MAX {
            return Err(format!(
                "a path component of {} bytes, more than {NAME_MAX}: \"{shown}\"",
                c.len()
            ));
        }
    }
    Ok(())
}

/// Walk order: component by component, each compared bytewise, a directory
/// before its contents. It is the order a push walks a tree in (names
/// sorted, depth first), and manifests list entries in it, strictly
/// increasing: no path twice.
pub fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

impl Entry {
    /// Checks the entry's fields against its kind and the format's limits.
    pub fn validate(&self) -> Result<(), String> {
        check_path(&self.path)?;
        let shown = crate::untrusted::Shown(&self.path);
        if self.mode > 0o7777 {
            return Err(format!("{shown}: mode out of range"));
        }
        match self.kind {
            EntryKind::File => {
                let size = self
                    .size
                    .ok_or_else(|| format!("{shown}: a file without a size"))?;
                let chunks = self
                    .chunks
                    .as_ref()
                    .ok_or_else(|| format!("{shown}: a file without a chunk list"))?;
                let mut total = 0u64;
                for c in chunks {
                    if c.len == 0 || c.len > CHUNK_MAX {
                        return Err(format!("{shown}: a chunk of {} bytes", c.len));
                    }
                    if u64::from(c.offset) + u64::from(c.len) > u64::from(CHUNK_MAX) {
                        return Err(format!("{shown}: a chunk beyond the largest pack"));
                    }
                    total += u64::from(c.len);
                }
                if total != size {
                    return Err(format!(
                        "{shown}: its chunks hold {total} bytes, not {size}"
                    ));
                }
                if self.target.is_some() {
                    return Err(format!("{shown}: a file with a link target"));
                }
            }
            EntryKind::Dir | EntryKind::Symlink => {
                if self.size.is_some() || self.chunks.is_some() {
                    return Err(format!("{shown}: content fields on a non-file"));
                }
                match (self.kind, &self.target) {
                    (EntryKind::Dir, None) => {}
                    (EntryKind::Symlink, Some(t))
                        if !t.is_empty() && t.len() <= TARGET_MAX && !t.contains('\0') => {}
                    _ => {
                        return Err(format!(
                            "{shown}: link target missing, misplaced or invalid"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks that entries come in strict walk order, each under a directory
/// listed before it (or at the top). Holds only the chain of directories
/// above the last entry, so memory grows with depth, not with the tree.
#[derive(Default)]
struct Order {
    last: Option<String>,
    /// Directories above (and including) the last entry, outermost first.
    dirs: Vec<String>,
}

impl Order {
    fn check(&mut self, e: &Entry) -> Result<(), String> {
        let shown = crate::untrusted::Shown(&e.path);
        if let Some(last) = &self.last
            && walk_order(last, &e.path) != Ordering::Less
        {
            return Err(format!(
                "\"{shown}\" is out of order or listed twice (after \"{}\")",
                crate::untrusted::escape(last)
            ));
        }
        let parent = e.path.rsplit_once('/').map(|(p, _)| p);
        while let Some(top) = self.dirs.last() {
            if Some(top.as_str()) == parent {
                break;
            }
            self.dirs.pop();
        }
        if parent.is_some() && self.dirs.is_empty() {
            return Err(format!(
                "\"{shown}\" is not inside a directory listed before it"
            ));
        }
        if e.kind == EntryKind::Dir {
            self.dirs.push(e.path.clone());
        }
        self.last = Some(e.path.clone());
        Ok(())
    }
}

/// A line, serialized and checked against [`LINE_MAX`].
fn line<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let mut l = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    if l.len() > LINE_MAX {
        return Err(format!(
            "a manifest line of {} bytes, more than {LINE_MAX}",
            l.len()
        ));
    }
    l.push(b'\n');
    Ok(l)
}

/// Builds the manifest's plaintext, cut into parts at line boundaries.
///
/// The first part is held back until [`Writer::finish`], because it opens
/// with the totals, known only at the end; later parts come out as they
/// fill, so memory holds at most two parts whatever the tree's size.
pub struct Writer {
    snapshot_id: SnapshotId,
    first: Option<Vec<u8>>,
    part: Vec<u8>,
    totals: Totals,
    order: Order,
}

/// A finished manifest: its first part, its last part (if not the
/// first), and its totals.
pub type Ended = (Vec<u8>, Option<Vec<u8>>, Totals);

impl Writer {
    /// Starts a manifest.
    pub fn new(snapshot_id: SnapshotId) -> Self {
        Writer {
            snapshot_id,
            first: None,
            part: Vec::with_capacity(PART_SIZE + LINE_MAX),
            totals: Totals::default(),
            order: Order::default(),
        }
    }

    /// Adds an entry; returns the parts it filled, if any (always parts
    /// after the first: a file of many chunks may fill several). Refuses,
    /// naming the path, an entry the reader would refuse.
    pub fn push(&mut self, entry: &Entry) -> Result<Vec<Vec<u8>>, String> {
        entry.validate()?;
        self.order.check(entry)?;
        let chunks = entry.chunks.as_deref().unwrap_or(&[]);
        let (first, rest) = chunks.split_at(chunks.len().min(CHUNKS_PER_LINE));
        let head = Entry {
            chunks: entry.chunks.as_ref().map(|_| first.to_vec()),
            ..entry.clone()
        };
        let mut full = Vec::new();
        let l =
            line(&head).map_err(|m| format!("{}: {m}", crate::untrusted::escape(&entry.path)))?;
        self.add_line(&l, &mut full);
        for more in rest.chunks(CHUNKS_PER_LINE) {
            let l = line(&More {
                more: more.to_vec(),
            })?;
            self.add_line(&l, &mut full);
        }
        self.totals.add(entry);
        Ok(full)
    }

    /// Appends a line, cutting the part once it is full (the first part is
    /// held back for the totals).
    fn add_line(&mut self, l: &[u8], full: &mut Vec<Vec<u8>>) {
        self.part.extend_from_slice(l);
        if self.part.len() < PART_SIZE {
            return;
        }
        let part = std::mem::replace(&mut self.part, Vec::with_capacity(PART_SIZE + LINE_MAX));
        if self.first.is_none() {
            self.first = Some(part);
        } else {
            full.push(part);
        }
    }

    /// Ends the manifest. Returns the first part (to be stored first, in
    /// front of every part `push` returned), the last part (if not the
    /// first), and the totals.
    pub fn finish(mut self) -> Result<Ended, String> {
        self.part.extend(line(&End { end: self.totals })?);
        let mut first = line(&Head {
            format: FORMAT.into(),
            snapshot_id: self.snapshot_id,
            totals: self.totals,
        })?;
        match self.first.take() {
            Some(held) => {
                first.extend(held);
                Ok((first, Some(self.part), self.totals))
            }
            None => {
                first.extend(self.part);
                Ok((first, None, self.totals))
            }
        }
    }
}

/// Reads manifest parts in order, checking the structure as it goes.
pub struct Reader {
    snapshot_id: SnapshotId,
    promised: Option<Totals>,
    ended: Option<Totals>,
    seen: Totals,
    order: Order,
    /// A file entry whose `more` lines may still follow.
    pending: Option<Entry>,
}

impl Reader {
    /// Expects the manifest of `snapshot_id`.
    pub fn new(snapshot_id: SnapshotId) -> Self {
        Reader {
            snapshot_id,
            promised: None,
            ended: None,
            seen: Totals::default(),
            order: Order::default(),
            pending: None,
        }
    }

    /// The totals the manifest's first line promises (after the first part).
    pub fn promised(&self) -> Option<Totals> {
        self.promised
    }

    fn complete(&mut self, out: &mut Vec<Entry>) -> Result<(), String> {
        if let Some(e) = self.pending.take() {
            e.validate()?;
            self.seen.add(&e);
            out.push(e);
        }
        Ok(())
    }

    /// Parses one part's plaintext into the entries it completes (a file
    /// whose chunks continue in the next part comes with that part).
    pub fn part(&mut self, plain: &[u8]) -> Result<Vec<Entry>, String> {
        if plain.len() > PART_MAX {
            return Err(format!(
                "a manifest part of {} bytes, more than {PART_MAX}",
                plain.len()
            ));
        }
        let end = plain.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let text = &plain[..end];
        if text.is_empty() || !text.ends_with(b"\n") {
            return Err("a manifest part does not end with a complete line".into());
        }
        let mut out = Vec::new();
        for l in text[..text.len() - 1].split(|&b| b == b'\n') {
            if l.len() > LINE_MAX {
                return Err("a manifest line is too long".into());
            }
            if self.ended.is_some() {
                return Err("lines follow the manifest's end".into());
            }
            if self.promised.is_none() {
                let head: Head =
                    serde_json::from_slice(l).map_err(|e| format!("bad manifest head: {e}"))?;
                if head.format != FORMAT {
                    return Err(format!(
                        "unknown manifest format \"{}\"",
                        crate::untrusted::escape(&head.format)
                    ));
                }
                if head.snapshot_id != self.snapshot_id {
                    return Err("the manifest belongs to another snapshot".into());
                }
                self.promised = Some(head.totals);
                continue;
            }
            if l.starts_with(b"{\"more\"") {
                let more: More =
                    serde_json::from_slice(l).map_err(|e| format!("bad manifest line: {e}"))?;
                let e = self
                    .pending
                    .as_mut()
                    .ok_or("a continuation line does not follow a file")?;
                let chunks = e.chunks.get_or_insert_with(Vec::new);
                if chunks.len() % CHUNKS_PER_LINE != 0 || more.more.is_empty() {
                    return Err("a continuation line after a line that was not full".into());
                }
                chunks.extend(more.more);
                continue;
            }
            self.complete(&mut out)?;
            if l.starts_with(b"{\"end\"") {
                let end: End =
                    serde_json::from_slice(l).map_err(|e| format!("bad manifest end: {e}"))?;
                self.ended = Some(end.end);
                continue;
            }
            let entry: Entry =
                serde_json::from_slice(l).map_err(|e| format!("bad manifest entry: {e}"))?;
            if entry
                .chunks
                .as_ref()
                .is_some_and(|c| c.len() > CHUNKS_PER_LINE)
            {
                return Err("a manifest line with too many chunks".into());
            }
            check_path(&entry.path)?;
            self.order.check(&entry)?;
            if entry.kind == EntryKind::File {
                self.pending = Some(entry);
            } else {
                entry.validate()?;
                self.seen.add(&entry);
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Checks that the manifest ended, with the totals it promised.
    pub fn finish(mut self) -> Result<Totals, String> {
        let mut tail = Vec::new();
        self.complete(&mut tail)?;
        if !tail.is_empty() {
            return Err("the manifest is truncated (no end line)".into());
        }
        match self.ended {
            None => Err("the manifest is truncated (no end line)".into()),
            Some(t) if Some(t) != self.promised || t != self.seen => {
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
        let mut chunks = Vec::new();
        let mut left = size;
        while left > 0 {
            let n = left.min(1000) as u32;
            chunks.push(ChunkRef {
                pack: 0,
                offset: 0,
                len: n,
                sha256: [7; 32],
            });
            left -= u64::from(n);
        }
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            mtime: 1,
            size: Some(size),
            chunks: Some(chunks),
            target: None,
        }
    }

    fn dir(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode: 0o755,
            mtime: 1,
            size: None,
            chunks: None,
            target: None,
        }
    }

    fn write(entries: &[Entry]) -> Vec<Vec<u8>> {
        let mut w = Writer::new(SnapshotId([9; 16]));
        let mut later = Vec::new();
        for e in entries {
            later.extend(w.push(e).unwrap());
        }
        let (first, last, _) = w.finish().unwrap();
        let mut parts = vec![first];
        parts.extend(later);
        parts.extend(last);
        parts
    }

    fn read(parts: &[Vec<u8>]) -> Result<Vec<Entry>, String> {
        let mut r = Reader::new(SnapshotId([9; 16]));
        let mut got = Vec::new();
        for p in parts {
            let mut p = p.clone();
            p.extend_from_slice(&[0u8; 100]); // padding
            got.extend(r.part(&p)?);
        }
        r.finish()?;
        Ok(got)
    }

    #[test]
    fn round_trip_in_parts_with_a_huge_file() {
        let mut entries = vec![dir("d")];
        for i in 0..30_000 {
            entries.push(file(&format!("d/file-{i:06}"), i % 3000));
        }
        // 5,000 chunks: 20 lines, none longer than the limit.
        entries.push(file("e", 5_000_000));
        // 200,000 chunks: some 20 MB of lines, cut into parts of at most
        // the reader's limit.
        entries.push(file("f", 200_000_000));
        let parts = write(&entries);
        assert!(parts.len() > 1);
        assert!(
            parts
                .iter()
                .all(|p| p.split(|&b| b == b'\n').all(|l| l.len() <= LINE_MAX))
        );
        assert_eq!(read(&parts).unwrap(), entries);
    }

    #[test]
    fn the_writer_refuses_what_the_reader_refuses() {
        let mut w = Writer::new(SnapshotId([9; 16]));
        let long = format!("{}/x", "a".repeat(NAME_MAX + 1));
        assert!(w.push(&file(&long, 1)).unwrap_err().contains("component"));
        let deep = vec!["d"; PATH_MAX / 2 + 1].join("/");
        assert!(
            w.push(&file(&deep, 1))
                .unwrap_err()
                .contains("more than 4096")
        );
        let mut w = Writer::new(SnapshotId([9; 16]));
        w.push(&dir("a")).unwrap();
        w.push(&file("a/b", 1)).unwrap();
        assert!(
            w.push(&file("a/b", 1))
                .unwrap_err()
                .contains("listed twice")
        );
        assert!(
            w.push(&file("c/d", 1))
                .unwrap_err()
                .contains("not inside a directory")
        );
    }

    #[test]
    fn refusals() {
        let parts = write(&[dir("a"), file("a/x", 10)]);
        let text = String::from_utf8(parts[0].clone()).unwrap();
        let mut r = Reader::new(SnapshotId([8; 16]));
        assert!(r.part(&parts[0]).unwrap_err().contains("another snapshot"));
        // Cut after the head: truncated.
        let head_only = &parts[0][..parts[0].iter().position(|&b| b == b'\n').unwrap() + 1];
        assert!(
            read(&[head_only.to_vec()])
                .unwrap_err()
                .contains("truncated")
        );
        // Entries swapped: out of order.
        let lines: Vec<&str> = text.lines().collect();
        let swapped = [lines[0], lines[2], lines[1], lines[3]].join("\n") + "\n";
        assert!(read(&[swapped.into_bytes()]).is_err());
        // A duplicated entry.
        let dup = [lines[0], lines[1], lines[2], lines[2], lines[3]].join("\n") + "\n";
        assert!(read(&[dup.into_bytes()]).unwrap_err().contains("twice"));
        // Totals that lie.
        let lied = text.replace("\"bytes\":10", "\"bytes\":262000000");
        assert!(read(&[lied.into_bytes()]).unwrap_err().contains("totals"));
        for bad in ["../x", "/abs", "a//b", "a/./b", ""] {
            assert!(file(bad, 0).validate().is_err(), "{bad}");
        }
        let mut e = file("ok", 10);
        e.size = Some(5);
        assert!(e.validate().is_err());
        let mut e = file("ok", 10);
        e.chunks.as_mut().unwrap()[0].offset = CHUNK_MAX;
        assert!(e.validate().is_err());
    }

    /// A manifest comes from the store: a path it names reaches the
    /// screen only escaped, in each refusal that quotes it.
    #[test]
    fn a_refusal_shows_a_hostile_path_escaped() {
        let hostile = "x\u{1b}[2J\u{1b}]0;owned\u{7}";
        let shown = "x\\u{1b}[2J\\u{1b}]0;owned\\u{7}";
        let mut mode = file(hostile, 1);
        mode.mode = 0o10000;
        let mut w = Writer::new(SnapshotId([9; 16]));
        w.push(&file(hostile, 1)).unwrap();
        for refusal in [
            check_path(&format!("../{hostile}")).unwrap_err(),
            mode.validate().unwrap_err(),
            w.push(&file(hostile, 1)).unwrap_err(),
        ] {
            assert!(refusal.contains(shown), "{refusal:?}");
            assert!(!refusal.contains('\u{1b}'), "{refusal:?}");
        }
    }

    #[test]
    fn walk_order_puts_a_directory_before_its_contents() {
        let mut v = vec!["a.b", "a/x", "a", "a/x/y", "b", "a-"];
        v.sort_by(|a, b| walk_order(a, b));
        assert_eq!(v, ["a", "a/x", "a/x/y", "a-", "a.b", "b"]);
    }
}

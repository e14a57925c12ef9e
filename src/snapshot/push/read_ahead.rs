//! Reading ahead: files are read, cut into chunks and hashed on several
//! threads, ahead of the one thread that places chunks into packs.
//!
//! Why: placing must be serial. The walk order is the manifest's order,
//! the journal's and the file list's; a chunk seen twice in one run is
//! stored once, where it was first placed; packs are numbered in the order
//! they fill. But reading a file, finding its cut points and hashing every
//! chunk (SHA-256, then the keyed fingerprint) cost far more than placing,
//! and on one thread they held a first push to that thread's speed. So the
//! walk gives the files to read to a pool of readers
//! ([`crate::workers::in_order`]); each reader opens its files, reads each
//! in [pieces](Piece) of whole chunks, each chunk hashed, and hands them
//! back on that file's own short queue; the placer takes the files in walk
//! order and only looks chunks up and copies the new ones into packs.
//!
//! What is not read ahead: a file the file list shows unchanged is decided
//! by the walk before any reader could open it (it is never read), and
//! standard input is read by the placer itself, in its turn.
//!
//! Memory stays bounded whatever the tree: a piece holds at most
//! [`PIECE`] bytes, and a file at most three pieces at once (one being
//! placed, one waiting, one being read); at most [`files_ahead`] files are
//! given to the readers and not yet placed, and the walk stops giving more
//! once those may hold [`bytes_ahead`] (by their [`reserve`], which only a
//! file that grows while it is read can exceed, and then by no more than
//! three pieces). Buffers are used again ([`Spare`]), and those kept are
//! bounded too.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::PushError;
use super::chunker::{self, Chunker};
use super::index::{self, Fingerprint};
use super::pack::FileStat;
use super::state::LocalKeys;
use super::walk;
use crate::workers::{InOrder, Next, Out};

/// The most bytes one piece of a file holds: whole chunks, read at once.
/// Twice the largest chunk, so that every full piece holds at least one
/// whole chunk after the unfinished one it starts with.
pub const PIECE: usize = 2 * chunker::MAX;

/// Files given to `readers` readers and not yet placed, at most. Many, so
/// that readers seldom wait for the walk, nor the placer for a reader:
/// with a few files ahead, a tree of small files spent more time waking
/// threads than reading. And while the placer waits for a large file,
/// the walk (on the placer's thread) gives out no more, so the other
/// readers need small files enough queued to last that read: with 32 a
/// reader, a first push of the benchmark's tree left its 2 cores idle 6%
/// of the time, with 256 2% (`perf`; [`bytes_ahead`] still bounds memory).
pub fn files_ahead(readers: usize) -> usize {
    256 * readers.max(1)
}

/// Bytes the files given to `readers` readers and not yet placed may hold
/// (by their [`reserve`]) before the walk stops giving more: a piece per
/// reader, up to eight.
pub fn bytes_ahead(readers: usize) -> u64 {
    (readers.clamp(1, 8) * PIECE) as u64
}

/// What a file of `size` bytes may hold in memory while read ahead: itself
/// if it fits in a piece, else three pieces.
pub fn reserve(size: u64) -> u64 {
    if size < PIECE as u64 {
        size + 1
    } else {
        3 * PIECE as u64
    }
}

/// Piece buffers of this size or more are kept to be used again ([`Spare`]).
const SPARE_MIN: usize = 128 << 10;

/// Piece buffers, kept to be used again. Freed, a large buffer goes back to
/// the system (the allocator unmaps or trims it), and the next one costs a
/// page fault for every 4 KiB: on the 2-core development VM, a first push
/// of the benchmark's 20,000 files spent about 0.3 s of CPU (6%) on that.
/// Sizes are rounded up to a power of two, so that a kept buffer fits the
/// next file of about its size; what is kept is bounded by
/// [`bytes_ahead`] and two pieces more (with less, buffers of the sizes
/// not wanted at the moment crowded out the others).
pub struct Spare {
    kept: Mutex<(Vec<Vec<u8>>, usize)>,
    max_bytes: usize,
}

impl Spare {
    /// Room to keep buffers for `readers` readers.
    pub fn new(readers: usize) -> Self {
        Spare {
            kept: Mutex::new((Vec::new(), 0)),
            max_bytes: bytes_ahead(readers) as usize + 2 * PIECE,
        }
    }

    /// An empty buffer with room for `room` bytes or more (`room` is at
    /// most [`PIECE`], and so is the room given).
    pub fn take(&self, room: usize) -> Vec<u8> {
        if room < SPARE_MIN {
            return Vec::with_capacity(room);
        }
        debug_assert!(room <= PIECE);
        let size = room.next_power_of_two();
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = kept.0.iter().position(|b| b.capacity() == size) {
            kept.1 -= size;
            return kept.0.swap_remove(i);
        }
        Vec::with_capacity(size)
    }

    /// Keeps a piece's buffer to be used again, if it is large and there
    /// is room.
    pub fn put(&self, mut buf: Vec<u8>) {
        let size = buf.capacity();
        if size < SPARE_MIN {
            return;
        }
        buf.clear();
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.1 + size <= self.max_bytes {
            kept.1 += size;
            kept.0.push(buf);
        }
    }
}

/// A file for a reader.
pub struct ToRead {
    /// Where it is.
    pub fs_path: PathBuf,
    /// Its size when walked (its first piece is made to fit it).
    pub size: u64,
}

/// The readers as the walk and the placer see them: the walk gives files
/// in walk order, and the placer takes them back in the same order.
pub struct ReadAhead<'q> {
    queue: &'q mut InOrder<ToRead, Read, PushError>,
    chunker: &'q Chunker,
    keys: &'q LocalKeys,
    spare: &'q Spare,
    max_bytes: u64,
    /// Each file's reserve, given and not yet taken back, oldest first.
    reserves: VecDeque<u64>,
    reserved: u64,
}

impl<'q> ReadAhead<'q> {
    /// Files for `readers` readers, who take them from `queue` (which
    /// holds [`files_ahead`]) and read them with `chunker`, `keys` and
    /// `spare`.
    pub fn new(
        queue: &'q mut InOrder<ToRead, Read, PushError>,
        readers: usize,
        chunker: &'q Chunker,
        keys: &'q LocalKeys,
        spare: &'q Spare,
    ) -> Self {
        ReadAhead {
            queue,
            chunker,
            keys,
            spare,
            max_bytes: bytes_ahead(readers),
            reserves: VecDeque::new(),
            reserved: 0,
        }
    }

    /// Whether the walk should give the readers more files now.
    pub fn wants_more(&self) -> bool {
        self.queue.has_room() && self.reserved < self.max_bytes
    }

    /// Gives the readers a file, to hand back after every file given
    /// before it (there must be room: [`ReadAhead::wants_more`]).
    pub fn give(&mut self, fs_path: PathBuf, size: u64) {
        let r = reserve(size);
        self.reserves.push_back(r);
        self.reserved += r;
        // Its last piece can wait while its reader goes on to the next file;
        // a larger file's reader waits with one more piece read.
        self.queue.submit(ToRead { fs_path, size }, 1);
    }

    /// The next message about the oldest file given and not taken back.
    pub fn recv(&mut self) -> Next<Read, PushError> {
        self.queue.recv()
    }

    /// The placer is done with the oldest file given.
    pub fn done(&mut self) {
        self.reserved -= self.reserves.pop_front().unwrap_or(0);
        self.queue.finish_job();
    }

    /// The placer is done with a piece: its buffer may be used again.
    pub fn recycle(&self, piece: Piece) {
        self.spare.put(piece.bytes);
    }

    /// Reads `input` (of unknown size) here, as a reader would: standard
    /// input, in its turn. See [`read_pieces`].
    pub fn read_here(
        &self,
        input: impl AsFd,
        label: &Path,
        take: impl FnMut(Piece) -> Result<bool, PushError>,
    ) -> Result<bool, PushError> {
        read_pieces(
            input,
            None,
            label,
            self.chunker,
            self.keys,
            self.spare,
            take,
        )
    }
}

/// A chunk of a piece, hashed.
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    /// Its length.
    pub len: u32,
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
    /// Its keyed fingerprint ([`index::fingerprint`]).
    pub fp: Fingerprint,
}

/// Whole chunks of a file, read at once.
pub struct Piece {
    /// The chunks' bytes, back to back.
    pub bytes: Vec<u8>,
    /// The chunks, in order.
    pub cuts: Vec<Cut>,
    /// The file ends with this piece.
    pub end: bool,
}

impl Piece {
    /// Each chunk with its bytes.
    pub fn chunks(&self) -> impl Iterator<Item = (&Cut, &[u8])> {
        self.cuts.iter().scan(0usize, |at, c| {
            let start = *at;
            *at += c.len as usize;
            Some((c, &self.bytes[start..*at]))
        })
    }
}

/// A file's metadata as its reader opened it, as far as the placer needs
/// it.
#[derive(Clone, Copy, Debug)]
pub struct Opened {
    /// Permission bits.
    pub mode: u32,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Status change time, seconds.
    pub ctime: i64,
    /// What the file list keeps (its size as opened).
    pub stat: FileStat,
}

/// What a reader hands back for one file.
pub enum Read {
    /// Whole chunks; more follow.
    Piece(Piece),
    /// The last chunks (maybe none), and the file as opened.
    Last(Piece, Opened),
    /// The file was not read: it vanished, or is no longer a regular file.
    Skipped(String),
}

/// A reader's work: opens a file, and hands it back in pieces. A read
/// error names the file; nothing is sent after one.
pub fn read_file(
    file: ToRead,
    chunker: &Chunker,
    keys: &LocalKeys,
    spare: &Spare,
    out: &mut Out<'_, Read, PushError>,
) -> Result<(), PushError> {
    let mut skipped = Vec::new();
    let Some((f, meta)) = walk::open_file(&file.fs_path, &mut skipped)? else {
        out.send(Read::Skipped(skipped.pop().unwrap_or_default()));
        return Ok(());
    };
    let opened = Opened {
        mode: meta.mode() & 0o7777,
        mtime: meta.mtime(),
        ctime: meta.ctime(),
        stat: super::stat_of(&meta, meta.len()),
    };
    let size = Some(file.size);
    read_pieces(&f, size, &file.fs_path, chunker, keys, spare, |piece| {
        Ok(out.send(if piece.end {
            Read::Last(piece, opened)
        } else {
            Read::Piece(piece)
        }))
    })?;
    Ok(())
}

/// Reads `input` to its end in pieces of whole chunks, each hashed, and
/// hands each to `take` (which says whether to go on); the last has `end`
/// set. `size`: the bytes expected, if known (the first piece is made to
/// fit them, so a file that fits is read once, with no copy). Buffers come
/// from `spare`. Returns `false` if `take` stopped it.
///
/// Reads go straight into each piece's spare room, never zeroed first; a
/// chunk left unfinished at the end of a piece is copied to the start of
/// the next (on average about half a chunk, as cuts are taken as soon as
/// they are certain: [`Chunker::next_cut`]).
pub fn read_pieces(
    input: impl AsFd,
    size: Option<u64>,
    label: &Path,
    chunker: &Chunker,
    keys: &LocalKeys,
    spare: &Spare,
    mut take: impl FnMut(Piece) -> Result<bool, PushError>,
) -> Result<bool, PushError> {
    // Room for what is held and what is expected, and one byte more: a
    // read that returns nothing there is the end.
    let room = |held: usize, left: u64| (held as u64 + left + 1).min(PIECE as u64) as usize;
    let mut left = size;
    let mut bytes = spare.take(size.map_or(PIECE, |n| room(0, n)));
    loop {
        let held = bytes.len();
        let end = fill(&input, &mut bytes).map_err(|e| PushError::input(label, e))?;
        left = left.map(|n| n.saturating_sub((bytes.len() - held) as u64));
        let mut cuts = Vec::new();
        let mut at = 0;
        while let Some(n) = chunker.next_cut(&bytes[at..], end) {
            let sha256: [u8; 32] = Sha256::digest(&bytes[at..at + n]).into();
            cuts.push(Cut {
                len: n as u32,
                sha256,
                fp: index::fingerprint(keys, &sha256),
            });
            at += n;
        }
        let mut next = Vec::new();
        if !end {
            next = spare.take(match left {
                Some(n) if n > 0 => room(bytes.len() - at, n),
                // Unknown, or the file grew since it was walked.
                _ => PIECE,
            });
            next.extend_from_slice(&bytes[at..]);
            bytes.truncate(at);
        }
        if !take(Piece { bytes, cuts, end })? {
            return Ok(false);
        }
        if end {
            return Ok(true);
        }
        bytes = next;
    }
}

/// Reads into `buf`'s spare room until it is full or the input ends;
/// whether it ended.
fn fill(input: &impl AsFd, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    while buf.len() < buf.capacity() {
        match rustix::io::read(input, rustix::buffer::spare_capacity(buf)) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u64) -> Vec<u8> {
        super::chunker::tests::data(len, seed | 1)
    }

    fn keys() -> LocalKeys {
        LocalKeys {
            mac: zeroize::Zeroizing::new([1; 32]),
            chunk_id: zeroize::Zeroizing::new([2; 32]),
            gear: zeroize::Zeroizing::new([3; 32]),
        }
    }

    /// The chunks of a file read in pieces, as lengths and hashes, and how
    /// many pieces it took.
    fn read(path: &Path, size: Option<u64>) -> (Vec<(u32, [u8; 32])>, usize) {
        let keys = keys();
        let chunker = Chunker::new(&keys.gear);
        let file = std::fs::File::open(path).unwrap();
        let mut out = Vec::new();
        let mut pieces = 0;
        let mut ended = false;
        let spare = Spare::new(1);
        let done = read_pieces(&file, size, path, &chunker, &keys, &spare, |p| {
            assert!(!ended, "nothing after the last piece");
            assert!(p.bytes.len() <= PIECE);
            for (c, bytes) in p.chunks() {
                assert_eq!(c.len as usize, bytes.len());
                assert_eq!(c.sha256, <[u8; 32]>::from(Sha256::digest(bytes)));
                assert_eq!(c.fp, index::fingerprint(&keys, &c.sha256));
                out.push((c.len, c.sha256));
            }
            pieces += 1;
            ended = p.end;
            Ok(true)
        })
        .unwrap();
        assert!(done && ended);
        (out, pieces)
    }

    #[test]
    fn pieces_hold_the_chunks_of_the_whole_file_whatever_size_was_expected() {
        let keys = keys();
        let chunker = Chunker::new(&keys.gear);
        let dir = tempfile::tempdir().unwrap();
        for (len, seed) in [
            (0, 1),
            (1, 2),
            (70_000, 3),
            (PIECE - 1, 4),
            (3 * PIECE + 5, 5),
        ] {
            let d = data(len, seed);
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &d).unwrap();
            let mut whole = Vec::new();
            let mut at = 0;
            while let Some(n) = chunker.next_cut(&d[at..], true) {
                whole.push((n as u32, Sha256::digest(&d[at..at + n]).into()));
                at += n;
            }
            let (exact, pieces) = read(&path, Some(len as u64));
            assert_eq!(exact, whole, "{len} bytes, as expected");
            if len < PIECE {
                assert_eq!(pieces, 1, "a file that fits is read in one piece");
            }
            // Expected smaller (it grew since the walk), larger, unknown.
            for size in [Some(len as u64 / 3), Some(len as u64 * 2 + 10), None] {
                assert_eq!(read(&path, size).0, whole, "{len} bytes, {size:?} expected");
            }
        }
    }

    #[test]
    fn a_read_error_names_the_file() {
        let keys = keys();
        let chunker = Chunker::new(&keys.gear);
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::File::open(dir.path()).unwrap();
        let label = dir.path().join("label");
        let spare = Spare::new(1);
        let e = read_pieces(&d, None, &label, &chunker, &keys, &spare, |_| Ok(true)).unwrap_err();
        assert!(
            matches!(&e, PushError::Input { path, .. } if *path == label),
            "{e}"
        );
    }

    #[test]
    fn the_taker_can_stop_the_read() {
        let keys = keys();
        let chunker = Chunker::new(&keys.gear);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, data(3 * PIECE, 6)).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut seen = 0;
        let spare = Spare::new(1);
        let done = read_pieces(&file, None, &path, &chunker, &keys, &spare, |_| {
            seen += 1;
            Ok(false)
        })
        .unwrap();
        assert!(!done);
        assert_eq!(seen, 1);
    }

    #[test]
    fn spare_buffers_are_used_again_and_those_kept_are_bounded() {
        let spare = Spare::new(1);
        let b = spare.take(3 << 20);
        assert!(b.is_empty() && b.capacity() >= 3 << 20 && b.capacity() <= PIECE);
        let at = b.as_ptr();
        spare.put(b);
        let again = spare.take((3 << 20) + 5);
        assert_eq!(
            again.as_ptr(),
            at,
            "a buffer of about the size is used again"
        );
        let many: Vec<Vec<u8>> = (0..10).map(|_| spare.take(PIECE)).collect();
        for b in many {
            spare.put(b);
        }
        let kept = spare.kept.lock().unwrap();
        assert_eq!(kept.1, kept.0.iter().map(Vec::capacity).sum::<usize>());
        assert!(kept.1 <= bytes_ahead(1) as usize + 2 * PIECE);
        drop(kept);
        let small = spare.take(1000);
        spare.put(small);
        assert!(
            spare
                .kept
                .lock()
                .unwrap()
                .0
                .iter()
                .all(|b| b.capacity() >= SPARE_MIN)
        );
    }
}

//! A pack being filled: chunk bytes are copied straight into the chunk
//! slots of the sealed layout (header, then 64 KiB + tag per chunk), so
//! that sealing happens in place, in a buffer that is recycled.
//!
//! A pack also carries the manifest entries that complete while it is
//! open: they reach the manifest once it (and every pack before it) is
//! stored, so that every chunk they name has an object id.

use super::index::Fingerprint;
use crate::ids::SnapshotId;
use crate::padme::padme;
use crate::secrets::DataKey;
use crate::snapshot::manifest::{self, Entry};
use crate::snapshot::object::{self, CHUNK, HEADER_LEN, Kind, ObjectHeader, STRIDE};
use crate::stream::TAG_LEN;

/// Plaintext bytes per data pack, at most.
pub const PACK_SIZE: usize = manifest::CHUNK_MAX as usize;
/// Entries waiting on one pack, at most: a pack is cut (even with no data)
/// once this many wait on it, so that a tree of many unchanged files never
/// gathers an unbounded list in memory.
pub const PACK_ENTRIES: usize = 4096;

/// Where a chunk's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// In pack `seq` of this run, at `offset`.
    New {
        /// The pack's place in this run.
        seq: u32,
        /// Offset in its plaintext.
        offset: u32,
    },
    /// In a stored object (an index into the known objects), at `offset`.
    Stored {
        /// The object.
        object: u32,
        /// Offset in its plaintext.
        offset: u32,
    },
}

/// A file's chunk, located.
#[derive(Clone, Copy, Debug)]
pub struct PendingChunk {
    /// Where.
    pub loc: Loc,
    /// Length.
    pub len: u32,
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
}

/// What the file list remembers of a file.
#[derive(Clone, Copy, Debug)]
pub struct FileStat {
    /// Size.
    pub size: u64,
    /// Modification time, ns.
    pub mtime_ns: i128,
    /// Status change time, ns.
    pub ctime_ns: i128,
    /// Inode.
    pub ino: u64,
    /// Device.
    pub dev: u64,
}

/// An entry whose chunks may not have object ids yet.
#[derive(Debug)]
pub struct Pending {
    /// The entry (its `chunks` are filled in when the packs are stored).
    pub entry: Entry,
    /// Files: the chunks.
    pub chunks: Vec<PendingChunk>,
    /// Files: what the next push compares (none for a file that changed
    /// while it was read, or too recently to trust its times).
    pub stat: Option<FileStat>,
}

/// A pack being filled.
pub struct Pack {
    /// Its place in this run.
    pub seq: u32,
    /// The sealed layout.
    pub buf: Vec<u8>,
    /// Plaintext bytes in it.
    pub plain: usize,
    /// Entries completed while it was open.
    pub entries: Vec<Pending>,
    /// The chunks stored in it: fingerprint, offset, length.
    pub chunks: Vec<(Fingerprint, u32, u32)>,
}

impl Pack {
    /// A buffer for a pack (room for Padmé padding of a full pack too).
    pub fn new_buffer() -> Vec<u8> {
        let chunks = (padme(PACK_SIZE as u64) as usize).div_ceil(CHUNK);
        vec![0u8; HEADER_LEN + chunks * STRIDE]
    }

    /// An empty pack in `buf`.
    pub fn new(seq: u32, buf: Vec<u8>) -> Self {
        Pack {
            seq,
            buf,
            plain: 0,
            entries: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// Plaintext room left.
    pub fn room(&self) -> usize {
        PACK_SIZE - self.plain
    }

    /// Copies `data` in (it must fit); returns its offset.
    pub fn place(&mut self, mut data: &[u8]) -> u32 {
        debug_assert!(data.len() <= self.room());
        let at = self.plain as u32;
        while !data.is_empty() {
            let (i, pos) = (self.plain / CHUNK, self.plain % CHUNK);
            let k = (CHUNK - pos).min(data.len());
            let dst = HEADER_LEN + i * STRIDE + pos;
            self.buf[dst..dst + k].copy_from_slice(&data[..k]);
            self.plain += k;
            data = &data[k..];
        }
        at
    }

    fn zero_fill(&mut self, mut n: usize) {
        while n > 0 {
            let (i, pos) = (self.plain / CHUNK, self.plain % CHUNK);
            let k = (CHUNK - pos).min(n);
            let at = HEADER_LEN + i * STRIDE + pos;
            self.buf[at..at + k].fill(0);
            self.plain += k;
            n -= k;
        }
    }

    /// Seals in place; returns the object's length.
    pub fn seal(
        &mut self,
        vault: [u8; 32],
        snapshot: SnapshotId,
        key: &DataKey,
        pad: bool,
    ) -> Result<usize, object::ObjectError> {
        if pad {
            let target = padme(self.plain as u64) as usize;
            self.zero_fill(target - self.plain);
        }
        let header = ObjectHeader::new(Kind::Pack, vault, snapshot.0);
        self.buf[..HEADER_LEN].copy_from_slice(&header.encode());
        let cipher = header.cipher(key);
        let n = self.plain.div_ceil(CHUNK);
        for i in 0..n {
            let len = if i + 1 == n {
                self.plain - i * CHUNK
            } else {
                CHUNK
            };
            let at = HEADER_LEN + i * STRIDE;
            let (text, rest) = self.buf[at..].split_at_mut(len);
            let tag = cipher.seal_chunk(i as u64, i + 1 == n, text)?;
            rest[..TAG_LEN].copy_from_slice(&tag);
        }
        Ok(object::sealed_len(self.plain as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placed_bytes_open_at_their_offsets() {
        let key = DataKey::generate();
        let mut p = Pack::new(0, Pack::new_buffer());
        let a: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let b: Vec<u8> = (0..70_001u32).map(|i| (i * 7) as u8).collect();
        let oa = p.place(&a);
        let ob = p.place(&b);
        let len = p.seal([1; 32], SnapshotId([2; 16]), &key, true).unwrap();
        let plain = object::open(&p.buf[..len], Kind::Pack, &[1; 32], &[2; 16], &key).unwrap();
        assert_eq!(&plain[oa as usize..oa as usize + a.len()], &a[..]);
        assert_eq!(&plain[ob as usize..ob as usize + b.len()], &b[..]);
        assert!(
            plain[ob as usize + b.len()..].iter().all(|&z| z == 0),
            "Padmé zeros"
        );
    }
}

//! Content-defined chunking: a file is cut where its content says, not at
//! fixed offsets, so that bytes inserted or deleted near the start of a
//! file move the cut points after them along with the content, and the
//! chunks after the edit are found again (deduplicated) instead of stored
//! anew.
//!
//! The cut function is FastCDC 2020 (Xia et al.), from the `fastcdc`
//! crate, with normalized chunking at level 1 and sizes of [`MIN`]..[`MAX`]
//! bytes, [`AVG`] on average (FORMAT.md §8.6 says why). Its gear table (256
//! 64-bit values) is not the public one: it is derived from a key of the
//! pipeline (`HKDF(key, "seif/v1/pipeline/cdc-gear-table")`), so the cut
//! points, and the sizes of what a push uploads, depend on a secret and do
//! not let the host confirm a guess of the content.

use std::io::Read;

use fastcdc::v2020::{MASKS, cut_gear};
use zeroize::Zeroizing;

/// The smallest chunk (except a file's last).
pub const MIN: usize = 512 << 10;
/// The average chunk size aimed at.
pub const AVG: usize = 1 << 20;
/// The largest chunk: no larger than a pack.
pub const MAX: usize = crate::snapshot::manifest::CHUNK_MAX as usize;
/// Normalization level (FastCDC §3.3): 1 keeps most chunks near the average.
const LEVEL: u32 = 1;
/// The read buffer: room for several maximal chunks, so that the rest of
/// the buffer is moved to its start only once per 24 MiB or so.
const BUF: usize = 4 * MAX;

/// Cuts files into chunks, reusing one buffer.
pub struct Chunker {
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
    mask_s: u64,
    mask_l: u64,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl Chunker {
    /// A chunker whose cut points are keyed by `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, key);
        let mut table = Zeroizing::new([0u8; 256 * 8]);
        hk.expand(b"seif/v1/pipeline/cdc-gear-table", &mut table[..])
            .expect("2048 bytes is a valid HKDF output length");
        let mut gear = Box::new([0u64; 256]);
        let mut gear_ls = Box::new([0u64; 256]);
        for (i, g) in gear.iter_mut().enumerate() {
            *g = u64::from_le_bytes(table[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            gear_ls[i] = *g << 1;
        }
        let bits = AVG.trailing_zeros();
        Chunker {
            gear,
            gear_ls,
            mask_s: MASKS[(bits + LEVEL) as usize],
            mask_l: MASKS[(bits - LEVEL) as usize],
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: true,
        }
    }

    /// Starts a new file.
    pub fn reset(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0u8; BUF];
        }
        self.start = 0;
        self.end = 0;
        self.eof = false;
    }

    /// Where the content's next chunk ends, within `data` (which holds at
    /// least [`MAX`] bytes unless the content ends there).
    pub fn cut(&self, data: &[u8]) -> usize {
        let (_, n) = cut_gear(
            data,
            MIN,
            AVG,
            MAX,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear,
            &self.gear_ls,
        );
        n
    }

    /// The next chunk of `input`, or `None` at its end. Reads in large
    /// pieces; an interrupted read is retried.
    pub fn next<'a>(&'a mut self, input: &mut impl Read) -> std::io::Result<Option<&'a [u8]>> {
        if self.end - self.start < MAX && !self.eof {
            if self.start + MAX > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            while self.end - self.start < MAX && !self.eof {
                match input.read(&mut self.buf[self.end..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.end += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.start == self.end {
            return Ok(None);
        }
        let n = self.cut(&self.buf[self.start..self.end]);
        let chunk = &self.buf[self.start..self.start + n];
        self.start += n;
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(c: &mut Chunker, data: &[u8]) -> Vec<Vec<u8>> {
        c.reset();
        let mut input = data;
        let mut out = Vec::new();
        while let Some(ch) = c.next(&mut input).unwrap() {
            out.push(ch.to_vec());
        }
        out
    }

    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn chunks_reassemble_within_bounds() {
        let mut c = Chunker::new(&[1; 32]);
        for len in [0, 1, MIN - 1, MIN, 3 * MAX + 12345, 40 << 20] {
            let d = data(len, len as u64 + 1);
            let cs = chunks(&mut c, &d);
            assert_eq!(cs.concat(), d);
            for (i, ch) in cs.iter().enumerate() {
                assert!(ch.len() <= MAX);
                assert!(
                    ch.len() >= MIN || i + 1 == cs.len(),
                    "only the last may be short"
                );
            }
        }
        let zeros = vec![0u8; 20 << 20];
        assert!(
            chunks(&mut c, &zeros)
                .iter()
                .all(|ch| ch.len() == MAX || ch.len() == (20 << 20) % MAX)
        );
    }

    #[test]
    fn an_insertion_moves_only_nearby_cuts() {
        let mut c = Chunker::new(&[2; 32]);
        let d = data(64 << 20, 9);
        let mut edited = d.clone();
        edited.splice(1000..1000, data(37, 3));
        let a = chunks(&mut c, &d);
        let b = chunks(&mut c, &edited);
        let set: std::collections::HashSet<&Vec<u8>> = a.iter().collect();
        let new: usize = b
            .iter()
            .filter(|ch| !set.contains(ch))
            .map(|ch| ch.len())
            .sum();
        assert!(
            new <= 2 * MAX,
            "{new} bytes changed after a 37-byte insertion"
        );
    }

    #[test]
    fn the_key_moves_the_cut_points() {
        let d = data(32 << 20, 5);
        let a = chunks(&mut Chunker::new(&[1; 32]), &d);
        let b = chunks(&mut Chunker::new(&[2; 32]), &d);
        assert_ne!(
            a.iter().map(Vec::len).collect::<Vec<_>>(),
            b.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

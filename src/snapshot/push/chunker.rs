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

/// Cuts content into chunks, with a keyed gear table.
pub struct Chunker {
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
    mask_s: u64,
    mask_l: u64,
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
        }
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

    /// The length of the chunk at the start of `data`, if `data` decides
    /// it; `end`: the content ends with `data`. `None`: more of the content
    /// is needed (give `data` again with more after it).
    ///
    /// In general a cut needs [`MAX`] bytes, or the end. But the cut
    /// function returns the first cut point it finds, and below [`MAX`] its
    /// search depends on the length given only when that is under [`AVG`]
    /// (normalization moves to the looser mask at the average, or at the
    /// end if sooner). So from [`AVG`] bytes on, a cut point found before
    /// the end of `data` is the one the whole content gives: a reader can
    /// cut what it holds without keeping [`MAX`] bytes ahead of every cut.
    pub fn next_cut(&self, data: &[u8], end: bool) -> Option<usize> {
        if data.is_empty() {
            return None;
        }
        if end || data.len() >= MAX {
            return Some(self.cut(data));
        }
        if data.len() < AVG {
            return None;
        }
        let n = self.cut(data);
        (n < data.len()).then_some(n)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The content cut in one go.
    fn chunks(c: &Chunker, data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(n) = c.next_cut(&data[at..], true) {
            out.push(data[at..at + n].to_vec());
            at += n;
        }
        out
    }

    /// The content cut as a reader holding at most `window` bytes of it
    /// at a time does: it cuts what it holds, keeps what is undecided, and
    /// reads more after it.
    fn chunks_in_windows(c: &Chunker, data: &[u8], window: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let held = (start + window).min(data.len());
            let end = held == data.len();
            while let Some(n) = c.next_cut(&data[start..held], end) {
                out.push(n);
                start += n;
            }
            if end {
                return out;
            }
        }
    }

    /// Test data: xorshift64 from `seed` (0 gives zeros).
    pub(in crate::snapshot::push) fn data(len: usize, seed: u64) -> Vec<u8> {
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
        let c = Chunker::new(&[1; 32]);
        for len in [0, 1, MIN - 1, MIN, 3 * MAX + 12345, 40 << 20] {
            let d = data(len, len as u64 + 1);
            let cs = chunks(&c, &d);
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
            chunks(&c, &zeros)
                .iter()
                .all(|ch| ch.len() == MAX || ch.len() == (20 << 20) % MAX)
        );
    }

    #[test]
    fn an_insertion_moves_only_nearby_cuts() {
        let c = Chunker::new(&[2; 32]);
        let d = data(64 << 20, 9);
        let mut edited = d.clone();
        edited.splice(1000..1000, data(37, 3));
        let a = chunks(&c, &d);
        let b = chunks(&c, &edited);
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
        let a = chunks(&Chunker::new(&[1; 32]), &d);
        let b = chunks(&Chunker::new(&[2; 32]), &d);
        assert_ne!(
            a.iter().map(Vec::len).collect::<Vec<_>>(),
            b.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }

    #[test]
    fn cutting_what_is_held_finds_the_cuts_of_the_whole() {
        let c = Chunker::new(&[3; 32]);
        let mut zeros_then_data = vec![0u8; 3 * MAX + 7];
        zeros_then_data.extend(data(5 * MAX, 4));
        for d in [data(48 << 20, 11), zeros_then_data, data(AVG + 1, 12)] {
            let whole: Vec<usize> = chunks(&c, &d).iter().map(Vec::len).collect();
            for window in [MAX, MAX + 1, MAX + AVG / 2 + 3, 2 * MAX, 3 * MAX - 1] {
                assert_eq!(chunks_in_windows(&c, &d, window), whole, "window {window}");
            }
        }
    }
}

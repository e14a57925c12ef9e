//! Encodings shared by the formats: lowercase hex for hashes and ids,
//! Bech32 for keys that people copy by hand, and the fixed-layout binary
//! headers (a sealed file's, a snapshot object's), written and read field
//! by field in order ([`HeaderWriter`], [`HeaderReader`]) so that each
//! layout is spelled out once, top to bottom, with no offsets to keep in
//! step.

use bech32::{Bech32, Hrp};
use zeroize::Zeroizing;

/// A value that failed to decode, with what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not lowercase hex of the right length.
    #[error("expected {expected} lowercase hex characters")]
    Hex {
        /// Number of hex characters expected.
        expected: usize,
    },
    /// Not a Bech32 string with the expected prefix and length.
    #[error("expected a Bech32 string starting with '{hrp}1' holding {len} bytes")]
    Bech32 {
        /// The human-readable prefix expected.
        hrp: &'static str,
        /// Number of data bytes expected.
        len: usize,
    },
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Decodes exactly `N` bytes of lowercase hex; uppercase is refused so that
/// each value has one spelling (the records are signed as text).
pub fn from_hex<const N: usize>(s: &str) -> Result<[u8; N], DecodeError> {
    let err = DecodeError::Hex { expected: 2 * N };
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(err);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| err)?;
    Ok(out)
}

/// Bech32 (BIP 173) lowercase, as age writes its recipients.
pub fn to_bech32(hrp: &'static str, data: &[u8]) -> String {
    let hrp = Hrp::parse(hrp).expect("static HRP is valid");
    bech32::encode::<Bech32>(hrp, data).expect("short data always encodes")
}

/// Bech32 uppercase, as age writes its secret keys; the result is zeroizing.
pub fn to_bech32_secret(hrp: &'static str, data: &[u8]) -> Zeroizing<String> {
    let lower = Zeroizing::new(to_bech32(hrp, data));
    Zeroizing::new(lower.to_ascii_uppercase())
}

/// Decodes a Bech32 string (either case, not mixed) with the given prefix and
/// exactly `N` data bytes. The result is zeroizing, as it may be a secret.
pub fn from_bech32<const N: usize>(
    hrp: &'static str,
    s: &str,
) -> Result<Zeroizing<[u8; N]>, DecodeError> {
    let err = || DecodeError::Bech32 { hrp, len: N };
    let (got_hrp, data) = bech32::decode(s).map_err(|_| err())?;
    let data = Zeroizing::new(data);
    // bech32::decode also accepts Bech32m; one spelling per key means we
    // re-encode and compare to insist on plain Bech32.
    if !got_hrp.as_str().eq_ignore_ascii_case(hrp) || data.len() != N {
        return Err(err());
    }
    let again = Zeroizing::new(to_bech32(hrp, &data));
    if !again.eq_ignore_ascii_case(s) {
        return Err(err());
    }
    let mut out = Zeroizing::new([0u8; N]);
    out.copy_from_slice(&data);
    Ok(out)
}

/// Writes a fixed-layout header of exactly `N` bytes, one field after the
/// other.
pub struct HeaderWriter<const N: usize> {
    buf: [u8; N],
    at: usize,
}

impl<const N: usize> Default for HeaderWriter<N> {
    fn default() -> Self {
        HeaderWriter { buf: [0; N], at: 0 }
    }
}

impl<const N: usize> HeaderWriter<N> {
    /// The next field's bytes.
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
        self
    }

    /// The next field, one byte.
    pub fn u8(self, v: u8) -> Self {
        self.bytes(&[v])
    }

    /// The header, which must be exactly full: a layout that does not add
    /// up to `N` is a bug, caught by the format's round-trip tests.
    pub fn finish(self) -> [u8; N] {
        assert_eq!(self.at, N, "a header layout that does not fill its length");
        self.buf
    }
}

/// Reads a fixed-layout header, one field after the other. The caller
/// checks the length first (the format's error for a short header is its
/// own); [`HeaderReader::finish`] checks that every byte was read.
pub struct HeaderReader<'a> {
    rest: &'a [u8],
}

impl<'a> HeaderReader<'a> {
    /// A reader over a header whose length the caller has checked.
    pub fn new(header: &'a [u8]) -> Self {
        HeaderReader { rest: header }
    }

    /// The next field, `K` bytes.
    pub fn array<const K: usize>(&mut self) -> [u8; K] {
        let (field, rest) = self
            .rest
            .split_first_chunk::<K>()
            .expect("the header's length was checked before reading it");
        self.rest = rest;
        *field
    }

    /// The next field, one byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// Ends the header: every byte was read by a field.
    pub fn finish(self) {
        assert!(
            self.rest.is_empty(),
            "a header layout that does not read its whole length"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict() {
        assert_eq!(from_hex::<2>("0aff").unwrap(), [0x0a, 0xff]);
        assert!(from_hex::<2>("0AFF").is_err());
        assert!(from_hex::<2>("0aff00").is_err());
        assert!(from_hex::<2>("0afg").is_err());
    }

    #[test]
    fn header_writer_and_reader_agree_field_by_field() {
        let b = HeaderWriter::<7>::default()
            .bytes(b"AB")
            .u8(3)
            .bytes(&[0; 2])
            .bytes(&[4, 5])
            .finish();
        assert_eq!(b, [b'A', b'B', 3, 0, 0, 4, 5]);
        let mut r = HeaderReader::new(&b);
        assert_eq!(&r.array::<2>(), b"AB");
        assert_eq!(r.u8(), 3);
        assert_eq!(r.array::<2>(), [0, 0]);
        assert_eq!(r.array::<2>(), [4, 5]);
        r.finish();
    }

    #[test]
    #[should_panic(expected = "does not fill its length")]
    fn a_header_layout_short_of_its_length_is_caught() {
        let _ = HeaderWriter::<3>::default().u8(1).finish();
    }

    #[test]
    fn bech32_round_trip_and_refusals() {
        let s = to_bech32("seifsealer", &[7u8; 32]);
        assert_eq!(*from_bech32::<32>("seifsealer", &s).unwrap(), [7u8; 32]);
        assert!(from_bech32::<32>("age", &s).is_err());
        assert!(from_bech32::<31>("seifsealer", &s).is_err());
        let upper = to_bech32_secret("seifsealer", &[7u8; 32]);
        assert_eq!(*from_bech32::<32>("seifsealer", &upper).unwrap(), [7u8; 32]);
        let mut broken = s.clone();
        broken.replace_range(20..21, if &s[20..21] == "q" { "p" } else { "q" });
        assert!(from_bech32::<32>("seifsealer", &broken).is_err());
    }
}

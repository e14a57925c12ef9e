//! A snapshot object: a data pack (file contents, concatenated) or a part of
//! the manifest, sealed with the STREAM construction under a key derived
//! from the snapshot's data key.
//!
//! ```text
//! object = header (92 bytes) || chunk_0 || … || chunk_{n-1}
//! header = "SEIFOBJ1" || version (1) || chunk log2 || kind || flags (0)
//!          || vault id (32) || snapshot id (16) || salt (32)
//! object key = HKDF(snapshot data key, "seif/v1/snapshot/object" || 0x00 || salt)
//! chunk_i    = XChaCha20-Poly1305(object key, nonce = 19 zero bytes || u32 i || last,
//!                                 aad = SHA-256(header), P_i)
//! ```
//!
//! Each object has its own key (the salt is random), so the nonce prefix can
//! be fixed. Unlike a sealed file there is no trailer and no framing: the
//! snapshot record, signed by the sealer, names each object by the SHA-256 of
//! its bytes and gives its size, from which the chunk count follows. Any
//! chunk can be read and authenticated alone, which is what lets `restore`
//! fetch one file out of a pack with a range request.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{HeaderReader, HeaderWriter};
use crate::secrets::{DataKey, random_array};
use crate::stream::{NONCE_PREFIX_LEN, PayloadCipher, StreamError, TAG_LEN};

/// Magic bytes of an object.
pub const MAGIC: &[u8; 8] = b"SEIFOBJ1";
/// Format version.
pub const VERSION: u8 = 1;
/// Header length.
pub const HEADER_LEN: usize = 92;
/// HKDF label prefix of an object key.
pub const LABEL_OBJECT: &str = "seif/v1/snapshot/object";
/// Chunk size of objects, as a power of two (64 KiB).
pub const CHUNK_LOG2: u8 = 16;
/// Chunk size of objects.
pub const CHUNK: usize = 1 << CHUNK_LOG2;
/// Bytes of one full chunk on disk.
pub const STRIDE: usize = CHUNK + TAG_LEN;

/// What an object holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// File contents.
    Pack = 1,
    /// A part of the manifest.
    Manifest = 2,
}

/// Why an object was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectError {
    /// Not an object of this format.
    #[error("not a seif snapshot object: {0}")]
    Malformed(String),
    /// The object belongs elsewhere.
    #[error("the object belongs to another {0}")]
    Foreign(&'static str),
    /// A chunk failed authentication.
    #[error("chunk {0} failed authentication: the object was altered, or is not this snapshot's")]
    Chunk(u64),
    /// Too long for one stream.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// An object's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHeader {
    /// What it holds.
    pub kind: Kind,
    /// The vault.
    pub vault_id: [u8; 32],
    /// The snapshot.
    pub snapshot_id: [u8; 16],
    /// The random salt of its key.
    pub salt: [u8; 32],
}

impl ObjectHeader {
    /// A fresh header.
    pub fn new(kind: Kind, vault_id: [u8; 32], snapshot_id: [u8; 16]) -> Self {
        ObjectHeader {
            kind,
            vault_id,
            snapshot_id,
            salt: random_array(),
        }
    }

    /// The header's bytes: magic, version, chunk log2, kind, flags (0),
    /// vault id, snapshot id, salt.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        HeaderWriter::<HEADER_LEN>::default()
            .bytes(MAGIC)
            .u8(VERSION)
            .u8(CHUNK_LOG2)
            .u8(self.kind as u8)
            .u8(0)
            .bytes(&self.vault_id)
            .bytes(&self.snapshot_id)
            .bytes(&self.salt)
            .finish()
    }

    /// Parses a header, field by field in the order `encode` writes them.
    pub fn decode(b: &[u8]) -> Result<Self, ObjectError> {
        let bad = |m: &str| ObjectError::Malformed(m.into());
        let Some(b) = b.get(..HEADER_LEN) else {
            return Err(bad("no SEIFOBJ1 magic"));
        };
        let mut r = HeaderReader::new(b);
        if &r.array::<8>() != MAGIC {
            return Err(bad("no SEIFOBJ1 magic"));
        }
        if r.u8() != VERSION {
            return Err(bad("unknown version"));
        }
        let (chunk_log2, kind, flags) = (r.u8(), r.u8(), r.u8());
        if chunk_log2 != CHUNK_LOG2 || flags != 0 {
            return Err(bad("unsupported chunk size or flags"));
        }
        let kind = match kind {
            1 => Kind::Pack,
            2 => Kind::Manifest,
            _ => return Err(bad("unknown kind")),
        };
        let header = ObjectHeader {
            kind,
            vault_id: r.array(),
            snapshot_id: r.array(),
            salt: r.array(),
        };
        r.finish();
        Ok(header)
    }

    /// The object's STREAM cipher.
    pub fn cipher(&self, key: &DataKey) -> PayloadCipher {
        PayloadCipher::new(
            &derive_object_key(key, &self.salt),
            [0u8; NONCE_PREFIX_LEN],
            Sha256::digest(self.encode()).into(),
        )
    }
}

/// `HKDF(data key, "seif/v1/snapshot/object" || 0x00 || salt)`.
pub fn derive_object_key(key: &DataKey, salt: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    use hkdf::Hkdf;
    let hk = Hkdf::<Sha256>::new(None, key.expose());
    let mut info = Vec::with_capacity(LABEL_OBJECT.len() + 33);
    info.extend_from_slice(LABEL_OBJECT.as_bytes());
    info.push(0);
    info.extend_from_slice(salt);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(&info, &mut out[..])
        .expect("32 bytes is a valid output length");
    out
}

/// The most plaintext an object holds: a full pack (8 MiB; Padmé padding
/// of a full pack adds nothing, it is a power of two) or a manifest part.
pub const PLAIN_MAX: u64 = 8 << 20;
/// The largest object a reader accepts.
pub const OBJECT_MAX: u64 = sealed_len(PLAIN_MAX);

/// The stored size of an object holding `plain` bytes.
pub const fn sealed_len(plain: u64) -> u64 {
    HEADER_LEN as u64 + plain + plain.div_ceil(CHUNK as u64) * TAG_LEN as u64
}

/// The plaintext length of an object of `stored` bytes, if that size is
/// possible.
pub fn plain_len(stored: u64) -> Option<u64> {
    let body = stored.checked_sub(HEADER_LEN as u64)?;
    let full = body / STRIDE as u64;
    let rest = body % STRIDE as u64;
    let plain = full * CHUNK as u64 + rest.saturating_sub(TAG_LEN as u64);
    (rest == 0 || rest > TAG_LEN as u64)
        .then_some(plain)
        .filter(|p| sealed_len(*p) == stored)
}

/// Seals `plain` (the buffer's first `len` bytes) into `out` as an object.
/// `out` is cleared and reused; nothing is allocated when its capacity
/// suffices.
pub fn seal(
    header: &ObjectHeader,
    key: &DataKey,
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ObjectError> {
    let cipher = header.cipher(key);
    out.clear();
    out.reserve(sealed_len(plain.len() as u64) as usize);
    out.extend_from_slice(&header.encode());
    let n = plain.len().div_ceil(CHUNK);
    for (i, chunk) in plain.chunks(CHUNK).enumerate() {
        let at = out.len();
        out.extend_from_slice(chunk);
        let tag = cipher.seal_chunk(i as u64, i + 1 == n, &mut out[at..])?;
        out.extend_from_slice(&tag);
    }
    Ok(())
}

/// Checks an object's header against the snapshot it should belong to.
pub fn check_header(
    bytes: &[u8],
    kind: Kind,
    vault_id: &[u8; 32],
    snapshot_id: &[u8; 16],
) -> Result<ObjectHeader, ObjectError> {
    let h = ObjectHeader::decode(bytes)?;
    if &h.vault_id != vault_id {
        return Err(ObjectError::Foreign("vault"));
    }
    if &h.snapshot_id != snapshot_id {
        return Err(ObjectError::Foreign("snapshot"));
    }
    if h.kind != kind {
        return Err(ObjectError::Foreign("kind of object"));
    }
    Ok(h)
}

/// Opens a whole object, leaving `bytes` as it is: the plaintext comes back
/// as a fresh vector.
pub fn open(
    bytes: &[u8],
    kind: Kind,
    vault_id: &[u8; 32],
    snapshot_id: &[u8; 16],
    key: &DataKey,
) -> Result<Vec<u8>, ObjectError> {
    let mut out = bytes.to_vec();
    open_in_place(&mut out, kind, vault_id, snapshot_id, key)?;
    Ok(out)
}

/// Opens a whole object in its own buffer: on success `buf` holds the
/// plaintext (the header and tags are squeezed out), with no new allocation.
pub fn open_in_place(
    buf: &mut Vec<u8>,
    kind: Kind,
    vault_id: &[u8; 32],
    snapshot_id: &[u8; 16],
    key: &DataKey,
) -> Result<(), ObjectError> {
    let h = check_header(buf, kind, vault_id, snapshot_id)?;
    plain_len(buf.len() as u64).ok_or_else(|| ObjectError::Malformed("impossible size".into()))?;
    let cipher = h.cipher(key);
    let n = (buf.len() - HEADER_LEN).div_ceil(STRIDE);
    let mut plain_at = 0;
    for i in 0..n {
        let start = HEADER_LEN + i * STRIDE;
        let end = (start + STRIDE).min(buf.len());
        let (text, tag) = buf[start..end].split_at_mut(end - start - TAG_LEN);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("16 bytes");
        cipher
            .open_chunk(i as u64, i + 1 == n, text, &tag)
            .map_err(|_| ObjectError::Chunk(i as u64))?;
        let len = text.len();
        buf.copy_within(start..start + len, plain_at);
        plain_at += len;
    }
    buf.truncate(plain_at);
    Ok(())
}

/// The chunks holding plaintext bytes `range` of an object of `stored`
/// bytes: the byte range to fetch, and the first chunk's index.
pub fn chunk_span(stored: u64, range: std::ops::Range<u64>) -> Option<(std::ops::Range<u64>, u64)> {
    let plain = plain_len(stored)?;
    if range.end > plain || range.start > range.end {
        return None;
    }
    let first = range.start / CHUNK as u64;
    let last = range.end.saturating_sub(1).max(range.start) / CHUNK as u64;
    let from = HEADER_LEN as u64 + first * STRIDE as u64;
    let to = (HEADER_LEN as u64 + (last + 1) * STRIDE as u64).min(stored);
    Some((from..to, first))
}

/// Opens the chunks fetched by [`chunk_span`]; returns their plaintext,
/// which starts at byte `first * CHUNK` of the object.
pub fn open_chunks(
    header: &ObjectHeader,
    key: &DataKey,
    stored: u64,
    first: u64,
    bytes: &[u8],
) -> Result<Vec<u8>, ObjectError> {
    let cipher = header.cipher(key);
    let total_chunks = (stored - HEADER_LEN as u64).div_ceil(STRIDE as u64);
    let mut out = Vec::with_capacity(bytes.len());
    for (j, chunk) in bytes.chunks(STRIDE).enumerate() {
        if chunk.len() <= TAG_LEN {
            return Err(ObjectError::Malformed(
                "a chunk is shorter than its tag".into(),
            ));
        }
        let index = first + j as u64;
        let (ct, tag) = chunk.split_at(chunk.len() - TAG_LEN);
        let at = out.len();
        out.extend_from_slice(ct);
        cipher
            .open_chunk(
                index,
                index + 1 == total_chunks,
                &mut out[at..],
                tag.try_into().expect("16 bytes"),
            )
            .map_err(|_| ObjectError::Chunk(index))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FORMAT.md §8.1 states the object key of a fixed data key and salt.
    #[test]
    fn format_md_states_the_object_key_vector() {
        let key = DataKey::from_bytes(Zeroizing::new(core::array::from_fn(|i| i as u8)));
        let derived = crate::encoding::to_hex(&derive_object_key(&key, &[0x42; 32])[..]);
        let spec = include_str!("../../FORMAT.md");
        assert!(
            spec.contains(&format!("object key `{derived}`")),
            "FORMAT.md §8.1 does not state the object key {derived}"
        );
    }

    #[test]
    fn seal_open_and_ranges() {
        let key = DataKey::generate();
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 77] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let h = ObjectHeader::new(Kind::Pack, [1; 32], [2; 16]);
            let mut obj = Vec::new();
            seal(&h, &key, &plain, &mut obj).unwrap();
            assert_eq!(obj.len() as u64, sealed_len(len as u64));
            assert_eq!(plain_len(obj.len() as u64), Some(len as u64));
            assert_eq!(
                open(&obj, Kind::Pack, &[1; 32], &[2; 16], &key).unwrap(),
                plain
            );
            assert_eq!(
                open(&obj, Kind::Manifest, &[1; 32], &[2; 16], &key).unwrap_err(),
                ObjectError::Foreign("kind of object")
            );
            assert_eq!(
                open(&obj, Kind::Pack, &[1; 32], &[3; 16], &key).unwrap_err(),
                ObjectError::Foreign("snapshot")
            );
            for (a, b) in [
                (0u64, 1u64),
                (CHUNK as u64 - 1, CHUNK as u64 + 1),
                (len as u64 / 2, len as u64),
            ] {
                if b as usize > len || a >= b {
                    continue;
                }
                let (span, first) = chunk_span(obj.len() as u64, a..b).unwrap();
                let got = open_chunks(
                    &h,
                    &key,
                    obj.len() as u64,
                    first,
                    &obj[span.start as usize..span.end as usize],
                )
                .unwrap();
                let off = (a - first * CHUNK as u64) as usize;
                assert_eq!(
                    &got[off..off + (b - a) as usize],
                    &plain[a as usize..b as usize]
                );
            }
            if len > 0 {
                let mut bad = obj.clone();
                let at = HEADER_LEN + 3;
                bad[at] ^= 1;
                assert_eq!(
                    open(&bad, Kind::Pack, &[1; 32], &[2; 16], &key).unwrap_err(),
                    ObjectError::Chunk(0)
                );
                // A different salt means a different key.
                let mut salted = obj.clone();
                salted[70] ^= 1;
                assert!(open(&salted, Kind::Pack, &[1; 32], &[2; 16], &key).is_err());
            }
        }
        assert_eq!(plain_len(HEADER_LEN as u64 + 5), None);
    }
}

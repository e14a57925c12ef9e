//! The STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over
//! XChaCha20-Poly1305, as every seif payload uses it.
//!
//! The plaintext is cut into chunks of a fixed size (the last one may be
//! shorter, never empty). Chunk `i` is sealed with the nonce
//! `prefix (19 bytes) || i (u32 big-endian) || last (1 byte: 0x01 on the final
//! chunk, else 0x00)` and with the 32-byte header hash as associated data, so
//! that reordering, dropping, duplicating, truncating or appending chunks, or
//! moving them to another header, fails authentication.
//!
//! The functions here are positional (chunk index in, tag out) so that chunks
//! can be sealed and opened on several cores; [`ChunkCounter`] is the
//! sequential guard that refuses a second "last" chunk and fails rather than
//! wraps when the counter runs out.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Length of the random nonce prefix in a header.
pub const NONCE_PREFIX_LEN: usize = 19;
/// Length of the associated data bound into every chunk (a SHA-256 hash).
pub const AAD_LEN: usize = 32;
/// The largest number of chunks one stream may hold (the counter is a u32).
pub const MAX_CHUNKS: u64 = 1 << 32;

/// Why a chunk could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// The chunk's tag did not verify: the chunk, its position, its header or
    /// the key is not what was sealed.
    #[error("chunk {index} failed authentication")]
    Authentication {
        /// Zero-based chunk index.
        index: u64,
    },
    /// More chunks than the nonce counter can number.
    #[error("the stream is too long: more than 2^32 chunks")]
    TooManyChunks,
    /// A chunk was offered after the last one.
    #[error("a chunk came after the last chunk")]
    AfterLast,
}

/// The nonce of chunk `index`.
pub fn chunk_nonce(
    prefix: &[u8; NONCE_PREFIX_LEN],
    index: u64,
    last: bool,
) -> Result<[u8; 24], StreamError> {
    let counter = u32::try_from(index).map_err(|_| StreamError::TooManyChunks)?;
    let mut nonce = [0u8; 24];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..23].copy_from_slice(&counter.to_be_bytes());
    nonce[23] = u8::from(last);
    Ok(nonce)
}

/// The keyed cipher of one stream: payload key, nonce prefix and the header
/// hash bound into every chunk. Holds the key: no `Debug`.
pub struct PayloadCipher {
    aead: XChaCha20Poly1305,
    prefix: [u8; NONCE_PREFIX_LEN],
    aad: [u8; AAD_LEN],
}

impl PayloadCipher {
    /// Keys a stream.
    pub fn new(
        key: &Zeroizing<[u8; 32]>,
        prefix: [u8; NONCE_PREFIX_LEN],
        aad: [u8; AAD_LEN],
    ) -> Self {
        let key: &Key = (&**key).into();
        PayloadCipher {
            aead: XChaCha20Poly1305::new(key),
            prefix,
            aad,
        }
    }

    /// Encrypts chunk `index` in place and returns its tag.
    pub fn seal_chunk(
        &self,
        index: u64,
        last: bool,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], StreamError> {
        let nonce = chunk_nonce(&self.prefix, index, last)?;
        let tag = self
            .aead
            .encrypt_inout_detached(&XNonce::from(nonce), &self.aad, buf.into())
            .map_err(|_| StreamError::TooManyChunks)?;
        Ok(tag.into())
    }

    /// Decrypts chunk `index` in place if its tag verifies. On failure the
    /// buffer holds no plaintext (the AEAD checks the tag before decrypting).
    pub fn open_chunk(
        &self,
        index: u64,
        last: bool,
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), StreamError> {
        let nonce = chunk_nonce(&self.prefix, index, last)?;
        self.aead
            .decrypt_inout_detached(
                &XNonce::from(nonce),
                &self.aad,
                buf.into(),
                &Tag::from(*tag),
            )
            .map_err(|_| StreamError::Authentication { index })
    }
}

/// Hands out chunk indices in order, once each: refuses a chunk after the
/// last one and fails rather than wraps when the counter runs out.
#[derive(Debug, Default)]
pub struct ChunkCounter {
    next: u64,
    finished: bool,
}

impl ChunkCounter {
    /// The index of the next chunk; `last` marks it final.
    pub fn take(&mut self, last: bool) -> Result<u64, StreamError> {
        if self.finished {
            return Err(StreamError::AfterLast);
        }
        if self.next >= MAX_CHUNKS {
            return Err(StreamError::TooManyChunks);
        }
        let index = self.next;
        self.next += 1;
        self.finished = last;
        Ok(index)
    }

    /// How many chunks have been handed out.
    pub fn count(&self) -> u64 {
        self.next
    }

    /// Whether the last chunk has been handed out.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> PayloadCipher {
        PayloadCipher::new(&Zeroizing::new([1u8; 32]), [2u8; 19], [3u8; 32])
    }

    #[test]
    fn nonce_layout() {
        let n = chunk_nonce(&[0xaa; 19], 0x0102_0304, true).unwrap();
        assert_eq!(&n[..19], &[0xaa; 19]);
        assert_eq!(&n[19..], &[1, 2, 3, 4, 1]);
        assert_eq!(
            chunk_nonce(&[0; 19], 1 << 32, false),
            Err(StreamError::TooManyChunks)
        );
    }

    #[test]
    fn chunks_bind_position_flag_and_aad() {
        let c = cipher();
        let mut buf = *b"hello chunk";
        let tag = c.seal_chunk(5, false, &mut buf).unwrap();
        let sealed = buf;
        for (index, last) in [(4, false), (5, true), (6, false)] {
            let mut b = sealed;
            assert!(c.open_chunk(index, last, &mut b, &tag).is_err());
        }
        let other_aad = PayloadCipher::new(&Zeroizing::new([1u8; 32]), [2u8; 19], [4u8; 32]);
        let mut b = sealed;
        assert!(other_aad.open_chunk(5, false, &mut b, &tag).is_err());
        let mut b = sealed;
        c.open_chunk(5, false, &mut b, &tag).unwrap();
        assert_eq!(&b, b"hello chunk");
    }

    #[test]
    fn counter_refuses_after_last() {
        let mut c = ChunkCounter::default();
        assert_eq!(c.take(false), Ok(0));
        assert_eq!(c.take(true), Ok(1));
        assert_eq!(c.take(false), Err(StreamError::AfterLast));
    }
}

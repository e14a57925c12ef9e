//! Sealing: the plaintext framing is cut into chunks, sealed on every core in
//! place in recycled batch buffers, written in order, and signed.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::format::{
    CHUNK_LOG2_DEFAULT, CHUNK_LOG2_MAX, CHUNK_LOG2_MIN, Header, LABEL_PAYLOAD, LENGTH_SUFFIX_LEN,
    METADATA_MAX, Metadata, encode_trailer, signature_message,
};
use super::{batch_chunks, read_full};
use crate::keys::hkdf32;
use crate::padme::padme;
use crate::pipeline;
use crate::sealer::{SealerPublicKey, SealerSecretKey};
use crate::secrets::{DataKey, random_array};
use crate::stream::{MAX_CHUNKS, PayloadCipher, StreamError, TAG_LEN};
use crate::wrap::{self, WrapError, key_commitment};

/// Why sealing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Reading the input failed.
    #[error("reading the input failed: {0}")]
    Read(io::Error),
    /// Writing the output failed.
    #[error("writing the output failed: {0}")]
    Write(io::Error),
    /// The data key could not be wrapped to the vault.
    #[error(transparent)]
    Wrap(#[from] WrapError),
    /// The input is longer than one stream can hold.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The options are out of range.
    #[error("{0}")]
    Options(String),
    /// The vault does not accept this sealer: nothing was written.
    #[error("the vault does not accept the sealer {0}")]
    SealerNotAccepted(Box<SealerPublicKey>),
}

/// Where sealed data goes: the vault's id, recipients and accepted sealers
/// (from its verified descriptor).
#[derive(Clone, Debug)]
pub struct SealTarget {
    /// The vault id.
    pub vault_id: [u8; 32],
    /// The vault's current age recipients.
    pub recipients: Vec<String>,
    /// The vault requires post-quantum wrapping: sealing to a classic
    /// recipient is refused.
    pub require_pq: bool,
    /// The sealers the vault accepts: [`seal`] signs with no other.
    pub sealers: Vec<SealerPublicKey>,
}

impl SealTarget {
    /// The target named by a verified descriptor.
    pub fn from_descriptor(d: &crate::descriptor::Descriptor) -> Self {
        SealTarget {
            vault_id: d.vault_id(),
            recipients: d.body().recipients.clone(),
            require_pq: d.require_pq(),
            sealers: d
                .body()
                .sealers
                .iter()
                .map(|e| e.key.parse().expect("validated sealer key"))
                .collect(),
        }
    }
}

/// How to seal.
#[derive(Clone, Debug)]
pub struct SealOptions {
    /// log2 of the chunk size.
    pub chunk_log2: u8,
    /// Pad the plaintext to a Padmé length.
    pub pad: bool,
    /// Worker threads.
    pub threads: usize,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions {
            chunk_log2: CHUNK_LOG2_DEFAULT,
            pad: false,
            threads: pipeline::default_threads(),
        }
    }
}

/// What was sealed.
#[derive(Clone, Debug)]
pub struct SealSummary {
    /// Bytes of content read.
    pub content_len: u64,
    /// Bytes written.
    pub stored_len: u64,
    /// Chunks written.
    pub chunks: u64,
    /// The header written.
    pub header: Header,
}

/// The plaintext framing as a stream: `u32 M || metadata || content ||
/// zeros || u64 content length`. The padding and the length are produced
/// once the content has ended, so stdin works in constant memory.
struct Framing<R> {
    prefix: Vec<u8>,
    prefix_pos: usize,
    input: R,
    content_len: u64,
    pad: bool,
    tail: Option<Tail>,
}

struct Tail {
    zeros: u64,
    suffix: [u8; LENGTH_SUFFIX_LEN],
    suffix_pos: usize,
}

impl<R: Read> Framing<R> {
    /// Fills `dst` completely unless the framing ends first.
    fn fill(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if self.prefix_pos < self.prefix.len() {
            let k = (self.prefix.len() - self.prefix_pos).min(dst.len());
            dst[..k].copy_from_slice(&self.prefix[self.prefix_pos..self.prefix_pos + k]);
            self.prefix_pos += k;
            n += k;
        }
        if self.tail.is_none() && n < dst.len() {
            let r = read_full(&mut self.input, &mut dst[n..])?;
            self.content_len += r as u64;
            n += r;
            if n < dst.len() {
                self.start_tail();
            }
        }
        if let Some(tail) = &mut self.tail {
            let z = (tail.zeros.min((dst.len() - n) as u64)) as usize;
            dst[n..n + z].fill(0);
            tail.zeros -= z as u64;
            n += z;
            let k = (LENGTH_SUFFIX_LEN - tail.suffix_pos).min(dst.len() - n);
            dst[n..n + k].copy_from_slice(&tail.suffix[tail.suffix_pos..tail.suffix_pos + k]);
            tail.suffix_pos += k;
            n += k;
        }
        Ok(n)
    }

    fn start_tail(&mut self) {
        let unpadded = self.prefix.len() as u64 + self.content_len + LENGTH_SUFFIX_LEN as u64;
        let zeros = if self.pad {
            padme(unpadded) - unpadded
        } else {
            0
        };
        self.tail = Some(Tail {
            zeros,
            suffix: self.content_len.to_be_bytes(),
            suffix_pos: 0,
        });
    }

    fn finished(&self) -> bool {
        self.tail
            .as_ref()
            .is_some_and(|t| t.zeros == 0 && t.suffix_pos == LENGTH_SUFFIX_LEN)
    }
}

/// Seals `input` to the vault, writing the sealed file to `output`. With a
/// sealer key the file is signed, and the key must be one the vault
/// accepts (nothing is written otherwise); without one the file is unsigned
/// (and the ceremony refuses it unless told otherwise).
pub fn seal(
    input: impl Read + Send,
    output: &mut impl Write,
    target: &SealTarget,
    sealer: Option<&SealerSecretKey>,
    metadata: &Metadata,
    options: &SealOptions,
) -> Result<SealSummary, SealError> {
    if let Some(s) = sealer
        && !target
            .sealers
            .iter()
            .any(|k| k.classic() == s.public_classic())
    {
        return Err(SealError::SealerNotAccepted(Box::new(s.public())));
    }
    if !(CHUNK_LOG2_MIN..=CHUNK_LOG2_MAX).contains(&options.chunk_log2) {
        return Err(SealError::Options(format!(
            "chunk size 2^{} is outside 2^{CHUNK_LOG2_MIN}..=2^{CHUNK_LOG2_MAX}",
            options.chunk_log2
        )));
    }
    metadata.validate().map_err(SealError::Options)?;
    let prefix = metadata.encode_prefix();
    if prefix.len() - 4 > METADATA_MAX {
        return Err(SealError::Options("the file's metadata is too long".into()));
    }
    let data_key = DataKey::generate();
    let header = Header {
        chunk_log2: options.chunk_log2,
        vault_id: target.vault_id,
        sealer: sealer.map(SealerSecretKey::public),
        nonce_prefix: random_array(),
        commitment: key_commitment(&data_key),
        wrapped_key: wrap::wrap_with_policy(&data_key, &target.recipients, target.require_pq)?,
    };
    let header_hash = header.hash();
    let cipher = PayloadCipher::new(
        &hkdf32(data_key.expose(), LABEL_PAYLOAD),
        header.nonce_prefix,
        header_hash,
    );
    drop(data_key);

    let header_bytes = header.encode();
    output.write_all(&header_bytes).map_err(SealError::Write)?;

    let chunk = header.chunk_size();
    let stride = chunk + TAG_LEN;
    let per_batch = batch_chunks(chunk);
    let mut framing = Framing {
        prefix,
        prefix_pos: 0,
        input,
        content_len: 0,
        pad: options.pad,
        tail: None,
    };
    let mut chunks = 0u64;
    let mut tags = Sha256::new();
    let mut stored = header_bytes.len() as u64;
    let mut content_len = 0u64;

    pipeline::run(
        options.threads,
        per_batch * stride,
        |batch| {
            for j in 0..per_batch {
                let n = framing
                    .fill(&mut batch.buf[j * stride..j * stride + chunk])
                    .map_err(SealError::Read)?;
                batch.chunks = j + 1;
                batch.tail_len = n;
                if framing.finished() {
                    batch.last = true;
                    content_len = framing.content_len;
                    break;
                }
            }
            if (batch.seq + 1) * per_batch as u64 > MAX_CHUNKS {
                return Err(SealError::Stream(StreamError::TooManyChunks));
            }
            Ok(())
        },
        |batch| {
            let first = batch.seq * per_batch as u64;
            for j in 0..batch.chunks {
                let len = if j + 1 == batch.chunks {
                    batch.tail_len
                } else {
                    chunk
                };
                let last = batch.last && j + 1 == batch.chunks;
                let (text, rest) = batch.buf[j * stride..].split_at_mut(len);
                let tag = cipher.seal_chunk(first + j as u64, last, text)?;
                rest[..TAG_LEN].copy_from_slice(&tag);
            }
            Ok(())
        },
        |batch| {
            let len = (batch.chunks - 1) * stride + batch.tail_len + TAG_LEN;
            output
                .write_all(&batch.buf[..len])
                .map_err(SealError::Write)?;
            for j in 0..batch.chunks {
                let at = if j + 1 == batch.chunks {
                    batch.tail_len
                } else {
                    chunk
                } + j * stride;
                tags.update(&batch.buf[at..at + TAG_LEN]);
            }
            chunks += batch.chunks as u64;
            stored += len as u64;
            Ok(())
        },
    )?;

    let signature = sealer.map(|key| {
        key.sign(&signature_message(
            &header_hash,
            chunks,
            &tags.finalize().into(),
        ))
    });
    let trailer = encode_trailer(signature.as_ref());
    output.write_all(&trailer).map_err(SealError::Write)?;
    output.flush().map_err(SealError::Write)?;
    stored += trailer.len() as u64;
    Ok(SealSummary {
        content_len,
        stored_len: stored,
        chunks,
        header,
    })
}

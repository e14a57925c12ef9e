//! Opening: chunks are authenticated and decrypted on every core, the
//! plaintext framing is undone in order, and the sealer's signature is
//! checked before the last bytes are released.
//!
//! No byte of plaintext is released before its chunk authenticates. The
//! whole file is only known to be complete once the trailer checks, so
//! callers writing to a file write to a temporary file and rename it when
//! [`Opener::decrypt_to`] succeeds (see [`crate::atomic`]); callers writing
//! to a pipe must treat a failure as "discard everything".

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::format::{
    FormatError, Header, HeaderReadError, LABEL_PAYLOAD, LENGTH_SUFFIX_LEN, METADATA_MAX, Metadata,
    TRAILER_LEN, decode_trailer, signature_message,
};
use super::{batch_chunks, read_full};
use crate::keys::hkdf32;
use crate::pipeline;
use crate::sealer::SealerPublicKey;
use crate::secrets::DataKey;
use crate::stream::{PayloadCipher, StreamError, TAG_LEN};
use crate::wrap::{self, WrapError};

/// Why opening failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Reading the input failed.
    #[error("reading the input failed: {0}")]
    Read(io::Error),
    /// Writing the output failed.
    #[error("writing the output failed: {0}")]
    Write(io::Error),
    /// The header or trailer breaks the format.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The data key could not be unwrapped.
    #[error(transparent)]
    Unwrap(#[from] WrapError),
    /// A chunk failed authentication.
    #[error("chunk {index} failed authentication: the file was altered or damaged there")]
    Chunk {
        /// Zero-based chunk index.
        index: u64,
    },
    /// The file ends early: chunks (and the trailer) are missing.
    #[error("the file is truncated: {0}")]
    Truncated(String),
    /// Chunks follow the final chunk.
    #[error(
        "data follows the final chunk (chunk {index}): bytes were appended or chunks reordered"
    )]
    AfterLast {
        /// Index of the chunk that authenticated as final.
        index: u64,
    },
    /// The decrypted framing is malformed (only a sealer holding the key
    /// could produce this).
    #[error("the decrypted content is malformed: {0}")]
    Framing(String),
    /// The signature does not verify under the header's sealer key.
    #[error(
        "the sealer's signature does not verify: the file was altered, or the signature replaced"
    )]
    BadSignature,
    /// The header names a sealer but the trailer holds no signature.
    #[error("the sealer's signature was removed")]
    SignatureRemoved,
    /// Too many chunks.
    #[error(transparent)]
    Stream(StreamError),
}

impl From<HeaderReadError> for OpenError {
    fn from(e: HeaderReadError) -> Self {
        match e {
            HeaderReadError::Io(e) => OpenError::Read(e),
            HeaderReadError::Format(e) => OpenError::Format(e),
        }
    }
}

/// How to open.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Worker threads.
    pub threads: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            threads: pipeline::default_threads(),
        }
    }
}

/// What was opened.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The metadata sealed with the content.
    pub metadata: Metadata,
    /// Bytes of content written.
    pub content_len: u64,
    /// Chunks authenticated.
    pub chunks: u64,
    /// The sealer whose signature verified, or `None` if unsigned.
    pub signed_by: Option<SealerPublicKey>,
}

/// A sealed file whose header has been read.
pub struct Opener<R> {
    header: Header,
    input: R,
}

impl<R: Read + Send> Opener<R> {
    /// Reads the header.
    pub fn new(mut input: R) -> Result<Self, OpenError> {
        let header = Header::read(&mut input)?;
        Ok(Opener { header, input })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Unwraps the data key from the header with any of `identities`.
    pub fn unwrap_key(&self, identities: &[&dyn age::Identity]) -> Result<DataKey, OpenError> {
        Ok(wrap::unwrap(
            &self.header.wrapped_key,
            identities,
            &self.header.commitment,
        )?)
    }

    /// Authenticates and decrypts the payload into `output`, then checks the
    /// trailer. `key` must match the header's commitment.
    pub fn decrypt_to(
        self,
        key: &DataKey,
        output: &mut impl Write,
        options: &OpenOptions,
    ) -> Result<Opened, OpenError> {
        let Opener { header, mut input } = self;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &wrap::key_commitment(key)[..],
            &header.commitment[..],
        )) {
            return Err(WrapError::CommitmentMismatch.into());
        }
        let header_hash = header.hash();
        let cipher = PayloadCipher::new(
            &hkdf32(key.expose(), LABEL_PAYLOAD),
            header.nonce_prefix,
            header_hash,
        );
        let chunk = header.chunk_size();
        let stride = chunk + TAG_LEN;
        let per_batch = batch_chunks(chunk);
        // Each batch reads one trailer and a byte beyond its chunks, to know
        // whether its final chunk is the stream's last.
        let lookahead = TRAILER_LEN + 1;
        let mut carry: Vec<u8> = Vec::with_capacity(lookahead);
        let mut trailer = [0u8; TRAILER_LEN];
        let mut sink = Sink::new(output);
        let mut tags = Sha256::new();
        let mut chunks = 0u64;

        pipeline::run(
            options.threads,
            per_batch * stride + lookahead,
            |batch| {
                let want = batch.buf.len();
                batch.buf[..carry.len()].copy_from_slice(&carry);
                let mut n = carry.len();
                carry.clear();
                n += read_full(&mut input, &mut batch.buf[n..want]).map_err(OpenError::Read)?;
                if n == want {
                    batch.chunks = per_batch;
                    batch.tail_len = stride;
                    carry.extend_from_slice(&batch.buf[per_batch * stride..n]);
                    return Ok(());
                }
                batch.last = true;
                if n < TRAILER_LEN || decode_trailer(&trailer_of(&batch.buf[..n])).is_err() {
                    return Err(OpenError::Truncated(
                        "it does not end with a seif trailer (cut short, or bytes appended)".into(),
                    ));
                }
                trailer = trailer_of(&batch.buf[..n]);
                let data = n - TRAILER_LEN;
                if data == 0 {
                    return Err(OpenError::Truncated("it holds no chunks".into()));
                }
                batch.chunks = data.div_ceil(stride);
                batch.tail_len = data - (batch.chunks - 1) * stride;
                if batch.tail_len <= TAG_LEN {
                    return Err(OpenError::Truncated(
                        "the final chunk is shorter than its tag".into(),
                    ));
                }
                Ok(())
            },
            |batch| {
                let first = batch.seq * per_batch as u64;
                for j in 0..batch.chunks {
                    let len = if j + 1 == batch.chunks {
                        batch.tail_len
                    } else {
                        stride
                    };
                    let index = first + j as u64;
                    let last = batch.last && j + 1 == batch.chunks;
                    let (text, tag) =
                        batch.buf[j * stride..j * stride + len].split_at_mut(len - TAG_LEN);
                    let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("tag length");
                    if let Err(e) = cipher.open_chunk(index, last, text, &tag) {
                        return Err(diagnose(&cipher, e, index, last, text, &tag));
                    }
                }
                Ok(())
            },
            |batch| {
                for j in 0..batch.chunks {
                    let len = if j + 1 == batch.chunks {
                        batch.tail_len
                    } else {
                        stride
                    };
                    let at = j * stride;
                    sink.feed(&batch.buf[at..at + len - TAG_LEN])?;
                    tags.update(&batch.buf[at + len - TAG_LEN..at + len]);
                }
                chunks += batch.chunks as u64;
                Ok(())
            },
        )?;

        let signature = decode_trailer(&trailer)?;
        let signed_by = match (header.sealer, signature) {
            (Some(sealer), Some(sig)) => {
                let msg = signature_message(&header_hash, chunks, &tags.finalize().into());
                if !sealer.verify(&msg, &sig) {
                    return Err(OpenError::BadSignature);
                }
                Some(sealer)
            }
            (Some(_), None) => return Err(OpenError::SignatureRemoved),
            (None, Some(_)) => {
                return Err(OpenError::Framing(
                    "the trailer holds a signature but the header names no sealer".into(),
                ));
            }
            (None, None) => None,
        };
        let (metadata, content_len) = sink.finish()?;
        Ok(Opened {
            metadata,
            content_len,
            chunks,
            signed_by,
        })
    }
}

fn trailer_of(bytes: &[u8]) -> [u8; TRAILER_LEN] {
    bytes[bytes.len() - TRAILER_LEN..]
        .try_into()
        .expect("caller checked the length")
}

/// Names a chunk failure precisely: a final chunk that authenticates as a
/// middle one means the file was cut at a chunk boundary; a middle chunk
/// that authenticates as final means data follows the real end.
fn diagnose(
    cipher: &PayloadCipher,
    err: StreamError,
    index: u64,
    last: bool,
    text: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> OpenError {
    match err {
        StreamError::Authentication { .. } => {}
        other => return OpenError::Stream(other),
    }
    // Trial decryption of a copy, so `text` stays untouched ciphertext.
    let mut copy = text.to_vec();
    match cipher.open_chunk(index, !last, &mut copy, tag) {
        Ok(()) if last => OpenError::Truncated(format!(
            "it ends after chunk {index}, which is not the final chunk"
        )),
        Ok(()) => OpenError::AfterLast { index },
        Err(_) => OpenError::Chunk { index },
    }
}

/// Undoes the plaintext framing in order, releasing content as it comes.
///
/// The last 8 bytes (the content length) are held back, and so is any run of
/// zero bytes, since it may be padding: both are settled by [`Sink::finish`].
/// Memory stays constant; content that ends in zeros is still exact.
struct Sink<'w, W: Write> {
    out: &'w mut W,
    prefix: Vec<u8>,
    metadata: Option<Metadata>,
    hold: [u8; LENGTH_SUFFIX_LEN],
    hold_len: usize,
    body_total: u64,
    emitted: u64,
    pending_zeros: u64,
}

impl<'w, W: Write> Sink<'w, W> {
    fn new(out: &'w mut W) -> Self {
        Sink {
            out,
            prefix: Vec::new(),
            metadata: None,
            hold: [0; LENGTH_SUFFIX_LEN],
            hold_len: 0,
            body_total: 0,
            emitted: 0,
            pending_zeros: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> Result<(), OpenError> {
        if self.metadata.is_none() {
            data = self.take_prefix(data)?;
            if self.metadata.is_none() {
                return Ok(());
            }
        }
        self.body_total += data.len() as u64;
        if data.len() >= LENGTH_SUFFIX_LEN {
            let held = self.hold;
            self.release(&held[..self.hold_len])?;
            let (body, suffix) = data.split_at(data.len() - LENGTH_SUFFIX_LEN);
            self.release(body)?;
            self.hold.copy_from_slice(suffix);
            self.hold_len = LENGTH_SUFFIX_LEN;
        } else {
            let excess = (self.hold_len + data.len()).saturating_sub(LENGTH_SUFFIX_LEN);
            let held = self.hold;
            self.release(&held[..excess])?;
            self.hold.copy_within(excess..self.hold_len, 0);
            self.hold_len -= excess;
            self.hold[self.hold_len..self.hold_len + data.len()].copy_from_slice(data);
            self.hold_len += data.len();
        }
        Ok(())
    }

    /// Collects `u32 M || metadata`; returns what follows it.
    fn take_prefix<'d>(&mut self, data: &'d [u8]) -> Result<&'d [u8], OpenError> {
        let need = |p: &Vec<u8>| {
            if p.len() < 4 {
                4
            } else {
                4 + u32::from_be_bytes(p[..4].try_into().expect("4 bytes")) as usize
            }
        };
        let mut data = data;
        while self.metadata.is_none() && !data.is_empty() {
            let k = (need(&self.prefix) - self.prefix.len()).min(data.len());
            self.prefix.extend_from_slice(&data[..k]);
            data = &data[k..];
            if self.prefix.len() == 4 && need(&self.prefix) - 4 > METADATA_MAX {
                return Err(OpenError::Framing("the metadata record is too long".into()));
            }
            if self.prefix.len() >= 4 && self.prefix.len() == need(&self.prefix) {
                self.metadata =
                    Some(Metadata::decode(&self.prefix[4..]).map_err(OpenError::Framing)?);
            }
        }
        Ok(data)
    }

    /// Writes content, holding back a trailing run of zeros.
    fn release(&mut self, bytes: &[u8]) -> Result<(), OpenError> {
        match bytes.iter().rposition(|&b| b != 0) {
            None => self.pending_zeros += bytes.len() as u64,
            Some(last) => {
                self.write_zeros(self.pending_zeros)?;
                self.out
                    .write_all(&bytes[..=last])
                    .map_err(OpenError::Write)?;
                self.emitted += last as u64 + 1;
                self.pending_zeros = (bytes.len() - last - 1) as u64;
            }
        }
        Ok(())
    }

    fn write_zeros(&mut self, mut n: u64) -> Result<(), OpenError> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        self.emitted += n;
        while n > 0 {
            let k = n.min(ZEROS.len() as u64) as usize;
            self.out.write_all(&ZEROS[..k]).map_err(OpenError::Write)?;
            n -= k as u64;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(Metadata, u64), OpenError> {
        let Some(metadata) = self.metadata.take() else {
            return Err(OpenError::Framing(
                "the metadata record is incomplete".into(),
            ));
        };
        if self.hold_len != LENGTH_SUFFIX_LEN {
            return Err(OpenError::Framing("the content length is missing".into()));
        }
        let content_len = u64::from_be_bytes(self.hold);
        let available = self.body_total - LENGTH_SUFFIX_LEN as u64;
        if content_len > available {
            return Err(OpenError::Framing(format!(
                "the content length {content_len} exceeds the {available} bytes present"
            )));
        }
        if self.emitted > content_len {
            return Err(OpenError::Framing("the padding is not all zeros".into()));
        }
        self.write_zeros(content_len - self.emitted)?;
        self.out.flush().map_err(OpenError::Write)?;
        Ok((metadata, content_len))
    }
}

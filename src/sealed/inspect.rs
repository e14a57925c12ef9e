//! Keyless inspection: what anyone can learn from a sealed file without a
//! key (its vault, sealer, size and chunk count) and whether the sealer's
//! signature verifies. The payload itself can only be authenticated with
//! the data key (`seif open`).

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::format::{
    FormatError, Header, HeaderReadError, TRAILER_LEN, decode_trailer, signature_message,
};
use super::read_full;
use crate::sealer::SealerPublicKey;
use crate::stream::TAG_LEN;

/// The state of a sealed file's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No sealer, no signature.
    Unsigned,
    /// The named sealer's signature verifies over the header and every tag.
    Valid(SealerPublicKey),
    /// The header names a sealer, but the signature does not verify.
    Invalid(SealerPublicKey),
    /// The header names a sealer, but the trailer holds no signature.
    Removed(SealerPublicKey),
}

/// What a sealed file shows without a key.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The header.
    pub header: Header,
    /// Total bytes.
    pub stored_len: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// The signature's state.
    pub signature: SignatureStatus,
    /// The age stanza types the data key is wrapped with (e.g. `X25519`).
    pub wrapped_to: Vec<String>,
}

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Reading failed.
    #[error("reading the input failed: {0}")]
    Read(#[from] io::Error),
    /// The framing is broken.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The file ends early.
    #[error("the file is truncated: {0}")]
    Truncated(&'static str),
}

impl From<HeaderReadError> for InspectError {
    fn from(e: HeaderReadError) -> Self {
        match e {
            HeaderReadError::Io(e) => InspectError::Read(e),
            HeaderReadError::Format(e) => InspectError::Format(e),
        }
    }
}

/// Reads a whole sealed file without a key.
pub fn inspect(mut input: impl Read) -> Result<Inspection, InspectError> {
    let header = Header::read(&mut input)?;
    let stride = header.chunk_size() + TAG_LEN;
    let window = stride + TRAILER_LEN + 1;
    let mut buf = vec![0u8; window];
    let mut have = 0;
    let mut tags = Sha256::new();
    let mut chunks = 0u64;
    let mut stored = header.encoded_len() as u64;
    let trailer: [u8; TRAILER_LEN] = loop {
        have += read_full(&mut input, &mut buf[have..])?;
        if have == window {
            tags.update(&buf[stride - TAG_LEN..stride]);
            chunks += 1;
            stored += stride as u64;
            buf.copy_within(stride..window, 0);
            have = window - stride;
            continue;
        }
        if have < TRAILER_LEN + TAG_LEN + 1 {
            return Err(InspectError::Truncated(
                "it ends before its final chunk and trailer",
            ));
        }
        let data = have - TRAILER_LEN;
        tags.update(&buf[data - TAG_LEN..data]);
        chunks += 1;
        stored += have as u64;
        break buf[data..have].try_into().expect("trailer length");
    };
    let signature = match (header.sealer, decode_trailer(&trailer)?) {
        (None, None) => SignatureStatus::Unsigned,
        (None, Some(_)) => {
            return Err(FormatError::MalformedHeader(
                "the trailer holds a signature but the header names no sealer".into(),
            )
            .into());
        }
        (Some(s), None) => SignatureStatus::Removed(s),
        (Some(s), Some(sig)) => {
            let msg = signature_message(&header.hash(), chunks, &tags.finalize().into());
            if s.verify(&msg, &sig) {
                SignatureStatus::Valid(s)
            } else {
                SignatureStatus::Invalid(s)
            }
        }
    };
    let wrapped_to = age_stanza_types(&header.wrapped_key);
    Ok(Inspection {
        header,
        stored_len: stored,
        chunks,
        signature,
        wrapped_to,
    })
}

/// The stanza types of an age header (`-> X25519 …` lines), for display.
pub fn age_stanza_types(age_file: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(&age_file[..age_file.len().min(64 * 1024)]);
    let mut lines = text.split('\n');
    if lines.next() != Some("age-encryption.org/v1") {
        return vec!["(not an age header)".into()];
    }
    lines
        .take_while(|l| !l.starts_with("---"))
        .filter_map(|l| l.strip_prefix("-> "))
        .map(|l| l.split(' ').next().unwrap_or("").to_owned())
        .collect()
}

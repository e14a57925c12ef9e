//! The sealed file's byte layout: header, chunk geometry, plaintext framing
//! and trailer. FORMAT.md, "Sealed file", is the specification; the constants
//! and functions here are its executable form.
//!
//! ```text
//! sealed file = header || chunk_0 || … || chunk_{n-1} || trailer
//! header      = signed header (127 bytes) || u32 wrapped length || wrapped key (an age file)
//! chunk_i     = XChaCha20-Poly1305(payload key, nonce_i, aad = header hash, P_i) (ciphertext || tag)
//! P           = u32 M || metadata (M bytes of JSON) || content || zero padding || u64 content length
//! trailer     = "SEIF-END" || Ed25519 signature (64 bytes, all zero when unsigned)
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{HeaderReader, HeaderWriter};
use crate::sealer::SealerPublicKey;
use crate::stream::{NONCE_PREFIX_LEN, TAG_LEN};
use crate::wrap::WRAPPED_KEY_MAX;

/// Magic bytes at the start of a sealed file.
pub const MAGIC: &[u8; 8] = b"SEIFSEAL";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Length of the signed part of the header.
pub const SIGNED_HEADER_LEN: usize = 127;
/// Smallest allowed chunk size, as a power of two (16 KiB): the plaintext
/// framing's metadata always fits in the first chunk.
pub const CHUNK_LOG2_MIN: u8 = 14;
/// Largest allowed chunk size, as a power of two (4 MiB).
pub const CHUNK_LOG2_MAX: u8 = 22;
/// The default chunk size, as a power of two (64 KiB).
pub const CHUNK_LOG2_DEFAULT: u8 = 16;
/// Magic bytes that start the trailer.
pub const TRAILER_MAGIC: &[u8; 8] = b"SEIF-END";
/// Length of the trailer.
pub const TRAILER_LEN: usize = 8 + 64;
/// The largest metadata record (JSON) in the plaintext framing.
pub const METADATA_MAX: usize = 8 * 1024;
/// Length of the plaintext framing's trailing content length.
pub const LENGTH_SUFFIX_LEN: usize = 8;
/// HKDF info label of a sealed file's payload key.
pub const LABEL_PAYLOAD: &str = "seif/v1/sealed-file/payload";
/// Domain of the sealer's signature over a sealed file.
pub const DOMAIN_SIGNATURE: &str = "seif/v1/sealed-file";

/// Why a sealed file's framing was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The first bytes are not [`MAGIC`].
    #[error("not a seif sealed file (no SEIFSEAL magic)")]
    NotSealed,
    /// A version this code does not read.
    #[error("sealed-file format version {0} is not supported (this seif reads version {VERSION})")]
    UnsupportedVersion(u8),
    /// A header field is out of range.
    #[error("the header is malformed: {0}")]
    MalformedHeader(String),
    /// The file ends inside the header.
    #[error("the file ends inside its header")]
    TruncatedHeader,
    /// The trailer does not start with [`TRAILER_MAGIC`].
    #[error("the trailer is missing or damaged")]
    BadTrailer,
}

/// The public header of a sealed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// log2 of the chunk size.
    pub chunk_log2: u8,
    /// The vault the data key is wrapped to.
    pub vault_id: [u8; 32],
    /// The sealer that signs the trailer, or `None` if unsigned.
    pub sealer: Option<SealerPublicKey>,
    /// The random nonce prefix of every chunk.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// Commitment to the data key (see [`crate::wrap::key_commitment`]).
    pub commitment: [u8; 32],
    /// The data key wrapped to the vault (a binary age file). Not signed and
    /// not bound into chunks, so grants and rotations can replace it.
    pub wrapped_key: Vec<u8>,
}

impl Header {
    /// The chunk size in bytes.
    pub fn chunk_size(&self) -> usize {
        1 << self.chunk_log2
    }

    /// The signed part: everything but the wrapped key. Its layout, in
    /// order (FORMAT.md, "Sealed file"): magic, version, chunk log2, two
    /// reserved flag bytes (zero), vault id, sealer key (zero when
    /// unsigned), nonce prefix, key commitment.
    pub fn signed_bytes(&self) -> [u8; SIGNED_HEADER_LEN] {
        HeaderWriter::<SIGNED_HEADER_LEN>::default()
            .bytes(MAGIC)
            .u8(VERSION)
            .u8(self.chunk_log2)
            .bytes(&[0; 2])
            .bytes(&self.vault_id)
            .bytes(&self.sealer.map_or([0; 32], |s| s.to_bytes()))
            .bytes(&self.nonce_prefix)
            .bytes(&self.commitment)
            .finish()
    }

    /// SHA-256 of the signed header: the associated data of every chunk.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.signed_bytes()).into()
    }

    /// The full header bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNED_HEADER_LEN + 4 + self.wrapped_key.len());
        out.extend_from_slice(&self.signed_bytes());
        out.extend_from_slice(&(self.wrapped_key.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        out
    }

    /// The length of the encoded header.
    pub fn encoded_len(&self) -> usize {
        SIGNED_HEADER_LEN + 4 + self.wrapped_key.len()
    }

    /// Reads and checks a header.
    pub fn read(input: &mut impl std::io::Read) -> Result<Self, HeaderReadError> {
        let mut b = [0u8; SIGNED_HEADER_LEN + 4];
        read_exact_or(input, &mut b[..MAGIC.len()], FormatError::TruncatedHeader)?;
        if &b[..MAGIC.len()] != MAGIC {
            return Err(FormatError::NotSealed.into());
        }
        read_exact_or(input, &mut b[MAGIC.len()..], FormatError::TruncatedHeader)?;
        let (signed, length) = b.split_at(SIGNED_HEADER_LEN);
        let header_fields = Self::parse_signed(signed)?;
        let wrapped_len = u32::from_be_bytes(length.try_into().expect("4 bytes")) as usize;
        if wrapped_len == 0 || wrapped_len > WRAPPED_KEY_MAX {
            return Err(FormatError::MalformedHeader(format!(
                "the wrapped key length {wrapped_len} is outside 1..={WRAPPED_KEY_MAX}"
            ))
            .into());
        }
        let mut wrapped_key = vec![0u8; wrapped_len];
        read_exact_or(input, &mut wrapped_key, FormatError::TruncatedHeader)?;
        Ok(Header {
            wrapped_key,
            ..header_fields
        })
    }

    /// Parses the signed part (with an empty wrapped key), field by field
    /// in the order [`Header::signed_bytes`] writes them.
    pub fn parse_signed(b: &[u8]) -> Result<Self, FormatError> {
        if b.len() != SIGNED_HEADER_LEN {
            return Err(FormatError::TruncatedHeader);
        }
        let mut r = HeaderReader::new(b);
        if &r.array::<8>() != MAGIC {
            return Err(FormatError::NotSealed);
        }
        let version = r.u8();
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let chunk_log2 = r.u8();
        if !(CHUNK_LOG2_MIN..=CHUNK_LOG2_MAX).contains(&chunk_log2) {
            return Err(FormatError::MalformedHeader(format!(
                "chunk size 2^{chunk_log2} is outside 2^{CHUNK_LOG2_MIN}..=2^{CHUNK_LOG2_MAX}"
            )));
        }
        if r.array::<2>() != [0, 0] {
            return Err(FormatError::MalformedHeader(
                "reserved flags are not zero".into(),
            ));
        }
        let vault_id = r.array::<32>();
        let sealer_bytes = r.array::<32>();
        let sealer = if sealer_bytes == [0u8; 32] {
            None
        } else {
            Some(SealerPublicKey::from_bytes(&sealer_bytes).ok_or_else(|| {
                FormatError::MalformedHeader("the sealer key is not a valid Ed25519 key".into())
            })?)
        };
        let nonce_prefix = r.array::<NONCE_PREFIX_LEN>();
        let commitment = r.array::<32>();
        r.finish();
        Ok(Header {
            chunk_log2,
            vault_id,
            sealer,
            nonce_prefix,
            commitment,
            wrapped_key: Vec::new(),
        })
    }
}

/// A header that could not be read: the input failed, or the bytes are wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderReadError {
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The bytes break the format.
    #[error(transparent)]
    Format(#[from] FormatError),
}

fn read_exact_or(
    input: &mut impl std::io::Read,
    buf: &mut [u8],
    short: FormatError,
) -> Result<(), HeaderReadError> {
    match input.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(short.into()),
        Err(e) => Err(e.into()),
    }
}

/// The message the sealer signs: the domain, the header hash, the number of
/// chunks and SHA-256 of all chunk tags in order.
pub fn signature_message(header_hash: &[u8; 32], chunks: u64, tags_digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN_SIGNATURE.len() + 1 + 72);
    m.extend_from_slice(DOMAIN_SIGNATURE.as_bytes());
    m.push(0);
    m.extend_from_slice(header_hash);
    m.extend_from_slice(&chunks.to_be_bytes());
    m.extend_from_slice(tags_digest);
    m
}

/// Encodes a trailer.
pub fn encode_trailer(signature: Option<&[u8; 64]>) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[..8].copy_from_slice(TRAILER_MAGIC);
    if let Some(sig) = signature {
        t[8..].copy_from_slice(sig);
    }
    t
}

/// Decodes a trailer: the signature, or `None` if all zero.
pub fn decode_trailer(t: &[u8; TRAILER_LEN]) -> Result<Option<[u8; 64]>, FormatError> {
    if &t[..8] != TRAILER_MAGIC {
        return Err(FormatError::BadTrailer);
    }
    let sig: [u8; 64] = t[8..].try_into().expect("64 bytes");
    Ok((sig != [0u8; 64]).then_some(sig))
}

/// What a sealed file says about its content, encrypted in the plaintext
/// framing. Every field is optional (a stream from stdin has none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The original file name (UTF-8 only), without directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unix permission bits (`mode & 0o7777`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Modification time, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
}

impl Metadata {
    /// The framing's prefix: `u32 M || metadata JSON`.
    pub fn encode_prefix(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("metadata serializes");
        let mut out = Vec::with_capacity(4 + json.len());
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        out
    }

    /// Parses the metadata JSON; strict about fields and bounds.
    pub fn decode(json: &[u8]) -> Result<Self, String> {
        // serde's complaint can quote the file (an unknown field's name).
        let m: Metadata = serde_json::from_slice(json)
            .map_err(|e| crate::untrusted::escape(&e.to_string()).into_owned())?;
        m.validate()?;
        Ok(m)
    }

    /// The rules a reader enforces; a sealer checks them too, so that it
    /// never writes a file no reader accepts.
    pub fn validate(&self) -> Result<(), String> {
        let m = self;
        if let Some(mode) = m.mode
            && mode > 0o7777
        {
            return Err(format!("mode {mode:o} has bits beyond 0o7777"));
        }
        if let Some(name) = &m.name
            && (name.is_empty()
                || name.contains('/')
                || name == "."
                || name == ".."
                || name.contains('\0'))
        {
            return Err(format!(
                "file name '{}' is not a plain file name",
                crate::untrusted::escape(name)
            ));
        }
        Ok(())
    }
}

/// The plaintext length of the framing for `content_len` bytes of content and
/// a metadata prefix of `prefix_len` bytes, before padding.
pub fn framed_len(prefix_len: usize, content_len: u64) -> u64 {
    prefix_len as u64 + content_len + LENGTH_SUFFIX_LEN as u64
}

/// Stored size of a sealed file with `header_len` header bytes, chunk size
/// `chunk`, and `plain` bytes of framed plaintext.
pub fn sealed_len(header_len: usize, chunk: usize, plain: u64) -> u64 {
    let chunks = plain.div_ceil(chunk as u64).max(1);
    header_len as u64 + plain + chunks * TAG_LEN as u64 + TRAILER_LEN as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            chunk_log2: 16,
            vault_id: [1; 32],
            sealer: Some(
                crate::sealer::SealerSecretKey::generate()
                    .public()
                    .classic(),
            ),
            nonce_prefix: [2; 19],
            commitment: [3; 32],
            wrapped_key: vec![4; 200],
        }
    }

    #[test]
    fn header_round_trip() {
        let h = header();
        let bytes = h.encode();
        assert_eq!(bytes.len(), h.encoded_len());
        assert_eq!(Header::read(&mut &bytes[..]).unwrap(), h);
        let unsigned = Header { sealer: None, ..h };
        assert_eq!(Header::read(&mut &unsigned.encode()[..]).unwrap(), unsigned);
    }

    #[test]
    fn header_refusals() {
        let bytes = header().encode();
        let mut b = bytes.clone();
        b[0] ^= 1;
        assert!(matches!(
            Header::read(&mut &b[..]),
            Err(HeaderReadError::Format(FormatError::NotSealed))
        ));
        let mut b = bytes.clone();
        b[8] = 2;
        assert!(matches!(
            Header::read(&mut &b[..]),
            Err(HeaderReadError::Format(FormatError::UnsupportedVersion(2)))
        ));
        for log2 in [13u8, 23] {
            let mut b = bytes.clone();
            b[9] = log2;
            assert!(matches!(
                Header::read(&mut &b[..]),
                Err(HeaderReadError::Format(FormatError::MalformedHeader(_)))
            ));
        }
        let mut b = bytes.clone();
        b[11] = 1;
        assert!(Header::read(&mut &b[..]).is_err());
        let mut b = bytes.clone();
        b[127..131].copy_from_slice(&0u32.to_be_bytes());
        assert!(Header::read(&mut &b[..]).is_err());
        assert!(matches!(
            Header::read(&mut &bytes[..bytes.len() - 1]),
            Err(HeaderReadError::Format(FormatError::TruncatedHeader))
        ));
    }

    #[test]
    fn metadata_is_strict() {
        let m = Metadata {
            name: Some("a.txt".into()),
            mode: Some(0o644),
            mtime: Some(5),
        };
        let p = m.encode_prefix();
        assert_eq!(Metadata::decode(&p[4..]).unwrap(), m);
        assert!(Metadata::decode(br#"{"name":"../x"}"#).is_err());
        assert!(Metadata::decode(br#"{"extra":1}"#).is_err());
        assert!(Metadata::decode(br#"{"mode":65535}"#).is_err());
        assert_eq!(Metadata::decode(b"{}").unwrap(), Metadata::default());
    }

    /// A refusal quotes what the file says (a field's name, a file name)
    /// escaped: it is printed to a terminal.
    #[test]
    fn metadata_refusals_quote_the_file_escaped() {
        for (json, shown) in [
            (
                &br#"{"\u001b]0;x\u0007":1}"#[..],
                "unknown field `\\u{1b}]0;x\\u{7}`",
            ),
            (
                br#"{"name":"a/\u001b[2J"}"#,
                "file name 'a/\\u{1b}[2J' is not a plain file name",
            ),
        ] {
            let e = Metadata::decode(json).unwrap_err();
            assert!(e.contains(shown), "{e}");
            assert!(!e.chars().any(char::is_control), "{e:?}");
        }
    }
}

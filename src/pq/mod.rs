//! age's hybrid post-quantum recipient type `mlkem768x25519` (ML-KEM-768 +
//! X25519, i.e. X-Wing, through HPKE), as the C2SP age specification defines
//! it and Go age 1.3 ships it: `age1pq1…` recipients, `AGE-SECRET-KEY-PQ-1…`
//! identities.
//!
//! The `age` crate 0.12 has no such recipient yet, so this module implements
//! its [`age::Recipient`] and [`age::Identity`] traits: `age::Encryptor` and
//! `age::Decryptor` use these types unchanged, and the files they write open
//! with Go age 1.3 (`tests/pq_interop.rs` runs the C2SP CCTV vectors, and an
//! independent Python reader, `tests/spec/pq_unwrap.py`, opens what this
//! module wraps).
//!
//! Why hybrid: the store abroad keeps wrapped keys for decades, so an
//! adversary can copy them now and wait for a quantum computer that breaks
//! X25519. ML-KEM-768 resists that; X25519 keeps the wrap sound should
//! ML-KEM (a young scheme) or its implementation fail. The stanza is secret
//! as long as either holds.
//!
//! A [`HybridRecipient`] labels its stanzas `postquantum`, so `age::Encryptor`
//! itself refuses to mix them with classic recipients, whose stanza would
//! reopen the door to a quantum adversary.
//!
//! The layout of the stanza and each HPKE step are spelt out in FORMAT.md;
//! the code follows it:
//! - [`xwing`]: the KEM (seed expansion, encapsulation, decapsulation);
//! - [`hpke`]: HPKE's key schedule and AEAD for this one suite.

mod hpke;
mod xwing;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bech32::Hrp;
use bech32::primitives::decode::CheckedHrpstring;
use zeroize::Zeroizing;

pub use hpke::{AEAD_ID, KDF_ID, KEM_ID};
pub use xwing::{ENC_LEN, PUBLIC_KEY_LEN, SEED_LEN};

/// The stanza's type, its first argument.
pub const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE's `info` for age's stanza.
pub const HPKE_INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// The label every post-quantum recipient returns, so that `age::Encryptor`
/// refuses to mix it with recipients that are not post-quantum.
pub const POSTQUANTUM_LABEL: &str = "postquantum";
/// Length of the stanza body: the 16-byte file key and its 16-byte tag.
pub const BODY_LEN: usize = FILE_KEY_BYTES + hpke::TAG_LEN;
/// Human-readable part of an identity (written upper case).
pub const IDENTITY_HRP: &str = "age-secret-key-pq-";
/// Human-readable part of a recipient (written lower case).
pub const RECIPIENT_HRP: &str = "age1pq";

/// Bech32 (BIP 173) without its 90-character limit, as age uses it: a
/// recipient holds 1216 bytes. The checksum is BIP 173's; only the length
/// limit is lifted (the C2SP age spec, "Conventions").
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Bech32Long {}

impl bech32::Checksum for Bech32Long {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = bech32::Bech32::CHECKSUM_LENGTH;
    const GENERATOR_SH: [u32; 5] = bech32::Bech32::GENERATOR_SH;
    const TARGET_RESIDUE: u32 = bech32::Bech32::TARGET_RESIDUE;
}

/// Why an `AGE-SECRET-KEY-PQ-1…` identity or an `age1pq1…` recipient was
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyParseError {
    /// Not Bech32 (bad characters, mixed case, or a wrong checksum).
    #[error("not a Bech32 string, or its checksum is wrong")]
    NotBech32,
    /// Another kind of key.
    #[error("expected a key starting with '{expected}1'")]
    WrongPrefix {
        /// The prefix expected.
        expected: &'static str,
    },
    /// The right kind of key, in the wrong case: Go age writes identities
    /// upper case and recipients lower case, and accepts only that.
    #[error("an {what} is written in {case} case only")]
    WrongCase {
        /// `identity` or `recipient`.
        what: &'static str,
        /// `upper` or `lower`.
        case: &'static str,
    },
    /// The key holds the wrong number of bytes.
    #[error("the key holds {got} bytes, not {expected}")]
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        got: usize,
    },
    /// The ML-KEM-768 half has a coefficient of q or more (FIPS 203's
    /// modulus check).
    #[error("the ML-KEM-768 public key is not canonical")]
    MlKemNotCanonical,
    /// The X25519 half is a point of low order.
    #[error("the X25519 public key is of low order")]
    X25519LowOrder,
}

/// Why an `mlkem768x25519` stanza was refused as malformed (the age crate
/// reports each as a header failure). A stanza that is well formed but not
/// for this identity is not an error: it is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StanzaError {
    /// The stanza has other than exactly one argument after its type.
    #[error("an mlkem768x25519 stanza has 1 argument after its type, not {0}")]
    ArgumentCount(usize),
    /// The argument is not canonical unpadded base64.
    #[error("the mlkem768x25519 encapsulated key is not canonical base64")]
    NotBase64,
    /// The encapsulated key is not 1120 bytes.
    #[error("the mlkem768x25519 encapsulated key is {0} bytes, not {ENC_LEN}")]
    EncLength(usize),
    /// The body is not 32 bytes (checked before any decryption, against
    /// partitioning oracles).
    #[error("the mlkem768x25519 stanza body is {0} bytes, not {BODY_LEN}")]
    BodyLength(usize),
    /// The X25519 share is of low order (the shared secret would be zero).
    #[error("the X25519 share of the mlkem768x25519 stanza is of low order")]
    X25519LowOrder,
}

/// A hybrid post-quantum age identity: the 32-byte seed of an
/// MLKEM768-X25519 key. Holds a secret: no `Debug`, no `Display`; zeroized
/// on drop.
pub struct HybridIdentity(xwing::PrivateKey);

/// A hybrid post-quantum age recipient (`age1pq1…`): the 1216-byte
/// MLKEM768-X25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct HybridRecipient(xwing::PublicKey);

impl HybridIdentity {
    /// The identity of a seed. seif derives the seed from the vault secret
    /// by HKDF; any 32 bytes are a valid seed.
    pub fn from_seed(seed: &Zeroizing<[u8; SEED_LEN]>) -> Self {
        HybridIdentity(xwing::PrivateKey::from_seed(seed))
    }

    /// A fresh identity from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        crate::secrets::fill_random(&mut seed[..]);
        Self::from_seed(&seed)
    }

    /// The recipient that wraps file keys to this identity.
    pub fn to_public(&self) -> HybridRecipient {
        HybridRecipient(self.0.public().clone())
    }

    /// The identity as Go age writes it: `AGE-SECRET-KEY-PQ-1…`, Bech32 of
    /// the seed, upper case.
    pub fn to_bech32(&self) -> Zeroizing<String> {
        let hrp = Hrp::parse(IDENTITY_HRP).expect("static HRP is valid");
        let lower = Zeroizing::new(
            bech32::encode_lower::<Bech32Long>(hrp, self.0.seed()).expect("no length limit"),
        );
        Zeroizing::new(lower.to_ascii_uppercase())
    }

    /// Unwraps one stanza, saying precisely why a malformed one is refused:
    /// `Ok(None)` for a stanza of another type or for another key,
    /// `Err` for a malformed `mlkem768x25519` stanza.
    pub fn unwrap_stanza_checked(&self, stanza: &Stanza) -> Result<Option<FileKey>, StanzaError> {
        if stanza.tag != STANZA_TAG {
            return Ok(None);
        }
        let [arg] = &stanza.args[..] else {
            return Err(StanzaError::ArgumentCount(stanza.args.len()));
        };
        let enc = decode_canonical_base64(arg).ok_or(StanzaError::NotBase64)?;
        if enc.len() != ENC_LEN {
            return Err(StanzaError::EncLength(enc.len()));
        }
        if stanza.body.len() != BODY_LEN {
            return Err(StanzaError::BodyLength(stanza.body.len()));
        }
        let shared_secret = self.0.decapsulate(&enc).map_err(|e| match e {
            xwing::KemError::X25519LowOrder => StanzaError::X25519LowOrder,
            _ => StanzaError::EncLength(enc.len()),
        })?;
        let context = hpke::key_schedule(KEM_ID, &shared_secret[..], HPKE_INFO);
        // A wrong tag means another recipient's stanza (ML-KEM rejects
        // implicitly): not ours, not an error.
        let Some(plain) = context.open(b"", &stanza.body) else {
            return Ok(None);
        };
        Ok(Some(FileKey::init_with_mut(|k| k.copy_from_slice(&plain))))
    }
}

impl FromStr for HybridIdentity {
    type Err = KeyParseError;

    /// Parses `AGE-SECRET-KEY-PQ-1…` (upper case only, as Go age).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let data = decode_bech32(s, IDENTITY_HRP, SEED_LEN)?;
        if s.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(KeyParseError::WrongCase {
                what: "identity",
                case: "upper",
            });
        }
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        seed.copy_from_slice(&data);
        Ok(Self::from_seed(&seed))
    }
}

impl age::Identity for HybridIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        match self.unwrap_stanza_checked(stanza) {
            Ok(found) => found.map(Ok),
            Err(_) => Some(Err(age::DecryptError::InvalidHeader)),
        }
    }
}

impl HybridRecipient {
    /// The 1216-byte public key: ML-KEM-768 encapsulation key, then X25519.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.0.as_bytes()
    }

    /// The stanza wrapping `file_key` with the given encapsulation
    /// randomness (64 bytes: ML-KEM's `m`, then the X25519 ephemeral
    /// secret). Only tests pass chosen randomness; [`age::Recipient`] draws
    /// it from the operating system's CSPRNG.
    pub(crate) fn wrap_with_randomness(
        &self,
        file_key: &[u8; FILE_KEY_BYTES],
        eseed: &Zeroizing<[u8; xwing::ESEED_LEN]>,
    ) -> Result<Stanza, KeyParseError> {
        let (shared_secret, enc) = self
            .0
            .encapsulate_derand(eseed)
            .map_err(|_| KeyParseError::X25519LowOrder)?;
        let context = hpke::key_schedule(KEM_ID, &shared_secret[..], HPKE_INFO);
        let body = context.seal(b"", file_key);
        Ok(Stanza {
            tag: STANZA_TAG.to_owned(),
            args: vec![STANDARD_NO_PAD.encode(&enc[..])],
            body,
        })
    }
}

impl age::Recipient for HybridRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let mut eseed = Zeroizing::new([0u8; xwing::ESEED_LEN]);
        crate::secrets::fill_random(&mut eseed[..]);
        let stanza = self
            .wrap_with_randomness(file_key.expose_secret(), &eseed)
            .map_err(|e| age::EncryptError::Io(std::io::Error::other(e)))?;
        Ok((vec![stanza], HashSet::from([POSTQUANTUM_LABEL.to_owned()])))
    }
}

impl FromStr for HybridRecipient {
    type Err = KeyParseError;

    /// Parses `age1pq1…` (lower case only, as Go age).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let data = decode_bech32(s, RECIPIENT_HRP, PUBLIC_KEY_LEN)?;
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(KeyParseError::WrongCase {
                what: "recipient",
                case: "lower",
            });
        }
        xwing::PublicKey::from_bytes(&data)
            .map(HybridRecipient)
            .map_err(|e| match e {
                xwing::KemError::MlKemNotCanonical => KeyParseError::MlKemNotCanonical,
                xwing::KemError::X25519LowOrder => KeyParseError::X25519LowOrder,
                xwing::KemError::Length => KeyParseError::WrongLength {
                    expected: PUBLIC_KEY_LEN,
                    got: data.len(),
                },
            })
    }
}

impl fmt::Display for HybridRecipient {
    /// `age1pq1…`: Bech32 of the public key, lower case, about 1950
    /// characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse(RECIPIENT_HRP).expect("static HRP is valid");
        bech32::encode_lower_to_fmt::<Bech32Long, _>(f, hrp, self.as_bytes())
            .map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for HybridRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_string();
        write!(f, "HybridRecipient({}…)", &text[..24])
    }
}

/// Decodes Bech32 with the long checksum, the given human-readable part (in
/// either case, never mixed) and exactly `len` data bytes. Zeroizing, as it
/// may hold a seed.
fn decode_bech32(
    s: &str,
    hrp: &'static str,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, KeyParseError> {
    let parsed = CheckedHrpstring::new::<Bech32Long>(s).map_err(|_| KeyParseError::NotBech32)?;
    if !parsed.hrp().as_str().eq_ignore_ascii_case(hrp) {
        return Err(KeyParseError::WrongPrefix { expected: hrp });
    }
    let data = Zeroizing::new(parsed.byte_iter().collect::<Vec<u8>>());
    if data.len() != len {
        return Err(KeyParseError::WrongLength {
            expected: len,
            got: data.len(),
        });
    }
    Ok(data)
}

/// Canonical unpadded base64 (RFC 4648 section 3.5): no `=`, no stray bits
/// in the last character. Re-encoding must give the same text.
fn decode_canonical_base64(s: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD_NO_PAD.decode(s).ok()?;
    (STANDARD_NO_PAD.encode(&bytes) == s).then_some(bytes)
}

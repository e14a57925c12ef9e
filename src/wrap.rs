//! Data keys wrapped to age recipients, and the commitment to a data key.
//!
//! A wrapped key is a complete binary age file (age-encryption.org/v1) whose
//! plaintext is the 32-byte data key, so the standard `age` CLI can unwrap it.
//! Grants and rotations make new wrapped keys for the same data key; they
//! never touch the payload.
//!
//! The commitment `HKDF-SHA256(data key, "seif/v1/data-key/commitment")` is
//! signed and bound into every chunk in place of the wrapped key. The opener
//! checks an unwrapped key against it, so nobody can swap in another wrapped
//! key, and no ciphertext opens under two keys (XChaCha20-Poly1305 alone is
//! not key-committing).

use std::io::{Read, Write};
use std::str::FromStr;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::keys::hkdf32;
use crate::secrets::{DataKey, KEY_LEN};

/// HKDF info label of the key commitment.
pub const LABEL_KEY_COMMITMENT: &str = "seif/v1/data-key/commitment";
/// The largest wrapped key accepted (an age file to many recipients).
pub const WRAPPED_KEY_MAX: usize = 64 * 1024;

/// Why a data key could not be wrapped or unwrapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// A recipient string is not an age recipient seif supports.
    #[error("'{0}' is not an age X25519 recipient (age1…)")]
    BadRecipient(String),
    /// No recipient was given.
    #[error("no recipient to wrap the data key to")]
    NoRecipients,
    /// None of the identities can unwrap this key.
    #[error("none of the given identities can unwrap the data key")]
    NoMatchingIdentity,
    /// The wrapped key is not a well-formed age file, or fails its MAC.
    #[error("the wrapped data key is damaged: {0}")]
    Damaged(String),
    /// The wrapped key is too large.
    #[error("the wrapped data key is larger than {WRAPPED_KEY_MAX} bytes")]
    TooLarge,
    /// The unwrapped key does not match the signed commitment: the wrapped
    /// key was swapped, or the file was forged.
    #[error("the unwrapped data key does not match the commitment in the signed header")]
    CommitmentMismatch,
}

/// The commitment to a data key.
pub fn key_commitment(key: &DataKey) -> [u8; 32] {
    *hkdf32(key.expose(), LABEL_KEY_COMMITMENT)
}

/// Parses an age recipient. Only X25519 (`age1…`) for now; the hybrid
/// post-quantum recipient will be accepted here, in the same slot.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, WrapError> {
    age::x25519::Recipient::from_str(s).map_err(|_| WrapError::BadRecipient(s.to_owned()))
}

/// Wraps a data key to recipients: returns a binary age file.
pub fn wrap(key: &DataKey, recipients: &[String]) -> Result<Vec<u8>, WrapError> {
    if recipients.is_empty() {
        return Err(WrapError::NoRecipients);
    }
    let parsed = recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    let encryptor =
        age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| WrapError::Damaged(e.to_string()))?;
    let mut out = Vec::with_capacity(256 * recipients.len());
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| WrapError::Damaged(e.to_string()))?;
    writer
        .write_all(key.expose())
        .and_then(|_| writer.finish().map(|_| ()))
        .map_err(|e| WrapError::Damaged(e.to_string()))?;
    if out.len() > WRAPPED_KEY_MAX {
        return Err(WrapError::TooLarge);
    }
    Ok(out)
}

/// Unwraps a data key with any of `identities` and checks it against the
/// commitment (in constant time).
pub fn unwrap(
    wrapped: &[u8],
    identities: &[&dyn age::Identity],
    commitment: &[u8; 32],
) -> Result<DataKey, WrapError> {
    if wrapped.len() > WRAPPED_KEY_MAX {
        return Err(WrapError::TooLarge);
    }
    let decryptor = age::Decryptor::new(wrapped).map_err(|e| WrapError::Damaged(e.to_string()))?;
    let mut reader = decryptor
        .decrypt(identities.iter().copied())
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => WrapError::NoMatchingIdentity,
            other => WrapError::Damaged(other.to_string()),
        })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
    reader
        .by_ref()
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|e| WrapError::Damaged(e.to_string()))?;
    if plain.len() != KEY_LEN {
        return Err(WrapError::Damaged(format!(
            "it holds {} bytes, not a {KEY_LEN}-byte key",
            plain.len()
        )));
    }
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    bytes.copy_from_slice(&plain);
    let key = DataKey::from_bytes(bytes);
    if !bool::from(key_commitment(&key).ct_eq(commitment)) {
        return Err(WrapError::CommitmentMismatch);
    }
    Ok(key)
}

/// Loads the identities of an age identity file (`AGE-SECRET-KEY-1…` lines).
pub fn load_identity_file(
    path: &std::path::Path,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, std::io::Error> {
    let file = std::fs::File::open(path)?;
    let parsed = age::IdentityFile::from_buffer(std::io::BufReader::new(file))?;
    let identities = parsed
        .into_identities()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    if identities.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file holds no age identity",
        ));
    }
    Ok(identities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_and_commitment() {
        let id = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let key = DataKey::generate();
        let c = key_commitment(&key);
        let wrapped = wrap(&key, &[id.to_public().to_string()]).unwrap();
        let got = unwrap(&wrapped, &[&id], &c).unwrap();
        assert!(got.ct_eq(&key));
        assert!(matches!(
            unwrap(&wrapped, &[&other], &c),
            Err(WrapError::NoMatchingIdentity)
        ));
        assert!(matches!(
            unwrap(&wrapped, &[&id], &[0u8; 32]),
            Err(WrapError::CommitmentMismatch)
        ));
        assert!(matches!(
            wrap(&key, &["age1nope".into()]),
            Err(WrapError::BadRecipient(_))
        ));
    }
}

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
    #[error("'{0}' is not an age recipient (age1pq1… or age1…)")]
    BadRecipient(String),
    /// Post-quantum (`age1pq1…`) and classic (`age1…`) recipients in one
    /// wrap: the classic stanza would let a quantum adversary open the key.
    #[error(
        "refusing to wrap a data key to post-quantum (age1pq1…) and classic (age1…) recipients together: the classic stanza would undo the post-quantum protection"
    )]
    MixedRecipients,
    /// The vault requires post-quantum wrapping and a recipient is classic.
    #[error(
        "the vault requires post-quantum key wrapping (require_pq), but a recipient is a classic age1… key"
    )]
    ClassicRecipient,
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

/// An age recipient that seif wraps data keys to.
#[derive(Clone, Debug)]
pub enum Recipient {
    /// A classic X25519 recipient (`age1…`).
    X25519(age::x25519::Recipient),
    /// A hybrid post-quantum recipient (`age1pq1…`, `mlkem768x25519`).
    Hybrid(crate::pq::HybridRecipient),
}

impl Recipient {
    /// Whether this recipient is post-quantum.
    pub fn is_pq(&self) -> bool {
        matches!(self, Recipient::Hybrid(_))
    }

    fn as_age(&self) -> &dyn age::Recipient {
        match self {
            Recipient::X25519(r) => r,
            Recipient::Hybrid(r) => r,
        }
    }
}

/// Parses an age recipient: hybrid post-quantum (`age1pq1…`) or X25519
/// (`age1…`).
pub fn parse_recipient(s: &str) -> Result<Recipient, WrapError> {
    if s.starts_with(&format!("{}1", crate::pq::RECIPIENT_HRP)) {
        return crate::pq::HybridRecipient::from_str(s)
            .map(Recipient::Hybrid)
            .map_err(|_| WrapError::BadRecipient(s.to_owned()));
    }
    age::x25519::Recipient::from_str(s)
        .map(Recipient::X25519)
        .map_err(|_| WrapError::BadRecipient(s.to_owned()))
}

/// Parses recipients and refuses a set that mixes post-quantum and classic
/// ones ([`WrapError::MixedRecipients`]).
pub fn parse_recipients(recipients: &[String]) -> Result<Vec<Recipient>, WrapError> {
    if recipients.is_empty() {
        return Err(WrapError::NoRecipients);
    }
    let parsed = recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    let pq = parsed.iter().filter(|r| r.is_pq()).count();
    if pq != 0 && pq != parsed.len() {
        return Err(WrapError::MixedRecipients);
    }
    Ok(parsed)
}

/// Whether a wrapped key (an age file) is post-quantum only: its header
/// holds at least one `mlkem768x25519` stanza and no stanza of any other
/// type but age's random grease stanzas (`…-grease`, which wrap nothing).
/// Any other stanza (`X25519`, `scrypt`, `ssh-ed25519`, an unknown type)
/// makes it classic: a quantum adversary might open it. Reads the public
/// header only; `None` if it is not an age v1 header.
pub fn is_pq_only(wrapped: &[u8]) -> Option<bool> {
    let mut lines = wrapped.split(|&b| b == b'\n');
    if lines.next()? != b"age-encryption.org/v1" {
        return None;
    }
    let mut pq = 0usize;
    for line in lines {
        if line.starts_with(b"---") {
            return Some(pq > 0);
        }
        let Some(rest) = line.strip_prefix(b"-> ") else {
            continue; // a body line
        };
        let tag = rest.split(|&b| b == b' ').next().unwrap_or_default();
        if tag == crate::pq::STANZA_TAG.as_bytes() {
            pq += 1;
        } else if !tag.ends_with(b"-grease") {
            return Some(false);
        }
    }
    None
}

/// Wraps a data key to recipients under a vault's policy: with
/// `require_pq`, every recipient must be post-quantum.
pub fn wrap_with_policy(
    key: &DataKey,
    recipients: &[String],
    require_pq: bool,
) -> Result<Vec<u8>, WrapError> {
    if require_pq && !parse_recipients(recipients)?.iter().all(Recipient::is_pq) {
        return Err(WrapError::ClassicRecipient);
    }
    wrap(key, recipients)
}

/// Wraps a data key to recipients: returns a binary age file.
pub fn wrap(key: &DataKey, recipients: &[String]) -> Result<Vec<u8>, WrapError> {
    let parsed = parse_recipients(recipients)?;
    let encryptor = age::Encryptor::with_recipients(parsed.iter().map(Recipient::as_age)).map_err(
        |e| match e {
            age::EncryptError::IncompatibleRecipients { .. } => WrapError::MixedRecipients,
            other => WrapError::Damaged(other.to_string()),
        },
    )?;
    let mut out = Vec::with_capacity(1800 * recipients.len());
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
    // Buffered: the age crate re-parses a header read piecewise from a bare
    // `Read` at every step, which made a post-quantum header (about 1.7 KB)
    // cost 1.4 ms to open instead of 0.2 (`examples/pq_bench.rs`).
    let decryptor =
        age::Decryptor::new_buffered(wrapped).map_err(|e| WrapError::Damaged(e.to_string()))?;
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

/// Loads the identities of an age identity file: `AGE-SECRET-KEY-PQ-1…`
/// lines (hybrid post-quantum, which the `age` crate does not know yet) and
/// everything `age::IdentityFile` reads (`AGE-SECRET-KEY-1…`, comments).
pub fn load_identity_file(
    path: &std::path::Path,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, std::io::Error> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(path)?
        .take(1024 * 1024)
        .read_to_string(&mut text)?;
    let mut identities: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    let mut rest = Zeroizing::new(String::with_capacity(text.len()));
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        // Compared in place: an upper-cased copy of the line would be a
        // secret outside the zeroizing buffer.
        let prefix = format!("{}1", crate::pq::IDENTITY_HRP);
        if trimmed
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
        {
            let id = crate::pq::HybridIdentity::from_str(trimmed)
                .map_err(|e| invalid(format!("line {}: {e}", n + 1)))?;
            identities.push(Box::new(id));
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    if rest
        .lines()
        .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let parsed = age::IdentityFile::from_buffer(rest.as_bytes())?;
        identities.extend(
            parsed
                .into_identities()
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
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

    #[test]
    fn hybrid_wraps_hold_only_hybrid_stanzas_and_mixing_is_refused() {
        let pq = crate::pq::HybridIdentity::generate();
        let classic = age::x25519::Identity::generate();
        let key = DataKey::generate();
        let c = key_commitment(&key);
        let pq_r = pq.to_public().to_string();
        let classic_r = classic.to_public().to_string();
        let wrapped = wrap(&key, std::slice::from_ref(&pq_r)).unwrap();
        let text = String::from_utf8_lossy(&wrapped);
        assert!(text.contains("-> mlkem768x25519 "));
        assert!(!text.contains("-> X25519 "));
        assert!(unwrap(&wrapped, &[&pq], &c).unwrap().ct_eq(&key));
        assert!(matches!(
            unwrap(&wrapped, &[&classic], &c),
            Err(WrapError::NoMatchingIdentity)
        ));
        for mixed in [
            vec![pq_r.clone(), classic_r.clone()],
            vec![classic_r.clone(), pq_r.clone()],
        ] {
            assert!(matches!(
                wrap(&key, &mixed),
                Err(WrapError::MixedRecipients)
            ));
        }
        assert!(matches!(
            wrap_with_policy(&key, std::slice::from_ref(&classic_r), true),
            Err(WrapError::ClassicRecipient)
        ));
        let pq_wrapped = wrap_with_policy(&key, std::slice::from_ref(&pq_r), true).unwrap();
        assert_eq!(is_pq_only(&pq_wrapped), Some(true));
        let classic_wrapped = wrap(&key, std::slice::from_ref(&classic_r)).unwrap();
        assert_eq!(is_pq_only(&classic_wrapped), Some(false));
        assert_eq!(is_pq_only(b"not age"), None);
        // A hybrid stanza beside a classic one is classic.
        let text = String::from_utf8_lossy(&pq_wrapped).into_owned();
        let classic_text = String::from_utf8_lossy(&classic_wrapped).into_owned();
        let x_stanza = &classic_text[classic_text.find("-> X25519").unwrap()..];
        let x_stanza = &x_stanza[..x_stanza.find("\n-> ").unwrap() + 1];
        let both = text.replacen(
            "-> mlkem768x25519",
            &format!("{x_stanza}-> mlkem768x25519"),
            1,
        );
        assert_eq!(is_pq_only(both.as_bytes()), Some(false));
        assert!(wrap_with_policy(&key, &[classic_r], false).is_ok());
    }

    #[test]
    fn identity_files_hold_hybrid_and_classic_lines() {
        let pq = crate::pq::HybridIdentity::generate();
        let classic = age::x25519::Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.txt");
        std::fs::write(
            &path,
            format!(
                "# created: now\n{}\n{}\n",
                pq.to_bech32().as_str(),
                secrecy::ExposeSecret::expose_secret(&classic.to_string())
            ),
        )
        .unwrap();
        let ids = load_identity_file(&path).unwrap();
        assert_eq!(ids.len(), 2);
        let key = DataKey::generate();
        let c = key_commitment(&key);
        let refs: Vec<&dyn age::Identity> = ids.iter().map(|b| b.as_ref() as _).collect();
        for r in [pq.to_public().to_string(), classic.to_public().to_string()] {
            let w = wrap(&key, &[r]).unwrap();
            assert!(unwrap(&w, &refs, &c).unwrap().ct_eq(&key));
        }
        std::fs::write(&path, format!("{}\n", pq.to_bech32().to_lowercase())).unwrap();
        assert!(load_identity_file(&path).is_err());
    }
}

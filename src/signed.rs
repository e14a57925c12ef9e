//! Canonical JSON and the domain-separated Ed25519 signatures that every
//! public record of seif uses (the vault descriptor, snapshot records, the
//! ceremony log), and their ML-DSA-65 halves where a record is signed
//! hybrid (vault.json and snapshot records of post-quantum vaults).
//!
//! A signature covers `domain || 0x00 || canonical(body)`, where the
//! canonical form is the RFC 8785 (JCS) serialization restricted to what our
//! records contain: objects with ASCII keys sorted bytewise, arrays, strings,
//! booleans, null and integers, with no insignificant whitespace. Verifiers
//! canonicalize the body exactly as it was read from the file, so a signature
//! covers every field present, including any the reader does not understand.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::Value;

use crate::encoding::{from_hex, to_hex};
use crate::mldsa::{MlDsaPublicKey, MlDsaSigningKey};

/// Signature domain of the vault descriptor.
pub const DOMAIN_DESCRIPTOR: &str = "seif/v1/vault-descriptor";
/// Signature domain of a key rotation (old vault key endorses the new one).
pub const DOMAIN_ROTATION: &str = "seif/v1/key-rotation";

/// Why a record could not be canonicalized or its signature did not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignedError {
    /// The body holds a number that is not an integer (never written by seif).
    #[error("a number in the record is not an integer")]
    NotInteger,
    /// An object key is not ASCII (never written by seif).
    #[error("an object key in the record is not ASCII")]
    NonAsciiKey,
    /// The signature is not lowercase hex of the right length.
    #[error("the signature is not lowercase hex of the right length")]
    MalformedSignature,
    /// The signature does not verify under the expected key.
    #[error("the signature does not verify")]
    BadSignature,
}

/// The canonical bytes of a JSON value (see the module documentation).
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, SignedError> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), SignedError> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            out.extend_from_slice(&serde_json::to_vec(value).expect("scalars serialize"));
        }
        Value::Number(n) => {
            if !(n.is_i64() || n.is_u64()) {
                return Err(SignedError::NotInteger);
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sort explicitly: serde_json's map order depends on a cargo
            // feature that any crate in the tree may switch on.
            let mut keys: Vec<&String> = map.keys().collect();
            if keys.iter().any(|k| !k.is_ascii()) {
                return Err(SignedError::NonAsciiKey);
            }
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&serde_json::to_vec(key).expect("strings serialize"));
                out.push(b':');
                write_canonical(&map[key.as_str()], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The exact bytes a signature covers.
pub fn signed_message(domain: &str, body: &Value) -> Result<Vec<u8>, SignedError> {
    let mut msg = Vec::with_capacity(domain.len() + 1 + 256);
    msg.extend_from_slice(domain.as_bytes());
    msg.push(0);
    write_canonical(body, &mut msg)?;
    Ok(msg)
}

/// Signs a body under a domain; returns the signature as lowercase hex.
pub fn sign(key: &SigningKey, domain: &str, body: &Value) -> Result<String, SignedError> {
    let msg = signed_message(domain, body)?;
    Ok(to_hex(&key.sign(&msg).to_bytes()))
}

/// Verifies a hex signature over a body under a domain (strict Ed25519:
/// no malleable signatures, no small-order keys).
pub fn verify(
    key: &VerifyingKey,
    domain: &str,
    body: &Value,
    signature_hex: &str,
) -> Result<(), SignedError> {
    let bytes = from_hex::<64>(signature_hex).map_err(|_| SignedError::MalformedSignature)?;
    let sig = Signature::from_bytes(&bytes);
    let msg = signed_message(domain, body)?;
    key.verify_strict(&msg, &sig)
        .map_err(|_| SignedError::BadSignature)
}

/// Signs a body under a domain with ML-DSA-65 (the post-quantum half of a
/// hybrid signature, over the same bytes as the Ed25519 half); returns
/// the signature as lowercase hex.
pub fn sign_mldsa(
    key: &MlDsaSigningKey,
    domain: &str,
    body: &Value,
) -> Result<String, SignedError> {
    let msg = signed_message(domain, body)?;
    Ok(to_hex(&key.sign(&msg)))
}

/// Verifies a hex ML-DSA-65 signature over a body under a domain.
pub fn verify_mldsa(
    key: &MlDsaPublicKey,
    domain: &str,
    body: &Value,
    signature_hex: &str,
) -> Result<(), SignedError> {
    if signature_hex.len() != 2 * crate::mldsa::SIGNATURE_LEN
        || signature_hex.bytes().any(|b| b.is_ascii_uppercase())
    {
        return Err(SignedError::MalformedSignature);
    }
    let sig = hex::decode(signature_hex).map_err(|_| SignedError::MalformedSignature)?;
    let msg = signed_message(domain, body)?;
    if key.verify(&msg, &sig) {
        Ok(())
    } else {
        Err(SignedError::BadSignature)
    }
}

/// Parses a 64-hex Ed25519 public key, refusing weak (small-order) keys.
pub fn verifying_key_from_hex(s: &str) -> Option<VerifyingKey> {
    let bytes = from_hex::<32>(s).ok()?;
    let key = VerifyingKey::from_bytes(&bytes).ok()?;
    (!key.is_weak()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [1, 2, {"z":null,"a":true}], "a": "x\"y\u00e9" }"#)
                .unwrap();
        assert_eq!(
            canonical_json(&v).unwrap(),
            "{\"a\":\"x\\\"y\u{e9}\",\"b\":[1,2,{\"a\":true,\"z\":null}]}".as_bytes()
        );
        assert!(canonical_json(&json!({"f": 1.5})).is_err());
    }

    #[test]
    fn signatures_bind_domain_and_every_field() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let body = json!({"a": 1, "b": "two"});
        let sig = sign(&key, "d1", &body).unwrap();
        verify(&key.verifying_key(), "d1", &body, &sig).unwrap();
        assert!(verify(&key.verifying_key(), "d2", &body, &sig).is_err());
        assert!(
            verify(
                &key.verifying_key(),
                "d1",
                &json!({"a": 1, "b": "two", "c": 0}),
                &sig
            )
            .is_err()
        );
        assert!(
            verify(
                &key.verifying_key(),
                "d1",
                &json!({"a": 2, "b": "two"}),
                &sig
            )
            .is_err()
        );
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(verify(&other.verifying_key(), "d1", &body, &sig).is_err());
    }
}

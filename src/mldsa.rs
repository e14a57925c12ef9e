//! ML-DSA-65 (FIPS 204), the post-quantum half of seif's hybrid signatures.
//!
//! vault.json and snapshot records are signed twice over the same message
//! (`domain || 0x00 || canonical(body)`, [`crate::signed`]): with Ed25519
//! and with ML-DSA-65, and a verifier requires both. Ed25519 alone falls to
//! a quantum computer; ML-DSA is young. Forging a hybrid signature needs
//! both broken. FORMAT.md section 10 has the rules (which key signs what,
//! how a reader knows both are required).
//!
//! Keys come from a 32-byte seed (FIPS 204 `ML-DSA.KeyGen_internal(ξ)`),
//! derived by HKDF from the vault secret or the sealer's key, so no new
//! secret is ever stored. Signing is FIPS 204's deterministic variant
//! (`rnd` = 32 zero bytes) with an empty context string: the same key and
//! message give the same signature, which makes the FORMAT.md vectors
//! reproducible and needs no random number generator.

use ml_dsa::{EncodedSignature, EncodedVerifyingKey, MlDsa65, Signature};
use sha2::{Digest, Sha256};

use crate::encoding::to_hex;

/// Bytes of an encoded ML-DSA-65 public key.
pub const PUBLIC_KEY_LEN: usize = 1952;
/// Bytes of an encoded ML-DSA-65 signature.
pub const SIGNATURE_LEN: usize = 3309;

/// An ML-DSA-65 signing key. Holds a secret: no `Debug`, zeroized on drop
/// (the crate's own `Drop`).
pub struct MlDsaSigningKey(ml_dsa::SigningKey<MlDsa65>);

impl MlDsaSigningKey {
    /// `ML-DSA.KeyGen_internal(seed)`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        MlDsaSigningKey(ml_dsa::SigningKey::from_seed(&(*seed).into()))
    }

    /// The public key.
    pub fn public(&self) -> MlDsaPublicKey {
        use ml_dsa::Keypair;
        MlDsaPublicKey(self.0.verifying_key().encode().to_vec())
    }

    /// A deterministic signature over `msg` with an empty context.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0
            .expanded_key()
            .sign_deterministic(msg, &[])
            .expect("an empty context is always allowed")
            .encode()
            .to_vec()
    }
}

/// An encoded ML-DSA-65 public key (1,952 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct MlDsaPublicKey(Vec<u8>);

impl std::fmt::Debug for MlDsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsaPublicKey({}…)", &to_hex(&self.fingerprint())[..16])
    }
}

impl MlDsaPublicKey {
    /// From its encoding; `None` unless exactly [`PUBLIC_KEY_LEN`] bytes.
    /// (Every such string decodes: ML-DSA public keys have no invalid
    /// encodings, so there is nothing else to refuse.)
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() == PUBLIC_KEY_LEN).then(|| MlDsaPublicKey(bytes.to_vec()))
    }

    /// From lowercase hex, as vault.json and records write it.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        Self::from_bytes(&hex::decode(s).ok()?)
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex of the encoding.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// SHA-256 of the encoding: what a hybrid sealer key (`seifsealerpq1…`)
    /// carries in place of the 1,952-byte key.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.0).into()
    }

    /// Verifies `sig` over `msg` (empty context). `false` for a signature
    /// of the wrong length or encoding.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(enc) = EncodedVerifyingKey::<MlDsa65>::try_from(self.0.as_slice()) else {
            return false;
        };
        let key = ml_dsa::VerifyingKey::<MlDsa65>::decode(&enc);
        let Ok(sig_enc) = EncodedSignature::<MlDsa65>::try_from(sig) else {
            return false;
        };
        let Some(sig) = Signature::<MlDsa65>::decode(&sig_enc) else {
            return false;
        };
        key.verify_with_context(msg, &[], &sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_refuse() {
        let key = MlDsaSigningKey::from_seed(&[7u8; 32]);
        let public = key.public();
        assert_eq!(public.as_bytes().len(), PUBLIC_KEY_LEN);
        let sig = key.sign(b"message");
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert_eq!(sig, key.sign(b"message"), "deterministic");
        assert!(public.verify(b"message", &sig));
        assert!(!public.verify(b"messagE", &sig));
        let mut bent = sig.clone();
        bent[100] ^= 1;
        assert!(!public.verify(b"message", &bent));
        assert!(!public.verify(b"message", &sig[..SIGNATURE_LEN - 1]));
        let other = MlDsaSigningKey::from_seed(&[8u8; 32]).public();
        assert!(!other.verify(b"message", &sig));
        assert_eq!(
            MlDsaPublicKey::from_hex(&public.to_hex()),
            Some(public.clone())
        );
        assert_eq!(
            MlDsaPublicKey::from_hex(&public.to_hex().to_uppercase()),
            None
        );
        assert_eq!(MlDsaPublicKey::from_bytes(&[0u8; 10]), None);
    }
}

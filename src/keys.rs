//! What is derived from the vault secret, by HKDF-SHA256 with labels that
//! name the format version (FORMAT.md, "Key derivation").
//!
//! - the vault's X25519 age identity, which unwraps data keys wrapped
//!   before the vault went post-quantum;
//! - the vault's hybrid post-quantum age identity (`mlkem768x25519`,
//!   ML-KEM-768 + X25519), which unwraps the data keys of PQ vaults;
//! - the vault's Ed25519 signing key, which signs the descriptor, the
//!   ceremony log, grants and rotations.
//!
//! The descriptor publishes the public halves; after every reconstruction the
//! ceremony derives them again and refuses to go on unless they match (the
//! key check), so a forged or damaged share can never yield a wrong key
//! silently.

use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use std::str::FromStr;
use zeroize::Zeroizing;

use crate::encoding::to_bech32_secret;
use crate::mldsa::{MlDsaPublicKey, MlDsaSigningKey};
use crate::secrets::{KEY_LEN, VaultSecret};

/// HKDF info label of the vault's X25519 age identity.
pub const LABEL_AGE_X25519: &str = "seif/v1/vault/age-x25519-identity";
/// HKDF info label of the seed of the vault's hybrid post-quantum age
/// identity (`mlkem768x25519`, FORMAT.md section 9).
pub const LABEL_AGE_PQ: &str = "seif/v1/vault/age-mlkem768x25519-identity";
/// HKDF info label of the vault's Ed25519 signing key.
pub const LABEL_SIGNING: &str = "seif/v1/vault/ed25519-signing-key";
/// HKDF info label of the seed (FIPS 204 ξ) of the vault's ML-DSA-65
/// signing key.
pub const LABEL_MLDSA: &str = "seif/v1/vault/ml-dsa-65-signing-key";

/// HKDF-SHA256 with an empty salt: `ikm` is always a uniformly random 32-byte
/// key here, so the salt adds nothing; the label separates every use.
pub fn hkdf32(ikm: &[u8; KEY_LEN], label: &str) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(None, ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(label.as_bytes(), &mut out[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// The keys derived from a vault secret. Holds secrets: no `Debug`.
pub struct VaultKeys {
    age_identity: age::x25519::Identity,
    pq_identity: crate::pq::HybridIdentity,
    signing: SigningKey,
    mldsa: MlDsaSigningKey,
}

/// The public halves of [`VaultKeys`], as the descriptor publishes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultPublicKeys {
    /// The vault's age recipient (`age1…`), to which data keys are wrapped.
    pub age_recipient: String,
    /// The vault's hybrid post-quantum age recipient (`age1pq1…`).
    pub pq_recipient: String,
    /// The vault's Ed25519 verifying key.
    pub signing_key: VerifyingKey,
    /// The vault's ML-DSA-65 verifying key (published by post-quantum
    /// generations).
    pub mldsa_key: MlDsaPublicKey,
}

impl VaultKeys {
    /// Derives the vault keys from the vault secret.
    pub fn derive(secret: &VaultSecret) -> Self {
        let x25519 = hkdf32(secret.expose(), LABEL_AGE_X25519);
        let age_identity = age_identity_from_bytes(&x25519);
        let pq_identity =
            crate::pq::HybridIdentity::from_seed(&hkdf32(secret.expose(), LABEL_AGE_PQ));
        let seed = hkdf32(secret.expose(), LABEL_SIGNING);
        let signing = SigningKey::from_bytes(&seed);
        let mldsa = MlDsaSigningKey::from_seed(&hkdf32(secret.expose(), LABEL_MLDSA));
        VaultKeys {
            age_identity,
            pq_identity,
            signing,
            mldsa,
        }
    }

    /// The age identity that unwraps the vault's data keys.
    pub fn age_identity(&self) -> &age::x25519::Identity {
        &self.age_identity
    }

    /// The age identity as an identity file's text (`AGE-SECRET-KEY-1…`).
    pub fn age_identity_text(&self) -> Zeroizing<String> {
        Zeroizing::new(
            secrecy::ExposeSecret::expose_secret(&self.age_identity.to_string()).to_owned(),
        )
    }

    /// The hybrid post-quantum age identity that unwraps the data keys of a
    /// post-quantum vault.
    pub fn pq_identity(&self) -> &crate::pq::HybridIdentity {
        &self.pq_identity
    }

    /// The hybrid identity as an identity file's text
    /// (`AGE-SECRET-KEY-PQ-1…`).
    pub fn pq_identity_text(&self) -> Zeroizing<String> {
        self.pq_identity.to_bech32()
    }

    /// Both vault identities, hybrid first: what a ceremony unwraps with, so
    /// that data keys wrapped before and after the post-quantum upgrade both
    /// open.
    pub fn identities(&self) -> [&dyn age::Identity; 2] {
        [&self.pq_identity, &self.age_identity]
    }

    /// The vault's signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The vault's ML-DSA-65 signing key.
    pub fn mldsa_key(&self) -> &MlDsaSigningKey {
        &self.mldsa
    }

    /// The public halves.
    pub fn public(&self) -> VaultPublicKeys {
        VaultPublicKeys {
            age_recipient: self.age_identity.to_public().to_string(),
            pq_recipient: self.pq_identity.to_public().to_string(),
            signing_key: self.signing.verifying_key(),
            mldsa_key: self.mldsa.public(),
        }
    }
}

/// age's X25519 identities have no from-bytes constructor: encode the 32
/// bytes as age's secret-key Bech32 and parse that.
pub fn age_identity_from_bytes(bytes: &[u8; 32]) -> age::x25519::Identity {
    let text = to_bech32_secret("age-secret-key-", bytes);
    age::x25519::Identity::from_str(&text).expect("a 32-byte Bech32 age key always parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_deterministic_and_label_separated() {
        let secret = VaultSecret::from_bytes(Zeroizing::new([42u8; 32]));
        let a = VaultKeys::derive(&secret).public();
        let b = VaultKeys::derive(&secret).public();
        assert_eq!(a, b);
        assert_ne!(
            *hkdf32(secret.expose(), LABEL_AGE_X25519),
            *hkdf32(secret.expose(), LABEL_SIGNING)
        );
        assert_ne!(
            *hkdf32(secret.expose(), LABEL_MLDSA),
            *hkdf32(secret.expose(), LABEL_SIGNING)
        );
        assert_ne!(
            *hkdf32(secret.expose(), LABEL_AGE_PQ),
            *hkdf32(secret.expose(), LABEL_AGE_X25519)
        );
        assert!(a.pq_recipient.starts_with("age1pq1"));
        let other = VaultKeys::derive(&VaultSecret::from_bytes(Zeroizing::new([43u8; 32])));
        assert_ne!(a, other.public());
    }
}

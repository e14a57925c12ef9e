//! Sealer keys: each export pipeline has its own signing key. The vault
//! descriptor lists the sealers it accepts; everything a pipeline writes is
//! signed, so the host cannot forge data with the public vault key, and
//! opening reports who sealed what.
//!
//! The key file holds one 32-byte Ed25519 seed. An ML-DSA-65 key is derived
//! from it (HKDF, [`LABEL_MLDSA`]), so every sealer key is also a hybrid
//! key, and its public key has two spellings:
//! - `seifsealerpq1…` (hybrid, what `seif sealer new` prints): the Ed25519
//!   key and the SHA-256 of the ML-DSA-65 key. A vault that lists a sealer
//!   this way takes its snapshot records only with both signatures.
//! - `seifsealer1…` (classic): the Ed25519 key alone, as vaults listed
//!   sealers before hybrid signatures.
//!
//! A sealer key file is text, like an age identity file:
//!
//! ```text
//! # seif sealer key: keep it secret, it signs what this pipeline seals
//! # created: 2026-11-27T11:38:21Z
//! # public key: seifsealerpq1…
//! SEIF-SEALER-SECRET-KEY-1…
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::encoding::{from_bech32, to_bech32, to_bech32_secret};
use crate::mldsa::{MlDsaPublicKey, MlDsaSigningKey};

/// Bech32 prefix of a sealer's classic public key (Ed25519 alone).
pub const PUBLIC_HRP: &str = "seifsealer";
/// Bech32 prefix of a sealer's hybrid public key (Ed25519 key, then the
/// SHA-256 of the ML-DSA-65 key).
pub const PUBLIC_HRP_HYBRID: &str = "seifsealerpq";
/// HKDF info label (over the Ed25519 seed) of the seed of the sealer's
/// ML-DSA-65 key.
pub const LABEL_MLDSA: &str = "seif/v1/sealer/ml-dsa-65-signing-key";
/// Bech32 prefix of a sealer's secret key (written uppercase).
pub const SECRET_HRP: &str = "seif-sealer-secret-key-";
/// The largest sealer key file read.
const KEY_FILE_MAX: u64 = 64 * 1024;

/// Why a sealer key could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealerKeyError {
    /// The text is not a sealer public key.
    #[error("'{0}' is not a seif sealer public key (seifsealerpq1… or seifsealer1…)")]
    BadPublicKey(String),
    /// The file is not a sealer secret key file.
    #[error("not a seif sealer key file: {0}")]
    BadKeyFile(&'static str),
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A sealer's public key: its Ed25519 key, and for the hybrid spelling
/// the SHA-256 of its ML-DSA-65 key. Two spellings of one sealer are not
/// equal: a vault accepts exactly the spelling it lists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SealerPublicKey {
    ed25519: VerifyingKey,
    mldsa: Option<[u8; 32]>,
}

impl SealerPublicKey {
    /// A classic key from raw Ed25519 bytes; refuses invalid and weak
    /// (small-order) points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        (!key.is_weak()).then_some(SealerPublicKey {
            ed25519: key,
            mldsa: None,
        })
    }

    /// Raw Ed25519 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.ed25519.to_bytes()
    }

    /// The Ed25519 verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.ed25519
    }

    /// The SHA-256 of the ML-DSA-65 key, for the hybrid spelling.
    pub fn mldsa_fingerprint(&self) -> Option<&[u8; 32]> {
        self.mldsa.as_ref()
    }

    /// The classic spelling of the same Ed25519 key.
    pub fn classic(&self) -> SealerPublicKey {
        SealerPublicKey {
            ed25519: self.ed25519,
            mldsa: None,
        }
    }

    /// Strict Ed25519 verification of `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.ed25519
            .verify_strict(msg, &Signature::from_bytes(sig))
            .is_ok()
    }

    /// Hybrid verification: the Ed25519 signature, and the ML-DSA-65
    /// signature under `mldsa_key`, which must be the key this spelling
    /// names. `false` for a classic spelling: it names no ML-DSA key.
    pub fn verify_hybrid(
        &self,
        msg: &[u8],
        sig: &[u8; 64],
        mldsa_key: &MlDsaPublicKey,
        mldsa_sig: &[u8],
    ) -> bool {
        self.mldsa == Some(mldsa_key.fingerprint())
            && self.verify(msg, sig)
            && mldsa_key.verify(msg, mldsa_sig)
    }
}

impl fmt::Display for SealerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mldsa {
            None => f.write_str(&to_bech32(PUBLIC_HRP, self.ed25519.as_bytes())),
            Some(h) => {
                let mut both = [0u8; 64];
                both[..32].copy_from_slice(self.ed25519.as_bytes());
                both[32..].copy_from_slice(h);
                f.write_str(&to_bech32(PUBLIC_HRP_HYBRID, &both))
            }
        }
    }
}

impl fmt::Debug for SealerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealerPublicKey({self})")
    }
}

impl FromStr for SealerPublicKey {
    type Err = SealerKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SealerKeyError::BadPublicKey(crate::untrusted::escape(s).into_owned());
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        if s.starts_with(PUBLIC_HRP_HYBRID) {
            let both = from_bech32::<64>(PUBLIC_HRP_HYBRID, s).map_err(|_| bad())?;
            let ed: [u8; 32] = both[..32].try_into().expect("32 bytes");
            let mut key = SealerPublicKey::from_bytes(&ed).ok_or_else(bad)?;
            key.mldsa = Some(both[32..].try_into().expect("32 bytes"));
            return Ok(key);
        }
        let bytes = from_bech32::<32>(PUBLIC_HRP, s).map_err(|_| bad())?;
        SealerPublicKey::from_bytes(&bytes).ok_or_else(bad)
    }
}

/// A sealer's secret signing key. No `Debug`; zeroized on drop.
pub struct SealerSecretKey(SigningKey);

impl SealerSecretKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        SealerSecretKey(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The public key, hybrid spelling (`seifsealerpq1…`). Derives the
    /// ML-DSA-65 key (about 0.3 ms): where only the Ed25519 key matters,
    /// [`Self::public_classic`] does not.
    pub fn public(&self) -> SealerPublicKey {
        SealerPublicKey {
            mldsa: Some(self.mldsa().public().fingerprint()),
            ..self.public_classic()
        }
    }

    /// The public key, classic spelling (`seifsealer1…`): the Ed25519 key
    /// alone, what sealed files carry and what names local state.
    pub fn public_classic(&self) -> SealerPublicKey {
        SealerPublicKey {
            ed25519: self.0.verifying_key(),
            mldsa: None,
        }
    }

    /// Signs `msg` with Ed25519.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    /// The ML-DSA-65 key derived from this key ([`LABEL_MLDSA`]).
    pub fn mldsa(&self) -> MlDsaSigningKey {
        MlDsaSigningKey::from_seed(&self.derive(LABEL_MLDSA))
    }

    /// A 32-byte key for this pipeline's own use, `HKDF(seed, label)`:
    /// the keys that authenticate its local state and key its chunking.
    /// They open nothing in any store.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, self.0.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(label.as_bytes(), &mut out[..])
            .expect("32 bytes is a valid output length");
        out
    }

    /// The key file's text.
    pub fn to_file_text(&self, created: &str) -> Zeroizing<String> {
        let secret = to_bech32_secret(SECRET_HRP, self.0.as_bytes());
        Zeroizing::new(format!(
            "# seif sealer key: keep it secret, it signs what this pipeline seals\n\
             # created: {created}\n\
             # public key: {}\n\
             {}\n",
            self.public(),
            secret.as_str()
        ))
    }

    /// Parses a key file's text: `#` comment lines, blank lines, and exactly
    /// one secret key line.
    pub fn from_file_text(text: &str) -> Result<Self, SealerKeyError> {
        let mut found = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if found.is_some() {
                return Err(SealerKeyError::BadKeyFile("it holds more than one key"));
            }
            if line.bytes().any(|b| b.is_ascii_lowercase()) {
                return Err(SealerKeyError::BadKeyFile(
                    "the key line must be uppercase SEIF-SEALER-SECRET-KEY-1…",
                ));
            }
            let bytes = from_bech32::<32>(SECRET_HRP, line).map_err(|_| {
                SealerKeyError::BadKeyFile("the key line is not SEIF-SEALER-SECRET-KEY-1…")
            })?;
            found = Some(SealerSecretKey(SigningKey::from_bytes(&bytes)));
        }
        found.ok_or(SealerKeyError::BadKeyFile("it holds no key"))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self, SealerKeyError> {
        use std::io::Read;
        let mut text = Zeroizing::new(String::new());
        std::fs::File::open(path)?
            .take(KEY_FILE_MAX)
            .read_to_string(&mut text)?;
        Self::from_file_text(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_and_refusals() {
        let key = SealerSecretKey::generate();
        let text = key.to_file_text("2026-11-27T00:00:00Z");
        let again = SealerSecretKey::from_file_text(&text).unwrap();
        assert_eq!(key.public(), again.public());
        let public = key.public().to_string();
        assert!(public.starts_with("seifsealerpq1"));
        assert_eq!(public.parse::<SealerPublicKey>().unwrap(), key.public());
        assert!(public.to_uppercase().parse::<SealerPublicKey>().is_err());
        let classic = key.public().classic().to_string();
        assert!(classic.starts_with("seifsealer1"));
        assert_eq!(
            classic.parse::<SealerPublicKey>().unwrap(),
            key.public().classic()
        );
        assert_ne!(key.public(), key.public().classic(), "two spellings");
        assert!(SealerSecretKey::from_file_text("# nothing\n").is_err());
        let twice = format!("{}{}", text.as_str(), text.as_str());
        assert!(SealerSecretKey::from_file_text(&twice).is_err());
        assert!(SealerSecretKey::from_file_text(&text.to_lowercase()).is_err());
        let sig = key.sign(b"m");
        assert!(key.public().verify(b"m", &sig));
        assert!(!key.public().verify(b"n", &sig));
        let (mk, msig) = (key.mldsa().public(), key.mldsa().sign(b"m"));
        assert!(key.public().verify_hybrid(b"m", &sig, &mk, &msig));
        assert!(!key.public().verify_hybrid(b"n", &sig, &mk, &msig));
        assert!(!key.public().classic().verify_hybrid(b"m", &sig, &mk, &msig));
        let other = SealerSecretKey::generate().mldsa();
        assert!(
            !key.public()
                .verify_hybrid(b"m", &sig, &other.public(), &other.sign(b"m")),
            "another ML-DSA key, even with a valid signature of its own"
        );
    }
}

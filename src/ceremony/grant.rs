//! A grant: a data key re-wrapped by a ceremony to a recovery team's age
//! recipient, for one sealed file or one snapshot. It is small (the bulk
//! data never passes through the ceremony laptop) and signed by the vault
//! key, so the team can check where it came from.
//!
//! ```json
//! {"body": {"format": "seif-grant/1", "vault_id": "…", "generation": 1,
//!           "target": {"kind": "sealed-file", "name": "dump.seif", "header_hash": "…"},
//!           "commitment": "…", "recipient": "age1…", "granted": "2026-…Z",
//!           "wrapped_key": "<base64 age file>"},
//!  "signature": "…"}
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::descriptor::Descriptor;
use crate::encoding::{from_hex, to_hex};
use crate::keys::VaultKeys;
use crate::secrets::DataKey;
use crate::signed;
use crate::wrap::{self, WrapError};

/// Signature domain of a grant.
pub const DOMAIN_GRANT: &str = "seif/v1/grant";
/// The `format` of a grant.
pub const FORMAT: &str = "seif-grant/1";

/// What a grant opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Target {
    /// One sealed file, by the hash of its signed header.
    SealedFile {
        /// The file's name when granted (for people).
        name: String,
        /// SHA-256 of the sealed file's signed header.
        header_hash: String,
    },
    /// One snapshot in a store, by its id.
    Snapshot {
        /// The snapshot id.
        snapshot_id: String,
    },
}

/// The signed body of a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// Always [`FORMAT`].
    pub format: String,
    /// The vault.
    pub vault_id: String,
    /// The key generation that signed it.
    pub generation: u32,
    /// What it opens.
    pub target: Target,
    /// The data key's commitment (as in the sealed header or snapshot record).
    pub commitment: String,
    /// The recovery team's age recipient.
    pub recipient: String,
    /// When.
    pub granted: String,
    /// The data key wrapped to `recipient`: a binary age file, base64.
    pub wrapped_key: String,
}

/// Why a grant was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// Not a grant.
    #[error("not a seif grant: {0}")]
    Malformed(String),
    /// The signature does not verify under the vault key of its generation.
    #[error(
        "the grant's signature does not verify under the vault's key: it was altered or forged"
    )]
    BadSignature,
    /// The grant is for another vault, file or snapshot.
    #[error("the grant is for {0}")]
    WrongTarget(String),
    /// The key could not be (un)wrapped.
    #[error(transparent)]
    Wrap(#[from] WrapError),
}

/// A parsed grant.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The body.
    pub body: GrantBody,
    body_value: Value,
    signature: String,
}

impl Grant {
    /// Makes and signs a grant.
    pub fn issue(
        descriptor: &Descriptor,
        keys: &VaultKeys,
        target: Target,
        key: &DataKey,
        recipient: &str,
    ) -> Result<Self, GrantError> {
        let wrapped = wrap::wrap(key, &[recipient.to_owned()])?;
        let body = GrantBody {
            format: FORMAT.into(),
            vault_id: descriptor.body().vault_id.clone(),
            generation: descriptor.body().generation,
            target,
            commitment: to_hex(&wrap::key_commitment(key)),
            recipient: recipient.into(),
            granted: crate::time::now_rfc3339(),
            wrapped_key: STANDARD.encode(wrapped),
        };
        let body_value = serde_json::to_value(&body).expect("grant serializes");
        let signature = signed::sign(keys.signing_key(), DOMAIN_GRANT, &body_value)
            .expect("grant canonicalizes");
        Ok(Grant {
            body,
            body_value,
            signature,
        })
    }

    /// The grant file's text.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(
            &serde_json::json!({"body": self.body_value, "signature": self.signature}),
        )
        .expect("grant serializes");
        s.push('\n');
        s
    }

    /// Parses a grant file.
    pub fn from_json(bytes: &[u8]) -> Result<Self, GrantError> {
        // Messages may quote the file (serde names an unknown field): escaped.
        let bad = |m: String| GrantError::Malformed(crate::untrusted::escape(&m).into_owned());
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let Value::Object(mut doc) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let (Some(body_value), Some(Value::String(signature)), 2) =
            (doc.remove("body"), doc.remove("signature"), doc.len() + 2)
        else {
            return Err(bad("expected exactly 'body' and 'signature'".into()));
        };
        let body: GrantBody =
            serde_json::from_value(body_value.clone()).map_err(|e| bad(e.to_string()))?;
        if body.format != FORMAT {
            return Err(bad(format!("format '{}'", body.format)));
        }
        from_hex::<32>(&body.commitment).map_err(|_| bad("bad commitment".into()))?;
        Ok(Grant {
            body,
            body_value,
            signature,
        })
    }

    /// Checks the signature under the vault key of the grant's generation.
    pub fn verify(&self, descriptor: &Descriptor) -> Result<(), GrantError> {
        let d = descriptor.body();
        if self.body.vault_id != d.vault_id {
            return Err(GrantError::WrongTarget("another vault".into()));
        }
        let key_hex = if self.body.generation == d.generation {
            Some(&d.signing_key)
        } else {
            d.key_history
                .iter()
                .find(|g| g.generation == self.body.generation)
                .map(|g| &g.signing_key)
        };
        let key = key_hex
            .and_then(|k| signed::verifying_key_from_hex(k))
            .ok_or(GrantError::BadSignature)?;
        signed::verify(&key, DOMAIN_GRANT, &self.body_value, &self.signature)
            .map_err(|_| GrantError::BadSignature)
    }

    /// Unwraps the data key for `target` with the team's identities, checking
    /// that the grant covers exactly that target and that the key matches
    /// the target's own commitment.
    pub fn unwrap_for(
        &self,
        target: &Target,
        vault_id: &[u8; 32],
        commitment: &[u8; 32],
        identities: &[&dyn age::Identity],
    ) -> Result<DataKey, GrantError> {
        if self.body.vault_id != to_hex(vault_id) {
            return Err(GrantError::WrongTarget("another vault".into()));
        }
        let same = match (&self.body.target, target) {
            (
                Target::SealedFile { header_hash: a, .. },
                Target::SealedFile { header_hash: b, .. },
            ) => a == b,
            (Target::Snapshot { snapshot_id: a }, Target::Snapshot { snapshot_id: b }) => a == b,
            _ => false,
        };
        if !same {
            return Err(GrantError::WrongTarget(match &self.body.target {
                Target::SealedFile { name, .. } => {
                    format!("another sealed file ('{}')", crate::untrusted::Shown(name))
                }
                Target::Snapshot { snapshot_id } => {
                    format!(
                        "another snapshot ({})",
                        crate::untrusted::Shown(snapshot_id)
                    )
                }
            }));
        }
        if self.body.commitment != to_hex(commitment) {
            return Err(GrantError::WrongTarget("a different data key".into()));
        }
        let wrapped = STANDARD
            .decode(&self.body.wrapped_key)
            .map_err(|e| GrantError::Malformed(e.to_string()))?;
        Ok(wrap::unwrap(&wrapped, identities, commitment)?)
    }
}

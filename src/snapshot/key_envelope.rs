//! A snapshot's data key wrapped to the vault: a small public blob stored
//! under `keys/<snapshot id>/<SHA-256 of the blob>`. A push writes one for
//! the vault's current recipients; a key rotation writes another for the
//! new generation. It is not signed: the unwrapped key must match the
//! commitment in the sealer-signed record, so a swapped or forged envelope
//! opens nothing.
//!
//! ```json
//! {"commitment":"…","format":"seif-key/1","generation":1,"snapshot_id":"…","vault_id":"…","wrapped_key":"<base64 age file>"}
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::to_hex;
use crate::ids::{Commitment, SnapshotId, VaultId};
use crate::secrets::DataKey;
use crate::wrap::{self, WrapError};

/// The `format` of an envelope.
pub const FORMAT: &str = "seif-key/1";
/// The largest envelope read (a wrapped key is a few hundred bytes, or
/// about 2 KB with a post-quantum stanza).
pub const ENVELOPE_MAX: usize = 64 << 10;

/// A key envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEnvelope {
    /// Commitment to the data key (as in the record).
    pub commitment: Commitment,
    /// Always [`FORMAT`].
    pub format: String,
    /// The key generation of the recipients.
    pub generation: u32,
    /// The snapshot.
    pub snapshot_id: SnapshotId,
    /// The vault.
    pub vault_id: VaultId,
    /// A binary age file holding the 32-byte data key, base64.
    pub wrapped_key: String,
}

impl KeyEnvelope {
    /// Wraps a snapshot's data key to `recipients`.
    pub fn wrap(
        key: &DataKey,
        vault_id: VaultId,
        snapshot_id: SnapshotId,
        generation: u32,
        recipients: &[String],
    ) -> Result<Self, WrapError> {
        Ok(KeyEnvelope {
            commitment: Commitment(wrap::key_commitment(key)),
            format: FORMAT.into(),
            generation,
            snapshot_id,
            vault_id,
            wrapped_key: STANDARD.encode(wrap::wrap(key, recipients)?),
        })
    }

    /// An envelope around a key already wrapped (and checked) by the
    /// caller: a rotation checks each wrap before it writes it.
    pub fn from_wrapped(
        key: &DataKey,
        vault_id: VaultId,
        snapshot_id: SnapshotId,
        generation: u32,
        wrapped: &[u8],
    ) -> Self {
        KeyEnvelope {
            commitment: Commitment(wrap::key_commitment(key)),
            format: FORMAT.into(),
            generation,
            snapshot_id,
            vault_id,
            wrapped_key: STANDARD.encode(wrapped),
        }
    }

    /// The stored bytes (canonical JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::signed::canonical_json(&serde_json::to_value(self).expect("serializes"))
            .expect("canonical")
    }

    /// The store key of these bytes.
    pub fn store_key(&self) -> String {
        let bytes = self.to_bytes();
        format!(
            "keys/{}/{}",
            self.snapshot_id,
            to_hex(&Sha256::digest(&bytes))
        )
    }

    /// The prefix under which a snapshot's envelopes are stored.
    pub fn prefix(snapshot_id: &SnapshotId) -> String {
        format!("keys/{snapshot_id}/")
    }

    /// Parses an envelope.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > ENVELOPE_MAX {
            return Err(format!("{} bytes, more than {ENVELOPE_MAX}", bytes.len()));
        }
        let e: KeyEnvelope = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if e.format != FORMAT {
            return Err(format!("unknown format {}", e.format));
        }
        Ok(e)
    }

    /// Unwraps the key with any of `identities`, checked against `commitment`.
    pub fn unwrap(
        &self,
        identities: &[&dyn age::Identity],
        commitment: &Commitment,
    ) -> Result<DataKey, WrapError> {
        let wrapped = STANDARD
            .decode(&self.wrapped_key)
            .map_err(|e| WrapError::Damaged(e.to_string()))?;
        wrap::unwrap(&wrapped, identities, &commitment.0)
    }
}

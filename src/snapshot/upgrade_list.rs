//! The post-quantum upgrade list: which key envelope of each snapshot the
//! upgrade ceremony wrapped to the hybrid (`mlkem768x25519`) recipient,
//! signed by the new generation's vault key. Stored under
//! `upgrades/<SHA-256 of the bytes>` (FORMAT.md §8.10).
//!
//! Key envelopes are not signed (a wrong one just opens nothing), so a host
//! with no key cannot tell a good post-quantum envelope from garbage. Before
//! it deletes a snapshot's classic envelopes it needs the vault's word that
//! the snapshot's key stays reachable: this list names each post-quantum
//! envelope by the hash of its bytes, and the ceremony checked each one
//! (unwrapped with the new identity, against the key commitment) before
//! signing. A forged or altered list, or a list naming bytes the store does
//! not hold, lets nothing be deleted.
//!
//! ```json
//! {"body":{"envelopes":[{"envelope":"<64 hex>","snapshot_id":"<32 hex>"}],"format":"seif-pq-upgrade/1","generation":2,"time":"…","vault_id":"…"},"signature":"<128 hex>"}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::descriptor::Descriptor;
use crate::ids::{BlobId, SnapshotId, VaultId};
use crate::keys::VaultKeys;
use crate::signed::{self, SignedError};

/// The `format` of an upgrade list.
pub const FORMAT: &str = "seif-pq-upgrade/1";
/// Signature domain of an upgrade list.
pub const DOMAIN: &str = "seif/v1/pq-upgrade";
/// Where upgrade lists are stored.
pub const PREFIX: &str = "upgrades/";
/// The most envelopes one list names (a store of 100,000 snapshots).
pub const ENVELOPES_MAX: usize = 100_000;
/// The largest list read or written (about 110 bytes an envelope).
pub const UPGRADE_LIST_MAX: u64 = 16 << 20;

/// One snapshot's post-quantum key envelope, named by the SHA-256 of its
/// bytes: it is stored as `keys/<snapshot_id>/<envelope>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedEnvelope {
    /// The envelope's name (the SHA-256 of its bytes).
    pub envelope: BlobId,
    /// The snapshot.
    pub snapshot_id: SnapshotId,
}

impl ListedEnvelope {
    /// The envelope's store key.
    pub fn store_key(&self) -> String {
        format!("keys/{}/{}", self.snapshot_id, self.envelope)
    }
}

/// The signed body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    /// The post-quantum envelopes, sorted, at most one per snapshot.
    pub envelopes: Vec<ListedEnvelope>,
    /// Always [`FORMAT`].
    pub format: String,
    /// The key generation that signed it (the upgrade's new generation).
    pub generation: u32,
    /// When the ceremony signed it (RFC 3339 UTC; for people).
    pub time: String,
    /// The vault.
    pub vault_id: VaultId,
}

/// A verified upgrade list.
#[derive(Clone, Debug)]
pub struct UpgradeList {
    /// The verified body.
    pub body: UpgradeBody,
}

/// Why an upgrade list could not be made or was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeListError {
    /// Not the JSON this module writes, or over a limit.
    #[error("not an upgrade list: {0}")]
    Malformed(String),
    /// Another vault's list.
    #[error("it belongs to another vault ({0})")]
    OtherVault(VaultId),
    /// The generation is not one the vault's descriptor knows, or not a
    /// post-quantum one.
    #[error("{0}")]
    Generation(String),
    /// The signature does not verify under that generation's key.
    #[error(
        "its signature does not verify under the vault key of generation {0}: forged, altered, or signed by another key"
    )]
    BadSignature(u32),
    /// Canonicalization failed while signing.
    #[error(transparent)]
    Signed(#[from] SignedError),
}

fn malformed(why: impl Into<String>) -> UpgradeListError {
    UpgradeListError::Malformed(why.into())
}

/// Checks what a reader would refuse, so a writer never writes it.
fn check_body(body: &UpgradeBody) -> Result<(), UpgradeListError> {
    if body.format != FORMAT {
        return Err(malformed(format!(
            "format '{}', not {FORMAT}",
            crate::untrusted::escape(&body.format)
        )));
    }
    if body.envelopes.len() > ENVELOPES_MAX {
        return Err(malformed(format!(
            "{} envelopes, more than {ENVELOPES_MAX}",
            body.envelopes.len()
        )));
    }
    // Sorted by snapshot, one envelope each: a reader can then never be
    // asked to pick between two.
    if body
        .envelopes
        .windows(2)
        .any(|w| w[0].snapshot_id >= w[1].snapshot_id)
    {
        return Err(malformed(
            "envelopes are not sorted by snapshot, or a snapshot is named twice",
        ));
    }
    if body.time.len() > 64 || crate::untrusted::has_hidden_characters(&body.time) {
        return Err(malformed("the time is not a plain RFC 3339 time"));
    }
    Ok(())
}

/// The Ed25519 key of `generation` in `vault`, if that generation wraps
/// post-quantum: a list is trusted only from a post-quantum generation (a
/// classic one is what the upgrade replaces).
fn generation_key(
    vault: &Descriptor,
    generation: u32,
) -> Result<ed25519_dalek::VerifyingKey, UpgradeListError> {
    let b = vault.body();
    let (key, recipients) = if generation == b.generation {
        (*vault.signing_key(), &b.recipients)
    } else if let Some(p) = b.key_history.iter().find(|p| p.generation == generation) {
        let key = signed::verifying_key_from_hex(&p.signing_key).ok_or_else(|| {
            UpgradeListError::Generation(format!("generation {generation}'s key is not valid"))
        })?;
        (key, &p.recipients)
    } else {
        return Err(UpgradeListError::Generation(format!(
            "it is signed by key generation {generation}, which this vault.json (generation {}) does not know: give the vault.json the upgrade ceremony wrote, or a later one",
            b.generation
        )));
    };
    let pq = !recipients.is_empty()
        && recipients
            .iter()
            .all(|r| crate::wrap::parse_recipient(r).is_ok_and(|r| r.is_pq()));
    if !pq {
        return Err(UpgradeListError::Generation(format!(
            "it is signed by key generation {generation}, which is not post-quantum"
        )));
    }
    Ok(key)
}

impl UpgradeList {
    /// Signs a list of the post-quantum envelopes with the new
    /// generation's keys; returns the stored bytes (canonical JSON).
    pub fn sign(
        keys: &VaultKeys,
        vault_id: VaultId,
        generation: u32,
        mut envelopes: Vec<ListedEnvelope>,
    ) -> Result<Vec<u8>, UpgradeListError> {
        envelopes.sort_by_key(|e| e.snapshot_id);
        let body = UpgradeBody {
            envelopes,
            format: FORMAT.into(),
            generation,
            time: crate::time::now_rfc3339(),
            vault_id,
        };
        check_body(&body)?;
        let value = serde_json::to_value(&body).map_err(|e| malformed(e.to_string()))?;
        let signature = signed::sign(keys.signing_key(), DOMAIN, &value)?;
        let bytes =
            signed::canonical_json(&serde_json::json!({"body": value, "signature": signature}))?;
        if bytes.len() as u64 > UPGRADE_LIST_MAX {
            return Err(malformed(format!(
                "{} bytes, more than {UPGRADE_LIST_MAX}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// The store key of a list's bytes.
    pub fn store_key(bytes: &[u8]) -> String {
        format!("{PREFIX}{}", BlobId::of(bytes))
    }

    /// Parses a list and verifies it against the vault: this vault's,
    /// signed by the key of a post-quantum generation the descriptor
    /// holds (the current one or one in its key history).
    pub fn verify(bytes: &[u8], vault: &Descriptor) -> Result<Self, UpgradeListError> {
        if bytes.len() as u64 > UPGRADE_LIST_MAX {
            return Err(malformed(format!(
                "{} bytes, more than {UPGRADE_LIST_MAX}",
                bytes.len()
            )));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        let Value::Object(mut doc) = value else {
            return Err(malformed("not a JSON object"));
        };
        let (Some(body_value), Some(Value::String(signature)), 2) =
            (doc.remove("body"), doc.remove("signature"), doc.len() + 2)
        else {
            return Err(malformed(
                "expected exactly the fields 'body' and 'signature'",
            ));
        };
        let body: UpgradeBody =
            serde_json::from_value(body_value.clone()).map_err(|e| malformed(e.to_string()))?;
        check_body(&body)?;
        if body.vault_id.0 != vault.vault_id() {
            return Err(UpgradeListError::OtherVault(body.vault_id));
        }
        let key = generation_key(vault, body.generation)?;
        signed::verify(&key, DOMAIN, &body_value, &signature)
            .map_err(|_| UpgradeListError::BadSignature(body.generation))?;
        Ok(UpgradeList { body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::{Custodian, Descriptor, KeyWrapping, Protection, SetStatus, ShareSet};
    use crate::encoding::to_hex;
    use crate::secrets::VaultSecret;

    fn set(id: u8, generation: u32) -> ShareSet {
        ShareSet {
            id: to_hex(&[id; 16]),
            generation,
            status: SetStatus::Active,
            threshold: 2,
            custodians: (1..=3)
                .map(|i| Custodian {
                    index: i,
                    label: format!("c{i}"),
                    protection: Protection::Passphrase,
                    key: None,
                    commitment: to_hex(&[i; 32]),
                    ack_check: to_hex(&[i; 32]),
                })
                .collect(),
        }
    }

    /// A classic vault, and its upgrade to post-quantum.
    fn vaults() -> (VaultKeys, Descriptor, VaultKeys, Descriptor) {
        let old = VaultKeys::derive(&VaultSecret::generate());
        let classic =
            Descriptor::genesis_with("v", &old, set(1, 1), vec![], None, KeyWrapping::Classic)
                .unwrap();
        let new = VaultKeys::derive(&VaultSecret::generate());
        let pq = classic
            .rotate_to_post_quantum(&old, &new, |b| {
                b.share_sets[0].status = SetStatus::Retired;
                b.share_sets.push(set(2, 2));
            })
            .unwrap();
        (old, classic, new, pq)
    }

    fn listed(n: u8) -> ListedEnvelope {
        ListedEnvelope {
            envelope: BlobId([n; 32]),
            snapshot_id: SnapshotId([n; 16]),
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let (old, classic, new, pq) = vaults();
        let vid = VaultId(pq.vault_id());
        let bytes = UpgradeList::sign(&new, vid, 2, vec![listed(2), listed(1)]).unwrap();
        let l = UpgradeList::verify(&bytes, &pq).unwrap();
        assert_eq!(l.body.envelopes, vec![listed(1), listed(2)]);
        assert_eq!(
            l.body.envelopes[0].store_key(),
            format!("keys/{}/{}", "01".repeat(16), "01".repeat(32))
        );
        assert!(UpgradeList::store_key(&bytes).starts_with("upgrades/"));
        // Any changed byte of the body breaks the signature.
        let text = String::from_utf8(bytes.clone()).unwrap();
        let altered = text.replacen(&"01".repeat(32), &"03".repeat(32), 1);
        let e = UpgradeList::verify(altered.as_bytes(), &pq).unwrap_err();
        assert!(matches!(e, UpgradeListError::BadSignature(2)), "{e}");
        // Signed by the old (classic) generation's key: refused, whatever
        // generation it claims.
        let by_old = UpgradeList::sign(&old, vid, 2, vec![listed(1)]).unwrap();
        assert!(matches!(
            UpgradeList::verify(&by_old, &pq).unwrap_err(),
            UpgradeListError::BadSignature(2)
        ));
        let as_gen1 = UpgradeList::sign(&old, vid, 1, vec![listed(1)]).unwrap();
        let e = UpgradeList::verify(&as_gen1, &pq).unwrap_err().to_string();
        assert!(e.contains("not post-quantum"), "{e}");
        // The classic vault.json does not know generation 2.
        let e = UpgradeList::verify(&bytes, &classic)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not know"), "{e}");
        // Another vault's list.
        let other = UpgradeList::sign(&new, VaultId([7; 32]), 2, vec![]).unwrap();
        assert!(matches!(
            UpgradeList::verify(&other, &pq).unwrap_err(),
            UpgradeListError::OtherVault(_)
        ));
        // A snapshot named twice is refused on both sides.
        assert!(UpgradeList::sign(&new, vid, 2, vec![listed(1), listed(1)]).is_err());
        // Trailing fields, not JSON.
        let extra = text.replacen("{\"body\"", "{\"x\":1,\"body\"", 1);
        assert!(UpgradeList::verify(extra.as_bytes(), &pq).is_err());
        assert!(UpgradeList::verify(b"\xff", &pq).is_err());
    }
}

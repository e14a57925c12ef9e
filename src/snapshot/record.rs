//! The snapshot record: public, signed by the sealer. It names the snapshot
//! and every object it consists of (by SHA-256 and size), commits to the
//! snapshot's data key, and names the previous record, so that records form
//! a hash chain whose head the home side records to detect rollback.
//!
//! A record file is the canonical JSON of `{"body": …, "signature": …}` on
//! one line; it is stored under `records/<SHA-256 of the file>`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::encoding::{from_hex, to_hex};
use crate::sealer::{SealerPublicKey, SealerSecretKey};
use crate::signed;

/// The `format` of a record.
pub const FORMAT: &str = "seif-snapshot/1";
/// The sealer's signature domain.
pub const DOMAIN_RECORD: &str = "seif/v1/snapshot-record";
/// The largest record read (a record lists every object: 8 MiB packs, so a
/// 100 TB snapshot still fits).
pub const RECORD_MAX: usize = 64 << 20;

/// An object named by a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// SHA-256 of the object's bytes, lowercase hex.
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
}

impl ObjectRef {
    /// The object's key in a store.
    pub fn key(&self) -> String {
        object_key(&self.id)
    }
}

/// The store key of an object id.
pub fn object_key(id: &str) -> String {
    format!("objects/{}/{id}", &id[..2])
}

/// The store key of a record.
pub fn record_key(hash: &str) -> String {
    format!("records/{hash}")
}

/// The signed body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// Always [`FORMAT`].
    pub format: String,
    /// The vault.
    pub vault_id: String,
    /// Random 16 bytes, lowercase hex.
    pub snapshot_id: String,
    /// When the push finished (RFC 3339 UTC).
    pub time: String,
    /// The sealer (`seifsealer1…`).
    pub sealer: String,
    /// The hash of the previous record, `null` for the first.
    pub previous: Option<String>,
    /// Commitment to the snapshot's data key.
    pub commitment: String,
    /// The data packs, in order (manifest segments index into this list).
    pub packs: Vec<ObjectRef>,
    /// The manifest's parts, in order.
    pub manifest: Vec<ObjectRef>,
}

/// A record with a verified signature.
#[derive(Clone, Debug)]
pub struct Record {
    /// The body.
    pub body: RecordBody,
    /// The sealer.
    pub sealer: SealerPublicKey,
    /// SHA-256 of the record file.
    pub hash: String,
}

/// Why a record was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Not a record.
    #[error("not a snapshot record: {0}")]
    Malformed(String),
    /// The bytes do not hash to the record's name.
    #[error("its bytes do not match its name (altered or swapped)")]
    WrongHash,
    /// The signature does not verify under the named sealer.
    #[error("the sealer's signature does not verify (altered or forged)")]
    BadSignature,
}

impl Record {
    /// Signs a body; returns the record and the bytes to store.
    pub fn sign(body: RecordBody, sealer: &SealerSecretKey) -> (Record, Vec<u8>) {
        let value = serde_json::to_value(&body).expect("record serializes");
        let msg = signed::signed_message(DOMAIN_RECORD, &value).expect("canonical");
        let signature = to_hex(&sealer.sign(&msg));
        let bytes =
            signed::canonical_json(&serde_json::json!({"body": value, "signature": signature}))
                .expect("canonical");
        let hash = to_hex(&Sha256::digest(&bytes));
        (
            Record {
                body,
                sealer: sealer.public(),
                hash,
            },
            bytes,
        )
    }

    /// Parses and verifies a record file; `name` is the hash it is stored
    /// under, if known.
    pub fn parse(bytes: &[u8], name: Option<&str>) -> Result<Record, RecordError> {
        let bad = |m: String| RecordError::Malformed(m);
        if bytes.len() > RECORD_MAX {
            return Err(bad("too large".into()));
        }
        let hash = to_hex(&Sha256::digest(bytes));
        if name.is_some_and(|n| n != hash) {
            return Err(RecordError::WrongHash);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let Value::Object(mut doc) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let (Some(body_value), Some(Value::String(sig)), 2) =
            (doc.remove("body"), doc.remove("signature"), doc.len() + 2)
        else {
            return Err(bad("expected exactly 'body' and 'signature'".into()));
        };
        let body: RecordBody =
            serde_json::from_value(body_value.clone()).map_err(|e| bad(e.to_string()))?;
        if body.format != FORMAT {
            return Err(bad(format!("unknown format {}", body.format)));
        }
        from_hex::<32>(&body.vault_id).map_err(|_| bad("bad vault id".into()))?;
        from_hex::<16>(&body.snapshot_id).map_err(|_| bad("bad snapshot id".into()))?;
        from_hex::<32>(&body.commitment).map_err(|_| bad("bad commitment".into()))?;
        if let Some(p) = &body.previous {
            from_hex::<32>(p).map_err(|_| bad("bad previous".into()))?;
        }
        for o in body.packs.iter().chain(&body.manifest) {
            from_hex::<32>(&o.id).map_err(|_| bad("bad object id".into()))?;
            if crate::snapshot::object::plain_len(o.size).is_none() {
                return Err(bad(format!(
                    "object {} has an impossible size {}",
                    o.id, o.size
                )));
            }
        }
        if body.manifest.is_empty() {
            return Err(bad("no manifest".into()));
        }
        let sealer: SealerPublicKey = body
            .sealer
            .parse()
            .map_err(|_| bad("bad sealer key".into()))?;
        let sig = from_hex::<64>(&sig).map_err(|_| RecordError::BadSignature)?;
        let msg =
            signed::signed_message(DOMAIN_RECORD, &body_value).map_err(|e| bad(e.to_string()))?;
        if !sealer.verify(&msg, &sig) {
            return Err(RecordError::BadSignature);
        }
        // The stored bytes must be the canonical form, so the name (a hash)
        // has one spelling.
        let canonical = signed::canonical_json(
            &serde_json::json!({"body": body_value, "signature": to_hex(&sig)}),
        )
        .map_err(|e| bad(e.to_string()))?;
        if canonical != bytes {
            return Err(bad("not in canonical form".into()));
        }
        Ok(Record { body, sealer, hash })
    }

    /// The snapshot id, raw.
    pub fn snapshot_id(&self) -> [u8; 16] {
        from_hex(&self.body.snapshot_id).expect("validated")
    }

    /// The vault id, raw.
    pub fn vault_id(&self) -> [u8; 32] {
        from_hex(&self.body.vault_id).expect("validated")
    }

    /// The commitment, raw.
    pub fn commitment(&self) -> [u8; 32] {
        from_hex(&self.body.commitment).expect("validated")
    }

    /// Total bytes of its objects.
    pub fn stored_bytes(&self) -> u64 {
        self.body
            .packs
            .iter()
            .chain(&self.body.manifest)
            .map(|o| o.size)
            .sum()
    }
}

/// The shape of a chain of records.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chain {
    /// Records no other record names as previous.
    pub heads: Vec<String>,
    /// Records whose previous is missing from the store.
    pub broken: Vec<(String, String)>,
    /// Records named as previous by more than one record (a fork).
    pub forks: Vec<String>,
    /// Records with no previous (normally exactly one).
    pub roots: Vec<String>,
}

/// Analyses the chain formed by `previous` links among records.
pub fn chain(records: &BTreeMap<String, Record>) -> Chain {
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    let mut c = Chain::default();
    for r in records.values() {
        match &r.body.previous {
            None => c.roots.push(r.hash.clone()),
            Some(p) => {
                *named.entry(p.as_str()).or_default() += 1;
                if !records.contains_key(p) {
                    c.broken.push((r.hash.clone(), p.clone()));
                }
            }
        }
    }
    for r in records.values() {
        match named.get(r.hash.as_str()) {
            None => c.heads.push(r.hash.clone()),
            Some(&n) if n > 1 => c.forks.push(r.hash.clone()),
            _ => {}
        }
    }
    c
}

/// The records from `head` back along `previous` links (head first), as far
/// as the store has them.
pub fn ancestry<'r>(records: &'r BTreeMap<String, Record>, head: &str) -> Vec<&'r Record> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut at = records.get(head);
    while let Some(r) = at {
        if !seen.insert(r.hash.as_str()) {
            break;
        }
        out.push(r);
        at = r.body.previous.as_deref().and_then(|p| records.get(p));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(previous: Option<String>) -> RecordBody {
        RecordBody {
            format: FORMAT.into(),
            vault_id: "11".repeat(32),
            snapshot_id: to_hex(&crate::secrets::random_array::<16>()),
            time: "2026-11-27T00:00:00Z".into(),
            sealer: String::new(),
            previous,
            commitment: "22".repeat(32),
            packs: vec![ObjectRef {
                id: "33".repeat(32),
                size: crate::snapshot::object::sealed_len(100),
            }],
            manifest: vec![ObjectRef {
                id: "44".repeat(32),
                size: crate::snapshot::object::sealed_len(50),
            }],
        }
    }

    #[test]
    fn sign_parse_and_tamper() {
        let s = SealerSecretKey::generate();
        let mut b = body(None);
        b.sealer = s.public().to_string();
        let (r, bytes) = Record::sign(b, &s);
        let back = Record::parse(&bytes, Some(&r.hash)).unwrap();
        assert_eq!(back.body, r.body);
        assert_eq!(
            Record::parse(&bytes, Some(&"00".repeat(32))).unwrap_err(),
            RecordError::WrongHash
        );
        let text = String::from_utf8(bytes.clone()).unwrap();
        let altered = text.replace(&"33".repeat(32), &"35".repeat(32));
        assert_eq!(
            Record::parse(altered.as_bytes(), None).unwrap_err(),
            RecordError::BadSignature
        );
        // Signed by one sealer, claiming another.
        let other = SealerSecretKey::generate();
        let claimed = text.replace(&s.public().to_string(), &other.public().to_string());
        assert_eq!(
            Record::parse(claimed.as_bytes(), None).unwrap_err(),
            RecordError::BadSignature
        );
    }

    #[test]
    fn chain_shapes() {
        let s = SealerSecretKey::generate();
        let mk = |prev: Option<String>| {
            let mut b = body(prev);
            b.sealer = s.public().to_string();
            Record::sign(b, &s).0
        };
        let a = mk(None);
        let b = mk(Some(a.hash.clone()));
        let c = mk(Some(b.hash.clone()));
        let fork = mk(Some(b.hash.clone()));
        let mut m: BTreeMap<String, Record> = [&a, &b, &c]
            .iter()
            .map(|r| (r.hash.clone(), (*r).clone()))
            .collect();
        let ch = chain(&m);
        assert_eq!(ch.heads, vec![c.hash.clone()]);
        assert!(ch.forks.is_empty() && ch.broken.is_empty());
        assert_eq!(ancestry(&m, &c.hash).len(), 3);
        m.insert(fork.hash.clone(), fork.clone());
        let ch = chain(&m);
        assert_eq!(ch.forks, vec![b.hash.clone()]);
        assert_eq!(ch.heads.len(), 2);
        m.remove(&b.hash);
        let ch = chain(&m);
        assert_eq!(ch.broken.len(), 2);
    }
}

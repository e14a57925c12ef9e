//! The snapshot record: public, small, signed by the sealer. It names the
//! snapshot, commits to the snapshot's data key, names the snapshot's
//! object lists by hash (`list`: what the snapshot consists of), and names
//! the records it follows in its store, so that a store's records form a
//! hash chain (a graph, when pushes ran at once) whose heads the home side
//! records to detect rollback.
//!
//! A record file is the canonical JSON of `{"body": …, "signature": …}` on
//! one line; it is stored under `records/<SHA-256 of the file>`. A record
//! whose `sealer` is a hybrid spelling (`seifsealerpq1…`) also carries the
//! sealer's ML-DSA-65 key (`sealer_mldsa65`) and signature
//! (`signature_mldsa65`), and is taken only when both signatures verify.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encoding::{from_hex, to_hex};
use crate::ids::{BlobId, Commitment, SnapshotId, VaultId};
use crate::mldsa::MlDsaPublicKey;
use crate::sealer::{SealerPublicKey, SealerSecretKey};
use crate::signed;

/// The `format` of a record.
pub const FORMAT: &str = "seif-snapshot/2";
/// The sealer's signature domain.
pub const DOMAIN_RECORD: &str = "seif/v1/snapshot-record";
/// The largest record read. A record's size does not grow with the
/// snapshot's (the lists do); this bounds the lists of a snapshot of some
/// petabytes and the heads it follows.
pub const RECORD_MAX: usize = 1 << 20;
/// The most records a record may follow.
pub const PREVIOUS_MAX: usize = 1024;

/// The store key of an object id (a sealed pack or manifest part).
pub fn object_key(id: &BlobId) -> String {
    let hex = id.to_hex();
    format!("objects/{}/{hex}", &hex[..2])
}

/// The store key of an object list.
pub fn list_key(id: &BlobId) -> String {
    format!("lists/{id}")
}

/// The store key of a record.
pub fn record_key(hash: &BlobId) -> String {
    format!("records/{hash}")
}

/// Public sums of what a snapshot consists of, for people and for checks
/// (the lists must agree with them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Earlier snapshots whose packs it reuses.
    pub bases: u64,
    /// Stored bytes of every object it needs (its own and reused).
    pub bytes: u64,
    /// Manifest parts.
    pub manifest_parts: u64,
    /// Bytes of the objects this snapshot stored itself.
    pub new_bytes: u64,
    /// Packs this snapshot stored itself.
    pub new_packs: u64,
    /// Packs it needs (its own and reused).
    pub packs: u64,
}

/// A reference to a list: its id and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRef {
    /// SHA-256 of the list's bytes.
    pub id: BlobId,
    /// Its size.
    pub size: u64,
}

/// The signed body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// Commitment to the snapshot's data key.
    pub commitment: Commitment,
    /// Always [`FORMAT`].
    pub format: String,
    /// The object lists, in order.
    pub lists: Vec<ListRef>,
    /// The records this one follows in its store (that store's heads when
    /// the push ended), sorted; empty for the first.
    pub previous: Vec<BlobId>,
    /// The sealer (`seifsealerpq1…`, or `seifsealer1…` for a sealer the
    /// vault lists classic).
    pub sealer: String,
    /// The snapshot.
    pub snapshot_id: SnapshotId,
    /// Sums of the lists.
    pub summary: Summary,
    /// When the push finished, by the sealer's clock (RFC 3339 UTC). A host
    /// judges age by when the record arrived, not by this (SECURITY.md).
    pub time: String,
    /// The vault.
    pub vault_id: VaultId,
}

/// A record with a verified signature.
#[derive(Clone, Debug)]
pub struct Record {
    /// The body.
    pub body: RecordBody,
    /// The sealer.
    pub sealer: SealerPublicKey,
    /// SHA-256 of the record file.
    pub hash: BlobId,
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
    /// Signs a body, hybrid if `body.sealer` is the hybrid spelling of
    /// `sealer`'s key; returns the record and the bytes to store.
    ///
    /// # Panics
    /// If `body.sealer` is not a spelling of `sealer`'s own key.
    pub fn sign(body: RecordBody, sealer: &SealerSecretKey) -> (Record, Vec<u8>) {
        let named: SealerPublicKey = body.sealer.parse().expect("a sealer key");
        assert!(
            named.classic() == sealer.public_classic(),
            "a record names its own sealer"
        );
        let value = serde_json::to_value(&body).expect("record serializes");
        let msg = signed::signed_message(DOMAIN_RECORD, &value).expect("canonical");
        let mut doc = serde_json::json!({"body": value, "signature": to_hex(&sealer.sign(&msg))});
        if let Some(fingerprint) = named.mldsa_fingerprint() {
            let mldsa = sealer.mldsa();
            let public = mldsa.public();
            assert!(
                *fingerprint == public.fingerprint(),
                "a record names its own sealer"
            );
            doc["sealer_mldsa65"] = Value::String(public.to_hex());
            doc["signature_mldsa65"] = Value::String(to_hex(&mldsa.sign(&msg)));
        }
        let bytes = signed::canonical_json(&doc).expect("canonical");
        let hash = BlobId::of(&bytes);
        (
            Record {
                body,
                sealer: named,
                hash,
            },
            bytes,
        )
    }

    /// Parses and verifies a record file; `name` is the hash it is stored
    /// under, if known.
    pub fn parse(bytes: &[u8], name: Option<&BlobId>) -> Result<Record, RecordError> {
        let bad = |m: String| RecordError::Malformed(m);
        if bytes.len() > RECORD_MAX {
            return Err(bad("too large".into()));
        }
        let hash = BlobId::of(bytes);
        if name.is_some_and(|n| *n != hash) {
            return Err(RecordError::WrongHash);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let Value::Object(mut doc) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let hybrid = match (
            doc.remove("sealer_mldsa65"),
            doc.remove("signature_mldsa65"),
        ) {
            (Some(Value::String(k)), Some(Value::String(sig))) => Some((k, sig)),
            (None, None) => None,
            _ => {
                return Err(bad(
                    "'sealer_mldsa65' and 'signature_mldsa65' come together".into(),
                ));
            }
        };
        let (Some(body_value), Some(Value::String(sig)), 2) =
            (doc.remove("body"), doc.remove("signature"), doc.len() + 2)
        else {
            return Err(bad(
                "expected exactly 'body', 'signature' and, if hybrid, 'sealer_mldsa65' and 'signature_mldsa65'"
                    .into(),
            ));
        };
        if body_value.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(bad(
                "not a record of this format (seif-snapshot/2; stores of seif 0.1 are read by seif 0.1)".into(),
            ));
        }
        let body: RecordBody =
            serde_json::from_value(body_value.clone()).map_err(|e| bad(e.to_string()))?;
        if body.lists.is_empty() {
            return Err(bad("no object list".into()));
        }
        if body.previous.len() > PREVIOUS_MAX || !body.previous.windows(2).all(|w| w[0] < w[1]) {
            return Err(bad("'previous' is not a short sorted list".into()));
        }
        let sealer: SealerPublicKey = body
            .sealer
            .parse()
            .map_err(|_| bad("bad sealer key".into()))?;
        let sig = from_hex::<64>(&sig).map_err(|_| RecordError::BadSignature)?;
        let msg =
            signed::signed_message(DOMAIN_RECORD, &body_value).map_err(|e| bad(e.to_string()))?;
        // The sealer's spelling decides what is required: a hybrid sealer's
        // record without its ML-DSA half is refused, never taken as
        // classic (and a classic spelling is accepted only where a vault
        // lists it so, `Descriptor::accepts`).
        let verified = match (&hybrid, sealer.mldsa_fingerprint()) {
            (None, None) => sealer.verify(&msg, &sig),
            (Some((k, msig)), Some(_)) => {
                let key = MlDsaPublicKey::from_hex(k)
                    .ok_or_else(|| bad("'sealer_mldsa65' is not an ML-DSA-65 key".into()))?;
                if msig.bytes().any(|b| b.is_ascii_uppercase()) {
                    return Err(bad("not in canonical form".into()));
                }
                let msig = hex::decode(msig).map_err(|_| RecordError::BadSignature)?;
                sealer.verify_hybrid(&msg, &sig, &key, &msig)
            }
            (None, Some(_)) => {
                return Err(bad(
                    "the sealer signs hybrid (seifsealerpq1…) but the record has no ML-DSA-65 signature".into(),
                ));
            }
            (Some(_), None) => {
                return Err(bad(
                    "an ML-DSA-65 signature by a sealer named classic (seifsealer1…)".into(),
                ));
            }
        };
        if !verified {
            return Err(RecordError::BadSignature);
        }
        // The stored bytes must be the canonical form, so the name (a hash)
        // has one spelling.
        let mut doc = serde_json::json!({"body": body_value, "signature": to_hex(&sig)});
        if let Some((k, msig)) = hybrid {
            doc["sealer_mldsa65"] = Value::String(k);
            doc["signature_mldsa65"] = Value::String(msig);
        }
        let canonical = signed::canonical_json(&doc).map_err(|e| bad(e.to_string()))?;
        if canonical != bytes {
            return Err(bad("not in canonical form".into()));
        }
        Ok(Record { body, sealer, hash })
    }
}

/// The shape of a store's records: a graph through `previous`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chain {
    /// Records no other record follows, sorted.
    pub heads: Vec<BlobId>,
    /// `(record, previous it names that the store does not hold)`.
    pub broken: Vec<(BlobId, BlobId)>,
    /// Records that follow none (the first in their store; more than one
    /// only when pushes began at once, or a store was restarted).
    pub roots: Vec<BlobId>,
}

/// Analyses the graph formed by `previous` links among records.
pub fn chain(records: &BTreeMap<BlobId, Record>) -> Chain {
    let mut named: BTreeSet<BlobId> = BTreeSet::new();
    let mut c = Chain::default();
    for r in records.values() {
        if r.body.previous.is_empty() {
            c.roots.push(r.hash);
        }
        for p in &r.body.previous {
            named.insert(*p);
            if !records.contains_key(p) {
                c.broken.push((r.hash, *p));
            }
        }
    }
    c.heads = records
        .keys()
        .filter(|h| !named.contains(h))
        .copied()
        .collect();
    c
}

/// Every record reachable from `from` through `previous` (itself
/// included), as far as the store has them.
pub fn ancestry(records: &BTreeMap<BlobId, Record>, from: &BlobId) -> BTreeSet<BlobId> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![*from];
    while let Some(h) = stack.pop() {
        let Some(r) = records.get(&h) else { continue };
        if seen.insert(h) {
            stack.extend(r.body.previous.iter().copied());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(previous: Vec<BlobId>, s: &SealerSecretKey) -> RecordBody {
        RecordBody {
            commitment: Commitment([0x22; 32]),
            format: FORMAT.into(),
            lists: vec![ListRef {
                id: BlobId([0x33; 32]),
                size: 100,
            }],
            previous,
            sealer: s.public().to_string(),
            snapshot_id: SnapshotId::random(),
            summary: Summary::default(),
            time: "2026-11-27T00:00:00Z".into(),
            vault_id: VaultId([0x11; 32]),
        }
    }

    #[test]
    fn sign_parse_and_tamper() {
        let s = SealerSecretKey::generate();
        let (r, bytes) = Record::sign(body(vec![], &s), &s);
        let back = Record::parse(&bytes, Some(&r.hash)).unwrap();
        assert_eq!(back.body, r.body);
        assert_eq!(
            Record::parse(&bytes, Some(&BlobId([0; 32]))).unwrap_err(),
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
        // Unsorted previous.
        let (_, b2) = Record::sign(body(vec![BlobId([2; 32]), BlobId([1; 32])], &s), &s);
        assert!(matches!(
            Record::parse(&b2, None),
            Err(RecordError::Malformed(_))
        ));
    }

    /// A record by a sealer spelt hybrid carries both signatures and is
    /// refused without either; the same key spelt classic makes a classic
    /// record, which a vault that lists the hybrid spelling does not take.
    #[test]
    fn hybrid_records_need_both_signatures() {
        let s = SealerSecretKey::generate();
        let (r, bytes) = Record::sign(body(vec![], &s), &s);
        assert_eq!(r.sealer, s.public());
        assert!(r.sealer.mldsa_fingerprint().is_some());
        let back = Record::parse(&bytes, Some(&r.hash)).unwrap();
        assert_eq!(back.sealer, s.public());
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
            let Value::Object(mut m) = doc.clone() else {
                unreachable!()
            };
            f(&mut m);
            Record::parse(&signed::canonical_json(&Value::Object(m)).unwrap(), None)
        };
        let e = with(&|m| {
            m.remove("sealer_mldsa65");
            m.remove("signature_mldsa65");
        })
        .unwrap_err();
        assert!(e.to_string().contains("no ML-DSA-65 signature"), "{e}");
        assert!(
            with(&|m| {
                m.remove("signature_mldsa65");
            })
            .is_err()
        );
        // The ML-DSA signature bent; then another sealer's ML-DSA key and
        // signature, valid in themselves, in place of the named one.
        let sig = doc["signature_mldsa65"].as_str().unwrap().to_owned();
        let bent = format!(
            "{}{}",
            if sig.starts_with('0') { "1" } else { "0" },
            &sig[1..]
        );
        assert_eq!(
            with(&|m| {
                m.insert("signature_mldsa65".into(), Value::String(bent.clone()));
            })
            .unwrap_err(),
            RecordError::BadSignature
        );
        let other = SealerSecretKey::generate().mldsa();
        let msg = signed::signed_message(DOMAIN_RECORD, &doc["body"]).unwrap();
        assert_eq!(
            with(&|m| {
                m.insert(
                    "sealer_mldsa65".into(),
                    Value::String(other.public().to_hex()),
                );
                m.insert(
                    "signature_mldsa65".into(),
                    Value::String(to_hex(&other.sign(&msg))),
                );
            })
            .unwrap_err(),
            RecordError::BadSignature
        );

        // The classic spelling: a valid classic record, which only a vault
        // that lists the classic spelling accepts.
        let mut b = body(vec![], &s);
        b.sealer = s.public().classic().to_string();
        let (classic, cbytes) = Record::sign(b, &s);
        assert_eq!(
            Record::parse(&cbytes, None).unwrap().sealer,
            s.public().classic()
        );
        let keys = crate::keys::VaultKeys::derive(&crate::secrets::VaultSecret::generate());
        let vault = crate::descriptor::Descriptor::genesis(
            "v",
            &keys,
            crate::descriptor::tests::test_set(3, 2),
            vec![crate::descriptor::SealerEntry {
                key: s.public().to_string(),
                label: "p".into(),
            }],
        )
        .unwrap();
        let id = vault.vault_id();
        assert_eq!(vault.accepts(&id, Some(&r.sealer), false), Ok(()));
        assert!(vault.accepts(&id, Some(&classic.sealer), false).is_err());
        // A sealed file names the Ed25519 key only: either spelling listed
        // accepts it.
        assert_eq!(
            vault.accepts_file(&id, Some(&classic.sealer), false),
            Ok(())
        );
    }

    #[test]
    fn chain_shapes() {
        let s = SealerSecretKey::generate();
        let mk = |prev: Vec<BlobId>| Record::sign(body(prev, &s), &s).0;
        let a = mk(vec![]);
        let b = mk(vec![a.hash]);
        let c = mk(vec![b.hash]);
        let sibling = mk(vec![b.hash]);
        let mut m: BTreeMap<BlobId, Record> = [&a, &b, &c]
            .iter()
            .map(|r| (r.hash, (*r).clone()))
            .collect();
        let ch = chain(&m);
        assert_eq!(ch.heads, vec![c.hash]);
        assert!(ch.broken.is_empty());
        assert_eq!(ancestry(&m, &c.hash).len(), 3);
        m.insert(sibling.hash, sibling.clone());
        let ch = chain(&m);
        assert_eq!(ch.heads.len(), 2, "two pushes at once: two heads");
        let mut both = vec![c.hash, sibling.hash];
        both.sort();
        let merge = mk(both);
        m.insert(merge.hash, merge.clone());
        assert_eq!(
            chain(&m).heads,
            vec![merge.hash],
            "the next push joins them"
        );
        m.remove(&b.hash);
        assert_eq!(chain(&m).broken.len(), 2);
    }
}

//! The vault descriptor (`vault.json`): public, self-signed by the vault key.
//!
//! It names the vault and publishes what everyone else needs: the vault id,
//! the public keys derived from the vault secret, the share sets with their
//! custodians and share commitments, and the sealers the vault accepts.
//!
//! The vault id is self-certifying: it is the hash of the first
//! generation's signing key (both keys, for a vault whose first generation
//! signs hybrid), and each later generation is endorsed by the one before
//! it (`key_history`). So anyone who knows the vault id (it is printed at
//! `init` for the witnesses, and it is in every sealed file) can check a
//! descriptor with no other trust: the chain of keys must lead back to the
//! id, and the newest key must sign the body.
//!
//! Post-quantum generations sign hybrid: Ed25519 and ML-DSA-65 over the same
//! bytes, both required (FORMAT.md section 10). Once a generation in the
//! chain has an ML-DSA key, every later one must have one, and every later
//! endorsement and body carries both signatures: a descriptor can never go
//! back to Ed25519 alone.

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::encoding::{from_hex, to_hex};
use crate::keys::{VaultKeys, VaultPublicKeys};
use crate::mldsa::MlDsaPublicKey;
use crate::sealer::SealerPublicKey;
use crate::signed::{self, DOMAIN_DESCRIPTOR, DOMAIN_ROTATION, SignedError};
use crate::wrap::parse_recipient;

/// The `format` field of a version 1 descriptor.
pub const FORMAT_V1: &str = "seif-vault/1";
/// Domain label hashed with the first signing key to make the vault id.
pub const LABEL_VAULT_ID: &str = "seif/v1/vault-id";
/// Domain label hashed with both first signing keys (Ed25519, then
/// ML-DSA-65) to make the id of a vault whose first generation signs
/// hybrid.
pub const LABEL_VAULT_ID_HYBRID: &str = "seif/v1/vault-id-hybrid";
/// The largest descriptor read.
pub const DESCRIPTOR_MAX: u64 = 4 * 1024 * 1024;
/// The most custodians in one share set (Shamir over GF(256)).
pub const MAX_CUSTODIANS: usize = 255;
/// The longest vault name, custodian label or sealer label, in bytes.
pub const MAX_LABEL: usize = 256;

/// Why a descriptor was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The file could not be read.
    #[error("cannot read the vault descriptor: {0}")]
    Io(#[from] std::io::Error),
    /// Not JSON, or not of the descriptor's shape.
    #[error("the vault descriptor is malformed: {0}")]
    Malformed(String),
    /// A format this version of seif does not know.
    #[error("the vault descriptor has format '{0}', this seif reads {FORMAT_V1}")]
    UnknownFormat(String),
    /// A field breaks a rule of the format.
    #[error("the vault descriptor is invalid: {0}")]
    Invalid(String),
    /// The chain of signing keys does not lead back to the vault id.
    #[error("the vault descriptor's keys do not lead back to its vault id: {0}")]
    BrokenKeyChain(String),
    /// The signature over the body does not verify.
    #[error("the vault descriptor's signature does not verify: it was altered or forged")]
    BadSignature,
    /// The body cannot be canonicalized.
    #[error(transparent)]
    Signed(#[from] SignedError),
}

fn invalid(msg: impl Into<String>) -> DescriptorError {
    DescriptorError::Invalid(msg.into())
}

/// A parser's complaint, which may quote the file (an unknown field's
/// name), escaped for display.
fn malformed(e: serde_json::Error) -> DescriptorError {
    DescriptorError::Malformed(crate::untrusted::escape(&e.to_string()).into_owned())
}

/// Why a vault does not take a sealed file or a snapshot
/// ([`Descriptor::accepts`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAccepted {
    /// Sealed to another vault (this id).
    #[error("sealed to another vault ({}…)", &to_hex(.0)[..16])]
    OtherVault([u8; 32]),
    /// Signed by a sealer the vault does not list.
    #[error("sealed by {0}, a sealer the vault does not accept")]
    Sealer(Box<SealerPublicKey>),
    /// Not signed at all.
    #[error("unsigned (anyone holding vault.json could have made it)")]
    Unsigned,
}

/// How a custodian's share is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protection {
    /// An OpenPGP message to the custodian's certificate.
    Openpgp,
    /// An age file to the custodian's age recipient.
    Age,
    /// Argon2id + XChaCha20-Poly1305 under the custodian's passphrase.
    Passphrase,
    /// One-pass ECDH to the key of the custodian's card (an ID card, a PIV
    /// token, an HSM), opened over PKCS#11. The public descriptor names no
    /// card key: an ID card's key is in a public certificate naming the
    /// official.
    Pkcs11,
}

/// A custodian of one share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custodian {
    /// The share's index (its Shamir x-coordinate), 1..=255.
    pub index: u8,
    /// The custodian's label, unique in the set.
    pub label: String,
    /// How the share file is protected.
    pub protection: Protection,
    /// The OpenPGP fingerprint or the age recipient the share was encrypted
    /// to; `null` for a passphrase.
    pub key: Option<String>,
    /// Commitment to the share (lowercase hex SHA-256, see FORMAT.md).
    pub commitment: String,
    /// Hash of the acknowledgement token that `verify-share` logs (see
    /// FORMAT.md, "Share sets").
    pub ack_check: String,
}

/// The life of a share set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetStatus {
    /// Issued by `reshare`, not yet verified by a threshold of its custodians.
    Pending,
    /// The set whose shares open the vault.
    Active,
    /// Replaced by a newer set; its shares are refused.
    Retired,
}

/// One Shamir split of the vault secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareSet {
    /// Random 16-byte id, lowercase hex.
    pub id: String,
    /// The key generation whose secret this set splits.
    pub generation: u32,
    /// Pending, active or retired.
    pub status: SetStatus,
    /// How many shares reconstruct the secret.
    pub threshold: u8,
    /// The custodians, by index.
    pub custodians: Vec<Custodian>,
}

/// A sealer the vault accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealerEntry {
    /// The sealer's public key (`seifsealer1…`).
    pub key: String,
    /// A name for people (which pipeline it is).
    pub label: String,
}

/// An earlier key generation, endorsing its successor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastGeneration {
    /// Its generation number.
    pub generation: u32,
    /// Its Ed25519 verifying key, lowercase hex.
    pub signing_key: String,
    /// Its ML-DSA-65 verifying key, lowercase hex, if it signed hybrid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_mldsa65: Option<String>,
    /// Its age recipients.
    pub recipients: Vec<String>,
    /// Its signature (domain `seif/v1/key-rotation`) over the next
    /// generation's `{vault_id, generation, signing_key,
    /// signing_key_mldsa65 (if any), recipients}`.
    pub successor_signature: String,
    /// The ML-DSA-65 signature over the same, if it signed hybrid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor_signature_mldsa65: Option<String>,
}

/// The signed body of a descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescriptorBody {
    /// Always [`FORMAT_V1`].
    pub format: String,
    /// The vault id: SHA-256 of the first generation's signing key.
    pub vault_id: String,
    /// The vault's name.
    pub name: String,
    /// Incremented by every change.
    pub revision: u64,
    /// When this revision was signed (RFC 3339 UTC).
    pub updated: String,
    /// Fingerprint of the previous revision, `null` for the first.
    pub previous: Option<String>,
    /// The current key generation (1 at `init`, +1 at every `rotate`).
    pub generation: u32,
    /// The current age recipients of the vault: the hybrid post-quantum
    /// recipient (`age1pq1…`) for vaults made since post-quantum wrapping,
    /// the X25519 one (`age1…`) for older vaults. Never both kinds.
    pub recipients: Vec<String>,
    /// The current Ed25519 verifying key, lowercase hex.
    pub signing_key: String,
    /// The current ML-DSA-65 verifying key, lowercase hex: present when the
    /// current generation signs hybrid (every post-quantum generation made
    /// since hybrid signatures), and then the document carries
    /// `signature_mldsa65` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_mldsa65: Option<String>,
    /// Earlier generations, oldest first.
    pub key_history: Vec<PastGeneration>,
    /// Share sets, oldest first.
    pub share_sets: Vec<ShareSet>,
    /// Sealers whose signatures the vault accepts.
    pub sealers: Vec<SealerEntry>,
    /// The retention policy, set by a ceremony; absent: keep every
    /// snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::retention::Retention>,
    /// The post-quantum policy: data keys are wrapped to post-quantum
    /// (`mlkem768x25519`) recipients only; pipelines refuse to seal or push
    /// otherwise, and `seif verify` fails on classic-only data keys. Absent
    /// (false) in descriptors of classic vaults.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pq: bool,
}

/// Which recipient a new vault publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyWrapping {
    /// The hybrid post-quantum recipient only, with `require_pq` set.
    PostQuantum,
    /// The X25519 recipient only (vaults made before post-quantum wrapping;
    /// tests of those).
    Classic,
}

/// A verified vault descriptor.
#[derive(Clone, Debug)]
pub struct Descriptor {
    body: DescriptorBody,
    signature: String,
    signature_mldsa65: Option<String>,
    signing_key: VerifyingKey,
}

/// The vault id of a first-generation signing key.
pub fn vault_id_of(genesis_key: &VerifyingKey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LABEL_VAULT_ID.as_bytes());
    h.update([0u8]);
    h.update(genesis_key.as_bytes());
    h.finalize().into()
}

/// The vault id of a first generation that signs hybrid.
pub fn hybrid_vault_id_of(genesis_key: &VerifyingKey, genesis_mldsa: &MlDsaPublicKey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LABEL_VAULT_ID_HYBRID.as_bytes());
    h.update([0u8]);
    h.update(genesis_key.as_bytes());
    h.update(genesis_mldsa.as_bytes());
    h.finalize().into()
}

/// The id of a new vault with these keys: hybrid for a post-quantum vault
/// (whose first generation signs hybrid), classic otherwise. Shares are
/// bound to it before the descriptor exists.
pub fn new_vault_id(public: &VaultPublicKeys, wrapping: KeyWrapping) -> [u8; 32] {
    match wrapping {
        KeyWrapping::PostQuantum => hybrid_vault_id_of(&public.signing_key, &public.mldsa_key),
        KeyWrapping::Classic => vault_id_of(&public.signing_key),
    }
}

/// The vault id in groups of four hex digits, as witnesses record it.
pub fn format_fingerprint(id_hex: &str) -> String {
    id_hex
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a generation endorses of its successor. `signing_key_mldsa65` is
/// there only for a successor that signs hybrid, so endorsements made
/// before hybrid signatures keep their bytes.
fn rotation_body(
    vault_id: &str,
    generation: u32,
    signing_key: &str,
    signing_key_mldsa65: Option<&str>,
    recipients: &[String],
) -> Value {
    let mut v = serde_json::json!({
        "vault_id": vault_id,
        "generation": generation,
        "signing_key": signing_key,
        "recipients": recipients,
    });
    if let Some(k) = signing_key_mldsa65 {
        v["signing_key_mldsa65"] = Value::String(k.to_owned());
    }
    v
}

/// A parsed ML-DSA-65 key of the descriptor.
fn mldsa_from_hex(what: &str, s: &str) -> Result<MlDsaPublicKey, DescriptorError> {
    MlDsaPublicKey::from_hex(s).ok_or_else(|| {
        invalid(format!(
            "{what} is not an ML-DSA-65 public key in lowercase hex"
        ))
    })
}

impl Descriptor {
    /// The first revision of a new vault's descriptor (keeping every
    /// snapshot).
    pub fn genesis(
        name: &str,
        keys: &VaultKeys,
        share_set: ShareSet,
        sealers: Vec<SealerEntry>,
    ) -> Result<Self, DescriptorError> {
        Self::genesis_with(name, keys, share_set, sealers, None, KeyWrapping::Classic)
    }

    /// The first revision of a new vault's descriptor, with a retention
    /// policy.
    pub fn genesis_with(
        name: &str,
        keys: &VaultKeys,
        share_set: ShareSet,
        sealers: Vec<SealerEntry>,
        retention: Option<crate::retention::Retention>,
        wrapping: KeyWrapping,
    ) -> Result<Self, DescriptorError> {
        let public = keys.public();
        let pq = wrapping == KeyWrapping::PostQuantum;
        let body = DescriptorBody {
            format: FORMAT_V1.into(),
            vault_id: to_hex(&new_vault_id(&public, wrapping)),
            name: name.into(),
            revision: 1,
            updated: crate::time::now_rfc3339(),
            previous: None,
            generation: 1,
            recipients: vec![if pq {
                public.pq_recipient
            } else {
                public.age_recipient
            }],
            signing_key: to_hex(public.signing_key.as_bytes()),
            signing_key_mldsa65: pq.then(|| public.mldsa_key.to_hex()),
            key_history: vec![],
            share_sets: vec![share_set],
            sealers,
            retention,
            require_pq: pq,
        };
        Self::sign_body(body, keys)
    }

    fn sign_body(body: DescriptorBody, keys: &VaultKeys) -> Result<Self, DescriptorError> {
        let value = serde_json::to_value(&body).map_err(|e| invalid(e.to_string()))?;
        let signature = signed::sign(keys.signing_key(), DOMAIN_DESCRIPTOR, &value)?;
        let signature_mldsa65 = match body.signing_key_mldsa65 {
            Some(_) => Some(signed::sign_mldsa(
                keys.mldsa_key(),
                DOMAIN_DESCRIPTOR,
                &value,
            )?),
            None => None,
        };
        let doc = Self::to_document(&body, &signature, signature_mldsa65.as_deref());
        // A descriptor we write is one we can read: within the size every
        // reader takes (each hybrid generation adds about 10.5 KB, each
        // sealer a few hundred bytes), and verified again.
        let len = serde_json::to_string_pretty(&doc)
            .map_err(|e| invalid(e.to_string()))?
            .len()
            + 1;
        if len as u64 > DESCRIPTOR_MAX {
            return Err(invalid(format!(
                "it would be {len} bytes, more than the 4 MiB every reader takes; list fewer sealers (`seif-ceremony sealers remove`) or shorten their labels"
            )));
        }
        Self::from_value(doc)
    }

    fn to_document(
        body: &DescriptorBody,
        signature: &str,
        signature_mldsa65: Option<&str>,
    ) -> Value {
        let mut doc = serde_json::json!({ "body": body, "signature": signature });
        if let Some(s) = signature_mldsa65 {
            doc["signature_mldsa65"] = Value::String(s.to_owned());
        }
        doc
    }

    /// The next revision: `change` edits a copy of the body, which is then
    /// signed by `keys` (the current generation's keys).
    pub fn revise(
        &self,
        keys: &VaultKeys,
        change: impl FnOnce(&mut DescriptorBody),
    ) -> Result<Self, DescriptorError> {
        if !self.key_check(&keys.public()) {
            return Err(invalid("the keys given are not this vault's current keys"));
        }
        let mut body = self.body.clone();
        change(&mut body);
        body.revision = self.body.revision + 1;
        body.previous = Some(self.fingerprint());
        body.updated = crate::time::now_rfc3339();
        Self::sign_body(body, keys)
    }

    /// The next revision under a new key generation: the current keys endorse
    /// `new_keys`, which then sign the new body. The vault keeps its kind of
    /// key wrapping (classic or post-quantum).
    pub fn rotate(
        &self,
        old_keys: &VaultKeys,
        new_keys: &VaultKeys,
        change: impl FnOnce(&mut DescriptorBody),
    ) -> Result<Self, DescriptorError> {
        let wrapping = if self.is_pq() {
            KeyWrapping::PostQuantum
        } else {
            KeyWrapping::Classic
        };
        self.rotate_to(old_keys, new_keys, wrapping, change)
    }

    /// A rotation that also upgrades a classic vault to post-quantum key
    /// wrapping (the upgrade ceremony): the new generation publishes the
    /// hybrid recipient only and sets `require_pq`. Refused for a vault
    /// that is already post-quantum, so the log never records an upgrade
    /// that was not one.
    pub fn rotate_to_post_quantum(
        &self,
        old_keys: &VaultKeys,
        new_keys: &VaultKeys,
        change: impl FnOnce(&mut DescriptorBody),
    ) -> Result<Self, DescriptorError> {
        if self.is_pq() {
            return Err(invalid(
                "the vault is already post-quantum (age1pq1…): a plain rotation keeps it so",
            ));
        }
        self.rotate_to(old_keys, new_keys, KeyWrapping::PostQuantum, change)
    }

    /// The one home of the rule: which recipient the next generation
    /// publishes, and that a post-quantum generation requires PQ wrapping
    /// (a vault never goes back from post-quantum to classic).
    fn rotate_to(
        &self,
        old_keys: &VaultKeys,
        new_keys: &VaultKeys,
        wrapping: KeyWrapping,
        change: impl FnOnce(&mut DescriptorBody),
    ) -> Result<Self, DescriptorError> {
        if !self.key_check(&old_keys.public()) {
            return Err(invalid("the keys given are not this vault's current keys"));
        }
        if self.is_pq() && wrapping == KeyWrapping::Classic {
            return Err(invalid(
                "a post-quantum vault cannot rotate back to classic key wrapping",
            ));
        }
        let pq = wrapping == KeyWrapping::PostQuantum;
        let new_public = new_keys.public();
        let generation = self.body.generation + 1;
        let new_signing = to_hex(new_public.signing_key.as_bytes());
        // A post-quantum generation signs hybrid; so does every generation
        // after one that did (the chain never goes back to Ed25519 alone).
        let new_mldsa =
            (pq || self.body.signing_key_mldsa65.is_some()).then(|| new_public.mldsa_key.to_hex());
        let new_recipients = vec![if pq {
            new_public.pq_recipient.clone()
        } else {
            new_public.age_recipient.clone()
        }];
        let endorsed = rotation_body(
            &self.body.vault_id,
            generation,
            &new_signing,
            new_mldsa.as_deref(),
            &new_recipients,
        );
        let endorsement = signed::sign(old_keys.signing_key(), DOMAIN_ROTATION, &endorsed)?;
        let endorsement_mldsa65 = match self.body.signing_key_mldsa65 {
            Some(_) => Some(signed::sign_mldsa(
                old_keys.mldsa_key(),
                DOMAIN_ROTATION,
                &endorsed,
            )?),
            None => None,
        };
        let mut body = self.body.clone();
        body.key_history.push(PastGeneration {
            generation: self.body.generation,
            signing_key: self.body.signing_key.clone(),
            signing_key_mldsa65: self.body.signing_key_mldsa65.clone(),
            recipients: self.body.recipients.clone(),
            successor_signature: endorsement,
            successor_signature_mldsa65: endorsement_mldsa65,
        });
        body.generation = generation;
        body.signing_key = new_signing;
        body.signing_key_mldsa65 = new_mldsa;
        body.recipients = new_recipients;
        body.require_pq = body.require_pq || pq;
        change(&mut body);
        body.revision = self.body.revision + 1;
        body.previous = Some(self.fingerprint());
        body.updated = crate::time::now_rfc3339();
        Self::sign_body(body, new_keys)
    }

    /// Reads and verifies a descriptor file.
    pub fn load(path: &Path) -> Result<Self, DescriptorError> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)?
            .take(DESCRIPTOR_MAX + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > DESCRIPTOR_MAX {
            return Err(invalid("larger than 4 MiB"));
        }
        Self::from_json(&bytes)
    }

    /// Parses and verifies a descriptor.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DescriptorError> {
        let value: Value = serde_json::from_slice(bytes).map_err(malformed)?;
        Self::from_value(value)
    }

    fn from_value(value: Value) -> Result<Self, DescriptorError> {
        let Value::Object(mut doc) = value else {
            return Err(DescriptorError::Malformed("not a JSON object".into()));
        };
        let signature_mldsa65 = match doc.remove("signature_mldsa65") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                return Err(DescriptorError::Malformed(
                    "'signature_mldsa65' is not a string".into(),
                ));
            }
        };
        let (Some(body_value), Some(Value::String(signature)), 2) =
            (doc.remove("body"), doc.remove("signature"), doc.len() + 2)
        else {
            return Err(DescriptorError::Malformed(
                "expected exactly the fields 'body', 'signature' and, if hybrid, 'signature_mldsa65'"
                    .into(),
            ));
        };
        if let Some(Value::String(f)) = body_value.get("format")
            && f != FORMAT_V1
        {
            return Err(DescriptorError::UnknownFormat(
                crate::untrusted::escape(f).into_owned(),
            ));
        }
        let body: DescriptorBody = serde_json::from_value(body_value.clone()).map_err(malformed)?;
        let (signing_key, mldsa_key) = validate(&body)?;
        signed::verify(&signing_key, DOMAIN_DESCRIPTOR, &body_value, &signature)
            .map_err(|_| DescriptorError::BadSignature)?;
        // Both halves or nothing: the body names the ML-DSA key, so a
        // document whose ML-DSA signature was stripped (or added to a
        // classic body) is refused, never read as classic.
        match (&mldsa_key, &signature_mldsa65) {
            (Some(k), Some(sig)) => signed::verify_mldsa(k, DOMAIN_DESCRIPTOR, &body_value, sig)
                .map_err(|_| DescriptorError::BadSignature)?,
            (Some(_), None) => {
                return Err(invalid(
                    "the body names an ML-DSA-65 key but the document has no 'signature_mldsa65' (hybrid signatures need both)",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "'signature_mldsa65' is given but the body names no ML-DSA-65 key",
                ));
            }
            (None, None) => {}
        }
        Ok(Descriptor {
            body,
            signature,
            signature_mldsa65,
            signing_key,
        })
    }

    /// The signed document as pretty JSON, for writing to `vault.json`.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.document()).expect("descriptor serializes");
        s.push('\n');
        s
    }

    /// SHA-256 of the canonical signed document: names this revision.
    pub fn fingerprint(&self) -> String {
        let doc = self.document();
        let canonical = signed::canonical_json(&doc).expect("validated descriptor canonicalizes");
        to_hex(&Sha256::digest(canonical))
    }

    fn document(&self) -> Value {
        Self::to_document(
            &self.body,
            &self.signature,
            self.signature_mldsa65.as_deref(),
        )
    }

    /// Whether the current generation signs hybrid (Ed25519 and ML-DSA-65).
    pub fn is_hybrid_signed(&self) -> bool {
        self.body.signing_key_mldsa65.is_some()
    }

    /// The verified body.
    pub fn body(&self) -> &DescriptorBody {
        &self.body
    }

    /// The vault id, raw.
    pub fn vault_id(&self) -> [u8; 32] {
        from_hex(&self.body.vault_id).expect("validated")
    }

    /// The current signing key.
    pub fn signing_key(&self) -> &VerifyingKey {
        &self.signing_key
    }

    /// The key check: do these public keys (derived from a reconstructed
    /// secret) match the descriptor's current generation?
    pub fn key_check(&self, public: &VaultPublicKeys) -> bool {
        let expected = if self.is_pq() {
            &public.pq_recipient
        } else {
            &public.age_recipient
        };
        let mldsa_matches = match &self.body.signing_key_mldsa65 {
            Some(k) => *k == public.mldsa_key.to_hex(),
            None => true,
        };
        self.signing_key == public.signing_key
            && mldsa_matches
            && self.body.recipients.first() == Some(expected)
    }

    /// Whether the vault's current recipients are post-quantum (`age1pq1…`;
    /// validation ensures they are all of one kind).
    pub fn is_pq(&self) -> bool {
        self.body
            .recipients
            .first()
            .is_some_and(|r| parse_recipient(r).is_ok_and(|r| r.is_pq()))
    }

    /// Whether the vault requires post-quantum key wrapping.
    pub fn require_pq(&self) -> bool {
        self.body.require_pq
    }

    /// Whether the vault accepts signatures by this sealer.
    pub fn accepts_sealer(&self, sealer: &SealerPublicKey) -> bool {
        self.sealer_label(sealer).is_some()
    }

    /// Whether this vault takes something sealed for `vault_id` by
    /// `sealer` (`None`: unsigned, taken only when `allow_unsigned`): a
    /// sealed file's header, or a snapshot record. The one rule that
    /// `seif open`, `seal`, `push`, `verify` and `restore`, and the
    /// ceremony's checks before any share is asked for, all apply; it reads
    /// public fields only, so it decides before any key is used.
    ///
    /// A snapshot record's sealer must be listed exactly as the record
    /// spells it, so a sealer listed hybrid (`seifsealerpq1…`) is never
    /// taken on its Ed25519 signature alone.
    pub fn accepts(
        &self,
        vault_id: &[u8; 32],
        sealer: Option<&SealerPublicKey>,
        allow_unsigned: bool,
    ) -> Result<(), NotAccepted> {
        let label = sealer.and_then(|s| self.sealer_label(s));
        self.accepts_as(vault_id, sealer, allow_unsigned, label)
    }

    /// [`Self::accepts`] for a sealed file, whose header names and signs
    /// with the sealer's Ed25519 key only: the sealer may be listed in
    /// either spelling.
    pub fn accepts_file(
        &self,
        vault_id: &[u8; 32],
        sealer: Option<&SealerPublicKey>,
        allow_unsigned: bool,
    ) -> Result<(), NotAccepted> {
        let label = sealer.and_then(|s| self.file_sealer_label(s));
        self.accepts_as(vault_id, sealer, allow_unsigned, label)
    }

    fn accepts_as(
        &self,
        vault_id: &[u8; 32],
        sealer: Option<&SealerPublicKey>,
        allow_unsigned: bool,
        label: Option<&str>,
    ) -> Result<(), NotAccepted> {
        if *vault_id != self.vault_id() {
            return Err(NotAccepted::OtherVault(*vault_id));
        }
        match sealer {
            Some(s) if label.is_none() => Err(NotAccepted::Sealer(Box::new(*s))),
            None if !allow_unsigned => Err(NotAccepted::Unsigned),
            _ => Ok(()),
        }
    }

    /// The label the vault gives a sealer spelt exactly so, if it accepts
    /// it.
    pub fn sealer_label(&self, sealer: &SealerPublicKey) -> Option<&str> {
        let s = sealer.to_string();
        self.body
            .sealers
            .iter()
            .find(|e| e.key == s)
            .map(|e| e.label.as_str())
    }

    /// The label of the sealer with this Ed25519 key, in either spelling:
    /// how a sealed file's signer is judged.
    pub fn file_sealer_label(&self, sealer: &SealerPublicKey) -> Option<&str> {
        self.file_sealer(sealer).map(|e| e.label.as_str())
    }

    /// The entry of the sealer with this Ed25519 key, in either spelling:
    /// a sealed file's signer is shown as the vault lists it, the key
    /// people compare with their paper.
    pub fn file_sealer(&self, sealer: &SealerPublicKey) -> Option<&SealerEntry> {
        let classic = sealer.classic();
        self.body.sealers.iter().find(|e| {
            e.key
                .parse::<SealerPublicKey>()
                .is_ok_and(|k| k.classic() == classic)
        })
    }

    /// How the vault lists this pipeline's key (`own`, the hybrid
    /// spelling): hybrid if it lists that, else classic if it lists that.
    /// A push signs its records in the spelling returned.
    pub fn listed_as(&self, own: &SealerPublicKey) -> Option<SealerPublicKey> {
        [*own, own.classic()]
            .into_iter()
            .find(|k| self.sealer_label(k).is_some())
    }

    /// The share set with this id.
    pub fn share_set(&self, id: &str) -> Option<&ShareSet> {
        self.body.share_sets.iter().find(|s| s.id == id)
    }

    /// The active share set (validation guarantees exactly one).
    pub fn active_set(&self) -> &ShareSet {
        self.body
            .share_sets
            .iter()
            .find(|s| s.status == SetStatus::Active)
            .expect("validated: one active set")
    }

    /// The pending share set, if a reshare awaits activation.
    pub fn pending_set(&self) -> Option<&ShareSet> {
        self.body
            .share_sets
            .iter()
            .find(|s| s.status == SetStatus::Pending)
    }
}

/// The rule for names people read (the vault's name, a sealer's label):
/// 1 to [`MAX_LABEL`] bytes, and nothing that would not show on a screen as
/// itself (control, format or separator characters). Custodian labels
/// follow the stricter rule of `--custodian` ([`crate::custody::check_label`]),
/// which also names their share files.
fn check_name(what: &str, s: &str) -> Result<(), DescriptorError> {
    if s.is_empty() || s.len() > MAX_LABEL || crate::untrusted::has_hidden_characters(s) {
        return Err(invalid(format!(
            "{what} '{}' must be 1 to {MAX_LABEL} bytes with no control or invisible formatting characters",
            crate::untrusted::escape(s)
        )));
    }
    Ok(())
}

fn key_from_hex(what: &str, s: &str) -> Result<VerifyingKey, DescriptorError> {
    signed::verifying_key_from_hex(s)
        .ok_or_else(|| invalid(format!("{what} is not a valid Ed25519 public key")))
}

/// Every rule that serde's types cannot say; returns the current signing
/// keys (Ed25519, and ML-DSA-65 if the generation signs hybrid).
fn validate(
    body: &DescriptorBody,
) -> Result<(VerifyingKey, Option<MlDsaPublicKey>), DescriptorError> {
    check_name("the vault name", &body.name)?;
    from_hex::<32>(&body.vault_id).map_err(|_| invalid("vault_id is not 64 hex digits"))?;
    if let Some(p) = &body.previous {
        from_hex::<32>(p).map_err(|_| invalid("previous is not 64 hex digits"))?;
    }
    if (body.revision == 1) != body.previous.is_none() {
        return Err(invalid("only revision 1 has no previous revision"));
    }
    let signing_key = key_from_hex("signing_key", &body.signing_key)?;
    let mldsa_key = body
        .signing_key_mldsa65
        .as_deref()
        .map(|k| mldsa_from_hex("signing_key_mldsa65", k))
        .transpose()?;
    check_recipients(&body.recipients)?;
    if body.require_pq && !parse_recipient(&body.recipients[0]).is_ok_and(|r| r.is_pq()) {
        return Err(invalid(
            "require_pq is set but the vault's recipients are classic (age1…), not post-quantum (age1pq1…)",
        ));
    }
    if let Some(r) = &body.retention {
        r.check()
            .map_err(|why| invalid(format!("the retention policy: {why}")))?;
    }

    // The key chain: generation g's key endorses g+1's, back to the vault id.
    if body.generation as usize != body.key_history.len() + 1 {
        return Err(DescriptorError::BrokenKeyChain(
            "the generation number does not match the key history".into(),
        ));
    }
    let (genesis_hex, genesis_mldsa_hex) = body
        .key_history
        .first()
        .map_or((&body.signing_key, &body.signing_key_mldsa65), |g| {
            (&g.signing_key, &g.signing_key_mldsa65)
        });
    let genesis = key_from_hex("the first generation's signing key", genesis_hex)?;
    // A first generation that signs hybrid has an id bound to both keys, so
    // stripping its ML-DSA key changes the id: a forger who breaks Ed25519
    // still cannot present such a vault as classic.
    let id = match genesis_mldsa_hex {
        Some(k) => hybrid_vault_id_of(
            &genesis,
            &mldsa_from_hex("the first generation's ML-DSA-65 key", k)?,
        ),
        None => vault_id_of(&genesis),
    };
    if to_hex(&id) != body.vault_id {
        return Err(DescriptorError::BrokenKeyChain(
            "the first signing key does not hash to the vault id".into(),
        ));
    }
    for (i, past) in body.key_history.iter().enumerate() {
        if past.generation as usize != i + 1 {
            return Err(DescriptorError::BrokenKeyChain(format!(
                "key history entry {i} has generation {}",
                past.generation
            )));
        }
        check_recipients(&past.recipients)?;
        let key = key_from_hex("a past signing key", &past.signing_key)?;
        let (next_key, next_mldsa, next_recipients) = match body.key_history.get(i + 1) {
            Some(next) => (
                &next.signing_key,
                &next.signing_key_mldsa65,
                &next.recipients,
            ),
            None => (
                &body.signing_key,
                &body.signing_key_mldsa65,
                &body.recipients,
            ),
        };
        let broken = || {
            DescriptorError::BrokenKeyChain(format!(
                "generation {} does not endorse generation {}",
                past.generation,
                past.generation + 1
            ))
        };
        let endorsed = rotation_body(
            &body.vault_id,
            past.generation + 1,
            next_key,
            next_mldsa.as_deref(),
            next_recipients,
        );
        signed::verify(&key, DOMAIN_ROTATION, &endorsed, &past.successor_signature)
            .map_err(|_| broken())?;
        match (&past.signing_key_mldsa65, &past.successor_signature_mldsa65) {
            (Some(k), Some(sig)) => {
                if next_mldsa.is_none() {
                    return Err(DescriptorError::BrokenKeyChain(format!(
                        "generation {} signs hybrid but generation {} has no ML-DSA-65 key: a vault never goes back to Ed25519 alone",
                        past.generation,
                        past.generation + 1
                    )));
                }
                let k = mldsa_from_hex("a past ML-DSA-65 key", k)?;
                signed::verify_mldsa(&k, DOMAIN_ROTATION, &endorsed, sig).map_err(|_| broken())?;
            }
            (None, None) => {}
            _ => {
                return Err(DescriptorError::BrokenKeyChain(format!(
                    "generation {} has an ML-DSA-65 key or endorsement without the other",
                    past.generation
                )));
            }
        }
    }

    validate_share_sets(body)?;

    let mut seen = std::collections::BTreeSet::new();
    for s in &body.sealers {
        s.key
            .parse::<SealerPublicKey>()
            .map_err(|e| invalid(crate::untrusted::escape(&e.to_string())))?;
        check_name("the sealer label", &s.label)?;
        if !seen.insert(&s.key) {
            return Err(invalid(format!("sealer {} is listed twice", s.key)));
        }
    }
    Ok((signing_key, mldsa_key))
}

fn check_recipients(recipients: &[String]) -> Result<(), DescriptorError> {
    if recipients.is_empty() {
        return Err(invalid("a generation has no age recipient"));
    }
    crate::wrap::parse_recipients(recipients)
        .map_err(|e| invalid(crate::untrusted::escape(&e.to_string())))?;
    Ok(())
}

fn validate_share_sets(body: &DescriptorBody) -> Result<(), DescriptorError> {
    let count = |status| {
        body.share_sets
            .iter()
            .filter(|s| s.status == status)
            .count()
    };
    if count(SetStatus::Active) != 1 {
        return Err(invalid("there must be exactly one active share set"));
    }
    if count(SetStatus::Pending) > 1 {
        return Err(invalid("there can be at most one pending share set"));
    }
    let mut ids = std::collections::BTreeSet::new();
    for set in &body.share_sets {
        from_hex::<16>(&set.id).map_err(|_| invalid("a share set id is not 32 hex digits"))?;
        if !ids.insert(&set.id) {
            return Err(invalid(format!("share set {} is listed twice", set.id)));
        }
        if set.status != SetStatus::Retired && set.generation != body.generation {
            return Err(invalid(format!(
                "share set {} is {:?} but splits generation {}, not the current {}",
                set.id, set.status, set.generation, body.generation
            )));
        }
        let n = set.custodians.len();
        if n > MAX_CUSTODIANS {
            return Err(invalid(format!(
                "share set {} has more than 255 custodians",
                set.id
            )));
        }
        if set.threshold < 2 || usize::from(set.threshold) > n {
            return Err(invalid(format!(
                "share set {} has threshold {} of {n}: it must be at least 2 and at most the number of custodians",
                set.id, set.threshold
            )));
        }
        let mut labels = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for (i, c) in set.custodians.iter().enumerate() {
            if usize::from(c.index) != i + 1 {
                return Err(invalid(format!(
                    "share set {}: custodians must be listed by index 1..{n}",
                    set.id
                )));
            }
            crate::custody::check_label(&c.label).map_err(|e| invalid(e.to_string()))?;
            if !labels.insert(&c.label) {
                return Err(invalid(format!(
                    "custodian label '{}' is used twice",
                    c.label
                )));
            }
            match (&c.protection, &c.key) {
                (Protection::Passphrase | Protection::Pkcs11, None) => {}
                (Protection::Passphrase | Protection::Pkcs11, Some(_)) | (_, None) => {
                    return Err(invalid(format!(
                        "custodian '{}': passphrase and card custodians, and only they, have no key",
                        c.label
                    )));
                }
                (protection, Some(k)) => {
                    let well_formed = match protection {
                        Protection::Openpgp => {
                            matches!(k.len(), 40 | 64)
                                && k.bytes()
                                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                        }
                        _ => k.parse::<age::x25519::Recipient>().is_ok(),
                    };
                    if !well_formed {
                        return Err(invalid(format!(
                            "custodian '{}': '{}' is not {}",
                            c.label,
                            crate::untrusted::escape(k),
                            if *protection == Protection::Openpgp {
                                "an OpenPGP fingerprint (40 or 64 upper-case hex digits)"
                            } else {
                                "an age recipient (age1…)"
                            }
                        )));
                    }
                    if !keys.insert(k) {
                        return Err(invalid(format!("two custodians share the key {k}")));
                    }
                }
            }
            from_hex::<32>(&c.commitment)
                .map_err(|_| invalid(format!("custodian '{}': bad commitment", c.label)))?;
            from_hex::<32>(&c.ack_check)
                .map_err(|_| invalid(format!("custodian '{}': bad ack_check", c.label)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::secrets::VaultSecret;

    /// The descriptor entry of a share set made of `shares` (as a ceremony
    /// writes it, every custodian with a passphrase).
    pub(crate) fn set_of(
        shares: &[crate::shares::Share],
        set_id: [u8; 16],
        status: SetStatus,
        threshold: u8,
    ) -> ShareSet {
        ShareSet {
            id: to_hex(&set_id),
            generation: 1,
            status,
            threshold,
            custodians: shares
                .iter()
                .map(|s| Custodian {
                    index: s.index,
                    label: s.custodian.clone(),
                    protection: Protection::Passphrase,
                    key: None,
                    commitment: to_hex(&s.commitment()),
                    ack_check: to_hex(&crate::shares::ack_check(&s.ack_token())),
                })
                .collect(),
        }
    }

    /// What a rotation in these tests changes: every set retired, and a
    /// new 2-of-3 set of generation 2 whose id is `id` repeated.
    fn next_set(b: &mut DescriptorBody, id: u8) {
        for s in &mut b.share_sets {
            s.status = SetStatus::Retired;
        }
        let mut set = test_set(3, 2);
        set.id = to_hex(&[id; 16]);
        set.generation = b.generation;
        b.share_sets.push(set);
    }

    pub(crate) fn test_set(n: u8, t: u8) -> ShareSet {
        ShareSet {
            id: to_hex(&[7u8; 16]),
            generation: 1,
            status: SetStatus::Active,
            threshold: t,
            custodians: (1..=n)
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

    #[test]
    fn genesis_round_trips_and_verifies() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let d = Descriptor::genesis("test vault", &keys, test_set(3, 2), vec![]).unwrap();
        let again = Descriptor::from_json(d.to_json_pretty().as_bytes()).unwrap();
        assert_eq!(again.body(), d.body());
        assert_eq!(again.fingerprint(), d.fingerprint());
        assert!(again.key_check(&keys.public()));
        let other = VaultKeys::derive(&VaultSecret::generate());
        assert!(!again.key_check(&other.public()));
    }

    /// A vault.json is never written larger than readers take: past 4 MiB
    /// it is refused with a way out, not written and then unreadable.
    #[test]
    fn a_descriptor_too_large_to_read_is_not_written() {
        use crate::sealer::SealerSecretKey;
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let sealers = |n: usize| -> Vec<SealerEntry> {
            (0..n)
                .map(|i| SealerEntry {
                    key: SealerSecretKey::generate().public_classic().to_string(),
                    label: format!("{i:0>256}"),
                })
                .collect()
        };
        // About 380 bytes a sealer: 10,000 stay under 4 MiB, 12,000 do not.
        let fits = Descriptor::genesis("v", &keys, test_set(3, 2), sealers(10_000)).unwrap();
        let json = fits.to_json_pretty();
        assert!(json.len() as u64 > 3 * 1024 * 1024, "near the limit");
        Descriptor::from_json(json.as_bytes()).unwrap();
        let Err(e) = Descriptor::genesis("v", &keys, test_set(3, 2), sealers(12_000)) else {
            panic!("a 4.5 MB vault.json was written");
        };
        assert!(
            matches!(&e, DescriptorError::Invalid(m) if m.contains("more than the 4 MiB every reader takes")),
            "{e}"
        );
        let Err(e) = fits.revise(&keys, |b| b.sealers.extend(sealers(2_000))) else {
            panic!("a revision past 4 MiB was written");
        };
        assert!(matches!(e, DescriptorError::Invalid(_)), "{e}");
    }

    /// The one rule for what a vault takes: its own vault id first, then a
    /// listed sealer, and an unsigned input only when allowed.
    #[test]
    fn what_a_vault_accepts() {
        use crate::sealer::SealerSecretKey;
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let (listed, other) = (SealerSecretKey::generate(), SealerSecretKey::generate());
        let d = Descriptor::genesis(
            "v",
            &keys,
            test_set(3, 2),
            vec![SealerEntry {
                key: listed.public().to_string(),
                label: "pipeline".into(),
            }],
        )
        .unwrap();
        let (own, foreign) = (d.vault_id(), [9u8; 32]);
        assert_eq!(d.accepts(&own, Some(&listed.public()), false), Ok(()));
        assert_eq!(
            d.accepts(&own, Some(&other.public()), true),
            Err(NotAccepted::Sealer(Box::new(other.public())))
        );
        assert_eq!(d.accepts(&own, None, false), Err(NotAccepted::Unsigned));
        assert_eq!(d.accepts(&own, None, true), Ok(()));
        // Another vault's id is named first, whoever sealed it.
        assert_eq!(
            d.accepts(&foreign, Some(&listed.public()), true),
            Err(NotAccepted::OtherVault(foreign))
        );
        assert_eq!(
            NotAccepted::OtherVault(foreign).to_string(),
            "sealed to another vault (0909090909090909…)"
        );
        assert!(d.accepts_sealer(&listed.public()) && !d.accepts_sealer(&other.public()));
    }

    #[test]
    fn any_change_to_the_body_breaks_the_signature() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let d = Descriptor::genesis("test vault", &keys, test_set(3, 2), vec![]).unwrap();
        let text = d.to_json_pretty().replace("test vault", "evil vault");
        assert!(matches!(
            Descriptor::from_json(text.as_bytes()),
            Err(DescriptorError::BadSignature)
        ));
    }

    #[test]
    fn a_forged_descriptor_under_another_key_breaks_the_chain() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let d = Descriptor::genesis("v", &keys, test_set(3, 2), vec![]).unwrap();
        let forger = VaultKeys::derive(&VaultSecret::generate());
        let mut body = d.body().clone();
        body.signing_key = to_hex(forger.public().signing_key.as_bytes());
        body.recipients = vec![forger.public().age_recipient];
        let value = serde_json::to_value(&body).unwrap();
        let sig = signed::sign(forger.signing_key(), DOMAIN_DESCRIPTOR, &value).unwrap();
        let doc = serde_json::json!({"body": value, "signature": sig});
        assert!(matches!(
            Descriptor::from_json(doc.to_string().as_bytes()),
            Err(DescriptorError::BrokenKeyChain(_))
        ));
    }

    #[test]
    fn revisions_and_rotations_chain() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let d1 = Descriptor::genesis("v", &keys, test_set(3, 2), vec![]).unwrap();
        let d2 = d1.revise(&keys, |b| b.name = "v2".into()).unwrap();
        assert_eq!(d2.body().revision, 2);
        assert_eq!(
            d2.body().previous.as_deref(),
            Some(d1.fingerprint().as_str())
        );
        let new_keys = VaultKeys::derive(&VaultSecret::generate());
        let d3 = d2.rotate(&keys, &new_keys, |b| next_set(b, 8)).unwrap();
        let d3 = Descriptor::from_json(d3.to_json_pretty().as_bytes()).unwrap();
        assert_eq!(d3.vault_id(), d1.vault_id());
        assert!(d3.key_check(&new_keys.public()));
        assert!(d2.revise(&new_keys, |_| {}).is_err());
    }

    fn pq_genesis(keys: &VaultKeys) -> Descriptor {
        Descriptor::genesis_with(
            "v",
            keys,
            test_set(3, 2),
            vec![],
            None,
            KeyWrapping::PostQuantum,
        )
        .unwrap()
    }

    fn doc_of(d: &Descriptor) -> serde_json::Map<String, Value> {
        match serde_json::from_str(&d.to_json_pretty()).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn read(doc: &serde_json::Map<String, Value>) -> Result<Descriptor, DescriptorError> {
        Descriptor::from_json(Value::Object(doc.clone()).to_string().as_bytes())
    }

    /// A post-quantum vault signs hybrid from its first generation, and its
    /// id is bound to both keys: a forger who can make Ed25519 signatures
    /// (a quantum computer) can neither strip the ML-DSA half nor present
    /// the vault as classic.
    #[test]
    fn a_post_quantum_vault_needs_both_signatures() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let d = pq_genesis(&keys);
        assert!(d.is_hybrid_signed());
        let public = keys.public();
        assert_eq!(
            d.vault_id(),
            hybrid_vault_id_of(&public.signing_key, &public.mldsa_key)
        );
        assert!(d.key_check(&public));
        let doc = doc_of(&d);
        assert!(read(&doc).is_ok());

        // The ML-DSA signature stripped.
        let mut stripped = doc.clone();
        stripped.remove("signature_mldsa65");
        let e = read(&stripped).unwrap_err();
        assert!(e.to_string().contains("no 'signature_mldsa65'"), "{e}");

        // The ML-DSA signature bent (the Ed25519 one still good).
        let mut bent = doc.clone();
        let sig = bent["signature_mldsa65"].as_str().unwrap();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        bent["signature_mldsa65"] = Value::String(format!("{flipped}{}", &sig[1..]));
        assert!(matches!(read(&bent), Err(DescriptorError::BadSignature)));

        // A forger who signs a changed body with the vault's Ed25519 key
        // (as a quantum computer could) but cannot sign with ML-DSA.
        let mut body = d.body().clone();
        body.name = "forged".into();
        let value = serde_json::to_value(&body).unwrap();
        let mut forged = doc.clone();
        forged["body"] = value.clone();
        forged["signature"] =
            Value::String(signed::sign(keys.signing_key(), DOMAIN_DESCRIPTOR, &value).unwrap());
        assert!(matches!(read(&forged), Err(DescriptorError::BadSignature)));

        // ... nor present the same keys as a classic vault: without its
        // ML-DSA key the first generation does not hash to the vault id.
        body.signing_key_mldsa65 = None;
        let value = serde_json::to_value(&body).unwrap();
        let classic = serde_json::json!({
            "body": value,
            "signature": signed::sign(keys.signing_key(), DOMAIN_DESCRIPTOR, &value).unwrap(),
        });
        assert!(matches!(
            Descriptor::from_json(classic.to_string().as_bytes()),
            Err(DescriptorError::BrokenKeyChain(_))
        ));

        // An ML-DSA signature on a classic body is refused, not ignored.
        let c = Descriptor::genesis("c", &keys, test_set(3, 2), vec![]).unwrap();
        assert!(!c.is_hybrid_signed());
        let mut extra = doc_of(&c);
        extra.insert("signature_mldsa65".into(), doc["signature_mldsa65"].clone());
        assert!(read(&extra).is_err());

        // The key check covers the ML-DSA key.
        let mut other = body.clone();
        other.signing_key_mldsa65 = Some(
            VaultKeys::derive(&VaultSecret::generate())
                .public()
                .mldsa_key
                .to_hex(),
        );
        let wrong = Descriptor {
            body: other,
            ..d.clone()
        };
        assert!(!wrong.key_check(&public));
    }

    /// Rotations of a hybrid vault are endorsed by both keys of the old
    /// generation; the upgrade of a classic vault starts hybrid signing
    /// (its endorsement, made by the classic key, names the new ML-DSA
    /// key); and a chain never goes back to Ed25519 alone.
    #[test]
    fn hybrid_rotations_chain_and_never_downgrade() {
        let k1 = VaultKeys::derive(&VaultSecret::generate());
        let k2 = VaultKeys::derive(&VaultSecret::generate());
        let k3 = VaultKeys::derive(&VaultSecret::generate());
        let d1 = pq_genesis(&k1);
        let d2 = d1.rotate(&k1, &k2, |b| next_set(b, 8)).unwrap();
        let d3 = d2.rotate(&k2, &k3, |b| next_set(b, 9)).unwrap();
        let d3 = Descriptor::from_json(d3.to_json_pretty().as_bytes()).unwrap();
        assert!(d3.is_hybrid_signed() && d3.key_check(&k3.public()));
        assert_eq!(d3.vault_id(), d1.vault_id());
        let past = &d3.body().key_history[1];
        assert!(past.signing_key_mldsa65.is_some() && past.successor_signature_mldsa65.is_some());

        // The ML-DSA endorsement of generation 2 bent.
        let mut doc = doc_of(&d3);
        let h = &mut doc["body"]["key_history"][1]["successor_signature_mldsa65"];
        let sig = h.as_str().unwrap().to_owned();
        *h = Value::String(format!(
            "{}{}",
            if sig.starts_with('0') { "1" } else { "0" },
            &sig[1..]
        ));
        assert!(matches!(
            read(&doc),
            Err(DescriptorError::BrokenKeyChain(_))
        ));

        // A generation without an ML-DSA key after one with: refused, even
        // with valid signatures of both kinds where they are asked for.
        let mut body = d2.body().clone();
        body.key_history[0].successor_signature = signed::sign(
            k1.signing_key(),
            DOMAIN_ROTATION,
            &rotation_body(&body.vault_id, 2, &body.signing_key, None, &body.recipients),
        )
        .unwrap();
        body.key_history[0].successor_signature_mldsa65 = Some(
            signed::sign_mldsa(
                k1.mldsa_key(),
                DOMAIN_ROTATION,
                &rotation_body(&body.vault_id, 2, &body.signing_key, None, &body.recipients),
            )
            .unwrap(),
        );
        body.signing_key_mldsa65 = None;
        let value = serde_json::to_value(&body).unwrap();
        let down = serde_json::json!({
            "body": value,
            "signature": signed::sign(k2.signing_key(), DOMAIN_DESCRIPTOR, &value).unwrap(),
        });
        let e = Descriptor::from_json(down.to_string().as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("never goes back to Ed25519 alone"),
            "{e}"
        );

        // The upgrade of a classic vault: generation 2 signs hybrid.
        let c1 = Descriptor::genesis("c", &k1, test_set(3, 2), vec![]).unwrap();
        let c2 = c1
            .rotate_to_post_quantum(&k1, &k2, |b| next_set(b, 8))
            .unwrap();
        let c2 = Descriptor::from_json(c2.to_json_pretty().as_bytes()).unwrap();
        assert!(c2.is_hybrid_signed() && !c1.is_hybrid_signed());
        assert_eq!(c2.vault_id(), c1.vault_id(), "the vault keeps its id");
        assert!(
            c2.body().key_history[0]
                .successor_signature_mldsa65
                .is_none()
        );
        // The classic endorsement names the new ML-DSA key: swapping it
        // breaks the chain.
        let mut doc = doc_of(&c2);
        doc["body"]["signing_key_mldsa65"] = Value::String(k3.public().mldsa_key.to_hex());
        assert!(read(&doc).is_err());
    }

    /// One label rule: a custodian label that a share file may not carry
    /// (`--custodian`'s rule) is refused in vault.json too; names people
    /// read may not hide characters; refusals quote them escaped.
    #[test]
    fn labels_and_names_follow_one_rule_each() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        for label in ["a b", "c\u{202e}1", "x/y", ".hidden", &"l".repeat(65)] {
            let mut set = test_set(3, 2);
            set.custodians[0].label = label.to_owned();
            let e = Descriptor::genesis("v", &keys, set, vec![]).unwrap_err();
            assert!(
                e.to_string()
                    .contains("must be 1 to 64 of A-Z a-z 0-9 . _ -"),
                "{label:?}: {e}"
            );
            assert!(
                crate::shares::Share::from_text(&format!("seif share v1\nvault: {}\nset: {}\ngeneration: 1\nindex: 1\nthreshold: 2\ncount: 3\ncustodian: {label}\nvalue: {}\n", "00".repeat(32), "00".repeat(16), "00".repeat(32))).is_err(),
                "a share refuses {label:?} too"
            );
        }
        for name in ["Rahvastikuregister\x1b[2J", "x\u{202e}gpj.exe", "a\nb"] {
            let e = Descriptor::genesis(name, &keys, test_set(3, 2), vec![]).unwrap_err();
            let shown = e.to_string();
            assert!(
                shown.contains("no control or invisible formatting characters"),
                "{shown}"
            );
            assert!(
                !crate::untrusted::has_hidden_characters(&shown),
                "{shown:?}"
            );
        }
        assert!(
            Descriptor::genesis(
                "Rahvastikuregister, Tõnis Õun",
                &keys,
                test_set(3, 2),
                vec![]
            )
            .is_ok()
        );
        let mut bad_key = test_set(3, 2);
        bad_key.custodians[0].protection = Protection::Age;
        bad_key.custodians[0].key = Some("age1\x1b[2J".into());
        let e = Descriptor::genesis("v", &keys, bad_key, vec![])
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("custodian 'c1': 'age1\\u{1b}[2J' is not an age recipient (age1…)"),
            "{e}"
        );
    }

    #[test]
    fn post_quantum_vaults_publish_the_hybrid_recipient_only() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let public = keys.public();
        let d = Descriptor::genesis_with(
            "pq",
            &keys,
            test_set(3, 2),
            vec![],
            None,
            KeyWrapping::PostQuantum,
        )
        .unwrap();
        assert_eq!(d.body().recipients, vec![public.pq_recipient.clone()]);
        assert!(d.require_pq() && d.is_pq() && d.key_check(&public));
        let back = Descriptor::from_json(d.to_json_pretty().as_bytes()).unwrap();
        assert!(back.require_pq());
        // Another secret's keys fail the check, on the hybrid recipient too.
        let other = VaultKeys::derive(&VaultSecret::generate()).public();
        let mut wrong = public.clone();
        wrong.pq_recipient = other.pq_recipient.clone();
        assert!(!d.key_check(&wrong));
        // A classic vault: no require_pq in its JSON, the X25519 recipient.
        let c = Descriptor::genesis("classic", &keys, test_set(3, 2), vec![]).unwrap();
        assert!(!c.to_json_pretty().contains("require_pq"));
        assert!(!c.is_pq() && c.key_check(&public));
        // require_pq over classic recipients, or mixed recipients: refused.
        let e = c
            .revise(&keys, |b| b.require_pq = true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("require_pq"), "{e}");
        let e = c
            .revise(&keys, |b| b.recipients.push(public.pq_recipient.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("post-quantum (age1pq1…) and classic"), "{e}");
        // A rotation keeps a PQ vault PQ.
        let new_keys = VaultKeys::derive(&VaultSecret::generate());
        let r = d.rotate(&keys, &new_keys, |b| next_set(b, 8)).unwrap();
        assert_eq!(r.body().recipients, vec![new_keys.public().pq_recipient]);
        assert!(r.require_pq());
        // And refuses to "upgrade" it again.
        let e = r
            .rotate_to_post_quantum(&new_keys, &keys, |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("already post-quantum"), "{e}");
    }

    #[test]
    fn the_upgrade_rotation_makes_a_classic_vault_post_quantum() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let c = Descriptor::genesis("classic", &keys, test_set(3, 2), vec![]).unwrap();
        let new_keys = VaultKeys::derive(&VaultSecret::generate());
        let up = c
            .rotate_to_post_quantum(&keys, &new_keys, |b| next_set(b, 9))
            .unwrap();
        assert_eq!(up.body().recipients, vec![new_keys.public().pq_recipient]);
        assert!(up.is_pq() && up.require_pq() && up.key_check(&new_keys.public()));
        // The old generation stays in the history with its classic recipient.
        assert_eq!(
            up.body().key_history[0].recipients,
            vec![keys.public().age_recipient]
        );
        assert!(Descriptor::from_json(up.to_json_pretty().as_bytes()).is_ok());
        // A plain rotation of a classic vault stays classic.
        let plain = c.rotate(&keys, &new_keys, |b| next_set(b, 10));
        let plain = plain.unwrap();
        assert!(!plain.is_pq() && !plain.require_pq());
    }

    #[test]
    fn share_set_rules() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        for (n, t) in [(3u8, 1u8), (2, 3)] {
            assert!(
                Descriptor::genesis("v", &keys, test_set(n, t), vec![]).is_err(),
                "{t} of {n}"
            );
        }
        let mut dup = test_set(3, 2);
        dup.custodians[1].label = "c1".into();
        assert!(Descriptor::genesis("v", &keys, dup, vec![]).is_err());
    }
}

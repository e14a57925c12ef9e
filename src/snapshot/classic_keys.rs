//! The host's half of the post-quantum upgrade, with no key: delete the
//! key envelopes that are still wrapped classic-only (X25519), so that a
//! copy of the store taken later holds nothing an X25519-only attacker
//! could open (FORMAT.md §8.10).
//!
//! A classic envelope is deleted only when a signed upgrade list
//! ([`super::upgrade_list`]) that the vault's descriptor verifies names a
//! post-quantum envelope for the same snapshot, and the store holds that
//! envelope with exactly the bytes named (hash), it parses as this vault's
//! envelope of that snapshot, and its age header holds `mlkem768x25519`
//! stanzas only. Envelopes are unsigned, so without the list a host (or a
//! forger who planted a "post-quantum" envelope) could otherwise make a
//! snapshot unopenable.
//!
//! All or nothing: if any classic envelope cannot be matched so, nothing at
//! all is deleted and each one is named with why. A run stopped part way
//! leaves classic envelopes only of snapshots whose post-quantum envelope
//! was checked, so running it again finishes the job.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::key_envelope::{ENVELOPE_MAX, KeyEnvelope};
use super::upgrade_list::{ListedEnvelope, PREFIX, UPGRADE_LIST_MAX, UpgradeList};
use crate::descriptor::Descriptor;
use crate::ids::{BlobId, SnapshotId, VaultId};
use crate::store::{Store, StoreError};
use crate::untrusted::escape;

/// A classic envelope to delete, and the post-quantum one that replaces it.
#[derive(Clone, Debug)]
pub struct Removal {
    /// The classic-only envelope's key.
    pub key: String,
    /// Its key generation (as the envelope says).
    pub generation: u32,
    /// The checked post-quantum envelope's key that the snapshot keeps.
    pub replaced_by: String,
    /// The upgrade list that names it.
    pub list: String,
}

/// What the host would delete and what it keeps, and why.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The upgrade lists that verified (store keys).
    pub lists: Vec<String>,
    /// Upgrade lists refused, each with why (escaped).
    pub refused_lists: Vec<String>,
    /// Classic envelopes that may go.
    pub remove: Vec<Removal>,
    /// Post-quantum envelopes kept (store keys).
    pub kept_pq: Vec<String>,
    /// Classic envelopes that must stay, each with why (escaped). Any of
    /// these means nothing is deleted.
    pub blocked: Vec<String>,
}

/// Why the host step could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClassicKeysError {
    /// The store failed (listing, reading or deleting).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Refused before anything was deleted (escaped, for people).
    #[error("{0}")]
    Refused(String),
}

/// One envelope found under `keys/`.
struct Found {
    key: String,
    pq: bool,
    generation: u32,
}

/// Makes the plan; deletes nothing.
pub fn plan(store: &dyn Store, vault: &Descriptor) -> Result<Plan, ClassicKeysError> {
    if !vault.is_pq() {
        return Err(ClassicKeysError::Refused(
            "this vault.json is a classic vault's (age1… recipient): give the vault.json that the post-quantum upgrade ceremony wrote (NEW/vault.json)".into(),
        ));
    }
    let standing = super::vault_copies::standing(store, vault)?;
    if let Some(why) = super::vault_copies::refusal(store, vault, &standing) {
        return Err(ClassicKeysError::Refused(escape(&why).into_owned()));
    }
    let vault_id = VaultId(vault.vault_id());
    let mut plan = Plan::default();

    // The signed lists: snapshot -> (envelope named, the list naming it).
    let mut named: BTreeMap<SnapshotId, Vec<(ListedEnvelope, String)>> = BTreeMap::new();
    let listing = store.list(PREFIX)?;
    for (key, what) in &listing.odd {
        plan.refused_lists
            .push(format!("{}: {what}, not an upgrade list", escape(key)));
    }
    for b in &listing.blobs {
        let bytes = match store.get(&b.key, UPGRADE_LIST_MAX) {
            Ok(bytes) => bytes,
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                plan.refused_lists.push(escape(&e.to_string()).into_owned());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if b.key
            .strip_prefix(PREFIX)
            .and_then(|n| BlobId::from_hex(n).ok())
            != Some(BlobId::of(&bytes))
        {
            plan.refused_lists.push(format!(
                "{}: its bytes do not match its name: altered",
                escape(&b.key)
            ));
            continue;
        }
        match UpgradeList::verify(&bytes, vault) {
            Ok(list) => {
                for e in list.body.envelopes {
                    named
                        .entry(e.snapshot_id)
                        .or_default()
                        .push((e, b.key.clone()));
                }
                plan.lists.push(b.key.clone());
            }
            Err(e) => {
                plan.refused_lists
                    .push(format!("{}: {}", escape(&b.key), escape(&e.to_string())))
            }
        }
    }

    // Every envelope, by snapshot, checked against its name.
    let mut by_snapshot: BTreeMap<SnapshotId, Vec<Found>> = BTreeMap::new();
    let mut intact: BTreeSet<String> = BTreeSet::new();
    let keys = store.list("keys/")?;
    for (key, what) in &keys.odd {
        plan.blocked.push(format!(
            "{}: {what} where a key envelope belongs: remove it by hand",
            escape(key)
        ));
    }
    for b in &keys.blobs {
        let mut parts = b.key.split('/').skip(1);
        let (Some(Ok(sid)), Some(name)) = (parts.next().map(SnapshotId::from_hex), parts.next())
        else {
            plan.blocked.push(format!(
                "{}: not a key envelope's name (keys/<snapshot>/<sha256>)",
                escape(&b.key)
            ));
            continue;
        };
        let bytes = match store.get(&b.key, ENVELOPE_MAX as u64) {
            Ok(bytes) => bytes,
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                plan.blocked.push(escape(&e.to_string()).into_owned());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if BlobId::from_hex(name).ok() != Some(BlobId::of(&bytes)) {
            plan.blocked.push(format!(
                "{}: its bytes do not match its name: altered (`seif verify` names it)",
                escape(&b.key)
            ));
            continue;
        }
        let Ok(env) = KeyEnvelope::parse(&bytes) else {
            plan.blocked.push(format!(
                "{}: not a key envelope (`seif verify` names it)",
                escape(&b.key)
            ));
            continue;
        };
        if env.snapshot_id != sid || env.vault_id != vault_id {
            plan.blocked.push(format!(
                "{}: the envelope of another snapshot or vault",
                escape(&b.key)
            ));
            continue;
        }
        let pq = STANDARD
            .decode(&env.wrapped_key)
            .ok()
            .as_deref()
            .and_then(crate::wrap::is_pq_only)
            == Some(true);
        intact.insert(b.key.clone());
        by_snapshot.entry(sid).or_default().push(Found {
            key: b.key.clone(),
            pq,
            generation: env.generation,
        });
    }

    for (sid, found) in &by_snapshot {
        let classic: Vec<&Found> = found.iter().filter(|f| !f.pq).collect();
        plan.kept_pq
            .extend(found.iter().filter(|f| f.pq).map(|f| f.key.clone()));
        if classic.is_empty() {
            continue;
        }
        // A post-quantum envelope that a verified list names, present with
        // exactly those bytes (the name was checked against them above),
        // this vault's, of this snapshot, post-quantum only.
        let candidates = named.get(sid).map(Vec::as_slice).unwrap_or_default();
        let backing = candidates.iter().find(|(e, _)| {
            let key = e.store_key();
            intact.contains(&key) && found.iter().any(|f| f.key == key && f.pq)
        });
        match backing {
            Some((e, list)) => plan.remove.extend(classic.iter().map(|f| Removal {
                key: f.key.clone(),
                generation: f.generation,
                replaced_by: e.store_key(),
                list: list.clone(),
            })),
            None => {
                let why = match candidates.first() {
                    None if plan.lists.is_empty() => {
                        "no verified upgrade list in the store".to_owned()
                    }
                    None => "no verified upgrade list names a post-quantum envelope for this snapshot (was it left out of the upgrade ceremony?)".to_owned(),
                    Some((e, list)) => format!(
                        "the post-quantum envelope {} that {} names is {}",
                        e.store_key(),
                        escape(list),
                        if found.iter().any(|f| f.key == e.store_key()) {
                            "not wrapped post-quantum only"
                        } else {
                            "absent, or its bytes differ from the hash the list names"
                        }
                    ),
                };
                for f in classic {
                    plan.blocked
                        .push(format!("{}: kept: {why}", escape(&f.key)));
                }
            }
        }
    }
    Ok(plan)
}

/// Deletes what the plan removes, if nothing blocks it; returns how many
/// envelopes were deleted.
pub fn apply(store: &dyn Store, plan: &Plan) -> Result<usize, ClassicKeysError> {
    if !plan.blocked.is_empty() {
        return Err(ClassicKeysError::Refused(format!(
            "nothing was deleted: {} classic key envelope(s) cannot be matched to a checked post-quantum envelope",
            plan.blocked.len()
        )));
    }
    for r in &plan.remove {
        store.delete(&r.key)?;
    }
    Ok(plan.remove.len())
}

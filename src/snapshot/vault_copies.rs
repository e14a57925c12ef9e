//! The store's copies of `vault.json`, so that a stale copy cannot decide.
//!
//! `vault.json` changes only in a ceremony (a sealer added or removed, a
//! new retention policy, a key rotation), and every party gets the new
//! revision by hand. A party that kept an old one would trust a removed
//! sealer, or prune under a weaker policy. So pushes and prunes publish
//! the revision they hold under `descriptors/<SHA-256 of its bytes>`, and
//! each refuses to act on a revision older than one the store already
//! holds: the vault key signed both, and the newer one wins. Any party may
//! publish (the copies are public and signed; a forged one is ignored and
//! named), and a copy is never deleted.

use crate::descriptor::{DESCRIPTOR_MAX, Descriptor};
use crate::ids::BlobId;
use crate::store::{Store, StoreError};
use crate::untrusted::escape;

/// Where the copies live.
pub const PREFIX: &str = "descriptors/";

/// What the store's copies say about a descriptor.
#[derive(Debug, Default)]
pub struct Standing {
    /// The store holds this revision.
    pub held: bool,
    /// The newest revision of this vault the store holds, if newer than
    /// ours: its revision and key.
    pub newer: Option<(u64, String)>,
    /// Another descriptor of this vault with our revision number: the
    /// vault key signed two different revisions N (a fork), key.
    pub fork: Option<String>,
    /// Copies that are not valid descriptors of this vault (escaped).
    pub ignored: Vec<String>,
}

/// Reads every copy in the store and compares them with `vault`.
pub fn standing(store: &dyn Store, vault: &Descriptor) -> Result<Standing, StoreError> {
    let mut s = Standing::default();
    let listing = store.list(PREFIX)?;
    for (key, what) in listing.odd {
        s.ignored
            .push(format!("{}: {what}, not a vault.json copy", escape(&key)));
    }
    let ours = vault.fingerprint();
    let revision = vault.body().revision;
    for b in listing.blobs {
        let bytes = match store.get(&b.key, DESCRIPTOR_MAX) {
            Ok(bytes) => bytes,
            Err(e @ (StoreError::TooLarge { .. } | StoreError::NotRegular { .. })) => {
                s.ignored.push(escape(&e.to_string()).into_owned());
                continue;
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let named = b
            .key
            .strip_prefix(PREFIX)
            .and_then(|n| BlobId::from_hex(n).ok());
        if named != Some(BlobId::of(&bytes)) {
            s.ignored.push(format!(
                "{}: its bytes do not match its name",
                escape(&b.key)
            ));
            continue;
        }
        let d = match Descriptor::from_json(&bytes) {
            Ok(d) if d.vault_id() == vault.vault_id() => d,
            Ok(_) => continue, // another vault's; not ours to judge
            Err(e) => {
                s.ignored
                    .push(format!("{}: {}", escape(&b.key), escape(&e.to_string())));
                continue;
            }
        };
        let r = d.body().revision;
        if d.fingerprint() == ours {
            s.held = true;
        } else if r == revision {
            s.fork = Some(b.key.clone());
        } else if r > revision && s.newer.as_ref().is_none_or(|(n, _)| r > *n) {
            s.newer = Some((r, b.key.clone()));
        }
    }
    Ok(s)
}

/// Stores a copy of `vault` (idempotent).
pub fn publish(store: &dyn Store, vault: &Descriptor) -> Result<(), StoreError> {
    let bytes = vault.to_json_pretty().into_bytes();
    store.put(&format!("{PREFIX}{}", BlobId::of(&bytes).to_hex()), &bytes)
}

/// Why a descriptor may not be acted on, if it may not: for people, with
/// what to do.
pub fn refusal(store: &dyn Store, vault: &Descriptor, s: &Standing) -> Option<String> {
    let revision = vault.body().revision;
    if let Some((n, key)) = &s.newer {
        return Some(format!(
            "{} holds revision {n} of this vault's vault.json (signed by the vault, at {key}); yours is revision {revision}, older: a ceremony changed the vault since (sealers, retention or keys). Get the current vault.json from the custodians and run again",
            store.describe()
        ));
    }
    if let Some(key) = &s.fork {
        return Some(format!(
            "{} holds another vault.json with your revision number {revision} ({key}), also signed by the vault: two ceremonies changed the same revision. Ask the custodians which is current",
            store.describe()
        ));
    }
    None
}

//! The vault a ceremony step works on: `vault.json` and its ceremony log,
//! checked against each other, and the two ways a step changes them.
//!
//! - [`Vault::record`] appends an entry.
//! - [`Vault::revise`] makes a new vault.json revision in place (a share set
//!   becomes active, a sealer is added or removed). The entry that records
//!   it carries the whole new vault.json and is appended *first*; the file
//!   is written second. A step killed between the two is therefore logged,
//!   and the next step that loads the vault completes it from the log
//!   ([`Vault::attach_log`]). Whatever the moment of a crash, the log never
//!   misses a change to vault.json, and vault.json never runs ahead of it.
//!
//! The named points ([`crate::killpoint`]) where a test kills a step:
//! `descriptor:logged` (entry appended, vault.json not yet written),
//! `descriptor:temp-written` (new vault.json complete in its temporary
//! file, before the rename) and `descriptor:renamed` (in place, before the
//! step goes on); the log's own `log:before-append` and `log:appended`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::log::{CeremonyLog, Draft, Entry, LogError, Participant, VAULT_JSON_DETAIL};
use crate::descriptor::{Descriptor, DescriptorError, SetStatus};
use crate::keys::VaultKeys;

/// Why a vault could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The ceremony log could not be read or appended to.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The log does not verify against vault.json.
    #[error("the ceremony log {} does not verify against vault.json: {}", log.display(), problems.join("; "))]
    DoesNotVerify {
        /// The log.
        log: PathBuf,
        /// Each problem, one sentence.
        problems: Vec<String>,
    },
    /// A new vault.json revision could not be made.
    #[error("cannot make the next vault.json revision: {0}")]
    Revise(#[from] DescriptorError),
    /// vault.json could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// vault.json.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// vault.json and its ceremony log, checked against each other.
pub struct Vault {
    /// Where vault.json is.
    pub path: PathBuf,
    /// The verified descriptor.
    pub descriptor: Descriptor,
    /// The log, which verifies against it.
    pub log: CeremonyLog,
}

/// A step that had been interrupted after it was logged and before it
/// wrote vault.json, completed when the vault was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The entry that logged it.
    pub entry: u64,
    /// Its event.
    pub event: String,
    /// The vault.json revision now written.
    pub revision: u64,
}

/// A pending share set that became active (see [`Vault::activate_if_due`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activated {
    /// The set now active.
    pub active: String,
    /// The set retired.
    pub retired: String,
    /// The vault.json revision that records the switch.
    pub revision: u64,
}

/// Replaces vault.json atomically (temporary file, fsync, rename, fsync of
/// the directory).
pub fn write_descriptor(path: &Path, d: &Descriptor) -> std::io::Result<()> {
    let mut f = crate::atomic::AtomicFile::create(path, true)?;
    std::io::Write::write_all(&mut f, d.to_json_pretty().as_bytes())?;
    std::io::Write::flush(&mut f)?;
    f.file().sync_all()?;
    crate::killpoint::reached("descriptor:temp-written");
    f.commit(0o644)?;
    crate::killpoint::reached("descriptor:renamed");
    Ok(())
}

impl Vault {
    /// Reads the log at `log` for the verified `descriptor` (read from
    /// `path`). If the log's last step was interrupted before it wrote
    /// vault.json, writes the revision the log carries and says so. Then
    /// the log must verify against vault.json: signatures, chain,
    /// acknowledgements and the revisions it records.
    pub fn attach_log(
        path: &Path,
        descriptor: Descriptor,
        log: &Path,
    ) -> Result<(Vault, Option<Completed>), VaultError> {
        let log = CeremonyLog::open(log)?;
        let mut vault = Vault {
            path: path.to_owned(),
            descriptor,
            log,
        };
        let mut completed = None;
        if let Some(next) = vault.log.pending_revision(&vault.descriptor) {
            write_descriptor(&vault.path, &next).map_err(|source| VaultError::Write {
                path: vault.path.clone(),
                source,
            })?;
            let last = vault
                .log
                .entries()
                .last()
                .expect("a pending revision has an entry");
            completed = Some(Completed {
                entry: last.body.seq,
                event: last.body.event.clone(),
                revision: next.body().revision,
            });
            vault.descriptor = next;
        }
        let problems = vault.log.verify(&vault.descriptor);
        if !problems.is_empty() {
            return Err(VaultError::DoesNotVerify {
                log: vault.log.path().to_owned(),
                problems,
            });
        }
        Ok((vault, completed))
    }

    /// Appends an entry for this step: signed by `keys` when the vault key
    /// is back, unsigned otherwise (a custodian's check, a refusal).
    pub fn record(&mut self, keys: Option<&VaultKeys>, draft: Draft) -> Result<&Entry, VaultError> {
        Ok(self.log.append(&self.descriptor, draft, keys)?)
    }

    /// Makes `next` (the next revision, signed by `keys`) the vault's
    /// vault.json: the entry `draft`, carrying the whole document, is
    /// appended first, then the file is replaced. See the module
    /// documentation for why in that order.
    pub fn revise(
        &mut self,
        next: Descriptor,
        keys: &VaultKeys,
        mut draft: Draft,
    ) -> Result<(), VaultError> {
        debug_assert_eq!(next.body().revision, self.descriptor.body().revision + 1);
        let text = next.to_json_pretty();
        let doc: Value = serde_json::from_str(&text).expect("a descriptor is JSON");
        let (sha256, bytes) = super::evidence::hash_bytes(text.as_bytes());
        draft.files.push(
            super::evidence::FileRecord::written(&self.path, sha256, bytes).map_err(|source| {
                VaultError::Write {
                    path: self.path.clone(),
                    source,
                }
            })?,
        );
        if let Some(map) = draft.details.as_object_mut() {
            map.insert("descriptor_revision".into(), json!(next.body().revision));
            map.insert(VAULT_JSON_DETAIL.into(), doc);
        }
        self.log.append(&next, draft, Some(keys))?;
        crate::killpoint::reached("descriptor:logged");
        write_descriptor(&self.path, &next).map_err(|source| VaultError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.descriptor = next;
        Ok(())
    }

    /// If the log holds acknowledgements from a threshold of the pending
    /// share set's custodians, records the switch in a new vault.json
    /// revision (the pending set active, the active one retired) and in the
    /// log (`activate`). `keys` must be the vault's current keys.
    pub fn activate_if_due(
        &mut self,
        keys: &VaultKeys,
        participants: &[Participant],
    ) -> Result<Option<Activated>, VaultError> {
        let active = super::log::effective_active_set(&self.descriptor, &self.log)
            .id
            .clone();
        if active == self.descriptor.active_set().id {
            return Ok(None);
        }
        let retired = self.descriptor.active_set().id.clone();
        let acks: Vec<u8> = self
            .log
            .acks(self.descriptor.share_set(&active).expect("known"))
            .into_iter()
            .collect();
        let next = self.descriptor.revise(keys, |b| {
            for s in &mut b.share_sets {
                if s.id == active {
                    s.status = SetStatus::Active;
                } else if s.status == SetStatus::Active {
                    s.status = SetStatus::Retired;
                }
            }
        })?;
        let draft = Draft {
            event: "activate".into(),
            participants: participants.to_vec(),
            details: json!({ "share_set": active, "retired": retired, "acknowledged_indices": acks }),
            files: vec![],
        };
        self.revise(next, keys, draft)?;
        Ok(Some(Activated {
            active,
            retired,
            revision: self.descriptor.body().revision,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::log::LOG_FILE;
    use crate::descriptor::SealerEntry;
    use crate::secrets::VaultSecret;

    /// A vault directory made through the library: vault.json revision 1
    /// and a log with its init entry.
    fn vault(dir: &Path) -> (Vault, VaultKeys) {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let d = Descriptor::genesis(
            "unit",
            &keys,
            crate::descriptor::tests::test_set(3, 2),
            vec![],
        )
        .unwrap();
        let path = dir.join("vault.json");
        write_descriptor(&path, &d).unwrap();
        let mut log = CeremonyLog::new(&dir.join(LOG_FILE));
        log.append(
            &d,
            Draft {
                event: "init".into(),
                participants: vec![],
                details: json!({}),
                files: vec![],
            },
            Some(&keys),
        )
        .unwrap();
        let (v, done) =
            Vault::attach_log(&path, Descriptor::load(&path).unwrap(), &dir.join(LOG_FILE))
                .unwrap();
        assert_eq!(done, None);
        (v, keys)
    }

    fn add_sealer(v: &mut Vault, keys: &VaultKeys, label: &str) {
        let key = crate::sealer::SealerSecretKey::generate()
            .public()
            .to_string();
        let next = v
            .descriptor
            .revise(keys, |b| {
                b.sealers.push(SealerEntry {
                    key: key.clone(),
                    label: label.into(),
                })
            })
            .unwrap();
        let draft = Draft {
            event: "sealers-add".into(),
            participants: vec![],
            details: json!({ "sealer": key }),
            files: vec![],
        };
        v.revise(next, keys, draft).unwrap();
    }

    fn reload(dir: &Path) -> Result<(Vault, Option<Completed>), VaultError> {
        let path = dir.join("vault.json");
        Vault::attach_log(&path, Descriptor::load(&path).unwrap(), &dir.join(LOG_FILE))
    }

    /// A pending set with acknowledgements from its threshold becomes
    /// active at the next step that holds the key: one new revision, one
    /// `activate` entry carrying it; then nothing more is due.
    #[test]
    fn a_verified_pending_set_is_activated_once() {
        use crate::encoding::to_hex;
        use crate::shares::{self, SplitParams};

        let dir = tempfile::tempdir().unwrap();
        let (mut v, keys) = vault(dir.path());
        // The same secret is not needed: only the commitments and ack
        // checks of the pending set matter here.
        let params = SplitParams {
            vault_id: v.descriptor.vault_id(),
            set_id: [9; 16],
            generation: 1,
            threshold: 2,
            custodians: vec!["p".into(), "q".into(), "r".into()],
        };
        let new = shares::split(&VaultSecret::generate(), &params).unwrap();
        let set = crate::descriptor::tests::set_of(&new, params.set_id, SetStatus::Pending, 2);
        let next = v
            .descriptor
            .revise(&keys, |b| b.share_sets.push(set.clone()))
            .unwrap();
        let draft = Draft {
            event: "reshare".into(),
            participants: vec![],
            details: json!({}),
            files: vec![],
        };
        v.log.append(&next, draft, Some(&keys)).unwrap();
        write_descriptor(&v.path, &next).unwrap();
        v.descriptor = next;
        assert_eq!(
            v.activate_if_due(&keys, &[]).unwrap(),
            None,
            "no acknowledgement yet"
        );
        for s in &new[..2] {
            let draft = Draft {
                event: "verify-share".into(),
                participants: vec![Participant {
                    set: set.id.clone(),
                    index: s.index,
                    label: s.custodian.clone(),
                    key: None,
                }],
                details: json!({"share_set": set.id, "index": s.index, "custodian": s.custodian, "ack_token": to_hex(&s.ack_token())}),
                files: vec![],
            };
            v.record(None, draft).unwrap();
        }
        let old = v.descriptor.active_set().id.clone();
        let done = v.activate_if_due(&keys, &[]).unwrap().expect("due");
        assert_eq!(
            done,
            Activated {
                active: set.id.clone(),
                retired: old.clone(),
                revision: 3
            }
        );
        assert_eq!(v.descriptor.active_set().id, set.id);
        assert_eq!(
            v.descriptor.share_set(&old).unwrap().status,
            SetStatus::Retired
        );
        let last = v.log.entries().last().unwrap();
        assert_eq!(last.body.event, "activate");
        assert_eq!(last.body.details["acknowledged_indices"], json!([1, 2]));
        assert_eq!(v.activate_if_due(&keys, &[]).unwrap(), None, "once");
        let (again, _) = reload(dir.path()).unwrap();
        assert_eq!(again.descriptor.fingerprint(), v.descriptor.fingerprint());
    }

    #[test]
    fn a_revision_is_logged_with_its_document_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let (mut v, keys) = vault(dir.path());
        add_sealer(&mut v, &keys, "a");
        let last = v.log.entries().last().unwrap();
        assert_eq!(last.body.descriptor_revision, 2);
        assert_eq!(last.body.details["descriptor_revision"], 2);
        assert!(last.body.details.get(VAULT_JSON_DETAIL).is_some());
        let (again, done) = reload(dir.path()).unwrap();
        assert_eq!(done, None);
        assert_eq!(again.descriptor.fingerprint(), v.descriptor.fingerprint());
    }

    /// A step killed after its entry and before vault.json (simulated by
    /// putting the old vault.json back) is completed by the next load.
    #[test]
    fn an_interrupted_revision_is_completed_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut v, keys) = vault(dir.path());
        let before = std::fs::read(&v.path).unwrap();
        add_sealer(&mut v, &keys, "a");
        let after = std::fs::read(&v.path).unwrap();
        std::fs::write(&v.path, &before).unwrap();
        let (again, done) = reload(dir.path()).unwrap();
        assert_eq!(
            done,
            Some(Completed {
                entry: 2,
                event: "sealers-add".into(),
                revision: 2
            })
        );
        assert_eq!(again.descriptor.body().revision, 2);
        assert_eq!(std::fs::read(&v.path).unwrap(), after);
    }

    /// vault.json two revisions behind the log, or beside it, or ahead of
    /// it: refused, naming both revisions.
    #[test]
    fn vault_json_and_the_log_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let (mut v, keys) = vault(dir.path());
        let rev1 = std::fs::read(&v.path).unwrap();
        add_sealer(&mut v, &keys, "a");
        let rev2 = std::fs::read(&v.path).unwrap();
        add_sealer(&mut v, &keys, "b");
        let rev3 = std::fs::read(&v.path).unwrap();
        let fp3 = v.descriptor.fingerprint();

        std::fs::write(&v.path, &rev1).unwrap();
        let problems = match reload(dir.path()) {
            Err(VaultError::DoesNotVerify { problems, .. }) => problems,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert_eq!(
            problems,
            [format!(
                "vault.json is revision 1, older than revision 3 that the ceremony log records (entry 3, sealers-add): it was rolled back or is an old copy; use vault.json revision 3 (revision hash {fp3})"
            )]
        );
        // The same revision number, another document.
        let other = Descriptor::from_json(&rev2)
            .unwrap()
            .revise(&keys, |b| b.name = "forked".into())
            .unwrap();
        write_descriptor(&v.path, &other).unwrap();
        let problems = match reload(dir.path()) {
            Err(VaultError::DoesNotVerify { problems, .. }) => problems,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert_eq!(
            problems,
            [format!(
                "vault.json revision 3 has revision hash {}, but the ceremony log records revision 3 with revision hash {fp3} (entry 3, sealers-add): it was replaced",
                other.fingerprint()
            )]
        );
        // Ahead of the log: the log's last entry cut off.
        std::fs::write(&v.path, &rev3).unwrap();
        let text = std::fs::read_to_string(v.log.path()).unwrap();
        let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(v.log.path(), cut).unwrap();
        let problems = match reload(dir.path()) {
            Err(VaultError::DoesNotVerify { problems, .. }) => problems,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert_eq!(
            problems,
            [
                "vault.json is revision 3, newer than revision 2, the last the ceremony log records (entry 2, sealers-add): a step that changed vault.json is missing from the log, or the log's last entries were cut off"
            ]
        );
    }
}

//! The key ceremony's library half: what `seif-ceremony` (and `seif demo`)
//! do with shares, the vault key and the ceremony log. The binary adds
//! prompts and printing.

pub mod airgap;
pub mod evidence;
pub mod grant;
pub mod log;
pub mod paper;
pub mod precheck;
pub mod quorum;
pub mod vault;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::custody::{CustodianSpec, CustodyError, Passphrases};
use crate::descriptor::{Custodian, Descriptor, DescriptorError, SealerEntry, SetStatus, ShareSet};
use crate::encoding::to_hex;
use crate::keys::VaultKeys;
use crate::secrets::{VaultSecret, random_array};
use crate::shares::{self, ShareError, SplitParams};

/// Where share files live in a vault directory.
pub const SHARES_DIR: &str = "shares";
/// The descriptor's file name in a vault directory.
pub const VAULT_FILE: &str = "vault.json";

/// Why a ceremony step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// Two custodians with one label.
    #[error("two custodians are labelled '{0}'")]
    DuplicateLabel(String),
    /// Two custodians with one key.
    #[error("custodians '{0}' and '{1}' have the same key")]
    DuplicateKey(String, String),
    /// A custodian problem.
    #[error(transparent)]
    Custody(#[from] CustodyError),
    /// A share problem.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// A descriptor problem.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// A log problem.
    #[error(transparent)]
    Log(#[from] log::LogError),
    /// An output directory exists already.
    #[error("{0} already exists and is not empty; choose a new directory")]
    OutputExists(PathBuf),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A freshly issued share set: its descriptor entry and the encrypted share
/// files (name, bytes).
pub struct IssuedSet {
    /// The descriptor entry.
    pub set: ShareSet,
    /// `(file name, encrypted share)`, in index order.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Splits `secret` for `custodians` and encrypts each share to its
/// custodian. Refuses duplicate labels and keys, and bad thresholds.
pub fn issue_share_set(
    secret: &VaultSecret,
    vault_id: [u8; 32],
    generation: u32,
    threshold: usize,
    status: SetStatus,
    custodians: &[CustodianSpec],
    passphrases: &mut dyn Passphrases,
) -> Result<IssuedSet, CeremonyError> {
    shares::check_threshold(threshold, custodians.len())?;
    let mut labels = BTreeSet::new();
    for c in custodians {
        if !labels.insert(c.label.as_str()) {
            return Err(CeremonyError::DuplicateLabel(c.label.clone()));
        }
    }
    for (i, a) in custodians.iter().enumerate() {
        for b in &custodians[i + 1..] {
            if a.key_id().is_some() && a.key_id() == b.key_id() {
                return Err(CeremonyError::DuplicateKey(
                    a.label.clone(),
                    b.label.clone(),
                ));
            }
        }
    }
    let set_id: [u8; 16] = random_array();
    let params = SplitParams {
        vault_id,
        set_id,
        generation,
        threshold,
        custodians: custodians.iter().map(|c| c.label.clone()).collect(),
    };
    let split = shares::split(secret, &params)?;
    let mut entries = Vec::with_capacity(custodians.len());
    let mut files = Vec::with_capacity(custodians.len());
    for (share, spec) in split.iter().zip(custodians) {
        files.push((spec.share_file_name(), spec.protect(share, passphrases)?));
        entries.push(Custodian {
            index: share.index,
            label: spec.label.clone(),
            protection: spec.protection(),
            key: spec.key_id(),
            commitment: to_hex(&share.commitment()),
            ack_check: to_hex(&shares::ack_check(&share.ack_token())),
        });
    }
    Ok(IssuedSet {
        set: ShareSet {
            id: to_hex(&set_id),
            generation,
            status,
            threshold: threshold as u8,
            custodians: entries,
        },
        files,
    })
}

/// A new vault: its secret (to be dropped by the caller when done), keys,
/// first descriptor and first share set.
pub struct NewVault {
    /// The vault secret.
    pub secret: VaultSecret,
    /// Its keys.
    pub keys: VaultKeys,
    /// The first descriptor.
    pub descriptor: Descriptor,
    /// The share files.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Makes a new vault: a fresh secret from the OS CSPRNG, its keys, the
/// shares, and the signed first descriptor.
pub fn create_vault(
    name: &str,
    threshold: usize,
    custodians: &[CustodianSpec],
    sealers: Vec<SealerEntry>,
    retention: Option<crate::retention::Policy>,
    passphrases: &mut dyn Passphrases,
) -> Result<NewVault, CeremonyError> {
    let secret = VaultSecret::generate();
    let keys = VaultKeys::derive(&secret);
    let vault_id = crate::descriptor::new_vault_id(
        &keys.public(),
        crate::descriptor::KeyWrapping::PostQuantum,
    );
    let issued = issue_share_set(
        &secret,
        vault_id,
        1,
        threshold,
        SetStatus::Active,
        custodians,
        passphrases,
    )?;
    let retention = retention.map(|p| crate::retention::Retention::then(None, p));
    let descriptor = Descriptor::genesis_with(
        name,
        &keys,
        issued.set,
        sealers,
        retention,
        crate::descriptor::KeyWrapping::PostQuantum,
    )?;
    Ok(NewVault {
        secret,
        keys,
        descriptor,
        files: issued.files,
    })
}

/// Writes a vault directory atomically: `vault.json`, `shares/`, and the
/// ceremony log (made by `write_log` in the staging directory). Everything
/// is staged in a hidden sibling directory and renamed into place at the
/// end, so a killed ceremony leaves either the whole directory or none.
///
/// Named kill points ([`crate::killpoint`]): `vault-dir:shares-staged`,
/// `vault-dir:descriptor-staged`, `vault-dir:staged` (log written, before
/// the rename) and `vault-dir:renamed`.
pub fn write_vault_dir(
    dir: &Path,
    descriptor: &Descriptor,
    files: &[(String, Vec<u8>)],
    write_log: impl FnOnce(&Path) -> Result<(), CeremonyError>,
) -> Result<(), CeremonyError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CeremonyError::Io { path, source }
    };
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(CeremonyError::OutputExists(dir.into()));
        }
    } else if dir.exists() {
        return Err(CeremonyError::OutputExists(dir.into()));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vault".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.seif-tmp-"))
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let shares_dir = staging.path().join(SHARES_DIR);
    std::fs::create_dir(&shares_dir).map_err(io(&shares_dir))?;
    for (file, bytes) in files {
        let path = shares_dir.join(file);
        crate::atomic::write_file(&path, bytes, 0o600, false).map_err(io(&path))?;
    }
    crate::killpoint::reached("vault-dir:shares-staged");
    let vault = staging.path().join(VAULT_FILE);
    crate::atomic::write_file(&vault, descriptor.to_json_pretty().as_bytes(), 0o644, false)
        .map_err(io(&vault))?;
    crate::killpoint::reached("vault-dir:descriptor-staged");
    write_log(staging.path())?;
    crate::atomic::sync_dir(&shares_dir).map_err(io(&shares_dir))?;
    let staged = staging.keep();
    std::fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(io(&staged))?;
    crate::killpoint::reached("vault-dir:staged");
    if let Err(e) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(io(dir)(e));
    }
    crate::killpoint::reached("vault-dir:renamed");
    crate::atomic::sync_dir(&parent).map_err(io(&parent))
}

//! Bringing the vault key back: every presented share is checked against
//! the descriptor (vault, share set and its status, index, parameters,
//! commitment, duplicates) and each bad one is named; only with at least
//! *t* good shares of the active set is the secret reconstructed, and only
//! if the keys derived from it match the descriptor (the key check) does
//! the ceremony go on.

use crate::descriptor::{Custodian, Descriptor, SetStatus, ShareSet};
use crate::encoding::to_hex;
use crate::keys::VaultKeys;
use crate::secrets::VaultSecret;
use crate::shares::{self, Share};

use super::log::{CeremonyLog, Participant, effective_active_set, effective_status};

/// A share as presented at the table, with where it came from.
pub struct Presented {
    /// The file name, or `stdin`.
    pub source: String,
    /// The decrypted share.
    pub share: Share,
}

/// The vault key, back in memory for one ceremony step. Holds secrets: no
/// `Debug`; zeroized on drop.
pub struct Quorum {
    /// The reconstructed secret.
    pub secret: VaultSecret,
    /// The keys derived from it (they passed the key check).
    pub keys: VaultKeys,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// The share set that was used.
    pub set_id: String,
}

/// Why the key was not reconstructed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// Too few good shares.
    #[error("{good} good share{} of the active share set {set} presented, {need} needed: bring {} more", if *good == 1 { "" } else { "s" }, need - good)]
    NotEnough {
        /// Good shares presented.
        good: usize,
        /// The threshold.
        need: usize,
        /// The active set.
        set: String,
    },
    /// The reconstructed secret does not give the descriptor's keys.
    #[error(
        "the reconstructed vault key does not match vault.json (key check failed): refusing to go on"
    )]
    KeyCheckFailed,
    /// The arithmetic refused the shares (should not happen after checks).
    #[error(transparent)]
    Share(#[from] shares::ShareError),
}

/// Checks one share against the descriptor alone, whatever its set's
/// status: the vault, the set, the index, the parameters and the
/// commitment. What a custodian runs alone (`verify-share`).
pub fn check_share<'d>(
    descriptor: &'d Descriptor,
    p: &Presented,
) -> Result<(&'d ShareSet, &'d Custodian), String> {
    let s = &p.share;
    let who = format!("share {} (index {})", p.source, s.index);
    if s.vault_id != descriptor.vault_id() {
        return Err(format!(
            "{who}: belongs to another vault ({}…), not to '{}'",
            &to_hex(&s.vault_id)[..16],
            crate::untrusted::Shown(&descriptor.body().name)
        ));
    }
    let set_id = to_hex(&s.set_id);
    let Some(set) = descriptor.share_set(&set_id) else {
        return Err(format!(
            "{who}: belongs to share set {set_id}, which vault.json does not list"
        ));
    };
    let Some(c) = set.custodians.get(usize::from(s.index).wrapping_sub(1)) else {
        return Err(format!(
            "{who}: index {} is not in share set {set_id}: a forged share",
            s.index
        ));
    };
    if s.threshold != set.threshold
        || usize::from(s.count) != set.custodians.len()
        || s.generation != set.generation
    {
        return Err(format!(
            "{who}: its threshold, count or generation differ from share set {set_id}: damaged or forged"
        ));
    }
    if to_hex(&s.commitment()) != c.commitment {
        return Err(format!(
            "share {} (index {}, custodian {}): does not match its commitment in vault.json: it is damaged or forged",
            p.source, s.index, c.label
        ));
    }
    Ok((set, c))
}

/// Checks one share for a quorum: [`check_share`], and its set must be the
/// active one.
fn check(
    descriptor: &Descriptor,
    log: &CeremonyLog,
    active: &ShareSet,
    p: &Presented,
) -> Option<String> {
    let (set, _) = match check_share(descriptor, p) {
        Ok(found) => found,
        Err(problem) => return Some(problem),
    };
    let who = format!("share {} (index {})", p.source, p.share.index);
    match effective_status(descriptor, log, set) {
        SetStatus::Active => None,
        SetStatus::Retired => Some(format!(
            "{who}: belongs to the retired share set {}; only shares of the active set {} open the vault",
            set.id, active.id
        )),
        SetStatus::Pending => Some(format!(
            "{who}: belongs to the pending share set {}, which {} of its {} custodians must verify (verify-share) before it is active",
            set.id,
            set.threshold,
            set.custodians.len()
        )),
    }
}

/// Sorts presented shares into good ones and named problems (appended to
/// `problems`). Duplicates of a good share are problems too.
pub fn assess(
    descriptor: &Descriptor,
    log: &CeremonyLog,
    presented: Vec<Presented>,
    problems: &mut Vec<String>,
) -> Vec<Presented> {
    let active = effective_active_set(descriptor, log);
    let mut good: Vec<Presented> = Vec::new();
    for p in presented {
        if let Some(problem) = check(descriptor, log, active, &p) {
            problems.push(problem);
        } else if let Some(first) = good.iter().find(|g| g.share.index == p.share.index) {
            problems.push(format!(
                "share {} (index {}): duplicate of the share already presented as {}",
                p.source, p.share.index, first.source
            ));
        } else {
            good.push(p);
        }
    }
    good
}

/// Reconstructs the vault key from good shares of the active set, and runs
/// the key check.
pub fn reconstruct(
    descriptor: &Descriptor,
    log: &CeremonyLog,
    good: &[Presented],
) -> Result<Quorum, QuorumError> {
    let active = effective_active_set(descriptor, log);
    let need = usize::from(active.threshold);
    if good.len() < need {
        return Err(QuorumError::NotEnough {
            good: good.len(),
            need,
            set: active.id.clone(),
        });
    }
    let used: Vec<&Share> = good.iter().take(need).map(|p| &p.share).collect();
    let secret = shares::combine(&used)?;
    let keys = VaultKeys::derive(&secret);
    if !descriptor.key_check(&keys.public()) {
        return Err(QuorumError::KeyCheckFailed);
    }
    let participants = good
        .iter()
        .take(need)
        .map(|p| {
            let c = &active.custodians[usize::from(p.share.index) - 1];
            Participant {
                set: active.id.clone(),
                index: c.index,
                label: c.label.clone(),
                key: c.key.clone(),
            }
        })
        .collect();
    Ok(Quorum {
        secret,
        keys,
        participants,
        set_id: active.id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shares::SplitParams;

    /// Shares of another secret, with commitments the vault key signed:
    /// each passes every check alone, they combine, and the key check
    /// refuses the result.
    #[test]
    fn a_wrong_secret_behind_valid_commitments_fails_the_key_check() {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        let vault_id = crate::descriptor::vault_id_of(&keys.public().signing_key);
        let params = SplitParams {
            vault_id,
            set_id: [5; 16],
            generation: 1,
            threshold: 2,
            custodians: vec!["a".into(), "b".into(), "c".into()],
        };
        let wrong = shares::split(&VaultSecret::generate(), &params).unwrap();
        let set = crate::descriptor::tests::set_of(&wrong, params.set_id, SetStatus::Active, 2);
        let d = Descriptor::genesis("v", &keys, set, vec![]).unwrap();
        let log = CeremonyLog::new(std::path::Path::new("unused.log"));
        let presented: Vec<Presented> = wrong
            .into_iter()
            .take(2)
            .map(|share| Presented {
                source: share.custodian.clone(),
                share,
            })
            .collect();
        let mut problems = Vec::new();
        let good = assess(&d, &log, presented, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(good.len(), 2);
        assert!(matches!(
            reconstruct(&d, &log, &good),
            Err(QuorumError::KeyCheckFailed)
        ));
    }
}

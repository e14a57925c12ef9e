//! Shamir shares of the vault secret over GF(256), behind a wrapper that
//! validates everything the field arithmetic does not.
//!
//! The arithmetic is `vsss-rs`' constant-time GF(256) (no lookup tables, so
//! no secret-dependent memory access). `sharks` is not used: RUSTSEC-2024-0398
//! (biased coefficients, no fixed release).
//!
//! Every share carries the vault id, the share-set id, the key generation,
//! its index, *t*, *n* and the custodian it was issued to. Its commitment (a
//! hash over all of that and the value) is published in the signed
//! descriptor, so a bad share is named before any combination is tried, and
//! a custodian can check their own share alone.
//!
//! A decrypted share is text (FORMAT.md, "Shares"):
//!
//! ```text
//! seif share v1
//! vault: <64 hex>
//! set: <32 hex>
//! generation: 1
//! index: 3
//! threshold: 3
//! count: 5
//! custodian: alice
//! value: <64 hex>
//! ```

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{from_hex, to_hex};
use crate::secrets::{KEY_LEN, VaultSecret};

/// First line of a decrypted share.
pub const SHARE_HEADER: &str = "seif share v1";
/// Domain of a share commitment.
pub const LABEL_COMMITMENT: &str = "seif/v1/share-commitment";
/// Domain of a share's acknowledgement token.
pub const LABEL_ACK: &str = "seif/v1/share-ack";
/// The largest decrypted share text read.
pub const SHARE_TEXT_MAX: usize = 4096;

/// Why shares could not be made, read or combined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareError {
    /// t < 2: one share alone would be the secret.
    #[error("the threshold must be at least 2 (got {0})")]
    ThresholdTooLow(usize),
    /// t > n.
    #[error("the threshold {threshold} is larger than the number of custodians {count}")]
    ThresholdAboveCount {
        /// t.
        threshold: usize,
        /// n.
        count: usize,
    },
    /// n > 255.
    #[error("at most 255 custodians can share a secret over GF(256) (got {0})")]
    TooManyCustodians(usize),
    /// Not a decrypted share.
    #[error("not a seif share: {0}")]
    Malformed(String),
    /// Index 0 is the secret itself; no share has it.
    #[error("share index 0 is never issued (it would be the secret itself): a forged share")]
    ZeroIndex,
    /// Two shares with one index.
    #[error("two shares have index {0}")]
    DuplicateIndex(u8),
    /// Shares of different vaults, sets or parameters.
    #[error("the shares are not of one share set")]
    MixedSets,
    /// Fewer than t shares.
    #[error("{have} shares given, {need} needed")]
    NotEnough {
        /// Shares given.
        have: usize,
        /// Shares needed.
        need: usize,
    },
    /// The arithmetic refused the shares.
    #[error("the shares could not be combined: {0}")]
    Combine(String),
}

/// One custodian's share. Holds secret material: no `Debug`.
pub struct Share {
    /// The vault id.
    pub vault_id: [u8; 32],
    /// The share set's id.
    pub set_id: [u8; 16],
    /// The key generation whose secret this splits.
    pub generation: u32,
    /// The Shamir x-coordinate, 1..=n.
    pub index: u8,
    /// t.
    pub threshold: u8,
    /// n.
    pub count: u8,
    /// The custodian it was issued to.
    pub custodian: String,
    value: Zeroizing<[u8; KEY_LEN]>,
}

/// What a set of shares is made for.
#[derive(Clone, Debug)]
pub struct SplitParams {
    /// The vault id.
    pub vault_id: [u8; 32],
    /// The new set's id.
    pub set_id: [u8; 16],
    /// The key generation.
    pub generation: u32,
    /// t.
    pub threshold: usize,
    /// Custodian labels, in index order (index 1 first).
    pub custodians: Vec<String>,
}

/// Checks t and n.
pub fn check_threshold(threshold: usize, count: usize) -> Result<(), ShareError> {
    if threshold < 2 {
        return Err(ShareError::ThresholdTooLow(threshold));
    }
    if count > 255 {
        return Err(ShareError::TooManyCustodians(count));
    }
    if threshold > count {
        return Err(ShareError::ThresholdAboveCount { threshold, count });
    }
    Ok(())
}

/// Splits the vault secret into one share per custodian, indices 1..=n.
pub fn split(secret: &VaultSecret, params: &SplitParams) -> Result<Vec<Share>, ShareError> {
    let n = params.custodians.len();
    check_threshold(params.threshold, n)?;
    let ids = (1..=n as u8).map(|i| vsss_rs::IdentifierGf256(vsss_rs::Gf256(i)));
    let rng = rand_core_010::UnwrapErr(getrandom_04::SysRng);
    let raw = Zeroizing::new(
        vsss_rs::Gf256::split_bytes_with_participant_ids_iter(
            params.threshold,
            n,
            secret.expose(),
            rng,
            ids,
        )
        .map_err(|e| ShareError::Combine(format!("{e:?}")))?,
    );
    raw.iter()
        .zip(&params.custodians)
        .map(|(bytes, custodian)| {
            if bytes.len() != KEY_LEN + 1 {
                return Err(ShareError::Combine("unexpected share length".into()));
            }
            let mut value = Zeroizing::new([0u8; KEY_LEN]);
            value.copy_from_slice(&bytes[1..]);
            Ok(Share {
                vault_id: params.vault_id,
                set_id: params.set_id,
                generation: params.generation,
                index: bytes[0],
                threshold: params.threshold as u8,
                count: n as u8,
                custodian: custodian.clone(),
                value,
            })
        })
        .collect()
}

/// Combines shares of one set into the secret. Refuses fewer than t shares,
/// index 0, duplicate indices, and shares of different sets, before any
/// arithmetic. (The key check against the descriptor comes after.)
pub fn combine(shares: &[&Share]) -> Result<VaultSecret, ShareError> {
    let Some(first) = shares.first() else {
        return Err(ShareError::NotEnough { have: 0, need: 2 });
    };
    let mut seen = [false; 256];
    for s in shares {
        if s.vault_id != first.vault_id
            || s.set_id != first.set_id
            || s.generation != first.generation
            || s.threshold != first.threshold
            || s.count != first.count
        {
            return Err(ShareError::MixedSets);
        }
        if s.index == 0 {
            return Err(ShareError::ZeroIndex);
        }
        if std::mem::replace(&mut seen[usize::from(s.index)], true) {
            return Err(ShareError::DuplicateIndex(s.index));
        }
    }
    let need = usize::from(first.threshold).max(2);
    if shares.len() < need {
        return Err(ShareError::NotEnough {
            have: shares.len(),
            need,
        });
    }
    let raw: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(
        shares
            .iter()
            .map(|s| {
                let mut v = Vec::with_capacity(KEY_LEN + 1);
                v.push(s.index);
                v.extend_from_slice(&s.value[..]);
                v
            })
            .collect(),
    );
    let secret = Zeroizing::new(
        vsss_rs::Gf256::combine_bytes(&raw[..])
            .map_err(|e| ShareError::Combine(format!("{e:?}")))?,
    );
    if secret.len() != KEY_LEN {
        return Err(ShareError::Combine(
            "the secret has the wrong length".into(),
        ));
    }
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    bytes.copy_from_slice(&secret);
    Ok(VaultSecret::from_bytes(bytes))
}

impl Share {
    fn bound_fields(&self, h: &mut Sha256) {
        h.update(self.vault_id);
        h.update(self.set_id);
        h.update(self.generation.to_be_bytes());
        h.update([self.index, self.threshold, self.count]);
        h.update(self.value.as_slice());
    }

    /// The commitment published in the descriptor:
    /// `SHA-256(label || 0x00 || vault id || set id || u32 generation || index || t || n || value)`.
    pub fn commitment(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(LABEL_COMMITMENT.as_bytes());
        h.update([0u8]);
        self.bound_fields(&mut h);
        h.finalize().into()
    }

    /// The acknowledgement token that `verify-share` logs: proof that the
    /// custodian decrypted this share, revealing nothing about it. The
    /// descriptor publishes its hash ([`ack_check`]).
    pub fn ack_token(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(LABEL_ACK.as_bytes());
        h.update([0u8]);
        self.bound_fields(&mut h);
        h.finalize().into()
    }

    /// The decrypted share as text.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{SHARE_HEADER}\nvault: {}\nset: {}\ngeneration: {}\nindex: {}\nthreshold: {}\ncount: {}\ncustodian: {}\nvalue: {}\n",
            to_hex(&self.vault_id),
            to_hex(&self.set_id),
            self.generation,
            self.index,
            self.threshold,
            self.count,
            self.custodian,
            Zeroizing::new(to_hex(&self.value[..])).as_str(),
        ))
    }

    /// Parses a decrypted share: exactly the lines above, in order. Line
    /// ends may be CRLF (a share may have passed through other tools).
    pub fn from_text(text: &str) -> Result<Share, ShareError> {
        if text.len() > SHARE_TEXT_MAX {
            return Err(ShareError::Malformed("longer than 4 KiB".into()));
        }
        let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
        if lines.next() != Some(SHARE_HEADER) {
            return Err(ShareError::Malformed(format!(
                "the first line is not '{SHARE_HEADER}'"
            )));
        }
        let mut field = |name: &str| -> Result<&str, ShareError> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(": "))
                .ok_or_else(|| {
                    ShareError::Malformed(format!("the '{name}' line is missing or out of order"))
                })
        };
        let bad = |name: &str| ShareError::Malformed(format!("the '{name}' field is invalid"));
        let vault_id = from_hex::<32>(field("vault")?).map_err(|_| bad("vault"))?;
        let set_id = from_hex::<16>(field("set")?).map_err(|_| bad("set"))?;
        let generation: u32 = field("generation")?
            .parse()
            .map_err(|_| bad("generation"))?;
        let index: u8 = field("index")?.parse().map_err(|_| bad("index"))?;
        let threshold: u8 = field("threshold")?.parse().map_err(|_| bad("threshold"))?;
        let count: u8 = field("count")?.parse().map_err(|_| bad("count"))?;
        let custodian = field("custodian")?.to_owned();
        // The label rule of `--custodian`: no control characters or line
        // ends, so a share's text reads back exactly as it was written.
        crate::custody::check_label(&custodian).map_err(|_| bad("custodian"))?;
        let value_hex = Zeroizing::new(field("value")?.to_owned());
        let value = Zeroizing::new(from_hex::<KEY_LEN>(&value_hex).map_err(|_| bad("value"))?);
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(ShareError::Malformed("text follows the value line".into()));
        }
        if index == 0 {
            return Err(ShareError::ZeroIndex);
        }
        check_threshold(usize::from(threshold), usize::from(count))
            .map_err(|e| ShareError::Malformed(e.to_string()))?;
        if index > count {
            return Err(ShareError::Malformed(format!(
                "index {index} is above the count {count}"
            )));
        }
        Ok(Share {
            vault_id,
            set_id,
            generation,
            index,
            threshold,
            count,
            custodian,
            value,
        })
    }
}

/// The hash of an acknowledgement token, as the descriptor publishes it.
pub fn ack_check(token: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(token).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(t: usize, n: usize) -> SplitParams {
        SplitParams {
            vault_id: [1; 32],
            set_id: [2; 16],
            generation: 1,
            threshold: t,
            custodians: (1..=n).map(|i| format!("c{i}")).collect(),
        }
    }

    /// Every t-subset of a small set reconstructs; no (t-1)-subset does.
    #[test]
    fn every_t_subset_reconstructs_and_no_smaller_one() {
        for (t, n) in [(2, 2), (2, 3), (3, 5), (4, 6)] {
            let secret = VaultSecret::generate();
            let shares = split(&secret, &params(t, n)).unwrap();
            for mask in 0u32..(1 << n) {
                let subset: Vec<&Share> = (0..n)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| &shares[i])
                    .collect();
                match combine(&subset) {
                    Ok(s) => {
                        assert!(subset.len() >= t);
                        assert!(s.ct_eq(&secret), "t={t} n={n} mask={mask:b}");
                    }
                    Err(e) => {
                        assert!(subset.len() < t, "t={t} n={n} mask={mask:b}: {e}");
                        if !subset.is_empty() {
                            assert_eq!(
                                e,
                                ShareError::NotEnough {
                                    have: subset.len(),
                                    need: t
                                }
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn parameters_are_checked() {
        let s = VaultSecret::generate();
        assert_eq!(
            split(&s, &params(1, 3)).err(),
            Some(ShareError::ThresholdTooLow(1))
        );
        assert_eq!(
            split(&s, &params(4, 3)).err(),
            Some(ShareError::ThresholdAboveCount {
                threshold: 4,
                count: 3
            })
        );
        assert_eq!(
            split(&s, &params(2, 256)).err(),
            Some(ShareError::TooManyCustodians(256))
        );
        assert_eq!(split(&s, &params(255, 255)).unwrap().len(), 255);
    }

    #[test]
    fn combine_refuses_bad_sets() {
        let secret = VaultSecret::generate();
        let a = split(&secret, &params(2, 3)).unwrap();
        assert_eq!(
            combine(&[&a[0], &a[0]]).err(),
            Some(ShareError::DuplicateIndex(1))
        );
        let mut other = params(2, 3);
        other.set_id = [9; 16];
        let b = split(&secret, &other).unwrap();
        assert_eq!(combine(&[&a[0], &b[1]]).err(), Some(ShareError::MixedSets));
        let mut zero = Share::from_text(&a[0].to_text()).unwrap();
        zero.index = 0;
        assert_eq!(combine(&[&zero, &a[1]]).err(), Some(ShareError::ZeroIndex));
    }

    #[test]
    fn text_round_trip_and_refusals() {
        let shares = split(&VaultSecret::generate(), &params(2, 3)).unwrap();
        let text = shares[1].to_text();
        let back = Share::from_text(&text).unwrap();
        assert_eq!(back.commitment(), shares[1].commitment());
        assert_eq!(back.custodian, "c2");
        assert!(Share::from_text(&text.replace('\n', "\r\n")).is_ok());
        assert_eq!(
            Share::from_text(&text.replace("index: 2", "index: 0")).err(),
            Some(ShareError::ZeroIndex)
        );
        assert!(Share::from_text(&text.replace("index: 2", "index: 9")).is_err());
        assert!(Share::from_text(&text[..text.len() - 10]).is_err());
        assert!(Share::from_text(&format!("{}extra\n", text.as_str())).is_err());
        // A label outside `--custodian`'s rule (found by the share_text
        // fuzzer: trailing carriage returns did not read back as written).
        for label in ["\0b\r\r", "c\u{7f}", "", "a b", ".hidden"] {
            let odd = text.replace("custodian: c2", &format!("custodian: {label}"));
            assert!(
                matches!(Share::from_text(&odd), Err(ShareError::Malformed(m)) if m.contains("custodian")),
                "{label:?}"
            );
        }
        // A changed field changes the commitment.
        let moved = Share::from_text(&text.replace("index: 2", "index: 3")).unwrap();
        assert_ne!(moved.commitment(), shares[1].commitment());
        assert_ne!(shares[1].ack_token(), shares[1].commitment());
    }
}

//! What a step checks about its inputs before any custodian is asked for a
//! share: each sealed file or snapshot must be this vault's and from a
//! sealer the vault accepts; every share file must be readable, of a kind
//! seif reads, with what opens it at hand, and enough of them must be
//! given to reach the threshold. A refusal names every bad input at once,
//! and nothing is logged: nobody typed anything in vain, and nothing
//! happened.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::custody::{ShareFileKind, passphrase, sniff};
use crate::descriptor::{Descriptor, NotAccepted, Protection, SetStatus};
use crate::sealed::Header;
use crate::sealed::open::{OpenError, Opener};
use crate::snapshot::record::Record;
use crate::untrusted::escape;

/// A sealed file a step will open, grant or re-wrap.
#[derive(Clone, Debug)]
pub struct Input {
    /// Its path, as given.
    pub path: PathBuf,
    /// Its file name (the grant and the log name it by this).
    pub name: String,
    /// Its header, read and checked.
    pub header: Header,
}

/// One input that may not be used, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A sealed file could not be read, or its header breaks the format.
    #[error("{}: {}", .path.display(), escape(&.error.to_string()))]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: OpenError,
    },
    /// A sealed file the vault does not take ([`Descriptor::accepts`]).
    #[error("{}: {why}{}", .path.display(), if matches!(.why, NotAccepted::Unsigned) { "; pass --allow-unsigned if you know its origin" } else { "" })]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        why: NotAccepted,
    },
    /// A snapshot the vault does not take.
    #[error("snapshot {}: {}", .record.body.snapshot_id, match .why { NotAccepted::OtherVault(_) => "belongs to another vault".to_owned(), other => other.to_string() })]
    Snapshot {
        /// Its record.
        record: Box<Record>,
        /// Why.
        why: NotAccepted,
    },
    /// Words that name no snapshot, or more than one.
    #[error("{}: {}", escape(.spec), escape(.message))]
    NoSuchSnapshot {
        /// What was asked for.
        spec: String,
        /// Why it names none.
        message: String,
    },
    /// A share file that cannot serve this step (worded, and escaped,
    /// where it was found).
    #[error("{0}")]
    Share(String),
    /// An input that could not be read to its end.
    #[error("{}: cannot be read: {error}", .path.display())]
    InputUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// The inputs that may not be used, each named with why.
#[derive(Debug, thiserror::Error)]
#[error("refused before asking for shares: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
pub struct Refused(pub Vec<Problem>);

/// Reads every sealed file's header and refuses any that is not this
/// vault's, not from a sealer it accepts, or unsigned (unless
/// `allow_unsigned`).
pub fn sealed_files(
    descriptor: &Descriptor,
    inputs: &[PathBuf],
    allow_unsigned: bool,
) -> Result<Vec<Input>, Refused> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for path in inputs {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let header = match File::open(path)
            .map_err(OpenError::Read)
            .and_then(Opener::new)
        {
            Ok(o) => o.header().clone(),
            Err(error) => {
                problems.push(Problem::Unreadable {
                    path: path.clone(),
                    error,
                });
                continue;
            }
        };
        match descriptor.accepts_file(&header.vault_id, header.sealer.as_ref(), allow_unsigned) {
            Ok(()) => out.push(Input {
                path: path.clone(),
                name,
                header,
            }),
            Err(why) => problems.push(Problem::File {
                path: path.clone(),
                why,
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Refused(problems))
    }
}

/// Snapshots named as a person names them (`latest`, `all`, or the start
/// of a snapshot id or record hash) among `records`, checked: each must be
/// this vault's and sealed by a sealer it accepts. `all` names every
/// snapshot, oldest first.
pub fn snapshots(
    descriptor: &Descriptor,
    records: &BTreeMap<crate::ids::BlobId, Record>,
    specs: &[String],
) -> Result<Vec<Record>, Refused> {
    let mut out = Vec::new();
    let mut refused = Vec::new();
    let found: Vec<(String, Result<&Record, String>)> = specs
        .iter()
        .flat_map(|spec| {
            if spec == "all" {
                crate::snapshot::verify::ordered(records)
                    .into_iter()
                    .map(|r| (r.hash.to_hex(), Ok(r)))
                    .collect::<Vec<_>>()
            } else {
                vec![(spec.clone(), crate::snapshot::find(records, spec))]
            }
        })
        .collect();
    for (spec, found) in found {
        match found {
            // The laptop has no `seif ls` (its store module points there).
            Err(message) => refused.push(Problem::NoSuchSnapshot {
                spec,
                message: format!(
                    "{}; compare it with the decision (`ls STORE/records` lists the record hashes of this copy)",
                    message.replace(" (see `seif ls`)", "")
                ),
            }),
            Ok(r) => match descriptor.accepts(&r.body.vault_id.0, Some(&r.sealer), false) {
                Ok(()) => out.push(r.clone()),
                Err(why) => refused.push(Problem::Snapshot {
                    record: Box::new(r.clone()),
                    why,
                }),
            },
        }
    }
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(Refused(refused))
    }
}

/// A share file as presented, read (not decrypted) before any custodian is
/// asked for a secret.
pub struct ShareInput<'a> {
    /// Its path, or `stdin`.
    pub source: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// What a step asks of the shares it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A threshold of shares of the active set, to bring the key back.
    Quorum,
    /// One share of any set vault.json lists (a custodian's own check).
    One,
}

/// What opens the shares: whether an age identity and an OpenPGP secret
/// key were given (`--identity`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Openers {
    /// An age identity file was given.
    pub age: bool,
    /// An OpenPGP secret key file was given.
    pub openpgp: bool,
    /// A PKCS#11 module was given (`--pkcs11-module`), for card shares.
    pub card: bool,
}

/// Checks every presented share file before anyone is asked for a
/// passphrase or PIN: it must not be empty, must be a kind of share file
/// seif reads (parsed, not decrypted), must have what opens it at hand (an
/// `--identity` for age and OpenPGP shares), and must not be given twice;
/// a decrypted share must match its commitment, and a passphrase share
/// must name a passphrase custodian of the set it can serve. With
/// [`Need::Quorum`], the shares that can count must reach the threshold of
/// the active share set (`log` decides which set is active).
pub fn shares(
    descriptor: &Descriptor,
    log: Option<&super::log::CeremonyLog>,
    inputs: &[ShareInput<'_>],
    openers: Openers,
    need: Need,
) -> Result<(), Refused> {
    let active = match log {
        Some(l) => super::log::effective_active_set(descriptor, l),
        None => descriptor.active_set(),
    };
    let mut problems = Vec::new();
    let mut counting = 0usize;
    for (i, input) in inputs.iter().enumerate() {
        let who = format!("share {}", escape(input.source));
        if let Some(first) = inputs[..i].iter().find(|p| p.bytes == input.bytes) {
            problems.push(format!(
                "{who}: the same share file as {} (given twice)",
                escape(first.source)
            ));
            continue;
        }
        if input.bytes.is_empty() {
            problems.push(format!(
                "{who}: it is empty (did the decryption that feeds it, e.g. gpg -d, fail?)"
            ));
            continue;
        }
        let problem = match sniff(input.bytes) {
            None => Some(format!(
                "{who}: {}",
                crate::custody::CustodyError::UnknownFormat
            )),
            Some(ShareFileKind::Plain) => plain_share(descriptor, log, input, need).err(),
            Some(ShareFileKind::Passphrase) => match passphrase::parse(input.bytes) {
                Err(e) => Some(format!("{who}: {e}")),
                Ok(parsed) => labelled_share(
                    descriptor,
                    active,
                    need,
                    &who,
                    parsed.custodian,
                    Protection::Passphrase,
                ),
            },
            Some(ShareFileKind::Card) => match crate::custody::card::parse(input.bytes) {
                Err(e) => Some(format!("{who}: {e}")),
                Ok(_) if !openers.card => Some(format!(
                    "{who}: it is a card share, and no --pkcs11-module was given: add it (OpenSC's opensc-pkcs11.so for an ID card) and insert the custodian's card"
                )),
                Ok(parsed) => labelled_share(
                    descriptor,
                    active,
                    need,
                    &who,
                    parsed.custodian,
                    Protection::Pkcs11,
                ),
            },
            Some(ShareFileKind::Age) => {
                // The whole armor is read (a file cut short fails here, not
                // after someone typed), then the header parsed.
                let mut dearmored = Vec::new();
                let valid = std::io::Read::read_to_end(
                    &mut age::armor::ArmoredReader::new(input.bytes),
                    &mut dearmored,
                )
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    age::Decryptor::new_buffered(&dearmored[..])
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                match valid {
                    Err(e) => Some(format!("{who}: not a valid age file: {}", escape(&e))),
                    Ok(_) if !openers.age => Some(format!(
                        "{who}: it is an age file, and no age identity was given: add --identity with the custodian's age key file"
                    )),
                    Ok(_) => None,
                }
            }
            Some(ShareFileKind::OpenPgp) => openpgp_share(input.bytes, openers)
                .err()
                .map(|e| format!("{who}: {e}")),
        };
        match problem {
            Some(p) => problems.push(p),
            None => counting += 1,
        }
    }
    let need_count = match need {
        Need::Quorum => usize::from(active.threshold),
        Need::One => 1,
    };
    if need == Need::Quorum && counting < need_count {
        problems.push(format!(
            "{counting} share{} given that can count toward the active share set {}, {need_count} needed: add {} more --share",
            if counting == 1 { "" } else { "s" },
            active.id,
            need_count - counting
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refused(problems.into_iter().map(Problem::Share).collect()))
    }
}

/// A passphrase or card share names its custodian in its header: that
/// custodian must hold a share of that kind in a set the share can serve.
fn labelled_share(
    descriptor: &Descriptor,
    active: &crate::descriptor::ShareSet,
    need: Need,
    who: &str,
    label: &str,
    protection: Protection,
) -> Option<String> {
    let kind = match protection {
        Protection::Pkcs11 => "card",
        _ => "passphrase",
    };
    let serves = |set: &crate::descriptor::ShareSet| {
        set.custodians
            .iter()
            .any(|c| c.label == label && c.protection == protection)
    };
    let ok = match need {
        Need::Quorum => serves(active),
        Need::One => descriptor.body().share_sets.iter().any(serves),
    };
    (!ok).then(|| match need {
        Need::Quorum => format!(
            "{who}: custodian '{label}' holds no {kind} share of the active share set {}: it is a retired custodian's share, or the wrong file",
            active.id
        ),
        Need::One => format!(
            "{who}: vault.json lists no {kind} custodian '{label}': the share is of another vault, or the wrong file"
        ),
    })
}

/// A decrypted share (as `gpg -d` prints it): checked in full against
/// vault.json, and against the active set for a quorum. The problem names
/// the share.
fn plain_share(
    descriptor: &Descriptor,
    log: Option<&super::log::CeremonyLog>,
    input: &ShareInput<'_>,
    need: Need,
) -> Result<(), String> {
    let who = format!("share {}", escape(input.source));
    let text = std::str::from_utf8(input.bytes).map_err(|_| format!("{who}: not UTF-8 text"))?;
    let share = crate::shares::Share::from_text(text).map_err(|e| format!("{who}: {e}"))?;
    let who = format!("{who} (index {})", share.index);
    let presented = super::quorum::Presented {
        source: input.source.to_owned(),
        share,
    };
    let (set, _) = super::quorum::check_share(descriptor, &presented)?;
    if need == Need::Quorum {
        let status = match log {
            Some(l) => super::log::effective_status(descriptor, l, set),
            None => set.status,
        };
        match status {
            SetStatus::Active => {}
            SetStatus::Retired => {
                return Err(format!(
                    "{who}: belongs to the retired share set {}; only shares of the active set open the vault",
                    set.id
                ));
            }
            SetStatus::Pending => {
                return Err(format!(
                    "{who}: belongs to the pending share set {}, which its custodians must verify (verify-share) before it is active",
                    set.id
                ));
            }
        }
    }
    Ok(())
}

#[cfg(feature = "openpgp")]
fn openpgp_share(bytes: &[u8], openers: Openers) -> Result<(), String> {
    crate::custody::openpgp::check_message(bytes).map_err(|e| e.to_string())?;
    if !openers.openpgp {
        return Err("it is an OpenPGP message, and no OpenPGP secret key was given: add --identity with the custodian's secret key file, or decrypt it with `gpg -d FILE | seif-ceremony … --share -`".into());
    }
    Ok(())
}

#[cfg(not(feature = "openpgp"))]
fn openpgp_share(_: &[u8], _: Openers) -> Result<(), String> {
    Err(crate::custody::CustodyError::OpenPgpUnavailable.to_string())
}

/// Where an opened sealed file goes: `dump.seif` opens to `DIR/dump`, any
/// other name to `DIR/NAME.opened`; with a `suffix` (a grant's `.grant`),
/// to `DIR/NAME` + suffix.
pub fn output_path(dir: &Path, input: &Input, suffix: &str) -> PathBuf {
    if !suffix.is_empty() {
        return dir.join(format!("{}{suffix}", input.name));
    }
    match input.name.strip_suffix(".seif") {
        Some(stem) if !stem.is_empty() => dir.join(stem),
        _ => dir.join(format!("{}.opened", input.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::SealerEntry;
    use crate::encoding::to_hex;
    use crate::keys::VaultKeys;
    use crate::sealed::seal::{SealOptions, SealTarget, seal};
    use crate::sealer::SealerSecretKey;
    use crate::secrets::VaultSecret;

    fn vault(sealers: &[&SealerSecretKey]) -> Descriptor {
        let keys = VaultKeys::derive(&VaultSecret::generate());
        Descriptor::genesis(
            "precheck",
            &keys,
            crate::descriptor::tests::test_set(3, 2),
            sealers
                .iter()
                .map(|s| SealerEntry {
                    key: s.public().to_string(),
                    label: "p".into(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn sealed(dir: &Path, name: &str, d: &Descriptor, sealer: Option<&SealerSecretKey>) -> PathBuf {
        let path = dir.join(name);
        // Sealed while the vault accepted the sealer (a removed sealer's
        // files were sealed before its removal).
        let mut target = SealTarget::from_descriptor(d);
        target.sealers.extend(sealer.map(SealerSecretKey::public));
        let mut out = Vec::new();
        seal(
            &b"data"[..],
            &mut out,
            &target,
            sealer,
            &Default::default(),
            &SealOptions::default(),
        )
        .unwrap();
        std::fs::write(&path, out).unwrap();
        path
    }

    #[test]
    fn every_bad_input_is_named_before_shares_are_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let (good, removed) = (SealerSecretKey::generate(), SealerSecretKey::generate());
        let d = vault(&[&good]);
        let other = vault(&[&good]);
        let ok = sealed(dir.path(), "ok.seif", &d, Some(&good));
        let inputs = sealed_files(&d, std::slice::from_ref(&ok), false).unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].name, "ok.seif");
        assert_eq!(
            output_path(Path::new("o"), &inputs[0], ""),
            Path::new("o/ok")
        );
        assert_eq!(
            output_path(Path::new("o"), &inputs[0], ".grant"),
            Path::new("o/ok.seif.grant")
        );

        let bad = [
            sealed(dir.path(), "foreign.seif", &other, Some(&good)),
            sealed(dir.path(), "removed.seif", &d, Some(&removed)),
            sealed(dir.path(), "unsigned.seif", &d, None),
            dir.path().join("missing.seif"),
        ];
        let Refused(problems) = sealed_files(&d, &bad, false).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(matches!(
            problems[..],
            [
                Problem::File {
                    why: NotAccepted::OtherVault(_),
                    ..
                },
                Problem::File {
                    why: NotAccepted::Sealer(_),
                    ..
                },
                Problem::File {
                    why: NotAccepted::Unsigned,
                    ..
                },
                Problem::Unreadable {
                    error: OpenError::Read(_),
                    ..
                }
            ]
        ));
        let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            problems[0].contains(&format!(
                "foreign.seif: sealed to another vault ({}…)",
                &to_hex(&other.vault_id())[..16]
            )),
            "{}",
            problems[0]
        );
        assert!(problems[1].ends_with(&format!(
            "removed.seif: sealed by {}, a sealer the vault does not accept",
            removed.public().classic()
        )));
        assert!(
            problems[2]
                .contains("unsigned.seif: unsigned (anyone holding vault.json could have made it)")
        );
        assert!(problems[3].contains("missing.seif: "));
        // Unsigned files pass when the custodians allow them.
        assert_eq!(sealed_files(&d, &bad[2..3], true).unwrap().len(), 1);
    }
}

//! What a step checks about its inputs before any custodian is asked for a
//! share: each sealed file or snapshot must be this vault's and from a
//! sealer the vault accepts. A refusal names every bad input at once.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::descriptor::{Descriptor, NotAccepted};
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
        match descriptor.accepts(&header.vault_id, header.sealer.as_ref(), allow_unsigned) {
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
            Err(message) => refused.push(Problem::NoSuchSnapshot { spec, message }),
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
            removed.public()
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

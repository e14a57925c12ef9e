//! The ceremony log: an append-only, hash-chained JSON Lines file.
//!
//! Every ceremony step appends one entry: what happened, who took part (share
//! indices, custodian labels and key fingerprints, never a share), what was
//! opened or granted, the tool's version and the time. Entries made while the
//! vault key is present are signed by it; the others (a custodian's
//! `verify-share`, a refused attempt) are chained but unsigned.
//!
//! Each line is the canonical JSON (see `signed`) of
//! `{"body": {…}, "signature": "<hex>" | null}`; `body.prev` is the SHA-256 of
//! the previous line's bytes, so removing, reordering or editing any line
//! breaks the chain. Cutting off the tail cannot be seen from the file alone:
//! the witnesses record the head hash on paper after each ceremony, and
//! `log verify --head` checks against it.
//!
//! Every entry names the vault.json revision in effect after its step (its
//! number and its revision hash), so the log and vault.json check each
//! other: a vault.json older than the newest revision the log records (put
//! back after a `sealers remove`, say) is refused, and so is one newer than
//! the log (a step that was not logged, or a log whose tail was cut off).
//! A step that changes vault.json in place logs the whole new vault.json
//! first and writes the file second; if it is killed in between, the next
//! step completes it from the log ([`CeremonyLog::pending_revision`]).
//!
//! Unsigned entries can be written by anyone who can write the file, so
//! every field is checked for its shape when read (labels by
//! `--custodian`'s rule, times, hashes, field names), and nothing of an
//! entry reaches a screen or paper except through `untrusted::escape`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::evidence::{self, Attendance, Evidence, FileRecord};
use crate::descriptor::{Descriptor, SetStatus, ShareSet};
use crate::encoding::{from_hex, to_hex};
use crate::keys::VaultKeys;
use crate::signed;

/// Signature domain of a log entry.
pub const DOMAIN_LOG: &str = "seif/v1/ceremony-log";
/// The log's file name in a vault directory.
pub const LOG_FILE: &str = "ceremony.log";
/// Events recorded without the vault key (so unsigned).
pub const UNSIGNED_EVENTS: &[&str] = &["verify-share", "refused"];
/// Every event a log may hold.
pub const EVENTS: &[&str] = &[
    "init",
    "verify-share",
    "open",
    "grant",
    "reshare",
    "activate",
    "rotate",
    "sealers-add",
    "sealers-remove",
    "retention-set",
    "refused",
];
/// Events whose step makes a new vault.json revision (exactly one).
pub const REVISING_EVENTS: &[&str] = &[
    "init",
    "activate",
    "reshare",
    "rotate",
    "sealers-add",
    "sealers-remove",
    "retention-set",
];
/// The detail that carries the whole new vault.json document, in entries of
/// steps that revise vault.json in place (logged before the file is
/// written).
pub const VAULT_JSON_DETAIL: &str = "vault_json";
/// The longest `tool` field.
const TOOL_MAX: usize = 64;
/// The deepest nesting of `details`.
const DETAILS_DEPTH_MAX: usize = 8;
/// The longest line read (and written: [`CeremonyLog::append`] refuses a
/// longer one). A rotation of thousands of sealed files lists each in its
/// entry, twice with the evidence.
pub const LINE_MAX: usize = 16 * 1024 * 1024;

/// Why the log could not be read, written or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The log.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not a well-formed entry.
    #[error("{path}, line {line}: {message}")]
    Malformed {
        /// The log.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The log changed on disk while this process was using it.
    #[error("{0}: the log changed on disk while in use; run the step again")]
    Changed(PathBuf),
    /// An entry would be longer than a reader accepts.
    #[error("{0}: the entry would be longer than {LINE_MAX} bytes; give fewer inputs to one step")]
    TooLong(PathBuf),
}

/// A custodian who presented a share, as the log records them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// The share set.
    pub set: String,
    /// The share index.
    pub index: u8,
    /// The custodian's label.
    pub label: String,
    /// Their key (OpenPGP fingerprint or age recipient), `null` for a passphrase.
    pub key: Option<String>,
}

/// The signed part of an entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    /// 1, 2, 3, …
    pub seq: u64,
    /// SHA-256 of the previous line, `null` for the first.
    pub prev: Option<String>,
    /// When (RFC 3339 UTC).
    pub time: String,
    /// The tool and its version.
    pub tool: String,
    /// The vault.
    pub vault_id: String,
    /// The key generation whose key signs this entry (or would have).
    pub generation: u32,
    /// The revision hash of the vault.json in effect after this step.
    pub descriptor: String,
    /// Its revision number.
    pub descriptor_revision: u64,
    /// What happened: `init`, `verify-share`, `open`, `grant`, `reshare`,
    /// `activate`, `rotate`, `sealers-add`, `sealers-remove`,
    /// `retention-set`, `refused`.
    pub event: String,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// Event-specific facts.
    pub details: Value,
    /// What the step leaves as evidence: the binary's hash, the
    /// witnesses, the administrator's note, the files read and written.
    /// Absent from entries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// One verified-shape entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The body.
    pub body: EntryBody,
    body_value: Value,
    /// The signature, if signed.
    pub signature: Option<String>,
    /// SHA-256 of the line.
    pub hash: String,
}

/// What a new entry says; the log fills in the chain fields and the
/// evidence (the binary's hash, and the witnesses and note of
/// [`CeremonyLog::attend`]).
pub struct Draft {
    /// The event.
    pub event: String,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// Event-specific facts.
    pub details: Value,
    /// The files the step read and wrote.
    pub files: Vec<FileRecord>,
}

impl Draft {
    /// A draft that records no files.
    pub fn new(event: &str, participants: Vec<Participant>, details: Value) -> Self {
        Draft {
            event: event.into(),
            participants,
            details,
            files: Vec::new(),
        }
    }
}

/// The tool name and version written into entries.
pub fn tool_version() -> String {
    format!("seif-ceremony {}", env!("CARGO_PKG_VERSION"))
}

/// A ceremony log, read into memory (logs are small).
pub struct CeremonyLog {
    path: PathBuf,
    entries: Vec<Entry>,
    len_on_disk: u64,
    attendance: Attendance,
}

fn line_of(body: &Value, signature: Option<&str>) -> Vec<u8> {
    let doc = serde_json::json!({ "body": body, "signature": signature });
    signed::canonical_json(&doc).expect("log entries canonicalize")
}

impl CeremonyLog {
    /// A new, empty log at `path` (written on the first append).
    pub fn new(path: &Path) -> Self {
        CeremonyLog {
            path: path.into(),
            entries: Vec::new(),
            len_on_disk: 0,
            attendance: Attendance::default(),
        }
    }

    /// Reads a log and checks its shape and chain (not signatures: see
    /// [`CeremonyLog::verify`]).
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let io = |source| LogError::Io {
            path: path.into(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        Self::parse(path, &bytes)
    }

    /// Parses a log's bytes (`path` names it in errors and for appending).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, LogError> {
        let mut entries: Vec<Entry> = Vec::new();
        let body = match bytes.strip_suffix(b"\n") {
            Some(b) => b,
            None if bytes.is_empty() => bytes,
            None => {
                return Err(LogError::Malformed {
                    path: path.into(),
                    line: bytes.split(|&b| b == b'\n').count(),
                    message: "the last line is incomplete: the log was cut off mid-write".into(),
                });
            }
        };
        for (i, line) in body
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|_| !body.is_empty())
        {
            let bad = |message: String| LogError::Malformed {
                path: path.into(),
                line: i + 1,
                message,
            };
            if line.len() > LINE_MAX {
                return Err(bad("the line is too long".into()));
            }
            let escaped =
                |e: serde_json::Error| crate::untrusted::escape(&e.to_string()).into_owned();
            let value: Value = serde_json::from_slice(line)
                .map_err(|e| bad(format!("not JSON ({})", escaped(e))))?;
            let Value::Object(mut doc) = value else {
                return Err(bad("not a JSON object".into()));
            };
            let (Some(body_value), Some(sig), 2) =
                (doc.remove("body"), doc.remove("signature"), doc.len() + 2)
            else {
                return Err(bad("expected exactly 'body' and 'signature'".into()));
            };
            let signature = match sig {
                Value::Null => None,
                Value::String(s) => Some(s),
                _ => return Err(bad("the signature is neither a string nor null".into())),
            };
            let canonical = signed::canonical_json(
                &serde_json::json!({ "body": body_value, "signature": signature }),
            )
            .map_err(|e| bad(e.to_string()))?;
            if canonical != line {
                return Err(bad(
                    "the line is not in canonical form (it was edited)".into()
                ));
            }
            let body: EntryBody =
                serde_json::from_value(body_value.clone()).map_err(|e| bad(escaped(e)))?;
            check_shape(&body).map_err(bad)?;
            let expected_prev = entries.last().map(|e| e.hash.clone());
            if body.seq != i as u64 + 1 {
                return Err(bad(format!(
                    "sequence number {} where {} was expected: entries were removed or reordered",
                    body.seq,
                    i + 1
                )));
            }
            if body.prev != expected_prev {
                return Err(bad("it does not chain to the previous line: an entry was removed, inserted or edited".into()));
            }
            let hash = to_hex(&Sha256::digest(line));
            entries.push(Entry {
                body,
                body_value,
                signature,
                hash,
            });
        }
        Ok(CeremonyLog {
            path: path.into(),
            entries,
            len_on_disk: bytes.len() as u64,
            attendance: Attendance::default(),
        })
    }

    /// The entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names the witnesses and the note that every entry this process
    /// appends records (see [`evidence`]).
    pub fn attend(&mut self, attendance: Attendance) {
        self.attendance = attendance;
    }

    /// Whether the log can be appended to: a step checks this before any
    /// custodian is asked for a secret, so that neither the step nor its
    /// refusal is lost to a read-only medium.
    pub fn check_writable(&self) -> Result<(), LogError> {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map(drop)
            .map_err(|source| LogError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// The hash of the last line, which the witnesses record.
    pub fn head(&self) -> Option<&str> {
        self.entries.last().map(|e| e.hash.as_str())
    }

    /// Appends an entry, signed by `keys` if given, and syncs it to disk.
    pub fn append(
        &mut self,
        descriptor: &Descriptor,
        draft: Draft,
        keys: Option<&VaultKeys>,
    ) -> Result<&Entry, LogError> {
        let io = |source| LogError::Io {
            path: self.path.clone(),
            source,
        };
        if let Ok(meta) = std::fs::metadata(&self.path)
            && meta.len() != self.len_on_disk
        {
            return Err(LogError::Changed(self.path.clone()));
        }
        let body = EntryBody {
            seq: self.entries.len() as u64 + 1,
            prev: self.head().map(str::to_owned),
            time: crate::time::now_rfc3339(),
            tool: tool_version(),
            vault_id: descriptor.body().vault_id.clone(),
            generation: descriptor.body().generation,
            descriptor: descriptor.fingerprint(),
            descriptor_revision: descriptor.body().revision,
            event: draft.event,
            participants: draft.participants,
            details: draft.details,
            evidence: Some(Evidence {
                binary: evidence::binary_sha256(),
                witnesses: self.attendance.witnesses.clone(),
                note: self.attendance.note.clone(),
                files: draft.files,
            }),
        };
        let body_value = serde_json::to_value(&body).expect("entry serializes");
        let signature = keys.map(|k| {
            signed::sign(k.signing_key(), DOMAIN_LOG, &body_value).expect("entry canonicalizes")
        });
        let mut line = line_of(&body_value, signature.as_deref());
        if line.len() > LINE_MAX {
            return Err(LogError::TooLong(self.path.clone()));
        }
        let hash = to_hex(&Sha256::digest(&line));
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        crate::killpoint::reached("log:before-append");
        f.write_all(&line).and_then(|_| f.sync_all()).map_err(io)?;
        crate::killpoint::reached("log:appended");
        if self.entries.is_empty()
            && let Some(dir) = self.path.parent()
        {
            let _ = crate::atomic::sync_dir(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            });
        }
        self.len_on_disk += line.len() as u64;
        self.entries.push(Entry {
            body,
            body_value,
            signature,
            hash,
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Valid acknowledgements of a share set: the indices whose logged token
    /// hashes to the descriptor's `ack_check`.
    pub fn acks(&self, set: &ShareSet) -> BTreeSet<u8> {
        self.entries
            .iter()
            .filter_map(|e| valid_ack(e, set))
            .collect()
    }

    /// Verifies every entry against the vault descriptor: the chain (checked
    /// on reading), each signature under the key of its generation, that
    /// only `verify-share` and `refused` entries are unsigned, that every
    /// logged acknowledgement is genuine and names its custodian as
    /// vault.json does, and that the vault.json revisions the entries record
    /// follow each other and end at `descriptor` (see [`cross_check`]).
    /// Returns the problems found.
    pub fn verify(&self, descriptor: &Descriptor) -> Vec<String> {
        let body = descriptor.body();
        let mut keys = BTreeMap::new();
        for g in &body.key_history {
            keys.insert(g.generation, g.signing_key.clone());
        }
        keys.insert(body.generation, body.signing_key.clone());
        let mut problems = Vec::new();
        for e in &self.entries {
            let at = format!("entry {} ({})", e.body.seq, e.body.event);
            if e.body.vault_id != body.vault_id {
                problems.push(format!("{at}: it is for another vault"));
                continue;
            }
            match (
                &e.signature,
                UNSIGNED_EVENTS.contains(&e.body.event.as_str()),
            ) {
                (None, true) => {}
                (None, false) => problems.push(format!(
                    "{at}: unsigned, but this step is always signed by the vault key"
                )),
                (Some(_), true) => problems.push(format!(
                    "{at}: signed, but this step is never signed by the vault key"
                )),
                (Some(sig), false) => {
                    let key = keys
                        .get(&e.body.generation)
                        .and_then(|k| signed::verifying_key_from_hex(k));
                    match key {
                        None => problems.push(format!(
                            "{at}: names key generation {}, which vault.json does not know",
                            e.body.generation
                        )),
                        Some(k) => {
                            if signed::verify(&k, DOMAIN_LOG, &e.body_value, sig).is_err() {
                                problems.push(format!(
                                    "{at}: the vault key's signature does not verify"
                                ));
                            }
                        }
                    }
                }
            }
            if e.body.event == "refused" && !e.body.participants.is_empty() {
                problems.push(format!(
                    "{at}: names participants, but a refusal records none"
                ));
            }
            if e.body.event == "verify-share" {
                let set = e
                    .body
                    .details
                    .get("share_set")
                    .and_then(Value::as_str)
                    .and_then(|id| descriptor.share_set(id));
                match set {
                    None => problems.push(format!(
                        "{at}: acknowledges a share set vault.json does not know"
                    )),
                    Some(set) => match valid_ack(e, set) {
                        None => problems.push(format!("{at}: its acknowledgement token does not match the share's ack_check: forged")),
                        Some(index) => {
                            let c = &set.custodians[usize::from(index) - 1];
                            let named = Participant {
                                set: set.id.clone(),
                                index,
                                label: c.label.clone(),
                                key: c.key.clone(),
                            };
                            if e.body.participants != [named]
                                || e.body.details.get("custodian").and_then(Value::as_str)
                                    != Some(c.label.as_str())
                            {
                                problems.push(format!(
                                    "{at}: it does not name custodian {index} of set {} as vault.json does",
                                    set.id
                                ));
                            }
                        }
                    },
                }
            }
        }
        problems.extend(self.cross_check(descriptor));
        problems
    }

    /// The vault.json revisions the log records, checked against each other
    /// and against `descriptor`: the log starts at revision 1 (`init`); a
    /// revision changes only by one, and only in a signed entry of a step
    /// that makes one ([`REVISING_EVENTS`]); one revision number has one
    /// revision hash; an entry that carries the whole new vault.json
    /// carries the revision it records; and `descriptor` is the last
    /// revision recorded, neither older (rolled back, an old copy) nor
    /// newer (a step that was not logged, a log cut short).
    pub fn cross_check(&self, descriptor: &Descriptor) -> Vec<String> {
        let mut problems = Vec::new();
        let mut last: Option<&Entry> = None;
        for e in &self.entries {
            let at = format!("entry {} ({})", e.body.seq, e.body.event);
            let (rev, revising) = (
                e.body.descriptor_revision,
                REVISING_EVENTS.contains(&e.body.event.as_str()),
            );
            match last {
                None if e.body.event != "init" || rev != 1 => problems.push(format!(
                    "{at}: the log does not start with the vault's init (vault.json revision 1)"
                )),
                None => {}
                Some(p) => {
                    let prev = p.body.descriptor_revision;
                    let step = format!("vault.json revision {rev}");
                    if rev < prev {
                        problems.push(format!(
                            "{at}: records {step}, older than revision {prev} of entry {}: entries are out of order or forged",
                            p.body.seq
                        ));
                    } else if rev == prev && e.body.descriptor != p.body.descriptor {
                        problems.push(format!(
                            "{at}: records {step} with another revision hash than entry {}: two different vault.json files carry one revision number",
                            p.body.seq
                        ));
                    } else if rev == prev && revising {
                        problems.push(format!(
                            "{at}: this step makes a new vault.json revision, but it records revision {rev} again"
                        ));
                    } else if rev > prev && !(revising && rev == prev + 1) {
                        problems.push(format!(
                            "{at}: records {step} after revision {prev} of entry {}: a step that changed vault.json is missing from the log",
                            p.body.seq
                        ));
                    }
                }
            }
            if let Some(doc) = e.body.details.get(VAULT_JSON_DETAIL) {
                match logged_descriptor(doc) {
                    Some(d)
                        if d.fingerprint() == e.body.descriptor
                            && d.body().revision == rev
                            && d.body().vault_id == e.body.vault_id => {}
                    _ => problems.push(format!(
                        "{at}: the vault.json it carries is not the revision it records"
                    )),
                }
            }
            last = Some(e);
        }
        let Some(last) = last else {
            return problems;
        };
        let (have, have_hash) = (descriptor.body().revision, descriptor.fingerprint());
        let (logged, logged_hash) = (last.body.descriptor_revision, &last.body.descriptor);
        let entry = format!("entry {}, {}", last.body.seq, last.body.event);
        if have < logged {
            if self.pending_revision(descriptor).is_some() {
                problems.push(format!(
                    "vault.json is revision {have}, but the ceremony log records revision {logged} ({entry}): that step was interrupted after it was logged and before it wrote vault.json; the next ceremony step on this vault completes it from the log"
                ));
            } else {
                problems.push(format!(
                    "vault.json is revision {have}, older than revision {logged} that the ceremony log records ({entry}): it was rolled back or is an old copy; use vault.json revision {logged} (revision hash {logged_hash})"
                ));
            }
        } else if have == logged && &have_hash != logged_hash {
            problems.push(format!(
                "vault.json revision {have} has revision hash {have_hash}, but the ceremony log records revision {logged} with revision hash {logged_hash} ({entry}): it was replaced"
            ));
        } else if have > logged {
            problems.push(format!(
                "vault.json is revision {have}, newer than revision {logged}, the last the ceremony log records ({entry}): a step that changed vault.json is missing from the log, or the log's last entries were cut off"
            ));
        }
        problems
    }

    /// The vault.json revision a step logged and then did not write, when
    /// it was interrupted in between: the log's last entry is a signed step
    /// that revises vault.json in place, carries the whole new document
    /// (valid, signed by the vault's current key), and that document is
    /// the revision right after `descriptor`. The caller writes it to
    /// vault.json; that completes the step.
    pub fn pending_revision(&self, descriptor: &Descriptor) -> Option<Descriptor> {
        let last = self.entries.last()?;
        let doc = last.body.details.get(VAULT_JSON_DETAIL)?;
        let sig = last.signature.as_deref()?;
        let key = descriptor.signing_key();
        signed::verify(key, DOMAIN_LOG, &last.body_value, sig).ok()?;
        let next = logged_descriptor(doc)?;
        let b = next.body();
        (b.vault_id == descriptor.body().vault_id
            && b.revision == descriptor.body().revision + 1
            && b.previous.as_deref() == Some(descriptor.fingerprint().as_str())
            && next.signing_key() == key
            && next.fingerprint() == last.body.descriptor
            && last.body.descriptor_revision == b.revision)
            .then_some(next)
    }
}

/// A vault.json carried in an entry, if it is a valid one.
fn logged_descriptor(doc: &Value) -> Option<Descriptor> {
    Descriptor::from_json(&serde_json::to_vec(doc).ok()?).ok()
}

/// The shape of every field of an entry, checked when it is read (an
/// unsigned entry could have been written by anyone).
fn check_shape(b: &EntryBody) -> Result<(), String> {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    if !crate::time::is_rfc3339_utc(&b.time) {
        return Err("the time is not an RFC 3339 UTC time (2026-11-27T11:38:21Z)".into());
    }
    if b.tool.is_empty()
        || b.tool.len() > TOOL_MAX
        || !b.tool.bytes().all(|c| (0x20..0x7f).contains(&c))
    {
        return Err(format!(
            "the tool is not 1 to {TOOL_MAX} printable ASCII characters"
        ));
    }
    if !hex(&b.vault_id, 64) || !hex(&b.descriptor, 64) {
        return Err("the vault id or vault.json revision hash is not 64 hex digits".into());
    }
    if !EVENTS.contains(&b.event.as_str()) {
        return Err("the event is not one a ceremony step records".into());
    }
    for p in &b.participants {
        if !hex(&p.set, 32) {
            return Err("a participant's share set is not 32 hex digits".into());
        }
        crate::custody::check_label(&p.label)
            .map_err(|_| "a participant's label breaks the custodian label rule".to_owned())?;
        if p.key.as_ref().is_some_and(|k| {
            k.is_empty() || k.len() > 128 || !k.bytes().all(|c| c.is_ascii_alphanumeric())
        }) {
            return Err("a participant's key is not a fingerprint or an age recipient".into());
        }
    }
    if !b.details.is_object() {
        return Err("the details are not a JSON object".into());
    }
    if let Some(e) = &b.evidence {
        evidence::check(e)?;
    }
    check_detail_names(&b.details, 0)
}

/// Field names in `details` are short snake_case ASCII, at most
/// [`DETAILS_DEPTH_MAX`] levels deep: they are printed as labels.
fn check_detail_names(v: &Value, depth: usize) -> Result<(), String> {
    if depth > DETAILS_DEPTH_MAX {
        return Err("the details are nested too deeply".into());
    }
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let ok = !k.is_empty()
                    && k.len() <= 64
                    && k.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
                if !ok {
                    return Err("a field name in the details is not snake_case ASCII".into());
                }
                check_detail_names(v, depth + 1)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_detail_names(v, depth + 1)),
        _ => Ok(()),
    }
}

/// The share index an entry genuinely acknowledges in `set`: a
/// `verify-share` entry whose token hashes to the custodian's `ack_check`.
fn valid_ack(e: &Entry, set: &ShareSet) -> Option<u8> {
    let d = &e.body.details;
    if e.body.event != "verify-share" || d.get("share_set")?.as_str()? != set.id {
        return None;
    }
    let index = u8::try_from(d.get("index")?.as_u64()?).ok()?;
    let token = from_hex::<32>(d.get("ack_token")?.as_str()?).ok()?;
    let c = set.custodians.get(usize::from(index).checked_sub(1)?)?;
    (to_hex(&crate::shares::ack_check(&token)) == c.ack_check).then_some(index)
}

/// The share set that opens the vault now: the descriptor's active set,
/// unless a pending set has been verified by at least its threshold of
/// custodians (acknowledgements in the log), in which case the pending set.
pub fn effective_active_set<'d>(descriptor: &'d Descriptor, log: &CeremonyLog) -> &'d ShareSet {
    match descriptor.pending_set() {
        Some(p) if log.acks(p).len() >= usize::from(p.threshold) => p,
        _ => descriptor.active_set(),
    }
}

/// The status a share set effectively has, given the log.
pub fn effective_status(descriptor: &Descriptor, log: &CeremonyLog, set: &ShareSet) -> SetStatus {
    let active = effective_active_set(descriptor, log);
    if set.id == active.id {
        SetStatus::Active
    } else if set.status == SetStatus::Pending {
        SetStatus::Pending
    } else {
        SetStatus::Retired
    }
}

//! The ceremony log on paper (`seif-ceremony log print`), for wet
//! signatures.
//!
//! Laid out for 80 columns with no further folding: every line is at most
//! [`WIDTH`] characters; values wrap only between words; a word too long
//! for its line (a hash, a key) is printed in groups of four characters,
//! and wraps only between groups; 64-digit hashes and the vault id are
//! always grouped, eight groups to a line. No raw JSON: each entry has a
//! fixed layout (number, event, time; who signed it; tool and the SHA-256
//! of the binary that wrote it; vault.json revision; custodians and
//! witnesses; the administrator's note; its details, one field a line; the
//! files it read and wrote, each with its SHA-256). Whether the
//! vault key signed an entry is said on a line of its own, and an unsigned
//! entry says plainly that anyone able to write the file could have
//! written it. Everything taken from the log passes through
//! [`crate::untrusted::escape`] first.

use std::collections::BTreeSet;

use serde_json::Value;

use super::evidence::FileRole;
use super::log::{CeremonyLog, Entry, VAULT_JSON_DETAIL};
use crate::untrusted::escape;

/// The widest line printed.
pub const WIDTH: usize = 80;
/// Where values start, after their label.
const LABEL_WIDTH: usize = 16;

/// What the log was checked against, for the header.
pub enum Verdict {
    /// Verified against a vault.json.
    Verified {
        /// vault.json as named on the command line.
        vault_path: String,
        /// The vault's name.
        name: String,
        /// vault.json's revision.
        revision: u64,
    },
    /// Checked against a vault.json, with problems.
    Problems {
        /// vault.json as named on the command line.
        vault_path: String,
        /// Each problem.
        problems: Vec<String>,
    },
    /// Only the chain was checked (no vault.json given).
    ChainOnly,
}

/// The printout of `log`, read from `file`.
pub fn render(log: &CeremonyLog, file: &str, verdict: &Verdict) -> String {
    let mut p = Paper::default();
    let rule = "=".repeat(WIDTH);
    p.line(&rule);
    p.line("SEIF CEREMONY LOG");
    p.line(&rule);
    p.field(0, "file", &escape(file));
    if let Some(first) = log.entries().first() {
        p.hash(0, "vault id", &first.body.vault_id);
    }
    let signed = log
        .entries()
        .iter()
        .filter(|e| e.signature.is_some())
        .count();
    p.field(
        0,
        "entries",
        &format!(
            "{}: {signed} signed by the vault key, {} NOT signed",
            log.entries().len(),
            log.entries().len() - signed
        ),
    );
    match log.head() {
        Some(h) => p.hash(0, "head", h),
        None => p.field(0, "head", "none (the log is empty)"),
    }
    let checked = match verdict {
        Verdict::Verified {
            vault_path,
            name,
            revision,
        } => {
            p.field(
                0,
                "status",
                &format!(
                    "VERIFIED against {} (vault '{}', vault.json revision {revision}): every signature and the chain",
                    escape(vault_path),
                    escape(name)
                ),
            );
            true
        }
        Verdict::Problems {
            vault_path,
            problems,
        } => {
            p.field(
                0,
                "status",
                &format!(
                    "DOES NOT VERIFY against {} ({} problem{}):",
                    escape(vault_path),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                ),
            );
            for problem in problems {
                p.field(0, "", &format!("- {}", escape(problem)));
            }
            false
        }
        Verdict::ChainOnly => {
            p.field(
                0,
                "status",
                "hash chain intact; signatures NOT checked (print with --vault to check them)",
            );
            false
        }
    };
    p.blank();
    for e in log.entries() {
        entry(&mut p, e, log.entries().len(), checked);
    }
    sign_off(&mut p, log);
    p.out
}

fn entry(p: &mut Paper, e: &Entry, total: usize, checked: bool) {
    let b = &e.body;
    p.line(&"-".repeat(WIDTH));
    p.line(&format!(
        "ENTRY {} OF {total}   {}   {}",
        b.seq,
        b.event.to_uppercase(),
        escape(&b.time)
    ));
    let signer = match (&e.signature, checked) {
        (Some(_), true) => format!(
            "the vault key, generation {} (signature verified)",
            b.generation
        ),
        (Some(_), false) => format!(
            "the vault key, generation {} (signature NOT checked here)",
            b.generation
        ),
        (None, _) => "NOT SIGNED: a custodian's check or a refusal, which anyone able to write the file could have written".into(),
    };
    p.field(1, "signed by", &signer);
    p.field(1, "tool", &escape(&b.tool));
    match &b.evidence {
        Some(e) => match &e.binary {
            Some(h) => p.hash(1, "binary sha-256", h),
            None => p.field(
                1,
                "binary sha-256",
                "unknown (the binary could not read its own file)",
            ),
        },
        None => p.field(
            1,
            "binary sha-256",
            "not recorded (written by a version of seif that did not record it)",
        ),
    }
    p.field(
        1,
        "vault.json",
        &format!("revision {}, revision hash:", b.descriptor_revision),
    );
    p.hash(1, "", &b.descriptor);
    for c in &b.participants {
        p.field(
            1,
            "custodian",
            &format!(
                "index {} '{}' ({}), set {}",
                c.index,
                escape(&c.label),
                escape(c.key.as_deref().unwrap_or("passphrase")),
                escape(&c.set)
            ),
        );
    }
    if let Some(e) = &b.evidence {
        for w in &e.witnesses {
            p.field(1, "witness", &escape(w));
        }
        if let Some(n) = &e.note {
            p.field(1, "note", &escape(n));
        }
    }
    if let Value::Object(map) = &b.details {
        for (k, v) in map {
            if k == VAULT_JSON_DETAIL {
                p.field(
                    1,
                    "vault.json",
                    "the whole new revision is in the log (logged before the file was written)",
                );
            } else {
                value(p, 1, &name_of(k), v);
            }
        }
    }
    for f in b.evidence.iter().flat_map(|e| &e.files) {
        let role = match f.role {
            FileRole::Read => "read",
            FileRole::Written => "written",
        };
        p.field(1, role, &escape(&f.path));
        p.hash(1, "", &f.sha256);
        p.field(1, "", &format!("{} bytes", f.bytes));
    }
    p.hash(1, "entry hash", &e.hash);
    p.blank();
    p.line("  Witness initials:  ______________   ______________   ______________");
    p.blank();
}

/// A detail: scalars on the label's line, lists and objects below it.
fn value(p: &mut Paper, depth: usize, label: &str, v: &Value) {
    match v {
        Value::String(s) if is_hash(s) => p.hash(depth, label, s),
        Value::String(s) => p.field(depth, label, &escape(s)),
        Value::Null => p.field(depth, label, "none"),
        Value::Bool(x) => p.field(depth, label, if *x { "yes" } else { "no" }),
        Value::Number(n) => p.field(depth, label, &n.to_string()),
        Value::Array(items) if items.is_empty() => p.field(depth, label, "none"),
        Value::Array(items) if items.iter().all(|i| i.is_number()) => {
            let list: Vec<String> = items.iter().map(ToString::to_string).collect();
            p.field(depth, label, &list.join(", "));
        }
        Value::Array(items) => {
            p.field(depth, label, "");
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(map) => {
                        p.field(depth + 1, &format!("({})", i + 1), "");
                        for (k, v) in map {
                            value(p, depth + 2, &name_of(k), v);
                        }
                    }
                    other => value(p, depth + 1, &format!("({})", i + 1), other),
                }
            }
        }
        Value::Object(map) => {
            p.field(depth, label, "");
            for (k, v) in map {
                value(p, depth + 1, &name_of(k), v);
            }
        }
    }
}

/// A detail's name as a label: `header_hash` is "header hash".
fn name_of(key: &str) -> String {
    escape(key).replace('_', " ")
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

fn sign_off(p: &mut Paper, log: &CeremonyLog) {
    p.line(&"=".repeat(WIDTH));
    p.line("We attest that this printout is a true record of the ceremony.");
    p.blank();
    let mut roles: Vec<String> = vec!["Ceremony administrator".into(), "Internal auditor".into()];
    // The witnesses named in the log, each once; two blank lines if none
    // was named.
    let mut witnesses: Vec<&str> = Vec::new();
    for w in log
        .entries()
        .iter()
        .flat_map(|e| e.body.evidence.iter().flat_map(|ev| &ev.witnesses))
    {
        if !witnesses.contains(&w.as_str()) {
            witnesses.push(w);
        }
    }
    if witnesses.is_empty() {
        roles.extend(["Witness".to_owned(), "Witness".to_owned()]);
    }
    roles.extend(witnesses.iter().map(|w| format!("Witness {}", escape(w))));
    let custodians: BTreeSet<&str> = log
        .entries()
        .iter()
        .flat_map(|e| e.body.participants.iter().map(|c| c.label.as_str()))
        .collect();
    roles.extend(
        custodians
            .iter()
            .map(|l| format!("Custodian {}", escape(l))),
    );
    p.line(&format!(
        "{:<26}{:<23}{:<13}{}",
        "Role", "Name", "Date", "Signature"
    ));
    for role in roles {
        let blanks = format!(
            "{:<23}{:<13}{}",
            "_".repeat(20),
            "_".repeat(10),
            "_".repeat(16)
        );
        if role.chars().count() < 26 {
            p.line(&format!("{role:<26}{blanks}"));
        } else {
            p.line(&role);
            p.line(&format!("{:<26}{blanks}", ""));
        }
        p.blank();
    }
}

/// Lines of at most [`WIDTH`] characters.
#[derive(Default)]
struct Paper {
    out: String,
}

impl Paper {
    fn line(&mut self, s: &str) {
        debug_assert!(s.chars().count() <= WIDTH, "{s}");
        self.out.push_str(s.trim_end());
        self.out.push('\n');
    }

    fn blank(&mut self) {
        self.out.push('\n');
    }

    /// `label` in its column, then `text` wrapped between words in the
    /// rest of the line.
    fn field(&mut self, depth: usize, label: &str, text: &str) {
        let indent = 2 * depth;
        let column = indent + LABEL_WIDTH;
        let width = WIDTH - column;
        let mut first = if label.chars().count() < LABEL_WIDTH {
            format!("{:indent$}{label:<LABEL_WIDTH$}", "")
        } else {
            self.line(&format!("{:indent$}{label}", ""));
            " ".repeat(column)
        };
        // A word too long for the value column but not for a line of its
        // own (a key) gets a line of its own, under its label.
        let alone = WIDTH - indent - 4;
        let mut line = String::new();
        for word in text.split(' ') {
            let n = word.chars().count();
            if n > width && n <= alone {
                if !line.is_empty() || !first.trim().is_empty() {
                    self.line(&format!("{first}{line}"));
                }
                self.line(&format!("{:w$}{word}", "", w = indent + 4));
                first = " ".repeat(column);
                line.clear();
                continue;
            }
            for w in groups(word, width) {
                let needed = if line.is_empty() {
                    w.chars().count()
                } else {
                    line.chars().count() + 1 + w.chars().count()
                };
                if needed > width && !line.is_empty() {
                    self.line(&format!("{first}{line}"));
                    first = " ".repeat(column);
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&w);
            }
        }
        if !line.is_empty() || !first.trim().is_empty() {
            self.line(&format!("{first}{line}"));
        }
    }

    /// A 64-digit hash (or any hex id), grouped by four, eight groups a line.
    fn hash(&mut self, depth: usize, label: &str, hex: &str) {
        let groups: Vec<String> = chunks(&escape(hex), 4);
        let lines: Vec<String> = groups.chunks(8).map(|g| g.join(" ")).collect();
        for (i, l) in lines.iter().enumerate() {
            self.field(depth, if i == 0 { label } else { "" }, l);
        }
    }
}

/// A word as printed: itself if it fits `width`, else groups of four
/// characters (each its own word, so lines break between groups).
fn groups(word: &str, width: usize) -> Vec<String> {
    if word.chars().count() <= width {
        vec![word.to_owned()]
    } else {
        chunks(word, 4)
    }
}

fn chunks(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_wrap_between_groups_and_lines_fit() {
        let mut p = Paper::default();
        let hex = "0123456789abcdef".repeat(4);
        p.field(
            1,
            "some label",
            &format!("see {hex} and {} end", "x".repeat(100)),
        );
        p.hash(0, "head", &hex);
        p.field(3, "a label longer than its column", "value");
        for line in p.out.lines() {
            assert!(line.chars().count() <= WIDTH, "{line}");
        }
        // A word that fits a line of its own is never cut.
        assert!(p.out.contains(&format!("\n      {hex}\n")), "{}", p.out);
        // One longer than a line is cut only between groups of four.
        assert!(p.out.contains(" xxxx xxxx "), "{}", p.out);
        assert!(
            !p.out
                .lines()
                .any(|l| l.split(' ').any(|w| w.starts_with('x') && w.len() != 4))
        );
        // Hashes: eight groups a line.
        assert!(
            p.out.contains("head            0123 4567 89ab cdef 0123 4567 89ab cdef\n                0123 4567 89ab cdef 0123 4567 89ab cdef\n"),
            "{}",
            p.out
        );
        assert!(
            p.out
                .contains("\n      a label longer than its column\n                      value\n"),
            "{}",
            p.out
        );
    }
}

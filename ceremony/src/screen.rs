//! What a step shows, and the `--json` summary it leaves for the record.
//!
//! Without `--json`, the lines the witnesses read go to stdout. With
//! `--json`, stdout holds one JSON document (the summary), and the same
//! lines go to stderr, so that the screen shows what it always shows when
//! the summary is redirected to a file:
//! `seif-ceremony --json open … > /media/ceremony/TRANSFER/open.json`.
//!
//! The summary is made from the log entries the step appended, after they
//! are on disk: it says nothing the log does not.

use std::sync::atomic::{AtomicBool, Ordering};

use seif::ceremony::log::{CeremonyLog, Entry, VAULT_JSON_DETAIL};
use seif::descriptor::Descriptor;
use serde_json::{Value, json};

static JSON: AtomicBool = AtomicBool::new(false);
static PRINTED: AtomicBool = AtomicBool::new(false);

/// Turns `--json` on for this process.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Whether `--json` was given.
pub fn json_mode() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Prints one line for the witnesses (stdout, or stderr under `--json`).
pub fn line(args: std::fmt::Arguments<'_>) {
    if json_mode() {
        eprintln!("{args}");
    } else {
        println!("{args}");
    }
}

/// `println!` for the lines a step shows the witnesses.
#[macro_export]
macro_rules! say {
    () => { $crate::screen::line(format_args!("")) };
    ($($t:tt)*) => { $crate::screen::line(format_args!($($t)*)) };
}

/// The summary of a step: the vault as it is after the step, and every
/// entry the step appended to `log` (those after the first `since`).
pub fn summary(step: &str, descriptor: &Descriptor, log: &CeremonyLog, since: usize) -> Value {
    let b = descriptor.body();
    let entries: Vec<&Entry> = log.entries().iter().skip(since).collect();
    let mut participants = Vec::new();
    let mut files = Vec::new();
    let (mut witnesses, mut note, mut binary) = (Vec::new(), None, None);
    for e in &entries {
        for p in &e.body.participants {
            if !participants.contains(p) {
                participants.push(p.clone());
            }
        }
        if let Some(ev) = &e.body.evidence {
            files.extend(ev.files.iter().cloned());
            witnesses = ev.witnesses.clone();
            note = ev.note.clone();
            binary = ev.binary.clone();
        }
    }
    json!({
        "step": step,
        "outcome": "done",
        "vault": {
            "name": b.name,
            "fingerprint": b.vault_id,
            "revision": b.revision,
            "revision_hash": descriptor.fingerprint(),
            "generation": b.generation,
            "active_share_set": descriptor.active_set().id,
        },
        "binary_sha256": binary,
        "witnesses": witnesses,
        "note": note,
        "participants": participants,
        "files": files,
        "entries": entries.iter().map(|e| entry_summary(e)).collect::<Vec<_>>(),
        "log": {
            "path": log.path().display().to_string(),
            "entries": log.entries().len(),
            "head": log.head(),
        },
    })
}

fn entry_summary(e: &Entry) -> Value {
    let mut details = e.body.details.clone();
    // The whole new vault.json is in the log; the summary names its
    // revision only.
    if let Some(map) = details.as_object_mut() {
        map.remove(VAULT_JSON_DETAIL);
    }
    json!({
        "seq": e.body.seq,
        "event": e.body.event,
        "time": e.body.time,
        "signed": e.signature.is_some(),
        "hash": e.hash,
        "details": details,
    })
}

/// Prints the summary on stdout (under `--json` only).
pub fn print_summary(summary: &Value) {
    if json_mode() {
        PRINTED.store(true, Ordering::Relaxed);
        println!(
            "{}",
            serde_json::to_string_pretty(summary).expect("a summary serializes")
        );
    }
}

/// Marks a summary as that of a step that was logged and then failed.
pub fn failed(mut summary: Value, error: &str) -> Value {
    summary["outcome"] = json!("failed");
    summary["error"] = json!(error);
    summary
}

/// Prints a failed step's summary on stdout (under `--json` only), so that
/// a script that keeps the summary keeps the failure too.
pub fn print_failure(step: &str, failure: &seif_cli::report::Failure) {
    // A step that failed after it was logged (an input that did not open)
    // printed its summary, marked failed, already.
    if json_mode() && !PRINTED.load(Ordering::Relaxed) {
        let doc = json!({
            "step": step,
            "outcome": "failed",
            "exit_code": failure.exit() as u8,
            "error": failure.message,
            "hint": failure.hint,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("a summary serializes")
        );
    }
}

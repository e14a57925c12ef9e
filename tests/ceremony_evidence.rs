//! Evidence a witness can keep: every ceremony log entry records the
//! SHA-256 of the binary that wrote it, the witnesses named with
//! `--witness`, the administrator's `--note`, and the files the step read
//! and wrote with their hashes; `log print` renders all of it for wet
//! signatures; `--json` leaves a summary for the record that says what the
//! log says. Real binaries, real files.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn sha256(path: &Path) -> String {
    seif::ceremony::evidence::hash_file(path).unwrap().0
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn log_entries(vault_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(vault_dir.join("ceremony.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The file records of an entry (or a summary), as (role, path, sha256).
fn files_of(evidence: &Value) -> Vec<(String, String, String)> {
    evidence["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["role"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
                f["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct Made {
    dir: tempfile::TempDir,
    vault_dir: PathBuf,
    pw: Vec<PathBuf>,
    sealed: PathBuf,
    init: std::process::Output,
}

/// `init --json` of two passphrase custodians and one age custodian, with
/// two witnesses and a note; and one sealed file.
fn make() -> Made {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("carol.key");
    let carol = age_identity_file(&key);
    let sealer_key = dir.path().join("sealer.key");
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&sealer_key));
    ok(&o);
    let sealer = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let mut init = ceremony();
    init.args([
        "--json",
        "--witness",
        "anu.tamm",
        "--witness",
        "rein.kask",
        "--note",
        "rehearsal: the clock was set 2 minutes forward",
        "init",
        "--name",
        "evidence",
        "--threshold",
        "2",
    ]);
    let mut pw = Vec::new();
    for l in ["alice", "bob"] {
        let p = dir.path().join(format!("{l}.pw"));
        std::fs::write(&p, format!("{l}'s long passphrase\n")).unwrap();
        init.arg("--custodian")
            .arg(format!("{l}=passphrase"))
            .arg("--passphrase-file")
            .arg(format!("{l}={}", p.display()));
        pw.push(p);
    }
    let vault_dir = dir.path().join("vault");
    let o = run(init
        .arg("--custodian")
        .arg(format!("carol=age:{carol}"))
        .arg("--sealer")
        .arg(format!("p={sealer}"))
        .arg("--out")
        .arg(&vault_dir));
    ok(&o);
    let plain = dir.path().join("data.txt");
    std::fs::write(&plain, b"registry rows").unwrap();
    let sealed = dir.path().join("data.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(vault_dir.join("vault.json"))
        .arg("--sealer")
        .arg(&sealer_key)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    Made {
        dir,
        vault_dir,
        pw,
        sealed,
        init: o,
    }
}

#[test]
fn every_entry_records_the_binary_the_witnesses_the_note_and_the_files() {
    let m = make();
    let binary = sha256(&ceremony_bin());
    let vault_json = m.vault_dir.join("vault.json");

    // init: the summary on stdout, the usual lines on stderr.
    let summary: Value =
        serde_json::from_slice(&m.init.stdout).expect("stdout is one JSON document");
    assert!(stderr(&m.init).contains("VAULT FINGERPRINT"));
    assert!(!stdout(&m.init).contains("VAULT FINGERPRINT"));
    let d = seif::descriptor::Descriptor::load(&vault_json).unwrap();
    assert_eq!(summary["step"], "init");
    assert_eq!(summary["outcome"], "done");
    assert_eq!(summary["vault"]["fingerprint"], d.body().vault_id.as_str());
    assert_eq!(summary["vault"]["revision"], 1);
    assert_eq!(summary["vault"]["revision_hash"], d.fingerprint().as_str());
    assert_eq!(summary["binary_sha256"], binary.as_str());
    assert_eq!(
        summary["witnesses"],
        serde_json::json!(["anu.tamm", "rein.kask"])
    );
    assert_eq!(
        summary["note"],
        "rehearsal: the clock was set 2 minutes forward"
    );
    let written = files_of(&summary);
    for f in [
        "vault.json",
        "shares/alice.share.pass",
        "shares/bob.share.pass",
        "shares/carol.share.age",
    ] {
        let path = m.vault_dir.join(f);
        assert!(
            written.contains(&("written".into(), path.display().to_string(), sha256(&path))),
            "{f} not recorded with its hash: {written:?}"
        );
    }
    let init_head = seif::ceremony::log::CeremonyLog::open(&m.vault_dir.join("ceremony.log"))
        .unwrap()
        .head()
        .unwrap()
        .to_owned();
    assert_eq!(summary["log"]["head"], init_head.as_str());
    assert_eq!(summary["log"]["entries"], 1);
    assert_eq!(summary["entries"][0]["event"], "init");
    assert_eq!(summary["entries"][0]["signed"], true);

    // open, with other witnesses: every file read and written, hashed.
    let out = m.dir.path().join("opened");
    let share = |l: &str| m.vault_dir.join(format!("shares/{l}.share.pass"));
    let o = run(ceremony()
        .args(["--json", "--witness", "kaja.saar", "open", "--vault"])
        .arg(&vault_json)
        .arg("--share")
        .arg(share("alice"))
        .arg("--share")
        .arg(share("bob"))
        .arg("--passphrase-file")
        .arg(format!("alice={}", m.pw[0].display()))
        .arg("--passphrase-file")
        .arg(format!("bob={}", m.pw[1].display()))
        .arg("--out")
        .arg(&out)
        .arg(&m.sealed));
    ok(&o);
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(stderr(&o).contains("key check passed"));
    let files = files_of(&summary);
    let expect = [
        ("read", vault_json.clone()),
        ("read", share("alice")),
        ("read", share("bob")),
        ("read", m.sealed.clone()),
        ("written", out.join("data")),
    ];
    for (role, path) in &expect {
        assert!(
            files.contains(&(role.to_string(), path.display().to_string(), sha256(path))),
            "{role} {} not recorded with its hash: {files:?}",
            path.display()
        );
    }
    assert_eq!(files.len(), expect.len(), "{files:?}");
    let labels: Vec<&str> = summary["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["alice", "bob"]);
    assert_eq!(summary["witnesses"], serde_json::json!(["kaja.saar"]));
    assert_eq!(summary["note"], Value::Null);

    // The log says the same, in every entry.
    let entries = log_entries(&m.vault_dir);
    assert_eq!(entries.len(), 2);
    let head = seif::ceremony::log::CeremonyLog::open(&m.vault_dir.join("ceremony.log"))
        .unwrap()
        .head()
        .unwrap()
        .to_owned();
    assert_eq!(summary["log"]["head"], head.as_str());
    assert_eq!(summary["entries"][0]["hash"], head.as_str());
    for e in &entries {
        assert_eq!(e["body"]["evidence"]["binary"], binary.as_str());
    }
    assert_eq!(
        entries[0]["body"]["evidence"]["witnesses"],
        serde_json::json!(["anu.tamm", "rein.kask"])
    );
    assert_eq!(files_of(&entries[1]["body"]["evidence"]), files);

    // On paper, for the wet signatures.
    let o = run(ceremony()
        .args(["log", "print"])
        .arg(m.vault_dir.join("ceremony.log"))
        .arg("--vault")
        .arg(&vault_json));
    ok(&o);
    let paper = stdout(&o);
    let grouped: Vec<String> = binary
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert!(
        paper.contains(&format!("  binary sha-256  {}\n", grouped[..8].join(" "))),
        "{paper}"
    );
    for line in [
        "  witness         anu.tamm\n",
        "  witness         rein.kask\n",
        "  witness         kaja.saar\n",
        "  note            rehearsal: the clock was set 2 minutes forward\n",
        "Witness anu.tamm",
        "Witness kaja.saar",
    ] {
        assert!(paper.contains(line), "{line:?} missing:\n{paper}");
    }
    let sealed_hash: Vec<String> = sha256(&m.sealed)
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let read_line = format!("  read            {}\n", m.sealed.display());
    let at = paper
        .find(&read_line)
        .unwrap_or_else(|| panic!("{read_line:?} missing:\n{paper}"));
    assert!(
        paper[at + read_line.len()..].starts_with(&format!(
            "                  {}\n                  {}\n                  {} bytes\n",
            sealed_hash[..8].join(" "),
            sealed_hash[8..].join(" "),
            std::fs::metadata(&m.sealed).unwrap().len()
        )),
        "{paper}"
    );
    assert!(paper.lines().all(|l| l.chars().count() <= 80), "{paper}");
}

#[test]
fn witness_names_and_notes_are_checked_before_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    let init = |extra: &[&str]| {
        let r = age::x25519::Identity::generate().to_public();
        let s = age::x25519::Identity::generate().to_public();
        run(ceremony()
            .args(extra)
            .args(["init", "--name", "x", "--threshold", "2"])
            .arg("--custodian")
            .arg(format!("a=age:{r}"))
            .arg("--custodian")
            .arg(format!("b=age:{s}"))
            .arg("--out")
            .arg(&out))
    };
    let o = init(&["--witness", "Anu Tamm"]);
    fails_with(
        &o,
        2,
        "witness name 'Anu Tamm' must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with '.'",
    );
    assert!(!out.exists());
    let o = init(&["--witness", "anu", "--witness", "anu"]);
    fails_with(&o, 2, "witness 'anu' is named twice");
    let o = init(&["--note", "two\nlines"]);
    fails_with(
        &o,
        2,
        "the note must be 1 to 1000 characters of printable text",
    );
    let o = init(&["--note", "\u{1b}[2Jforged"]);
    fails_with(&o, 2, "the note must be");
    assert!(!out.exists());
    // Only steps that write the log take them.
    let o = run(ceremony()
        .args(["--witness", "anu", "log", "verify"])
        .arg(dir.path().join("ceremony.log"))
        .arg("--vault")
        .arg(dir.path().join("vault.json")));
    fails_with(
        &o,
        2,
        "--witness, --note and --json belong to the steps that write the ceremony log",
    );
}

#[test]
fn a_failed_step_leaves_a_json_summary_too() {
    let m = make();
    let o = run(ceremony()
        .args(["--json", "open", "--vault"])
        .arg(m.vault_dir.join("vault.json"))
        .arg("--share")
        .arg(m.vault_dir.join("shares/alice.share.pass"))
        .arg("--out")
        .arg(m.dir.path().join("out"))
        .arg(m.dir.path().join("missing.seif")));
    // A missing input is exit 1 (an error), as every missing file is.
    assert_eq!(o.status.code(), Some(1));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["step"], "open");
    assert_eq!(summary["outcome"], "failed");
    assert_eq!(summary["exit_code"], 1);
    assert!(
        summary["error"]
            .as_str()
            .unwrap()
            .starts_with("refused before asking for shares: "),
        "{summary}"
    );
}

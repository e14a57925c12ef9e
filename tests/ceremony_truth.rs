//! The ceremony's screens, its printed log and its vault.json tell the
//! truth: text read from a file never reaches a terminal raw, an unsigned
//! log entry never reads as signed, a rolled-back vault.json is refused,
//! and a reconstructed key that fails the key check stops the ceremony.
//! Real binaries, real files, exact messages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const CLEAR: &str = "\x1b[2J";

/// Asserts that no raw escape (or other control character but line ends)
/// reached the screen.
#[track_caller]
fn no_raw_control(screen: &str) {
    assert!(
        !screen
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t'),
        "raw control characters reached the screen: {screen:?}"
    );
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A vault of three passphrase custodians (any two open it); returns the
/// temporary directory, the vault directory and the passphrase files.
fn passphrase_vault() -> (tempfile::TempDir, PathBuf, Vec<(String, PathBuf)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut init = ceremony();
    init.args(["init", "--name", "pw vault", "--threshold", "2"]);
    for l in ["alice", "bob", "carol"] {
        let p = dir.path().join(format!("{l}.pw"));
        std::fs::write(&p, format!("{l}'s long passphrase\n")).unwrap();
        init.arg("--custodian")
            .arg(format!("{l}=passphrase"))
            .arg("--passphrase-file")
            .arg(format!("{l}={}", p.display()));
        files.push((l.to_owned(), p));
    }
    let vault_dir = dir.path().join("v");
    ok(&run(init.arg("--out").arg(&vault_dir)));
    (dir, vault_dir, files)
}

/// A passphrase share planted with a label that clears the screen: it is
/// refused when the file is read, and the label never reaches the
/// terminal where a custodian is about to type a passphrase.
#[test]
fn a_planted_share_label_never_reaches_the_passphrase_prompt() {
    let (dir, vault_dir, _) = passphrase_vault();
    let planted = dir.path().join("planted.share.pass");
    let real = std::fs::read_to_string(vault_dir.join("shares/bob.share.pass")).unwrap();
    std::fs::write(
        &planted,
        real.replace("custodian: bob", &format!("custodian: bob{CLEAR}")),
    )
    .unwrap();
    let pty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_run.py");
    // Three answers: as many as a custodian gets tries, so that a prompt
    // that did appear ends (refused) instead of waiting for a fourth.
    let mut cmd = Command::new("python3");
    cmd.arg(&pty);
    for _ in 0..seif::custody::PASSPHRASE_ATTEMPTS {
        cmd.arg("Passphrase for").arg("bob's long passphrase");
    }
    let o = run(cmd
        .arg("--")
        .arg(ceremony_bin())
        .arg("verify-share")
        .arg("--vault")
        .arg(vault_dir.join("vault.json"))
        .arg(&planted));
    let screen = stdout(&o);
    // Refused with every other input check, before anyone is asked for
    // anything (exit 4, not logged).
    assert_eq!(o.status.code(), Some(4), "{screen}");
    assert!(
        screen.contains(&format!(
            "seif-ceremony: error: refused before asking for shares: share {}: not a seif passphrase-protected share: the custodian label is not a valid label (A-Z a-z 0-9 . _ -)",
            planted.display()
        )),
        "{screen}"
    );
    assert!(!screen.contains("Passphrase for"), "no prompt: {screen}");
    no_raw_control(&screen);
}

/// A file name inside a sealed file (metadata anyone with vault.json can
/// write) is shown escaped by `seif open` and by `seif-ceremony open`.
#[test]
fn a_file_name_inside_a_sealed_file_is_shown_escaped() {
    let v = age_vault(3, 2);
    let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    let sealer = seif::sealer::SealerSecretKey::from_file_text(
        &std::fs::read_to_string(&v.sealer_key).unwrap(),
    )
    .unwrap();
    let sealed = v.dir.path().join("planted.seif");
    let mut bytes = Vec::new();
    seif::sealed::seal::seal(
        &b"payload"[..],
        &mut bytes,
        &seif::sealed::seal::SealTarget::from_descriptor(&d),
        Some(&sealer),
        &seif::sealed::Metadata {
            name: Some(format!("report{CLEAR}\u{202e}fdp.exe")),
            mode: Some(0o600),
            mtime: None,
        },
        &Default::default(),
    )
    .unwrap();
    std::fs::write(&sealed, bytes).unwrap();
    let shown = "report\\u{1b}[2J\\u{202e}fdp.exe";

    let out = v.dir.path().join("opened");
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    ok(&o);
    let screen = stdout(&o) + &stderr(&o);
    assert!(
        screen.contains(&format!(
            "opened {} -> {} (7 bytes, originally '{shown}')",
            sealed.display(),
            out.join("planted").display()
        )),
        "{screen}"
    );
    no_raw_control(&screen);

    // The recovery team's `seif open`, with a grant.
    let team_key = v.dir.path().join("team.key");
    let team = pq_identity_file(&team_key);
    let grants = v.dir.path().join("grants");
    ok(&run(ceremony()
        .arg("grant")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--to")
        .arg(&team)
        .arg("--out")
        .arg(&grants)
        .arg(&sealed)));
    let o = run(seif()
        .args(["open", "--identity"])
        .arg(&team_key)
        .arg("--grant")
        .arg(grants.join("planted.seif.grant"))
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("-o")
        .arg(v.dir.path().join("team-out"))
        .arg(&sealed));
    ok(&o);
    let screen = stderr(&o);
    assert!(
        screen.contains(&format!(
            "seif: opened {}: 7 bytes (originally '{shown}'), sealed by 'pipeline'",
            sealed.display()
        )),
        "{screen}"
    );
    no_raw_control(&screen);
}

/// A forged vault.json whose name (or an unknown field's name) holds
/// terminal controls: the refusal quotes it escaped, in both binaries.
#[test]
fn a_forged_vault_json_is_refused_with_its_text_escaped() {
    let v = age_vault(2, 2);
    let text = std::fs::read_to_string(&v.vault_json).unwrap();
    let forged = v.dir.path().join("forged.json");
    std::fs::write(
        &forged,
        text.replace("\"test vault\"", "\"test vault\\u001b[2J\\u202e\""),
    )
    .unwrap();
    let extra = v.dir.path().join("extra.json");
    std::fs::write(
        &extra,
        text.replacen(
            "\"body\": {",
            "\"body\": {\n    \"\\u001b]0;owned\\u0007\": 1,",
            1,
        ),
    )
    .unwrap();
    let name_refusal = "the vault descriptor is invalid: the vault name 'test vault\\u{1b}[2J\\u{202e}' must be 1 to 256 bytes with no control or invisible formatting characters";
    let field_refusal = "unknown field `\\u{1b}]0;owned\\u{7}`";
    // One rule in both binaries: a vault.json that breaks its own rules was
    // altered (exit 3); one that is not a descriptor this seif reads (an
    // unknown field) is bad input (exit 1).
    for (file, refusal, code) in [(&forged, name_refusal, 3), (&extra, field_refusal, 1)] {
        let o = run(ceremony().arg("show").arg("--vault").arg(file));
        fails_with(&o, code, refusal);
        no_raw_control(&stderr(&o));
        let o = run(seif()
            .args(["open", "--identity"])
            .arg(&v.identities[0])
            .arg("--vault")
            .arg(file)
            .arg("-o")
            .arg(v.dir.path().join("x"))
            .arg(&v.vault_json));
        fails_with(&o, code, refusal);
        no_raw_control(&stderr(&o));
        let o = run(seif()
            .args(["inspect", "--vault"])
            .arg(file)
            .arg(&v.vault_json));
        fails_with(&o, code, refusal);
        no_raw_control(&stderr(&o));
    }
}

/// The head the witnesses recorded, from `log verify`.
fn head_of(log: &Path, vault_json: &Path) -> String {
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(log)
        .arg("--vault")
        .arg(vault_json));
    ok(&o);
    stdout(&o).rsplit("head ").next().unwrap().trim().to_owned()
}

/// Appends an entry with no signature, as anyone who can write the log
/// file can; `edit` shapes its body first.
fn append_unsigned(log: &Path, vault_json: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut l = seif::ceremony::log::CeremonyLog::open(log).unwrap();
    let d = seif::descriptor::Descriptor::load(vault_json).unwrap();
    let draft = seif::ceremony::log::Draft {
        event: "refused".into(),
        participants: vec![],
        details: serde_json::json!({"step": "open", "reason": "x"}),
        files: vec![],
    };
    l.append(&d, draft, None).unwrap();
    // Rewrite the last line with the edited body (still unsigned, still
    // chained, in canonical form).
    let text = std::fs::read_to_string(log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut doc: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    edit(&mut doc["body"]);
    *lines.last_mut().unwrap() =
        String::from_utf8(seif::signed::canonical_json(&doc).unwrap()).unwrap();
    std::fs::write(log, lines.join("\n") + "\n").unwrap();
}

/// An unsigned entry appended after the recorded head: `log verify --head`
/// names it as after the head and NOT SIGNED; `log print` marks it NOT
/// SIGNED and shows its text escaped, in its own fixed layout. An entry
/// whose fields break their shape (a tool with a line break that would
/// draw a fake "signed" entry) is refused outright.
#[test]
fn unsigned_log_entries_never_read_as_signed() {
    let v = age_vault(3, 2);
    let sealed = v.seal("d.seif", b"x");
    let log = v.vault_dir.join("ceremony.log");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--out")
        .arg(v.dir.path().join("o1"))
        .arg(&sealed)));
    let head = head_of(&log, &v.vault_json);

    append_unsigned(&log, &v.vault_json, |b| {
        b["details"]["reason"] = serde_json::json!(format!(
            "{CLEAR}\n#4  GRANT  (signed by the vault key, generation 1)"
        ));
    });
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(&log)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--head")
        .arg(&head));
    ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains("the recorded head is entry 2 (1 entries were added after it)\nentries after the recorded head are not covered by it (not witnessed at the ceremony that recorded it); check each was made at this ceremony:\n  entry 3 "),
        "{out}"
    );
    assert!(
        out.contains(
            " refused: NOT SIGNED (anyone able to write the file could have written it)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "ok: 3 entries (2 signed by the vault key, 1 NOT signed: custodian checks or refusals)"
        ),
        "{out}"
    );

    let o = run(ceremony()
        .args(["log", "print"])
        .arg(&log)
        .arg("--vault")
        .arg(&v.vault_json));
    ok(&o);
    let paper = stdout(&o);
    no_raw_control(&paper);
    let forged = paper.split("ENTRY 3 OF 3   REFUSED").nth(1).expect(&paper);
    assert!(
        forged.contains(
            "\n  signed by       NOT SIGNED: a custodian's check or a refusal, which anyone\n                  able to write the file could have written\n"
        ),
        "{paper}"
    );
    assert!(
        forged.contains("  reason          \\u{1b}[2J\\u{a}#4  GRANT  (signed by the vault key,"),
        "{paper}"
    );
    assert_eq!(paper.matches("ENTRY ").count(), 3, "{paper}");

    // A field out of shape (here the tool, which the printout shows) is
    // refused when the log is read, by every command.
    append_unsigned(&log, &v.vault_json, |b| {
        b["tool"] = serde_json::json!(format!(
            "seif-ceremony 0.1.0{CLEAR}\n#5 GRANT (signed by the vault key)"
        ));
    });
    for cmd in ["verify", "print"] {
        let o = run(ceremony()
            .args(["log", cmd])
            .arg(&log)
            .arg("--vault")
            .arg(&v.vault_json));
        fails_with(
            &o,
            3,
            "ceremony.log, line 4: the tool is not 1 to 64 printable ASCII characters",
        );
        no_raw_control(&stdout(&o));
        no_raw_control(&stderr(&o));
    }
}

/// `log print` is made for paper: 80 columns with no folding, no raw
/// JSON, hashes in groups of four that never break, which entries the
/// vault key signed said plainly, and a signature line for every role
/// and every custodian who took part.
#[test]
fn log_print_is_laid_out_for_paper() {
    let v = age_vault(3, 2);
    let sealed = v.seal("registry-dump-with-a-long-name-2026-11-27.sql.seif", b"x");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 2]))
        .arg("--out")
        .arg(v.dir.path().join("o"))
        .arg(&sealed)));
    ok(&run(ceremony()
        .arg("verify-share")
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--identity")
        .arg(&v.identities[1])
        .arg(v.share_file(1))));
    let log = v.vault_dir.join("ceremony.log");
    let o = run(ceremony()
        .args(["log", "print"])
        .arg(&log)
        .arg("--vault")
        .arg(&v.vault_json));
    ok(&o);
    let paper = stdout(&o);
    for line in paper.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
        assert!(
            !line.contains(['{', '}', '"']),
            "raw JSON on paper: {line:?}"
        );
    }
    let l = seif::ceremony::log::CeremonyLog::open(&log).unwrap();
    let head = l.head().unwrap();
    let grouped: Vec<String> = head
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert!(
        paper.contains(&format!(
            "head            {}\n                {}\n",
            grouped[..8].join(" "),
            grouped[8..].join(" ")
        )),
        "{paper}"
    );
    assert!(paper.contains("ENTRY 1 OF 3   INIT   "), "{paper}");
    assert!(paper.contains("ENTRY 2 OF 3   OPEN   "), "{paper}");
    assert!(paper.contains("ENTRY 3 OF 3   VERIFY-SHARE   "), "{paper}");
    assert_eq!(
        paper
            .matches("  signed by       the vault key, generation 1 (signature verified)\n")
            .count(),
        2,
        "{paper}"
    );
    assert_eq!(
        paper.matches("  signed by       NOT SIGNED").count(),
        1,
        "{paper}"
    );
    assert!(
        paper.contains("entries         3: 2 signed by the vault key, 1 NOT signed"),
        "{paper}"
    );
    for role in [
        "Ceremony administrator    ____",
        "Internal auditor          ____",
        "Witness                   ____",
        "Custodian c1              ____",
        "Custodian c2              ____",
        "Custodian c3              ____",
    ] {
        assert!(paper.contains(role), "{role}: {paper}");
    }
}

/// After `sealers remove`, revision 1 of vault.json put back (the log left
/// as it is) no longer passes: `log verify` and every step refuse it,
/// naming both revisions, and the removed sealer's file stays shut. One
/// revision back is what a step killed between its log entry and
/// vault.json leaves: the next step completes it from the log.
#[test]
fn a_rolled_back_vault_json_is_refused() {
    let v = age_vault(3, 2);
    let rev1 = std::fs::read(&v.vault_json).unwrap();
    let second = v.dir.path().join("second.key");
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&second));
    ok(&o);
    let second_pub = stdout(&o).trim().to_owned();
    ok(&run(ceremony()
        .args(["sealers", "add", "--label", "second"])
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg(&second_pub)));
    let rev2 = std::fs::read(&v.vault_json).unwrap();
    let plain = v.dir.path().join("p");
    std::fs::write(&plain, b"from the removed pipeline").unwrap();
    let sealed = v.dir.path().join("p.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&second)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    ok(&run(ceremony()
        .args(["sealers", "remove"])
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[1, 2]))
        .arg(&second_pub)));
    let rev3 = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    let fp = seif::descriptor::format_fingerprint(&rev3.body().vault_id);
    let log = v.vault_dir.join("ceremony.log");

    std::fs::write(&v.vault_json, &rev1).unwrap();
    let refusal = format!(
        "vault.json is revision 1, older than revision 3 that the ceremony log records (entry 3, sealers-remove): it was rolled back or is an old copy; use vault.json revision 3 (revision hash {})",
        rev3.fingerprint()
    );
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(&log)
        .arg("--vault")
        .arg(&v.vault_json));
    fails_with(&o, 3, &refusal);
    let out = v.dir.path().join("opened");
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--expect-vault")
        .arg(&fp)
        .args(v.share_args(&[0, 1]))
        .arg("--allow-unsigned")
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(&o, 3, &refusal);
    assert!(!out.exists(), "nothing was opened");
    let o = run(ceremony().arg("show").arg("--vault").arg(&v.vault_json));
    fails_with(&o, 3, &refusal);

    // One revision back: the log's last step carries revision 3 whole.
    std::fs::write(&v.vault_json, &rev2).unwrap();
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(&log)
        .arg("--vault")
        .arg(&v.vault_json));
    fails_with(
        &o,
        3,
        "vault.json is revision 2, but the ceremony log records revision 3 (entry 3, sealers-remove): that step was interrupted after it was logged and before it wrote vault.json; the next ceremony step on this vault completes it from the log",
    );
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--expect-vault")
        .arg(&fp)
        .args(v.share_args(&[0, 1]))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        4,
        &format!(
            "sealed by {}, a sealer the vault does not accept",
            classic_spelling(&second_pub)
        ),
    );
    assert!(
        stderr(&o).contains("seif-ceremony: the step of log entry 3 (sealers-remove) was interrupted before it wrote vault.json; vault.json revision 3 was written from the log, completing it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        seif::descriptor::Descriptor::load(&v.vault_json)
            .unwrap()
            .fingerprint(),
        rev3.fingerprint()
    );
    assert!(!out.exists(), "nothing was opened");
}

/// Shares whose commitments vault.json signs, but which split another
/// secret than the vault's (a descriptor made with the vault key over a
/// wrong share set): every share passes its own checks, they combine, and
/// the key check refuses what they give. The refusal is logged.
#[test]
fn the_key_check_refuses_a_wrong_secret_with_valid_commitments() {
    use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE};
    use seif::custody::CustodianSpec;
    use seif::descriptor::SetStatus;
    use seif::keys::VaultKeys;
    use seif::secrets::VaultSecret;

    let dir = tempfile::tempdir().unwrap();
    let keys = VaultKeys::derive(&VaultSecret::generate());
    let vault_id = seif::descriptor::vault_id_of(&keys.public().signing_key);
    let mut ids = Vec::new();
    let specs: Vec<CustodianSpec> = (1..=3)
        .map(|i| {
            let path = dir.path().join(format!("c{i}.key"));
            let r = age_identity_file(&path);
            ids.push(path);
            CustodianSpec::parse(&format!("c{i}=age:{r}")).unwrap()
        })
        .collect();
    // The shares split another secret; the vault key signs their
    // commitments all the same.
    let wrong = VaultSecret::generate();
    let issued = seif::ceremony::issue_share_set(
        &wrong,
        vault_id,
        1,
        2,
        SetStatus::Active,
        &specs,
        &mut NoPassphrases,
    )
    .unwrap();
    let d = seif::descriptor::Descriptor::genesis("key check", &keys, issued.set, vec![]).unwrap();
    let vault_dir = dir.path().join("v");
    seif::ceremony::write_vault_dir(&vault_dir, &d, &issued.files, |staging| {
        let mut log = CeremonyLog::new(&staging.join(LOG_FILE));
        log.append(
            &d,
            Draft {
                event: "init".into(),
                participants: vec![],
                details: serde_json::json!({}),
                files: vec![],
            },
            Some(&keys),
        )?;
        Ok(())
    })
    .unwrap();
    let vault_json = vault_dir.join("vault.json");
    let sealed = dir.path().join("d.seif");
    let mut bytes = Vec::new();
    seif::sealed::seal::seal(
        &b"x"[..],
        &mut bytes,
        &seif::sealed::seal::SealTarget::from_descriptor(&d),
        None,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    std::fs::write(&sealed, bytes).unwrap();
    // Each share checks out alone.
    ok(&run(ceremony()
        .arg("verify-share")
        .arg("--no-log")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--identity")
        .arg(&ids[0])
        .arg(vault_dir.join("shares/c1.share.age"))));
    let out = dir.path().join("out");
    let o = run(ceremony()
        .arg("open")
        .arg("--allow-unsigned")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--share")
        .arg(vault_dir.join("shares/c1.share.age"))
        .arg("--identity")
        .arg(&ids[0])
        .arg("--share")
        .arg(vault_dir.join("shares/c3.share.age"))
        .arg("--identity")
        .arg(&ids[2])
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        3,
        "seif-ceremony: error: refused: the reconstructed vault key does not match vault.json (key check failed): refusing to go on",
    );
    assert!(!stdout(&o).contains("key check passed"), "{}", stdout(&o));
    assert!(!out.exists(), "nothing was opened");
    let l = CeremonyLog::open(&vault_dir.join(LOG_FILE)).unwrap();
    let last = l.entries().last().unwrap();
    assert_eq!(last.body.event, "refused");
    assert!(last.signature.is_none());
    assert_eq!(
        last.body.details["reason"],
        "the reconstructed vault key does not match vault.json (key check failed): refusing to go on"
    );
}

/// A share file that asks Argon2id for minutes of work per attempt (4 GiB,
/// 64 passes, 64 lanes) is refused at once, before anything is derived,
/// with the bounds seif accepts.
#[test]
fn a_share_asking_for_minutes_of_argon2_is_refused_at_once() {
    let (dir, vault_dir, files) = passphrase_vault();
    let planted = dir.path().join("heavy.share.pass");
    let real = std::fs::read_to_string(vault_dir.join("shares/bob.share.pass")).unwrap();
    std::fs::write(
        &planted,
        real.replace("m=65536 t=3 p=4", "m=4194304 t=64 p=64"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let o = run(ceremony()
        .arg("verify-share")
        .arg("--vault")
        .arg(vault_dir.join("vault.json"))
        .arg("--passphrase-file")
        .arg(format!("bob={}", files[1].1.display()))
        .arg(&planted));
    fails_with(
        &o,
        4,
        &format!(
            "seif-ceremony: error: refused before asking for shares: share {}: the Argon2id parameters m=4194304 t=64 p=64 are outside what seif accepts (m 65536..1048576 KiB, t 3..10, p 4..16)",
            planted.display()
        ),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

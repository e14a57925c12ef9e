//! Exit codes follow from the type of what failed, through the real
//! binaries: never from the text of a message (a store or a file whose
//! name says "Broken pipe" is still a failure), and the same in `seif` and
//! `seif-ceremony` (a full disk is exit 1, a chunk that fails
//! authentication exit 3, whichever tool meets it).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::*;

/// Until the failure carried its kind, any failure whose text held
/// "Broken pipe" ended with exit 0 and no message: a host's `seif verify`
/// of a store named so (or an S3 error saying so) passed.
#[test]
fn a_failure_that_mentions_a_broken_pipe_is_still_a_failure() {
    let v = test_vault("pipe");
    let gone = v.dir.path().join("Broken pipe");
    let o = run(seif()
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&gone));
    fails_with(&o, 1, "Broken pipe: no such store");
    let o = run(seif()
        .args(["verify", "--vault"])
        .arg(gone.join("vault.json"))
        .arg("--store")
        .arg(v.dir.path()));
    fails_with(
        &o,
        1,
        &format!(
            "cannot read the vault descriptor {}",
            gone.join("vault.json").display()
        ),
    );
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(gone.join("ceremony.log"))
        .arg("--vault")
        .arg(&v.vault_json));
    fails_with(&o, 1, "Broken pipe/ceremony.log");
}

/// A reader that stops reading our stdout (`seif open x | head`) ends the
/// command quietly with exit 0: the only broken pipe that is not an error.
#[test]
fn a_reader_that_stops_early_is_a_quiet_success() {
    let v = test_vault("head");
    let plain = v.dir.path().join("plain");
    std::fs::write(&plain, content(8 << 20, 4)).unwrap();
    let sealed = v.dir.path().join("plain.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    // Reads one byte of each, then closes the pipe.
    let head = |cmd: &mut Command| {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut one = [0u8; 1];
        child.stdout.take().unwrap().read_exact(&mut one).unwrap();
        child.wait_with_output().unwrap()
    };
    let o = head(
        seif()
            .args(["open", "--identity"])
            .arg(&v.identity)
            .arg(&sealed),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "a closed stdout is not worth a message");
    let o = head(
        seif()
            .args(["seal", "--vault"])
            .arg(&v.vault_json)
            .arg(&plain),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("error"), "{}", stderr(&o));
}

/// `seif-ceremony open` of sealed files: each input's failure keeps the
/// kind of its error, and the gravest decides the exit code. A full disk
/// used to end as exit 3 ("verification failed"), like tampering.
#[test]
fn the_ceremony_opening_files_exits_by_what_failed() {
    let v = age_vault(3, 2);
    let data = content(6 << 20, 9);
    let sealed = v.seal("big.seif", &data);

    // A full disk: exit 1, the disk named, nothing left under the output's
    // name.
    let shares = [0, 1].map(|i| (v.share_file(i), v.identities[i].clone()));
    let script = r#"
        "$CEREMONY" open --vault "$VAULT" --share "$S1" --identity "$I1" \
            --share "$S2" --identity "$I2" --out "$FULL/out" "$SEALED"
        echo "open rc=$?"
        ls -A "$FULL/out" | grep -v '^\.' | sed 's/^/left: /'
    "#;
    if let Some(out) = in_small_disk(
        script,
        &[
            ("VAULT", &v.vault_json),
            ("S1", &shares[0].0),
            ("I1", &shares[0].1),
            ("S2", &shares[1].0),
            ("I2", &shares[1].1),
            ("SEALED", &sealed),
        ],
    ) {
        assert!(out.contains("open rc=1\n"), "{out}");
        assert!(out.contains("No space left on device"), "{out}");
        assert!(
            out.contains("1 of 1 inputs failed to open"),
            "the step says what failed: {out}"
        );
        assert!(!out.contains("left: "), "a half-written output: {out}");
    }

    // `seif-ceremony open` with two good shares into DIR/out.
    let open = |out: &str, inputs: &[&std::path::Path]| {
        run(ceremony()
            .arg("open")
            .arg("--vault")
            .arg(&v.vault_json)
            .args(v.share_args(&[0, 1]))
            .arg("--out")
            .arg(v.dir.path().join(out))
            .args(inputs))
    };

    // A chunk altered: exit 3.
    let mut bytes = std::fs::read(&sealed).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let altered = v.dir.path().join("altered.seif");
    std::fs::write(&altered, &bytes).unwrap();
    fails_with(
        &open("out-altered", &[&altered]),
        3,
        "failed authentication",
    );

    // Both in one step: the altered file decides (3), and the good one
    // still opens.
    fails_with(
        &open("out-both", &[&sealed, &altered]),
        3,
        "1 of 2 inputs failed to open",
    );
    assert_eq!(
        std::fs::read(v.dir.path().join("out-both/big")).unwrap(),
        data
    );

    // A missing input is refused before any share is asked for, as a
    // missing file (exit 1), not as a policy refusal.
    let o = open("out-missing", &[&v.dir.path().join("missing.seif")]);
    fails_with(&o, 1, "refused before asking for shares: ");
    assert!(stderr(&o).contains("missing.seif: reading the input failed: No such file"));
}

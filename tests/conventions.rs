//! The conventions operators bring from restic, age and gpg, through the
//! real binaries: `--version` on every command, environment variables for
//! the common options (a flag on the command line wins), shell completions
//! and manual pages generated from the same definitions as `--help`.

mod common;

use common::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_command_answers_version() {
    let want = env!("CARGO_PKG_VERSION");
    for args in [
        &["--version"][..],
        &["push", "--version"],
        &["verify", "--version"],
    ] {
        let o = run(seif().args(args));
        ok(&o);
        assert!(stdout(&o).contains(want), "seif {args:?}: {}", stdout(&o));
    }
    let o = run(ceremony().args(["open", "--version"]));
    ok(&o);
    assert!(stdout(&o).contains(want), "{}", stdout(&o));
}

/// SEIF_VAULT and SEIF_STORE stand for --vault and --store; a flag given
/// on the command line wins over the variable; `--help` names them.
#[test]
fn environment_variables_stand_for_the_common_options() {
    let v = test_vault("env");
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), b"a file").unwrap();
    let store = v.dir.path().join("store");
    // push with everything from the environment.
    let o = run(seif()
        .args(["push", "--state-dir"])
        .arg(v.dir.path().join("state"))
        .arg(&tree)
        .env("SEIF_VAULT", &v.vault_json)
        .env("SEIF_SEALER", &v.sealer_key)
        .env("SEIF_STORE", &store));
    ok(&o);
    assert!(store.join("records").is_dir(), "the push used SEIF_STORE");
    // verify from the environment.
    let o = run(seif()
        .arg("verify")
        .env("SEIF_VAULT", &v.vault_json)
        .env("SEIF_STORE", &store));
    ok(&o);
    // A flag wins: SEIF_STORE names a store that does not exist, --store
    // the real one.
    let o = run(seif()
        .args(["verify", "--store"])
        .arg(&store)
        .env("SEIF_VAULT", &v.vault_json)
        .env("SEIF_STORE", v.dir.path().join("no-such-store")));
    ok(&o);
    // And the variable is really read: alone, the missing store fails.
    let o = run(seif()
        .arg("verify")
        .env("SEIF_VAULT", &v.vault_json)
        .env("SEIF_STORE", v.dir.path().join("no-such-store")));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // restore with the identity from the environment.
    let out = v.dir.path().join("out");
    let o = run(seif()
        .args(["restore", "--out"])
        .arg(&out)
        .arg("latest")
        .env("SEIF_IDENTITY", &v.identity)
        .env("SEIF_STORE", &store));
    ok(&o);
    assert_eq!(std::fs::read(out.join("t/a")).unwrap(), b"a file");
    let help = stdout(&run(seif().args(["push", "--help"])));
    for var in ["SEIF_VAULT", "SEIF_SEALER", "SEIF_STORE"] {
        assert!(
            help.contains(&format!("[env: {var}")),
            "push --help lacks {var}"
        );
    }
}

#[test]
fn completions_for_each_shell_name_every_command() {
    for (shell, marker) in [
        ("bash", "_seif()"),
        ("zsh", "#compdef seif"),
        ("fish", "complete -c seif"),
    ] {
        let o = run(seif().args(["completions", shell]));
        ok(&o);
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: {script}");
        for sub in ["push", "verify", "restore", "sync", "prune"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let o = run(ceremony().args(["completions", "bash"]));
    ok(&o);
    assert!(stdout(&o).contains("_seif__ceremony()"), "{}", stdout(&o));
    let o = run(seif().args(["completions", "tcsh"]));
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn manual_pages_are_written_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(seif().args(["man", "--out"]).arg(dir.path().join("seif")));
    ok(&o);
    for page in [
        "seif.1",
        "seif-push.1",
        "seif-restore.1",
        "seif-sealer-new.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join("seif").join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
    let push = std::fs::read_to_string(dir.path().join("seif/seif-push.1")).unwrap();
    assert!(
        push.contains("stdin\\-name"),
        "seif-push.1 describes push's flags"
    );
    let o = run(ceremony()
        .args(["man", "--out"])
        .arg(dir.path().join("ceremony")));
    ok(&o);
    assert!(dir.path().join("ceremony/seif-ceremony-open.1").is_file());
    let o = run(seif().arg("man"));
    ok(&o);
    assert!(stdout(&o).contains(".TH seif"), "{}", stdout(&o));
}

/// `seif identity new` makes a post-quantum identity a PQ vault grants to
/// without an exception: private (0600), never replacing a file, and
/// `seif identity public` gives back the key `new` printed.
#[test]
fn a_recovery_team_makes_a_post_quantum_identity() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("team.key");
    let o = run(seif().args(["identity", "new", "--out"]).arg(&key));
    ok(&o);
    let printed = stdout(&o).trim().to_owned();
    assert!(printed.starts_with("age1pq1"), "{printed}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("AGE-SECRET-KEY-PQ-1")
    );
    let o = run(seif().args(["identity", "public"]).arg(&key));
    ok(&o);
    assert_eq!(stdout(&o).trim(), printed);
    let before = std::fs::read(&key).unwrap();
    let o = run(seif().args(["identity", "new", "--out"]).arg(&key));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read(&key).unwrap(), before, "never replaced");
}

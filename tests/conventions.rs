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

/// A small tree and the push that stores it, for the verbosity tests.
fn pushed(v: &TestVault) -> (std::path::PathBuf, std::path::PathBuf) {
    let tree = v.dir.path().join("t");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a.csv"), content(3 << 20, 1)).unwrap();
    (tree, v.dir.path().join("store"))
}

fn push_cmd(
    v: &TestVault,
    tree: &std::path::Path,
    store: &std::path::Path,
) -> std::process::Command {
    let mut c = v.push_plain(&[store]);
    c.arg(tree);
    c
}

/// `-q` leaves only what was asked for, warnings and failures: a push and a
/// verify that succeed say nothing at all, and a verify that fails still
/// names every problem and exits 3.
#[test]
fn quiet_says_nothing_on_success_and_everything_on_failure() {
    let v = test_vault("quiet");
    let (tree, store) = pushed(&v);
    let o = run(push_cmd(&v, &tree, &store).arg("-q"));
    ok(&o);
    assert_eq!(stdout(&o) + &stderr(&o), "", "push -q said something");
    let o = run(&mut push_cmd(&v, &tree, &store));
    ok(&o);
    assert!(
        stderr(&o).contains("pushed snapshot"),
        "without -q the push reports: {}",
        stderr(&o)
    );
    let verify = || {
        let mut c = seif();
        c.args(["verify", "-q", "--vault"])
            .arg(&v.vault_json)
            .arg("--store")
            .arg(&store);
        c
    };
    let o = run(&mut verify());
    ok(&o);
    assert_eq!(stdout(&o) + &stderr(&o), "", "verify -q said something");
    // Damage one object: the failure is reported in full even with -q.
    let objects = store.join("objects");
    let victim = walk(&objects)
        .into_iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&victim, bytes).unwrap();
    let o = run(&mut verify());
    fails_with(&o, 3, "problem(s) found");
    assert!(stderr(&o).contains("seif: FAIL:"), "{}", stderr(&o));
    // -q with --progress asks for two opposite things.
    let o = run(push_cmd(&v, &tree, &store).args(["-q", "--progress"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `-v` says which vault and stores a command used, what a push read and
/// reused, and how long it took.
#[test]
fn verbose_names_the_vault_the_stores_and_the_time() {
    let v = test_vault("verbose");
    let (tree, store) = pushed(&v);
    let o = run(push_cmd(&v, &tree, &store).arg("-v"));
    ok(&o);
    let e = stderr(&o);
    for want in [
        "seif: vault 'verbose' from ",
        "key generation 1, revision 1, classic wrapping",
        &format!("seif: store {}", store.display()),
        &format!("seif: sealer {}", v.sealer_public),
        "seif: read 1 of 1 files",
        "seif: finished after ",
    ] {
        assert!(e.contains(want), "push -v lacks {want:?}: {e}");
    }
    let o = run(seif()
        .args(["verify", "-v", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store));
    ok(&o);
    assert!(
        stderr(&o).contains("seif: 1 snapshots; 1 key envelopes, 1 of them classic-only"),
        "{}",
        stderr(&o)
    );
    // Without -v none of it.
    let o = run(&mut push_cmd(&v, &tree, &store));
    ok(&o);
    assert!(!stderr(&o).contains("seif: vault '"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("finished after"), "{}", stderr(&o));
}

/// Progress goes to a terminal only, unless `--progress` asks for it in a
/// log: then plain lines (never a bar's control characters), the last one
/// saying what was done.
#[test]
fn progress_reaches_a_log_only_when_asked() {
    let v = test_vault("progress");
    let (tree, store) = pushed(&v);
    let o = run(&mut push_cmd(&v, &tree, &store));
    ok(&o);
    assert!(
        !stderr(&o).contains("push: "),
        "no progress into a pipe by default: {}",
        stderr(&o)
    );
    std::fs::write(tree.join("b.csv"), content(1 << 20, 2)).unwrap();
    let o = run(push_cmd(&v, &tree, &store).arg("--progress"));
    ok(&o);
    let e = stderr(&o);
    let line = e
        .lines()
        .find(|l| l.starts_with("push: finished, "))
        .unwrap_or_else(|| panic!("no closing progress line: {e}"));
    assert!(line.contains("2 of 2 files"), "{line}");
    assert!(
        !e.contains('\x1b') && !e.contains('\r'),
        "a log gets plain lines: {e:?}"
    );
    let o = run(seif()
        .args(["verify", "--progress", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store));
    ok(&o);
    let e = stderr(&o);
    let line = e
        .lines()
        .find(|l| l.starts_with("verify: finished, "))
        .unwrap_or_else(|| panic!("{e}"));
    assert!(
        line.contains("objects") && !line.contains("files"),
        "verify counts objects, not files: {line}"
    );
}

/// On a terminal the bar is drawn by default, and `-q` draws nothing.
/// Push counts the bytes ahead (a stat of every file before anything is
/// read) only for progress to show: the CLI asks for it when progress is
/// shown; files are counted either way.
#[test]
fn push_counts_the_bytes_ahead_only_when_asked() {
    let v = test_vault("totals");
    let (tree, _) = pushed(&v);
    let sealer = seif::sealer::SealerSecretKey::load(&v.sealer_key).unwrap();
    std::fs::write(tree.join("b.csv"), b"second").unwrap();
    let bytes: u64 = std::fs::read_dir(&tree)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    for totals in [true, false] {
        let store = v.dir.path().join(format!("store-{totals}"));
        let stores = [seif::store::open(store.to_str().unwrap(), &Default::default()).unwrap()];
        let mut options =
            seif::snapshot::push::PushOptions::new(v.dir.path().join(format!("state-{totals}")));
        options.totals = totals;
        let counters = seif::snapshot::Counters::default();
        seif::snapshot::push::push(
            &v.descriptor,
            &sealer,
            &stores,
            std::slice::from_ref(&tree),
            &options,
            &counters,
        )
        .unwrap();
        let got = |c: &std::sync::atomic::AtomicU64| seif::snapshot::Counters::get(c);
        assert_eq!(got(&counters.total_files), 2);
        assert_eq!(got(&counters.total_bytes), if totals { bytes } else { 0 });
    }
}

#[test]
fn quiet_draws_no_bar_on_a_terminal() {
    let v = test_vault("tty");
    let (tree, store) = pushed(&v);
    let pty = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_run.py");
    let on_tty = |extra: &[&str], store: &std::path::Path| {
        let mut c = std::process::Command::new("python3");
        // The same push, run by pty_run.py on a terminal.
        let push = push_cmd(&v, &tree, store);
        c.arg(&pty).arg("--").arg(push.get_program());
        c.args(extra).args(push.get_args());
        run(&mut c)
    };
    let o = on_tty(&[], &store);
    ok(&o);
    assert!(
        stdout(&o).contains("[00:00:0"),
        "a bar on a terminal: {:?}",
        stdout(&o)
    );
    let o = on_tty(&["-q"], &v.dir.path().join("store2"));
    ok(&o);
    assert_eq!(stdout(&o), "", "push -q on a terminal");
}

/// The messages an operator met that said the wrong thing: a key file that
/// exists offered a `--force` no key command has; a sealed stdin was
/// reported as written to "stdout…"; a push whose input path is wrong
/// spoke of resuming when nothing had started.
#[test]
fn messages_say_what_is_true() {
    let v = test_vault("messages");
    let dir = v.dir.path();
    for (cmd, what) in [("sealer", "sealer key"), ("identity", "identity")] {
        let key = dir.join(format!("new-{cmd}.key"));
        ok(&run(seif().args([cmd, "new", "--out"]).arg(&key)));
        let before = std::fs::read(&key).unwrap();
        let o = run(seif().args([cmd, "new", "--out"]).arg(&key));
        fails_with(
            &o,
            1,
            &format!(
                "cannot write the {what} {}: the file already exists, and a secret key is never replaced",
                key.display()
            ),
        );
        assert!(
            !stderr(&o).contains("--force"),
            "{cmd} new has no --force: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&key).unwrap(), before, "the key is untouched");
    }
    let out = dir.join("stdinX.seif");
    let mut c = seif();
    c.args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(&out);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("sealed stdin (10 bytes) into {} (", out.display())),
        "{}",
        stderr(&o)
    );
    let o = run(&mut push_cmd(
        &v,
        &dir.join("no-such-dir"),
        &dir.join("store"),
    ));
    fails_with(&o, 1, "no-such-dir");
    assert!(!stderr(&o).contains("resume"), "{}", stderr(&o));
    assert!(
        !dir.join("store").exists(),
        "a push that stored nothing leaves no store"
    );
}

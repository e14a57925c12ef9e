//! Process hardening of both binaries: no core dumps while secrets are in
//! memory, no secret taken from the command line, no output replaced
//! without --force.

mod common;

use std::process::Command;

use common::*;

/// `seif open` holds an identity while it waits for the sealed file on
/// stdin. Started with core dumps allowed (`ulimit -c unlimited`), it must
/// have lowered both core limits to 0 and made itself not dumpable
/// (`PR_SET_DUMPABLE` 0) by then.
#[test]
fn seif_open_runs_without_core_dumps() {
    let v = test_vault("hardening");
    readable_by_all(v.dir.path());
    let mut child = spawn_with_core_dumps_allowed(
        std::path::Path::new(env!("CARGO_BIN_EXE_seif")),
        &[
            "open".into(),
            "--identity".into(),
            v.identity.clone().into(),
            "-".into(),
        ],
    );
    assert_hardened(child.id(), "seif");
    drop(child.stdin.take());
    let _ = child.wait();
}

/// Every subcommand of both binaries, from their --help.
fn subcommands(bin: &std::path::Path) -> Vec<Vec<String>> {
    let help = |args: &[String]| -> String {
        let o = Command::new(bin).args(args).arg("--help").output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let mut out = vec![vec![]];
    let mut i = 0;
    while i < out.len() {
        let text = help(&out[i]);
        if let Some(cmds) = text.split("Commands:\n").nth(1) {
            for line in cmds.lines().take_while(|l| l.starts_with("  ")) {
                let name = line.split_whitespace().next().unwrap_or("");
                if !name.is_empty() && name != "help" {
                    let mut path = out[i].clone();
                    path.push(name.to_owned());
                    out.push(path);
                }
            }
        }
        i += 1;
    }
    out
}

#[test]
fn no_option_takes_a_secret_on_the_command_line() {
    let seif_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_seif"));
    for bin in [seif_bin, ceremony_bin()] {
        let cmds = subcommands(&bin);
        assert!(cmds.len() > 5, "{}: {cmds:?}", bin.display());
        for cmd in cmds {
            let o = Command::new(&bin)
                .args(&cmd)
                .arg("--help")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            for line in text
                .lines()
                .map(str::trim_start)
                .filter(|l| l.starts_with('-'))
            {
                let flag = line
                    .split([' ', ',', '='])
                    .find(|w| w.starts_with("--"))
                    .unwrap_or("");
                let secret_like = ["passphrase", "password", "secret", "pin"]
                    .iter()
                    .any(|w| flag.contains(w));
                assert!(
                    !secret_like || flag.ends_with("-file"),
                    "{} {cmd:?} takes a secret on the command line: {line}",
                    bin.display()
                );
            }
        }
    }
}

#[test]
fn sealing_never_replaces_an_output_without_force() {
    let v = test_vault("no overwrite");
    let input = v.dir.path().join("in");
    std::fs::write(&input, b"data").unwrap();
    let out = v.dir.path().join("out.seif");
    std::fs::write(&out, b"precious").unwrap();
    let o = run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(&out)
        .arg(&input));
    fails_with(&o, 1, "already exists; choose another name or pass --force");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    ok(&run(seif()
        .args(["seal", "--force", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(&out)
        .arg(&input)));
    assert_ne!(std::fs::read(&out).unwrap(), b"precious");
}

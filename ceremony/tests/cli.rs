//! The ceremony binary's own smoke test. Its presence also makes
//! `cargo test --workspace` build `seif-ceremony` itself, which the
//! end-to-end tests in the workspace's `tests/` run.

use std::process::Command;

#[test]
fn help_lists_every_ceremony_step_and_the_exit_codes() {
    let o = Command::new(env!("CARGO_BIN_EXE_seif-ceremony"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success());
    let help = String::from_utf8(o.stdout).unwrap();
    for cmd in [
        "init",
        "show",
        "verify-share",
        "open",
        "grant",
        "reshare",
        "rotate",
        "sealers",
        "log",
        "--require-airgap",
        "Exit codes:",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
}

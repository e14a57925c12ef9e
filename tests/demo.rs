//! `seif demo`, README's first command, tells the whole story and succeeds.

mod common;

#[test]
fn the_demo_runs_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("demo");
    let o = common::run(common::seif().arg("demo").arg("--keep").arg(&keep));
    common::ok(&o);
    let out = String::from_utf8(o.stdout).unwrap();
    for line in [
        "== 1. Key ceremony",
        "The witnesses record the vault fingerprint",
        "== 4. The host checks what it holds, with no key",
        "refused: 2 good shares of the active share set",
        "3 needed: bring 1 more",
        "key check passed",
        "identical to the original.",
    ] {
        assert!(out.contains(line), "the demo did not say {line:?}:\n{out}");
    }
    // What it kept is a real vault and store: the binaries accept them.
    let o = common::run(
        common::seif()
            .args(["verify", "--vault"])
            .arg(keep.join("vault/vault.json"))
            .arg("--store")
            .arg(keep.join("store-abroad")),
    );
    common::ok(&o);
    // -q: an install's smoke test; nothing said, exit 0.
    let o = common::run(common::seif().args(["demo", "-q"]));
    common::ok(&o);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "", "demo -q narrated");
    assert_eq!(common::stderr(&o), "", "demo -q said something on stderr");
}

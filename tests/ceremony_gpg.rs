//! A ceremony with GnuPG custodians, end to end: keys made by
//! `gpg --quick-gen-key`, shares GnuPG can decrypt, and shares decrypted by
//! seif itself with the exported secret key, one of them protected by a
//! passphrase that seif asks for at a prompt.
//!
//! Always compiled: this package's dev-dependency on the library turns its
//! `openpgp` feature on for every test build (Cargo.toml), so no way of
//! running `cargo test` turns this suite into nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Gpg { home }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--no-tty"]);
        c
    }

    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let o = self.cmd().args(args).output().expect("gpg runs");
        assert!(
            o.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }

    /// An Ed25519/Cv25519 key (GnuPG 2.2's `future-default`).
    fn generate(&self, uid: &str, passphrase: &str) {
        self.ok(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--quick-gen-key",
            uid,
            "future-default",
            "default",
            "never",
        ]);
    }

    fn export(&self, uid: &str, to: &Path) {
        std::fs::write(to, self.ok(&["--armor", "--export", uid])).unwrap();
    }

    fn export_secret(&self, uid: &str, passphrase: &str, to: &Path) {
        std::fs::write(
            to,
            self.ok(&[
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
                "--armor",
                "--export-secret-keys",
                uid,
            ]),
        )
        .unwrap();
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

#[test]
fn gnupg_custodians_end_to_end() {
    if Command::new("gpg").arg("--version").output().is_err() {
        return skip("gpg is not installed (scripts/test installs it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| -> PathBuf { dir.path().join(n) };
    let gpg = Gpg::new();
    gpg.generate("Alice <alice@example.org>", "");
    gpg.generate("Bob <bob@example.org>", "bob's key passphrase");
    gpg.generate("Carol <carol@example.org>", "");
    for (who, uid) in [
        ("alice", "alice@example.org"),
        ("bob", "bob@example.org"),
        ("carol", "carol@example.org"),
    ] {
        gpg.export(uid, &p(&format!("{who}.asc")));
    }
    gpg.export_secret(
        "bob@example.org",
        "bob's key passphrase",
        &p("bob-secret.asc"),
    );
    gpg.export_secret("carol@example.org", "", &p("carol-secret.asc"));

    let sealer = p("sealer.key");
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&sealer));
    ok(&o);
    let sealer_pub = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let vault = p("vault");
    let o = run(ceremony()
        .args(["init", "--name", "gpg vault", "--threshold", "2"])
        .arg("--custodian")
        .arg(format!("alice=pgp:{}", p("alice.asc").display()))
        .arg("--custodian")
        .arg(format!("bob=pgp:{}", p("bob.asc").display()))
        .arg("--custodian")
        .arg(format!("carol=pgp:{}", p("carol.asc").display()))
        .arg("--sealer")
        .arg(&sealer_pub)
        .arg("--out")
        .arg(&vault));
    ok(&o);
    let share = |who: &str| vault.join("shares").join(format!("{who}.share.asc"));
    let vault_json = vault.join("vault.json");

    // GnuPG decrypts a share seif made.
    let decrypted = gpg.ok(&["--decrypt", share("alice").to_str().unwrap()]);
    assert!(
        decrypted.starts_with(b"seif share v1\n"),
        "{}",
        String::from_utf8_lossy(&decrypted)
    );

    let plain = p("registry.csv");
    std::fs::write(&plain, content(123_456, 8)).unwrap();
    let sealed = p("registry.csv.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&vault_json)
        .arg("--sealer")
        .arg(&sealer)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));

    // Alice's share decrypted by GnuPG and piped in; Carol's decrypted by seif
    // with her exported (unprotected) secret key.
    let out = p("out1");
    let mut child = ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--share")
        .arg("-")
        .arg("--share")
        .arg(share("carol"))
        .arg("--identity")
        .arg(p("carol-secret.asc"))
        .arg("--out")
        .arg(&out)
        .arg(&sealed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &decrypted).unwrap();
    ok(&child.wait_with_output().unwrap());
    assert_eq!(
        std::fs::read(out.join("registry.csv")).unwrap(),
        content(123_456, 8)
    );

    // Bob's share decrypted by seif with his passphrase-protected secret
    // key: seif asks for the key's passphrase at a prompt (a real terminal).
    let out2 = p("out2");
    let pty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_run.py");
    let o = run(Command::new("python3")
        .arg(&pty)
        .arg("Passphrase for OpenPGP key")
        .arg("bob's key passphrase")
        .arg("--")
        .arg(ceremony_bin())
        .arg("open")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--share")
        .arg(share("bob"))
        .arg("--identity")
        .arg(p("bob-secret.asc"))
        .arg("--share")
        .arg(share("carol"))
        .arg("--identity")
        .arg(p("carol-secret.asc"))
        .arg("--out")
        .arg(&out2)
        .arg(&sealed));
    let screen = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{screen}");
    assert!(
        screen.contains("Passphrase for OpenPGP key") && screen.contains("Bob <bob@example.org>"),
        "{screen}"
    );
    assert!(
        !screen.contains("bob's key passphrase"),
        "the passphrase is not echoed"
    );
    assert_eq!(
        std::fs::read(out2.join("registry.csv")).unwrap(),
        content(123_456, 8)
    );

    // verify-share with GnuPG's output on stdin, as a custodian with a
    // smartcard would.
    let mut child = ceremony()
        .arg("verify-share")
        .arg("--vault")
        .arg(&vault_json)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        &gpg.ok(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "bob's key passphrase",
            "--decrypt",
            share("bob").to_str().unwrap(),
        ]),
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("custodian:   bob"));

    // The descriptor lists each custodian's OpenPGP fingerprint.
    let d = seif::descriptor::Descriptor::load(&vault_json).unwrap();
    let colons =
        String::from_utf8(gpg.ok(&["--with-colons", "--fingerprint", "alice@example.org"]))
            .unwrap();
    let fpr = colons
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_owned();
    assert_eq!(
        d.active_set().custodians[0].key.as_deref(),
        Some(fpr.as_str())
    );
}

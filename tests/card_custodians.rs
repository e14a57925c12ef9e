//! Card custodians end to end, against SoftHSM2 tokens made like Estonian
//! ID cards (`scripts/softhsm-token`: the authentication key with derive
//! usage and its certificate at id 01, a signing key at id 02): init with a
//! card custodian beside passphrase custodians, verify-share and open with
//! the card, and the refusals that must come before any PIN.

mod common;
use common::*;
use std::path::{Path, PathBuf};

const PIN: &str = "1234";

/// The tools the tokens need; under `SEIF_CI=1` their absence fails.
fn softhsm() -> Option<PathBuf> {
    let have = ["softhsm2-util", "pkcs11-tool", "openssl"].iter().all(|t| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !have {
        skip(
            "card custodians need softhsm2, opensc (pkcs11-tool) and openssl (run scripts/test to install them)",
        );
        return None;
    }
    Some(PathBuf::new())
}

/// A token in `dir`, labelled `label`; returns the module's path.
fn token(dir: &Path, label: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/softhsm-token");
    let o = run(std::process::Command::new(script)
        .arg(dir)
        .args([label, "87654321", PIN]));
    ok(&o);
    let env = std::fs::read_to_string(dir.join("env.sh")).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix("export PKCS11_MODULE='"))
        .unwrap()
        .trim_end_matches('\'')
        .to_owned()
}

#[test]
fn a_card_custodian_beside_passphrase_custodians() {
    if softhsm().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let other = dir.path().join("other");
    let module = token(&card, "MARI TAMM");
    token(&other, "JAAN TAMM");
    let conf = |d: &Path| d.join("softhsm2.conf");
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{text}\n")).unwrap();
        p
    };
    let (a, b) = (
        file("alice.pw", "alice's long passphrase"),
        file("bob.pw", "bob's long passphrase"),
    );
    let pin = file("mari.pin", PIN);
    let wrong_pin = file("wrong.pin", "0000");

    // A signing-only certificate and an expired one are refused at init.
    for (cert, says) in [
        ("cert02.pem", "a signing-only certificate"),
        ("expired.pem", "the certificate expired on"),
    ] {
        let o = run(ceremony()
            .args(["init", "--name", "v", "--threshold", "2"])
            .arg("--custodian")
            .arg(format!("mari=pkcs11:cert:{}", card.join(cert).display()))
            .args(["--custodian", "alice=passphrase", "--passphrase-file"])
            .arg(format!("alice={}", a.display()))
            .arg("--out")
            .arg(dir.path().join("refused")));
        assert!(!o.status.success());
        assert!(stderr(&o).contains(says), "{cert}: {}", stderr(&o));
    }

    let vault_dir = dir.path().join("v");
    let o = run(ceremony()
        .args(["init", "--name", "card vault", "--threshold", "2"])
        .arg("--custodian")
        .arg(format!(
            "mari=pkcs11:cert:{}",
            card.join("cert01.pem").display()
        ))
        .args(["--custodian", "alice=passphrase", "--passphrase-file"])
        .arg(format!("alice={}", a.display()))
        .args(["--custodian", "bob=passphrase", "--passphrase-file"])
        .arg(format!("bob={}", b.display()))
        .arg("--out")
        .arg(&vault_dir));
    ok(&o);
    assert!(
        stderr(&o).contains("PNOEE-38001085718"),
        "init shows the certificate's subject: {}",
        stderr(&o)
    );
    let vault_json = vault_dir.join("vault.json");
    let public = std::fs::read_to_string(&vault_json).unwrap();
    assert!(public.contains("\"pkcs11\""), "{public}");
    assert!(
        !public.contains("TAMM") && !public.contains("38001085718"),
        "vault.json does not name the official"
    );
    let mari = vault_dir.join("shares").join("mari.share.card");

    let verify = |conf_dir: &Path, pin: &Path| {
        run(ceremony()
            .env("SOFTHSM2_CONF", conf(conf_dir))
            .arg("verify-share")
            .arg("--vault")
            .arg(&vault_json)
            .arg("--pkcs11-module")
            .arg(&module)
            .arg("--pin-file")
            .arg(format!("mari={}", pin.display()))
            .arg(&mari))
    };
    let o = verify(&card, &pin);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("custodian:   mari"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // The wrong card: named, and no PIN tried (a wrong PIN file would
    // otherwise count against the other card).
    let o = verify(&other, &wrong_pin);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("none of the cards present holds the key mari's share is sealed to")
            && e.contains("'JAAN TAMM'"),
        "{e}"
    );
    let o = run(std::process::Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", conf(&other))
        .args(["--module", &module, "-T"]));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("user PIN count low"),
        "the other card was not asked for a PIN: {}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A wrong PIN: refused, once.
    let o = verify(&card, &wrong_pin);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("wrong PIN for the card 'MARI TAMM'"),
        "{}",
        stderr(&o)
    );

    // No card at all (a module whose only slot holds no initialised token).
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("tokens")).unwrap();
    std::fs::write(
        conf(&empty),
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            empty.join("tokens").display()
        ),
    )
    .unwrap();
    let o = verify(&empty, &pin);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no card or token is present: insert mari's card"),
        "{}",
        stderr(&o)
    );

    // A tampered share: the card derives, and the AEAD finds it altered.
    let text = std::fs::read_to_string(&mari).unwrap();
    let tampered = dir.path().join("mari.share.card");
    let ct = text.lines().last().unwrap();
    let flipped: String = ct.chars().rev().collect();
    std::fs::write(&tampered, text.replace(ct, &flipped)).unwrap();
    let o = run(ceremony()
        .env("SOFTHSM2_CONF", conf(&card))
        .arg("verify-share")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--pkcs11-module")
        .arg(&module)
        .arg("--pin-file")
        .arg(format!("mari={}", pin.display()))
        .arg(&tampered));
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("the card's key does not open this share, or the share file was altered"),
        "{}",
        stderr(&o)
    );

    // The independent reader (tests/spec/card_share.py, from FORMAT.md 5.6)
    // opens the share with the card's key in software.
    if std::process::Command::new("python3")
        .args(["-c", "import nacl, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let o = run(std::process::Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/card_share.py"))
            .arg(&mari)
            .arg("--key")
            .arg(card.join("key01.pem")));
        ok(&o);
        assert!(String::from_utf8_lossy(&o.stdout).contains("custodian: mari"));
    } else {
        skip(
            "tests/spec/card_share.py needs python3 with PyNaCl and cryptography (run scripts/test)",
        );
    }

    // Without the module, the card share is refused before anything is asked.
    let o = run(ceremony()
        .arg("verify-share")
        .arg("--vault")
        .arg(&vault_json)
        .arg(&mari));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no --pkcs11-module was given"),
        "{}",
        stderr(&o)
    );

    // The card and a passphrase open a sealed file.
    let plain = dir.path().join("x");
    std::fs::write(&plain, b"card-guarded").unwrap();
    let sealed = dir.path().join("x.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&vault_json)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    let out = dir.path().join("out");
    let o = run(ceremony()
        .env("SOFTHSM2_CONF", conf(&card))
        .args(["open", "--allow-unsigned", "--vault"])
        .arg(&vault_json)
        .arg("--share")
        .arg(&mari)
        .arg("--pkcs11-module")
        .arg(&module)
        .arg("--pin-file")
        .arg(format!("mari={}", pin.display()))
        .arg("--share")
        .arg(vault_dir.join("shares").join("alice.share.pass"))
        .arg("--passphrase-file")
        .arg(format!("alice={}", a.display()))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    ok(&o);
    assert_eq!(std::fs::read(out.join("x")).unwrap(), b"card-guarded");

    // The module is in the ceremony log, by path and SHA-256.
    let log = std::fs::read_to_string(vault_dir.join("ceremony.log")).unwrap_or_default();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&module).unwrap()))
    };
    assert!(log.contains(&digest), "the module's SHA-256 is logged");
}

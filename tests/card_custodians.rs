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

/// An OpenPGP certificate and its secret key (armored), as a custodian's.
fn openpgp_certificate(uid: &str) -> (Vec<u8>, Vec<u8>) {
    use sequoia_openpgp::cert::prelude::*;
    use sequoia_openpgp::serialize::SerializeInto;
    use sequoia_openpgp::types::Features;
    let (cert, _) = CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_profile(sequoia_openpgp::Profile::RFC4880)
        .unwrap()
        .set_features(Features::empty().set_seipdv1())
        .unwrap()
        .add_userid(uid)
        .add_transport_encryption_subkey()
        .generate()
        .unwrap();
    (
        cert.armored().to_vec().unwrap(),
        cert.as_tsk().armored().to_vec().unwrap(),
    )
}

/// `--pkcs11-module MODULE --pin-file LABEL=PIN`.
fn card_args(module: &str, label: &str, pin: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "--pkcs11-module".into(),
        module.into(),
        "--pin-file".into(),
        format!("{label}={}", pin.display()).into(),
    ]
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

    // Keys a card cannot open shares with, refused at init: a signing-only
    // certificate, an expired one, an RSA key, another curve, a point off
    // the curve.
    let openssl = |args: &[&str]| ok(&run(std::process::Command::new("openssl").args(args)));
    let key = |name: &str| dir.path().join(name).display().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &key("rsa.key"),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &key("rsa.key"),
        "-subj",
        "/CN=rsa",
        "-days",
        "30",
        "-out",
        &key("rsa.pem"),
    ]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-out",
        &key("p521.key"),
    ]);
    openssl(&[
        "pkey",
        "-in",
        &key("p521.key"),
        "-pubout",
        "-out",
        &key("p521.pub"),
    ]);
    let mut off = std::fs::read(card.join("pub01.der")).unwrap();
    *off.last_mut().unwrap() ^= 1;
    std::fs::write(dir.path().join("off.der"), off).unwrap();
    for (spec, says) in [
        (
            format!("pkcs11:cert:{}", card.join("cert02.pem").display()),
            "a signing-only certificate",
        ),
        (
            format!("pkcs11:cert:{}", card.join("expired.pem").display()),
            "the certificate expired on",
        ),
        (
            format!("pkcs11:cert:{}", key("rsa.pem")),
            "not an elliptic-curve key",
        ),
        (
            format!("pkcs11:spki:{}", key("p521.pub")),
            "only P-256 and P-384",
        ),
        (
            format!("pkcs11:spki:{}", key("off.der")),
            "not a valid P-384 public key",
        ),
    ] {
        let o = run(ceremony()
            .args(["init", "--name", "v", "--threshold", "2"])
            .arg("--custodian")
            .arg(format!("mari={spec}"))
            .args(["--custodian", "alice=passphrase", "--passphrase-file"])
            .arg(format!("alice={}", a.display()))
            .arg("--out")
            .arg(dir.path().join("refused")));
        assert!(!o.status.success());
        assert!(stderr(&o).contains(says), "{spec}: {}", stderr(&o));
    }

    // A certificate ending within a year: taken, with a warning to reshare
    // to the custodian's next card in time.
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        &key("soon.key"),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &key("soon.key"),
        "-subj",
        "/CN=SOON",
        "-days",
        "100",
        "-addext",
        "keyUsage=critical,digitalSignature,keyAgreement",
        "-out",
        &key("soon.pem"),
    ]);
    let o = run(ceremony()
        .args(["init", "--name", "soon", "--threshold", "2"])
        .arg("--custodian")
        .arg(format!("mari=pkcs11:cert:{}", key("soon.pem")))
        .args(["--custodian", "alice=passphrase", "--passphrase-file"])
        .arg(format!("alice={}", a.display()))
        .arg("--out")
        .arg(dir.path().join("soon")));
    ok(&o);
    assert!(
        stderr(&o).contains("the card certificate expires on")
            && stderr(&o).contains("within a year")
            && stderr(&o).contains("reshare this custodian's share to their new card"),
        "{}",
        stderr(&o)
    );

    // An OpenPGP custodian beside the card and the passphrases.
    let (pgp_public, pgp_secret) = openpgp_certificate("Piret <piret@example.ee>");
    let piret = dir.path().join("piret.asc");
    std::fs::write(&piret, pgp_public).unwrap();
    let piret_secret = dir.path().join("piret-secret.asc");
    std::fs::write(&piret_secret, pgp_secret).unwrap();

    let vault_dir = dir.path().join("v");
    let o = run(ceremony()
        .args(["init", "--name", "card vault", "--threshold", "2"])
        .arg("--custodian")
        .arg(format!("piret=pgp:{}", piret.display()))
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
            .args(card_args(&module, "mari", pin))
            .arg(&mari))
    };
    let o = verify(&card, &pin);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("custodian:   mari"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // The module runs in a child process, never in the step's own: the
    // dynamic loader's log (LD_DEBUG) shows who loads what.
    let o = run(ceremony()
        .env("SOFTHSM2_CONF", conf(&card))
        .env("LD_DEBUG", "files")
        .arg("verify-share")
        .arg("--no-log")
        .arg("--vault")
        .arg(&vault_json)
        .args(card_args(&module, "mari", &pin))
        .arg(&mari));
    ok(&o);
    let loads: Vec<(String, String)> = stderr(&o)
        .lines()
        .filter_map(|l| {
            let (pid, rest) = l.trim_start().split_once(':')?;
            let file = rest.trim_start().strip_prefix("file=")?;
            Some((pid.to_owned(), file.split_whitespace().next()?.to_owned()))
        })
        .collect();
    let step = &loads
        .first()
        .expect("LD_DEBUG lists the step's own libraries")
        .0;
    let module_name = Path::new(&module).file_name().unwrap().to_str().unwrap();
    let by: Vec<&String> = loads
        .iter()
        .filter(|(_, f)| f.ends_with(module_name))
        .map(|(p, _)| p)
        .collect();
    assert!(!by.is_empty(), "the module was loaded: {loads:?}");
    assert!(
        by.iter().all(|p| *p != step),
        "the module is loaded only by the child: {loads:?}"
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
        .args(card_args(&module, "mari", &pin))
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
        .args(card_args(&module, "mari", &pin))
        .arg("--share")
        .arg(vault_dir.join("shares").join("alice.share.pass"))
        .arg("--passphrase-file")
        .arg(format!("alice={}", a.display()))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    ok(&o);
    assert_eq!(std::fs::read(out.join("x")).unwrap(), b"card-guarded");
    let out2 = dir.path().join("out2");
    ok(&run(ceremony()
        .env("SOFTHSM2_CONF", conf(&card))
        .args(["open", "--allow-unsigned", "--vault"])
        .arg(&vault_json)
        .arg("--share")
        .arg(vault_dir.join("shares").join("piret.share.asc"))
        .arg("--identity")
        .arg(&piret_secret)
        .arg("--share")
        .arg(&mari)
        .args(card_args(&module, "mari", &pin))
        .arg("--out")
        .arg(&out2)
        .arg(&sealed)));
    assert_eq!(std::fs::read(out2.join("x")).unwrap(), b"card-guarded");

    // The module is in the ceremony log, by path and SHA-256.
    let log = std::fs::read_to_string(vault_dir.join("ceremony.log")).unwrap_or_default();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&module).unwrap()))
    };
    assert!(log.contains(&digest), "the module's SHA-256 is logged");
}

/// A reshare presented with a card moves the share to another card (the
/// custodian's new ID card), whose custodian verifies it; a grant is then
/// made with the new card.
#[test]
fn a_card_share_is_reshared_to_a_new_card_and_grants() {
    if softhsm().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (old_card, new_card) = (dir.path().join("old"), dir.path().join("new"));
    let module = token(&old_card, "MARI OLD");
    token(&new_card, "MARI NEW");
    let conf = |d: &Path| d.join("softhsm2.conf");
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{text}\n")).unwrap();
        p
    };
    let a = file("alice.pw", "alice's long passphrase");
    let pin = file("mari.pin", PIN);
    let v1 = dir.path().join("v1");
    ok(&run(ceremony()
        .args(["init", "--name", "cards", "--threshold", "2"])
        .arg("--custodian")
        .arg(format!(
            "mari=pkcs11:cert:{}",
            old_card.join("cert01.pem").display()
        ))
        .args(["--custodian", "alice=passphrase", "--passphrase-file"])
        .arg(format!("alice={}", a.display()))
        .args(["--custodian", "bob=passphrase", "--passphrase-file"])
        .arg(format!("bob={}", a.display()))
        .arg("--out")
        .arg(&v1)));
    let shares1 = v1.join("shares");

    // The reshare: mari's old card and alice's passphrase; mari's new
    // share is sealed to her new card.
    let v2 = dir.path().join("v2");
    ok(&run(ceremony()
        .env("SOFTHSM2_CONF", conf(&old_card))
        .arg("reshare")
        .arg("--vault")
        .arg(v1.join("vault.json"))
        .arg("--share")
        .arg(shares1.join("mari.share.card"))
        .args(card_args(&module, "mari", &pin))
        .arg("--share")
        .arg(shares1.join("alice.share.pass"))
        .arg("--passphrase-file")
        .arg(format!("alice={}", a.display()))
        .args(["--threshold", "2"])
        .arg("--custodian")
        .arg(format!(
            "mari=pkcs11:cert:{}",
            new_card.join("cert01.pem").display()
        ))
        .args([
            "--custodian",
            "alice=passphrase",
            "--custodian",
            "carol=passphrase",
        ])
        .arg("--passphrase-file")
        .arg(format!("carol={}", a.display()))
        .arg("--out")
        .arg(&v2)));
    let vault2 = v2.join("vault.json");
    let shares2 = v2.join("shares");

    // The old card does not open the new share; the new card does.
    let verify = |card: &Path| {
        run(ceremony()
            .env("SOFTHSM2_CONF", conf(card))
            .arg("verify-share")
            .arg("--vault")
            .arg(&vault2)
            .args(card_args(&module, "mari", &pin))
            .arg(shares2.join("mari.share.card")))
    };
    let o = verify(&old_card);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("'MARI OLD'"), "{}", stderr(&o));
    ok(&verify(&new_card));
    ok(&run(ceremony()
        .arg("verify-share")
        .arg("--vault")
        .arg(&vault2)
        .arg("--passphrase-file")
        .arg(format!("alice={}", a.display()))
        .arg(shares2.join("alice.share.pass"))));

    // A grant with the new card and alice's new share.
    let plain = dir.path().join("g");
    std::fs::write(&plain, b"granted").unwrap();
    let sealed = dir.path().join("g.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&vault2)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    let team = dir.path().join("team.key");
    let recipient = pq_identity_file(&team);
    let out = dir.path().join("grants");
    ok(&run(ceremony()
        .env("SOFTHSM2_CONF", conf(&new_card))
        .args(["grant", "--allow-unsigned", "--vault"])
        .arg(&vault2)
        .arg("--share")
        .arg(shares2.join("mari.share.card"))
        .args(card_args(&module, "mari", &pin))
        .arg("--share")
        .arg(shares2.join("alice.share.pass"))
        .arg("--passphrase-file")
        .arg(format!("alice={}", a.display()))
        .arg("--to")
        .arg(&recipient)
        .arg("--out")
        .arg(&out)
        .arg(&sealed)));
    assert!(
        std::fs::read_dir(&out).unwrap().next().is_some(),
        "a grant was written"
    );
}

/// Two card custodians open together, each card in its own reader (both
/// tokens behind one module): each share goes to the card that holds its
/// key.
#[test]
fn two_cards_open_together() {
    if softhsm().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b, both) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("both"),
    );
    let module = token(&a, "MARI TAMM");
    token(&b, "JAAN SEPP");
    // One token directory holding both tokens: two readers, two cards.
    std::fs::create_dir_all(both.join("tokens")).unwrap();
    for d in [&a, &b] {
        for t in std::fs::read_dir(d.join("tokens")).unwrap() {
            let t = t.unwrap().path();
            let o = run(std::process::Command::new("cp")
                .arg("-r")
                .arg(&t)
                .arg(both.join("tokens")));
            ok(&o);
        }
    }
    std::fs::write(
        both.join("softhsm2.conf"),
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            both.join("tokens").display()
        ),
    )
    .unwrap();
    let pin = dir.path().join("pin");
    std::fs::write(&pin, format!("{PIN}\n")).unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a long enough passphrase\n").unwrap();
    let v = dir.path().join("v");
    ok(&run(ceremony()
        .args(["init", "--name", "two cards", "--threshold", "2"])
        .arg("--custodian")
        .arg(format!(
            "mari=pkcs11:cert:{}",
            a.join("cert01.pem").display()
        ))
        .arg("--custodian")
        .arg(format!(
            "jaan=pkcs11:cert:{}",
            b.join("cert01.pem").display()
        ))
        .args(["--custodian", "liis=passphrase", "--passphrase-file"])
        .arg(format!("liis={}", pw.display()))
        .arg("--out")
        .arg(&v)));
    let plain = dir.path().join("x");
    std::fs::write(&plain, b"two cards").unwrap();
    let sealed = dir.path().join("x.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(v.join("vault.json"))
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    let out = dir.path().join("out");
    ok(&run(ceremony()
        .env("SOFTHSM2_CONF", both.join("softhsm2.conf"))
        .args(["open", "--allow-unsigned", "--vault"])
        .arg(v.join("vault.json"))
        .arg("--share")
        .arg(v.join("shares").join("jaan.share.card"))
        .arg("--share")
        .arg(v.join("shares").join("mari.share.card"))
        .args(card_args(&module, "mari", &pin))
        .arg("--pin-file")
        .arg(format!("jaan={}", pin.display()))
        .arg("--out")
        .arg(&out)
        .arg(&sealed)));
    assert_eq!(std::fs::read(out.join("x")).unwrap(), b"two cards");
}

//! No passphrase typed in vain: every input of a ceremony step is checked
//! before any custodian is asked for a secret. Each refusal here runs the
//! real binary on a pseudo-terminal that would answer every passphrase
//! prompt, and asserts that no prompt appeared, that the refusal names the
//! file or share and what to do, and that no log entry was written.
//! OpenPGP certificates that expire soon are warned about with their date;
//! an expired one is refused, with how to extend it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::*;

/// A vault of two passphrase custodians and one age custodian (any two
/// open it), with a sealer and one sealed file.
struct Vault {
    dir: tempfile::TempDir,
    vault_dir: PathBuf,
    age_key: PathBuf,
    sealed: PathBuf,
}

impl Vault {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let age_key = dir.path().join("carol.key");
        let carol = age_identity_file(&age_key);
        let sealer_key = dir.path().join("sealer.key");
        let o = run(seif().args(["sealer", "new", "--out"]).arg(&sealer_key));
        ok(&o);
        let sealer = String::from_utf8(o.stdout).unwrap().trim().to_owned();
        let mut init = ceremony();
        init.args(["init", "--name", "precheck", "--threshold", "2"]);
        for l in ["alice", "bob"] {
            let p = dir.path().join(format!("{l}.pw"));
            std::fs::write(&p, format!("{l}'s long passphrase\n")).unwrap();
            init.arg("--custodian")
                .arg(format!("{l}=passphrase"))
                .arg("--passphrase-file")
                .arg(format!("{l}={}", p.display()));
        }
        let vault_dir = dir.path().join("vault");
        ok(&run(init
            .arg("--custodian")
            .arg(format!("carol=age:{carol}"))
            .arg("--sealer")
            .arg(format!("p={sealer}"))
            .arg("--out")
            .arg(&vault_dir)));
        let plain = dir.path().join("data.txt");
        std::fs::write(&plain, b"registry").unwrap();
        let sealed = dir.path().join("data.seif");
        ok(&run(seif()
            .args(["seal", "--vault"])
            .arg(vault_dir.join("vault.json"))
            .arg("--sealer")
            .arg(&sealer_key)
            .arg("-o")
            .arg(&sealed)
            .arg(&plain)));
        Vault {
            dir,
            vault_dir,
            age_key,
            sealed,
        }
    }

    fn share(&self, label: &str) -> PathBuf {
        let ext = if label == "carol" { "age" } else { "pass" };
        self.vault_dir.join(format!("shares/{label}.share.{ext}"))
    }

    fn vault_json(&self) -> PathBuf {
        self.vault_dir.join("vault.json")
    }

    fn log_lines(&self) -> usize {
        std::fs::read_to_string(self.vault_dir.join("ceremony.log"))
            .unwrap()
            .lines()
            .count()
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
}

/// Runs `seif-ceremony ARGS` on a pseudo-terminal that answers every
/// passphrase prompt (three times per custodian, so that a prompt that
/// does appear ends rather than waits); returns the exit code and all it
/// showed.
fn on_pty(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let pty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_run.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&pty);
    for _ in 0..3 {
        for l in ["alice", "bob"] {
            cmd.arg("Passphrase for")
                .arg(format!("{l}'s long passphrase"));
        }
    }
    let o = run(cmd.arg("--").arg(ceremony_bin()).args(args));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Asserts a refusal with `code` whose screen holds every fragment, with no
/// prompt shown and the log as it was.
#[track_caller]
fn refused_before_asking(
    v: &Vault,
    (code, screen): (Option<i32>, String),
    want: i32,
    fragments: &[&str],
) {
    assert_eq!(code, Some(want), "{screen}");
    for f in fragments {
        assert!(screen.contains(f), "screen lacks {f:?}:\n{screen}");
    }
    assert!(
        !screen.contains("Passphrase for"),
        "a custodian was asked for a passphrase:\n{screen}"
    );
    assert_eq!(v.log_lines(), 1, "a log entry was written:\n{screen}");
}

#[test]
fn every_share_input_is_checked_before_anyone_types() {
    let v = Vault::new();
    let vault_json = v.vault_json();
    let out = v.out();
    let open = |extra: &[&std::ffi::OsStr]| {
        let mut a: Vec<&std::ffi::OsStr> = vec![os("open"), os("--vault"), vault_json.as_os_str()];
        a.extend_from_slice(extra);
        a.extend([os("--out"), out.as_os_str(), v.sealed.as_os_str()]);
        on_pty(&a)
    };
    let alice = v.share("alice");
    let nothing_asked = "hint: fix the command and run the step again: nobody was asked for a secret, and nothing was logged";

    // A mistyped share path, given after a share whose custodian would
    // have typed first.
    let typo = v.vault_dir.join("shares/bbo.share.pass");
    refused_before_asking(
        &v,
        open(&[
            os("--share"),
            alice.as_os_str(),
            os("--share"),
            typo.as_os_str(),
        ]),
        4,
        &[
            &format!(
                "error: refused before asking for shares: share {}: cannot be read: No such file or directory",
                typo.display()
            ),
            nothing_asked,
        ],
    );

    // A file that is no kind of share.
    let junk = v.dir.path().join("junk.share");
    std::fs::write(&junk, "not a share\n").unwrap();
    refused_before_asking(
        &v,
        open(&[
            os("--share"),
            alice.as_os_str(),
            os("--share"),
            junk.as_os_str(),
        ]),
        4,
        &[&format!(
            "share {}: not a seif share: neither a decrypted share, an OpenPGP message, an age file nor a passphrase-protected share",
            junk.display()
        )],
    );

    // Too few shares to reach the threshold.
    let set = seif::descriptor::Descriptor::load(&vault_json)
        .unwrap()
        .active_set()
        .id
        .clone();
    refused_before_asking(
        &v,
        open(&[os("--share"), alice.as_os_str()]),
        4,
        &[&format!(
            "1 share given that can count toward the active share set {set}, 2 needed: add 1 more --share"
        )],
    );

    // The same share file twice.
    refused_before_asking(
        &v,
        open(&[
            os("--share"),
            alice.as_os_str(),
            os("--share"),
            alice.as_os_str(),
        ]),
        4,
        &[&format!(
            "share {}: the same share file as {} (given twice)",
            alice.display(),
            alice.display()
        )],
    );

    // An age share without the age key that opens it.
    let carol = v.share("carol");
    refused_before_asking(
        &v,
        open(&[
            os("--share"),
            alice.as_os_str(),
            os("--share"),
            carol.as_os_str(),
        ]),
        4,
        &[&format!(
            "share {}: it is an age file, and no age identity was given: add --identity with the custodian's age key file",
            carol.display()
        )],
    );

    // A passphrase share whose custodian is not one of this vault's (a
    // planted or stray file).
    let stray = v.dir.path().join("mallory.share.pass");
    std::fs::write(
        &stray,
        std::fs::read_to_string(v.share("bob"))
            .unwrap()
            .replace("custodian: bob", "custodian: mallory"),
    )
    .unwrap();
    refused_before_asking(
        &v,
        open(&[
            os("--share"),
            alice.as_os_str(),
            os("--share"),
            stray.as_os_str(),
        ]),
        4,
        &[&format!(
            "share {}: custodian 'mallory' holds no passphrase share of the active share set {set}",
            stray.display()
        )],
    );

    // A missing identity file and a missing passphrase file.
    let nokey = v.dir.path().join("nokey.key");
    refused_before_asking(
        &v,
        open(&[
            os("--share"),
            alice.as_os_str(),
            os("--share"),
            carol.as_os_str(),
            os("--identity"),
            nokey.as_os_str(),
        ]),
        1,
        &[&format!("identity {}: ", nokey.display()), nothing_asked],
    );
    let nopw = format!("bob={}", v.dir.path().join("nopw.txt").display());
    refused_before_asking(
        &v,
        open(&[
            os("--share"),
            alice.as_os_str(),
            os("--share"),
            v.share("bob").as_os_str(),
            os("--passphrase-file"),
            os(&nopw),
        ]),
        1,
        &[
            &format!(
                "--passphrase-file bob=…: no passphrase: {}: No such file or directory",
                v.dir.path().join("nopw.txt").display()
            ),
            nothing_asked,
        ],
    );
}

#[test]
fn sealed_files_store_output_and_fingerprint_are_checked_before_anyone_types() {
    let v = Vault::new();
    let vault_json = v.vault_json();
    let out = v.out();
    let (alice, bob) = (v.share("alice"), v.share("bob"));
    let shares = [
        os("--share"),
        alice.as_os_str(),
        os("--share"),
        bob.as_os_str(),
    ];
    let fingerprint = seif::descriptor::Descriptor::load(&vault_json)
        .unwrap()
        .body()
        .vault_id
        .clone();

    // A partial fingerprint is a usage error, said before anything else.
    let grouped = seif::descriptor::format_fingerprint(&fingerprint);
    let partial = &grouped[..grouped.len() - 5];
    let mut a = vec![os("open"), os("--vault"), vault_json.as_os_str()];
    a.extend([os("--expect-vault"), os(partial)]);
    a.extend(shares);
    a.extend([os("--out"), out.as_os_str(), v.sealed.as_os_str()]);
    refused_before_asking(
        &v,
        on_pty(&a),
        2,
        &[
            "a vault fingerprint is 64 hex digits (16 groups of 4); this has 60 hex digits",
            "hint: copy the whole VAULT FINGERPRINT from the vault record sheet",
        ],
    );
    // The same for show and verify-share.
    let o = run(ceremony()
        .args(["show", "--vault"])
        .arg(&vault_json)
        .args(["--expect-vault", partial]));
    fails_with(&o, 2, "a vault fingerprint is 64 hex digits");
    let mut a = vec![os("verify-share"), os("--vault"), vault_json.as_os_str()];
    a.extend([os("--expect-vault"), os(partial), alice.as_os_str()]);
    refused_before_asking(&v, on_pty(&a), 2, &["a vault fingerprint is 64 hex digits"]);

    // A sealed file that is missing.
    let missing = v.dir.path().join("missing.seif");
    let mut a = vec![os("open"), os("--vault"), vault_json.as_os_str()];
    a.extend(shares);
    a.extend([os("--out"), out.as_os_str(), missing.as_os_str()]);
    // Exit 1: a missing file is an error, not a refusal by policy.
    refused_before_asking(
        &v,
        on_pty(&a),
        1,
        &[&format!(
            "refused before asking for shares: {}: ",
            missing.display()
        )],
    );

    // An output on a medium that is not mounted.
    let unmounted = v.dir.path().join("media/RELEASE");
    let mut a = vec![os("open"), os("--vault"), vault_json.as_os_str()];
    a.extend(shares);
    a.extend([os("--out"), unmounted.as_os_str(), v.sealed.as_os_str()]);
    refused_before_asking(
        &v,
        on_pty(&a),
        1,
        &[&format!(
            "--out {}: {} is not a directory (is the medium mounted?)",
            unmounted.display(),
            unmounted.parent().unwrap().display()
        )],
    );

    // A store copy that holds no such snapshot; the refusal does not point
    // at `seif ls`, which is not on the laptop.
    let store = v.dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let mut a = vec![os("open"), os("--vault"), vault_json.as_os_str()];
    a.extend(shares);
    a.extend([
        os("--store"),
        store.as_os_str(),
        os("--out"),
        out.as_os_str(),
        os("deadbeef00"),
    ]);
    let (code, screen) = on_pty(&a);
    assert!(!screen.contains("seif ls"), "{screen}");
    // Exit 1, as for a missing file: nothing by that name is there.
    refused_before_asking(
        &v,
        (code, screen),
        1,
        &["deadbeef00: no snapshot matches 'deadbeef00'; compare it with the decision"],
    );

    // One step takes sealed files or snapshots, not both.
    let mut a = vec![os("grant"), os("--vault"), vault_json.as_os_str()];
    a.extend(shares);
    a.extend([
        os("--store"),
        store.as_os_str(),
        os("--to"),
        os("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"),
        os("--allow-classic-recipient"),
        os("--out"),
        out.as_os_str(),
        v.sealed.as_os_str(),
    ]);
    refused_before_asking(
        &v,
        on_pty(&a),
        2,
        &[
            &format!(
                "{} is a sealed file, and with --store every INPUT names a snapshot: one step takes either sealed files or snapshots",
                v.sealed.display()
            ),
            "hint: run the step twice",
        ],
    );

    // With everything right, the same shares open it (the prompts appear).
    let mut a = vec![os("open"), os("--vault"), vault_json.as_os_str()];
    a.extend([os("--expect-vault"), os(&grouped)]);
    a.extend(shares);
    a.extend([os("--out"), out.as_os_str(), v.sealed.as_os_str()]);
    let (code, screen) = on_pty(&a);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("Passphrase for alice's share"), "{screen}");
    assert_eq!(v.log_lines(), 2);
}

#[test]
fn verify_share_checks_its_share_before_asking() {
    let v = Vault::new();
    let vault_json = v.vault_json();
    let typo = v.vault_dir.join("shares/alcie.share.pass");
    let mut a = vec![os("verify-share"), os("--vault"), vault_json.as_os_str()];
    a.push(typo.as_os_str());
    refused_before_asking(
        &v,
        on_pty(&a),
        4,
        &[&format!(
            "share {}: cannot be read: No such file or directory",
            typo.display()
        )],
    );
    let stray = v.dir.path().join("mallory.share.pass");
    std::fs::write(
        &stray,
        std::fs::read_to_string(v.share("bob"))
            .unwrap()
            .replace("custodian: bob", "custodian: mallory"),
    )
    .unwrap();
    let mut a = vec![os("verify-share"), os("--vault"), vault_json.as_os_str()];
    a.push(stray.as_os_str());
    refused_before_asking(
        &v,
        on_pty(&a),
        4,
        &["vault.json lists no passphrase custodian 'mallory'"],
    );
    // The age share, with its key: checked, and logged.
    let carol = v.share("carol");
    let mut a = vec![os("verify-share"), os("--vault"), vault_json.as_os_str()];
    a.extend([os("--identity"), v.age_key.as_os_str(), carol.as_os_str()]);
    let (code, screen) = on_pty(&a);
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(v.log_lines(), 2);
}

/// An OpenPGP certificate (armored) for `uid`, created at `created`, valid
/// for `valid` (both keys), with an encryption subkey that advertises
/// SEIPDv1 only, as GnuPG 2.2 keys do; with its secret key file and
/// fingerprint.
fn certificate(
    uid: &str,
    created: SystemTime,
    valid: Option<Duration>,
) -> (Vec<u8>, Vec<u8>, String) {
    use sequoia_openpgp::cert::prelude::*;
    use sequoia_openpgp::serialize::SerializeInto;
    use sequoia_openpgp::types::Features;
    let (cert, _) = CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_profile(sequoia_openpgp::Profile::RFC4880)
        .unwrap()
        .set_features(Features::empty().set_seipdv1())
        .unwrap()
        .set_creation_time(created)
        .set_validity_period(valid)
        .add_userid(uid)
        .add_transport_encryption_subkey()
        .generate()
        .unwrap();
    (
        cert.armored().to_vec().unwrap(),
        cert.as_tsk().armored().to_vec().unwrap(),
        cert.fingerprint().to_hex(),
    )
}

fn date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    seif::time::rfc3339(secs as i64)[..10].to_owned()
}

#[test]
fn expiring_openpgp_certificates_are_warned_about_and_expired_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let year = Duration::from_secs(365 * 86_400);
    let now = SystemTime::now() - Duration::from_secs(60);
    // GnuPG's default: two years.
    let (soon, soon_secret, soon_fpr) = certificate("Mari <mari@example.ee>", now, Some(2 * year));
    let (expired, _, expired_fpr) =
        certificate("Peeter <peeter@example.ee>", now - 3 * year, Some(year));
    let (lasting, lasting_secret, _) = certificate("Jaan <jaan@example.ee>", now, None);
    let path = |n: &str, b: &[u8]| {
        let p = dir.path().join(n);
        std::fs::write(&p, b).unwrap();
        p
    };
    let (soon_p, expired_p, lasting_p) = (
        path("mari.asc", &soon),
        path("peeter.asc", &expired),
        path("jaan.asc", &lasting),
    );
    let init = |custodians: &[(&str, &Path)], out: &str| {
        let mut c = ceremony();
        c.args(["init", "--name", "pgp", "--threshold", "2"]);
        for (l, p) in custodians {
            c.arg("--custodian").arg(format!("{l}=pgp:{}", p.display()));
        }
        run(c.arg("--out").arg(dir.path().join(out)))
    };

    // Expired: refused with the date and how to extend it; nothing written.
    let o = init(
        &[
            ("mari", &lasting_p),
            ("peeter", &expired_p),
            ("jaan", &soon_p),
        ],
        "refused",
    );
    let expired_on = date(now - 2 * year);
    fails_with(
        &o,
        4,
        &format!(
            "--custodian peeter=pgp:{}: {}: certificate {expired_fpr} is expired or not yet valid: it expired on {expired_on}",
            expired_p.display(),
            expired_p.display()
        ),
    );
    assert!(stderr(&o).contains(&format!(
        "hint: extend it where the secret key lives: `gpg --quick-set-expire {expired_fpr} 10y` and `gpg --quick-set-expire {expired_fpr} 10y '*'` (its subkeys)"
    )));
    assert!(!dir.path().join("refused").exists());

    // Expiring within five years: warned about with its date, and made.
    let o = init(&[("mari", &soon_p), ("jaan", &lasting_p)], "vault");
    ok(&o);
    let warning = format!(
        "seif-ceremony: warning: custodian 'mari': OpenPGP certificate {soon_fpr} expires on {}: after that date a reshare or rotation refuses it; extend it where the secret key lives",
        date(now + 2 * year)
    );
    assert!(stderr(&o).contains(&warning), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("custodian 'jaan'"),
        "a key that never expires is not warned about: {}",
        stderr(&o)
    );

    // The custodian's own check warns too, from their key file.
    let vault = dir.path().join("vault");
    let (soon_key, lasting_key) = (
        path("mari-secret.asc", &soon_secret),
        path("jaan-secret.asc", &lasting_secret),
    );
    let o = run(ceremony()
        .args(["verify-share", "--vault"])
        .arg(vault.join("vault.json"))
        .arg("--identity")
        .arg(&soon_key)
        .arg(vault.join("shares/mari.share.asc")));
    ok(&o);
    assert!(
        stderr(&o).contains(&format!(
            "seif-ceremony: warning: your key: OpenPGP certificate {soon_fpr} expires on {}",
            date(now + 2 * year)
        )),
        "{}",
        stderr(&o)
    );

    // And a reshare that gives it a new share.
    let o = run(ceremony()
        .args(["reshare", "--vault"])
        .arg(vault.join("vault.json"))
        .arg("--share")
        .arg(vault.join("shares/mari.share.asc"))
        .arg("--identity")
        .arg(&soon_key)
        .arg("--share")
        .arg(vault.join("shares/jaan.share.asc"))
        .arg("--identity")
        .arg(&lasting_key)
        .args(["--threshold", "2"])
        .arg("--custodian")
        .arg(format!("mari=pgp:{}", soon_p.display()))
        .arg("--custodian")
        .arg(format!("jaan=pgp:{}", lasting_p.display()))
        .arg("--out")
        .arg(dir.path().join("vault-next")));
    ok(&o);
    assert!(stderr(&o).contains(&warning), "{}", stderr(&o));
    // The expired certificate is refused there too, before any share.
    let o = run(ceremony()
        .args(["reshare", "--vault"])
        .arg(vault.join("vault.json"))
        .arg("--share")
        .arg(vault.join("shares/mari.share.asc"))
        .arg("--identity")
        .arg(&soon_key)
        .args(["--threshold", "2"])
        .arg("--custodian")
        .arg(format!("mari=pgp:{}", soon_p.display()))
        .arg("--custodian")
        .arg(format!("peeter=pgp:{}", expired_p.display()))
        .arg("--out")
        .arg(dir.path().join("vault-other")));
    fails_with(&o, 4, &format!("certificate {expired_fpr} is expired"));
    assert!(stderr(&o).contains("gpg --quick-set-expire"));
}

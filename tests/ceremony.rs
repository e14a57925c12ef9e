//! `seif-ceremony` end to end, as custodians use it: real processes, real
//! files, exact messages for refusals.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use seif::custody::{Identities, open_share};

/// Opens a share file through the library (as a custodian's own tools
/// would), to craft damaged or forged shares from real ones.
fn decrypt_share(v: &AgeVault, i: usize) -> seif::shares::Share {
    let mut ids = Identities::default();
    ids.add_file(&v.identities[i]).unwrap();
    open_share(
        &std::fs::read(v.share_file(i)).unwrap(),
        &mut ids,
        &mut NoPassphrases,
    )
    .unwrap()
}

fn open_cmd(v: &AgeVault, shares: &[usize], out: &Path, inputs: &[&Path]) -> std::process::Output {
    run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(shares))
        .arg("--out")
        .arg(out)
        .args(inputs))
}

fn active_set_id(vault_json: &Path) -> String {
    seif::descriptor::Descriptor::load(vault_json)
        .unwrap()
        .active_set()
        .id
        .clone()
}

#[test]
fn init_refuses_bad_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let r = |i: u32| format!("c{i}=age:{}", age::x25519::Identity::generate().to_public());
    let out = dir.path().join("v");
    let init = |t: &str, custodians: &[String]| {
        let mut c = ceremony();
        c.args(["init", "--name", "x", "--threshold", t, "--out"])
            .arg(&out);
        for cu in custodians {
            c.arg("--custodian").arg(cu);
        }
        run(&mut c)
    };
    let three: Vec<String> = (1..=3).map(r).collect();
    fails_with(
        &init("1", &three),
        1,
        "the threshold must be at least 2 (got 1)",
    );
    fails_with(
        &init("4", &three),
        1,
        "the threshold 4 is larger than the number of custodians 3",
    );
    let many: Vec<String> = (1..=256).map(|i| format!("c{i}=passphrase")).collect();
    fails_with(
        &init("2", &many),
        1,
        "256 custodians: at most 255 can share a secret over GF(256)",
    );
    let mut dup_label = three.clone();
    dup_label[1] = dup_label[1].replacen("c2=", "c1=", 1);
    fails_with(
        &init("2", &dup_label),
        1,
        "two custodians are labelled 'c1'",
    );
    let same = age::x25519::Identity::generate().to_public();
    fails_with(
        &init(
            "2",
            &[format!("a=age:{same}"), format!("b=age:{same}"), r(3)],
        ),
        1,
        "custodians 'a' and 'b' have the same key",
    );
    fails_with(
        &init("2", &["a=rot13:x".into(), r(2)]),
        1,
        "custodian 'a=rot13:x': expected LABEL=pgp:FILE, LABEL=age:RECIPIENT, LABEL=passphrase, LABEL=pkcs11:cert:FILE or LABEL=pkcs11:spki:FILE",
    );
    fails_with(
        &init("2", &["../x=passphrase".into(), r(2)]),
        1,
        "custodian label '../x' must be",
    );
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("precious"), b"x").unwrap();
    fails_with(&init("2", &three), 1, "already exists and is not empty");
    assert_eq!(entries(&out), vec!["precious"]);
    assert_eq!(
        entries(dir.path()),
        vec!["v"],
        "nothing half-written beside it"
    );
}

#[test]
fn init_writes_a_vault_that_keeps_no_secret_in_the_clear() {
    let v = age_vault(3, 2);
    assert_eq!(
        entries(&v.vault_dir),
        vec!["ceremony.log", "shares", "vault.json"]
    );
    for i in 0..3 {
        let mode = std::fs::metadata(v.share_file(i))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "share files are private");
    }
    let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    assert!(
        v.init_stdout
            .contains(&seif::descriptor::format_fingerprint(&d.body().vault_id)),
        "{}",
        v.init_stdout
    );
    assert!(v.init_stdout.contains("VAULT FINGERPRINT"));
    // No file in the vault holds a share's value or a decrypted share.
    let values: Vec<String> = (0..3)
        .map(|i| {
            decrypt_share(&v, i)
                .to_text()
                .lines()
                .find(|l| l.starts_with("value: "))
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut files = vec![v.vault_json.clone(), v.vault_dir.join("ceremony.log")];
    files.extend((0..3).map(|i| v.share_file(i)));
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !text.contains("seif share v1"),
            "{} holds a decrypted share",
            f.display()
        );
        for value in &values {
            assert!(
                !text.contains(&value[7..]),
                "{} holds a share value",
                f.display()
            );
        }
    }
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(v.vault_dir.join("ceremony.log"))
        .arg("--vault")
        .arg(&v.vault_json));
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok: 1 entries (1 signed"));
}

/// Every T-subset of the shares opens the vault; no (T-1)-subset does.
#[test]
fn every_threshold_subset_opens_and_no_smaller_one() {
    let v = age_vault(4, 3);
    let data = content(200_000, 9);
    let sealed = v.seal("data.seif", &data);
    let set = active_set_id(&v.vault_json);
    let n = 4;
    for mask in 1u32..(1 << n) {
        let subset: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
        if subset.len() < 2 {
            continue;
        }
        let out = v.dir.path().join(format!("out-{mask}"));
        let o = open_cmd(&v, &subset, &out, &[&sealed]);
        if subset.len() >= 3 {
            ok(&o);
            assert_eq!(
                std::fs::read(out.join("data")).unwrap(),
                data,
                "subset {subset:?}"
            );
        } else {
            // Too few shares are refused before anyone is asked for a
            // secret, and nothing is logged.
            fails_with(
                &o,
                4,
                &format!(
                    "refused before asking for shares: 2 shares given that can count toward the active share set {set}, 3 needed: add 1 more --share"
                ),
            );
            assert!(!out.join("data").exists());
        }
    }
}

#[test]
fn refusals_name_each_bad_share() {
    let v = age_vault(3, 2);
    let other = age_vault(3, 2);
    let sealed = v.seal("data.seif", b"secret registry");
    let work = v.dir.path();
    let out = work.join("out");
    let set = active_set_id(&v.vault_json);

    // A damaged share (one bit of its value flipped), named by index.
    let text = decrypt_share(&v, 1).to_text();
    let value_at = text.find("value: ").unwrap() + 7;
    let mut damaged = text.as_bytes().to_vec();
    damaged[value_at] = if damaged[value_at] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let damaged_path = work.join("damaged.share");
    std::fs::write(&damaged_path, &damaged).unwrap();
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0]))
        .arg("--share")
        .arg(&damaged_path)
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        4,
        &format!(
            "share {} (index 2, custodian c2): does not match its commitment in vault.json: it is damaged or forged",
            damaged_path.display()
        ),
    );
    assert!(stderr(&o).contains(&format!(
        "1 share given that can count toward the active share set {set}, 2 needed: add 1 more --share"
    )));

    // A duplicate share file, named before anything is asked.
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 0]))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        4,
        &format!(
            "share {}: the same share file as {} (given twice)",
            v.share_file(0).display(),
            v.share_file(0).display()
        ),
    );

    // A share of another vault.
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0]))
        .args(other.share_args(&[1]))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        4,
        &format!(
            "share {} (index 2): belongs to another vault (",
            other.share_file(1).display()
        ),
    );

    // A forged share with index 0.
    let forged = text.replace("index: 2", "index: 0");
    let forged_path = work.join("forged.share");
    std::fs::write(&forged_path, forged.as_bytes()).unwrap();
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0]))
        .arg("--share")
        .arg(&forged_path)
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        4,
        &format!(
            "share {}: share index 0 is never issued (it would be the secret itself): a forged share",
            forged_path.display()
        ),
    );

    // A truncated share file.
    let bytes = std::fs::read(v.share_file(1)).unwrap();
    let truncated_path = work.join("truncated.share.age");
    std::fs::write(&truncated_path, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0]))
        .arg("--share")
        .arg(&truncated_path)
        .arg("--identity")
        .arg(&v.identities[1])
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        4,
        &format!("share {}: not a valid age file: ", truncated_path.display()),
    );

    // A descriptor whose signature fails.
    let forged_vault = work.join("forged-vault.json");
    std::fs::write(
        &forged_vault,
        std::fs::read_to_string(&v.vault_json)
            .unwrap()
            .replace("test vault", "evil vault"),
    )
    .unwrap();
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&forged_vault)
        .arg("--log")
        .arg(v.vault_dir.join("ceremony.log"))
        .args(v.share_args(&[0, 1]))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        3,
        &format!(
            "{}: the vault descriptor's signature does not verify: it was altered or forged",
            forged_vault.display()
        ),
    );

    assert!(!out.join("data").exists(), "nothing was opened");
    // Only the refusal made after the shares were opened (the share of
    // another vault, known only once decrypted) was logged (unsigned); the
    // others were refused before anyone was asked for a secret, and are not
    // in the log. The log still verifies.
    let o = run(ceremony()
        .args(["log", "verify"])
        .arg(v.vault_dir.join("ceremony.log"))
        .arg("--vault")
        .arg(&v.vault_json));
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("ok: 2 entries (1 signed by the vault key, 1 NOT signed: custodian checks or refusals), chain intact, vault.json revision 1 as the log records"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn passphrase_custodians_and_a_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let pw = |label: &str, text: &str| {
        let p = dir.path().join(format!("{label}.pw"));
        std::fs::write(&p, format!("{text}\n")).unwrap();
        p
    };
    let (a, b, c) = (
        pw("alice", "alice's long passphrase"),
        pw("bob", "bob's long passphrase"),
        pw("carol", "carol's long passphrase"),
    );
    let vault_dir = dir.path().join("v");
    let mut init = ceremony();
    init.args(["init", "--name", "pw vault", "--threshold", "2"]);
    for (l, p) in [("alice", &a), ("bob", &b), ("carol", &c)] {
        init.arg("--custodian")
            .arg(format!("{l}=passphrase"))
            .arg("--passphrase-file")
            .arg(format!("{l}={}", p.display()));
    }
    init.arg("--out").arg(&vault_dir);
    ok(&run(&mut init));
    let vault_json = vault_dir.join("vault.json");
    let share = |l: &str| vault_dir.join("shares").join(format!("{l}.share.pass"));

    // A custodian checks their share alone.
    let o = run(ceremony()
        .arg("verify-share")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--passphrase-file")
        .arg(format!("bob={}", b.display()))
        .arg(share("bob")));
    ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        stdout.contains("index:       2 of 3, threshold 2") && stdout.contains("custodian:   bob"),
        "{stdout}"
    );
    assert!(!stdout.contains("value"), "the share is never shown");

    // A wrong passphrase is named, and refused.
    let wrong = pw("wrong", "not bob's passphrase at all");
    let o = run(ceremony()
        .arg("verify-share")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--passphrase-file")
        .arg(format!("bob={}", wrong.display()))
        .arg(share("bob")));
    fails_with(
        &o,
        3,
        &format!(
            "share {}: wrong passphrase, or the share file was altered",
            share("bob").display()
        ),
    );

    // Two custodians open a file.
    let sealed = dir.path().join("x.seif");
    let plain = dir.path().join("x");
    std::fs::write(&plain, b"passphrase-guarded").unwrap();
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&vault_json)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    let out = dir.path().join("out");
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--share")
        .arg(share("alice"))
        .arg("--passphrase-file")
        .arg(format!("alice={}", a.display()))
        .arg("--share")
        .arg(share("carol"))
        .arg("--passphrase-file")
        .arg(format!("carol={}", c.display()))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(
        &o,
        4,
        "x.seif: unsigned (anyone holding vault.json could have made it); pass --allow-unsigned if you know its origin",
    );
    let o = run(ceremony()
        .arg("open")
        .arg("--allow-unsigned")
        .arg("--vault")
        .arg(&vault_json)
        .arg("--share")
        .arg(share("alice"))
        .arg("--passphrase-file")
        .arg(format!("alice={}", a.display()))
        .arg("--share")
        .arg(share("carol"))
        .arg("--passphrase-file")
        .arg(format!("carol={}", c.display()))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    ok(&o);
    assert_eq!(std::fs::read(out.join("x")).unwrap(), b"passphrase-guarded");
    assert_eq!(
        std::fs::metadata(out.join("x"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn a_decrypted_share_can_come_from_stdin() {
    let v = age_vault(3, 2);
    let sealed = v.seal("d.seif", b"via stdin");
    let out = v.dir.path().join("out");
    let mut child = ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0]))
        .arg("--share")
        .arg("-")
        .arg("--out")
        .arg(&out)
        .arg(&sealed)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        decrypt_share(&v, 2).to_text().as_bytes(),
    )
    .unwrap();
    ok(&child.wait_with_output().unwrap());
    assert_eq!(std::fs::read(out.join("d")).unwrap(), b"via stdin");
}

#[test]
fn grants_open_only_what_they_cover() {
    let v = age_vault(3, 2);
    let a = v.seal("a.seif", &content(300_000, 1));
    let b = v.seal("b.seif", b"another file");
    let team_key = v.dir.path().join("team.key");
    let team = pq_identity_file(&team_key);
    let grants = v.dir.path().join("grants");
    let o = run(ceremony()
        .arg("grant")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 2]))
        .arg("--to")
        .arg(&team)
        .arg("--out")
        .arg(&grants)
        .arg(&a));
    ok(&o);
    let grant = grants.join("a.seif.grant");
    let opened = v.dir.path().join("a.out");
    ok(&run(seif()
        .args(["open", "--identity"])
        .arg(&team_key)
        .arg("--grant")
        .arg(&grant)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("-o")
        .arg(&opened)
        .arg(&a)));
    assert_eq!(std::fs::read(&opened).unwrap(), content(300_000, 1));
    // The grant for a.seif does not open b.seif.
    let o = run(seif()
        .args(["open", "--identity"])
        .arg(&team_key)
        .arg("--grant")
        .arg(&grant)
        .arg("-o")
        .arg(v.dir.path().join("b.out"))
        .arg(&b));
    fails_with(&o, 3, "the grant is for another sealed file ('a.seif')");
    // The team's key alone opens nothing.
    let o = run(seif()
        .args(["open", "--identity"])
        .arg(&team_key)
        .arg("-o")
        .arg(v.dir.path().join("a2.out"))
        .arg(&a));
    fails_with(&o, 3, "none of the given identities can open");
    // A grant whose body was altered fails the vault's signature.
    let altered = v.dir.path().join("altered.grant");
    std::fs::write(
        &altered,
        std::fs::read_to_string(&grant)
            .unwrap()
            .replace("\"a.seif\"", "\"c.seif\""),
    )
    .unwrap();
    let o = run(seif()
        .args(["open", "--identity"])
        .arg(&team_key)
        .arg("--grant")
        .arg(&altered)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("-o")
        .arg(v.dir.path().join("a3.out"))
        .arg(&a));
    fails_with(&o, 3, "the grant's signature does not verify");
}

#[test]
fn reshare_becomes_active_only_after_its_custodians_verify() {
    let v = age_vault(3, 2);
    let sealed = v.seal("d.seif", b"reshared");
    let new_ids: Vec<(PathBuf, String)> = (0..3)
        .map(|i| {
            let p = v.dir.path().join(format!("new-{i}.key"));
            let recipient = age_identity_file(&p);
            (p, recipient.to_string())
        })
        .collect();
    let v2 = v.dir.path().join("vault2");
    let mut c = ceremony();
    c.arg("reshare")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .args(["--threshold", "2"]);
    for (i, (_, r)) in new_ids.iter().enumerate() {
        c.arg("--custodian").arg(format!("n{}=age:{r}", i + 1));
    }
    c.arg("--out").arg(&v2);
    let o = run(&mut c);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("the new set is PENDING"));
    let vault2 = v2.join("vault.json");
    let new_share = |i: usize| v2.join("shares").join(format!("n{}.share.age", i + 1));
    let new_args = |which: &[usize]| -> Vec<std::ffi::OsString> {
        which
            .iter()
            .flat_map(|&i| {
                [
                    "--share".into(),
                    new_share(i).into_os_string(),
                    "--identity".into(),
                    new_ids[i].0.clone().into_os_string(),
                ]
            })
            .collect()
    };
    let old_set = active_set_id(&v.vault_json);
    let out = v.dir.path().join("out");
    // Pending: the new shares do not open yet; the old ones still do.
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(new_args(&[0, 1]))
        .arg("--out")
        .arg(&out)
        .arg(&sealed));
    fails_with(&o, 4, "belongs to the pending share set");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(v.share_args(&[1, 2]))
        .arg("--out")
        .arg(v.dir.path().join("old-ok"))
        .arg(&sealed)));
    // Two of the new custodians verify their shares.
    for i in [0, 2] {
        let o = run(ceremony()
            .arg("verify-share")
            .arg("--vault")
            .arg(&vault2)
            .arg("--identity")
            .arg(&new_ids[i].0)
            .arg(new_share(i)));
        ok(&o);
    }
    // Now the new set opens, and the old one is retired.
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(new_args(&[1, 2]))
        .arg("--out")
        .arg(&out)
        .arg(&sealed)));
    assert_eq!(std::fs::read(out.join("d")).unwrap(), b"reshared");
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(v.share_args(&[0, 1]))
        .arg("--out")
        .arg(v.dir.path().join("o3"))
        .arg(&sealed));
    fails_with(
        &o,
        4,
        &format!(
            "(index 1): belongs to the retired share set {old_set}; only shares of the active set"
        ),
    );
    let d = seif::descriptor::Descriptor::load(&vault2).unwrap();
    assert_eq!(
        d.share_set(&old_set).unwrap().status,
        seif::descriptor::SetStatus::Retired,
        "the switch is recorded in vault.json"
    );
    ok(&run(ceremony()
        .args(["log", "verify"])
        .arg(v2.join("ceremony.log"))
        .arg("--vault")
        .arg(&vault2)));
}

#[test]
fn rotate_rewraps_without_reencrypting_and_retires_the_old_key() {
    let v = age_vault(3, 2);
    let data = content(500_000, 4);
    let sealed = v.seal("big.seif", &data);
    let new_key = v.dir.path().join("new.key");
    let new_id = age_identity_file(&new_key);
    let other_key = v.dir.path().join("other.key");
    let other = age_identity_file(&other_key);
    let v2 = v.dir.path().join("rotated-vault");
    let o = run(ceremony()
        .arg("rotate")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 2]))
        .arg("--custodian")
        .arg(format!("x=age:{new_id}"))
        .arg("--custodian")
        .arg(format!("y=age:{other}"))
        .arg("--out")
        .arg(&v2)
        .arg(&sealed));
    ok(&o);
    let rotated = v2.join("rotated").join("big.seif");
    let (before, after) = (
        std::fs::read(&sealed).unwrap(),
        std::fs::read(&rotated).unwrap(),
    );
    let (hb, ha) = (
        seif::sealed::Header::read(&mut &before[..]).unwrap(),
        seif::sealed::Header::read(&mut &after[..]).unwrap(),
    );
    assert_eq!(
        hb.signed_bytes(),
        ha.signed_bytes(),
        "the signed header is unchanged"
    );
    assert_ne!(
        hb.wrapped_key, ha.wrapped_key,
        "the data key is wrapped anew"
    );
    assert_eq!(
        &before[hb.encoded_len()..],
        &after[ha.encoded_len()..],
        "the payload is not re-encrypted"
    );
    // The sealer's signature still holds under the rotated vault.
    ok(&run(seif()
        .args(["inspect", "--vault"])
        .arg(v2.join("vault.json"))
        .arg(&rotated)));
    let vault2 = v2.join("vault.json");
    let out = v.dir.path().join("out");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .arg("--share")
        .arg(v2.join("shares/x.share.age"))
        .arg("--identity")
        .arg(&new_key)
        .arg("--share")
        .arg(v2.join("shares/y.share.age"))
        .arg("--identity")
        .arg(&other_key)
        .arg("--out")
        .arg(&out)
        .arg(&rotated)));
    assert_eq!(std::fs::read(out.join("big")).unwrap(), data);
    // The old shares are retired in the new vault.
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(v.share_args(&[0, 1]))
        .arg("--out")
        .arg(v.dir.path().join("o2"))
        .arg(&rotated));
    fails_with(&o, 4, "belongs to the retired share set");
    let d = seif::descriptor::Descriptor::load(&vault2).unwrap();
    assert_eq!(d.body().generation, 2);
    assert_eq!(
        d.vault_id(),
        seif::descriptor::Descriptor::load(&v.vault_json)
            .unwrap()
            .vault_id(),
        "same vault"
    );
    ok(&run(ceremony()
        .args(["log", "verify"])
        .arg(v2.join("ceremony.log"))
        .arg("--vault")
        .arg(&vault2)));
}

#[test]
fn sealers_added_and_removed_decide_what_opens() {
    let v = age_vault(3, 2);
    let second = v.dir.path().join("second.key");
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&second));
    ok(&o);
    let second_pub = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let plain = v.dir.path().join("p");
    std::fs::write(&plain, b"from the second pipeline").unwrap();
    let sealed = v.dir.path().join("p.seif");
    fails_with(
        &run(seif()
            .args(["seal", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&second)
            .arg("-o")
            .arg(&sealed)
            .arg(&plain)),
        4,
        "does not accept the sealer",
    );
    ok(&run(ceremony()
        .args(["sealers", "add", "--label", "second"])
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg(&second_pub)));
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&second)
        .arg("-o")
        .arg(&sealed)
        .arg(&plain)));
    ok(&run(ceremony()
        .args(["sealers", "remove"])
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[1, 2]))
        .arg(&second_pub)));
    let o = open_cmd(&v, &[0, 1], &v.dir.path().join("out"), &[&sealed]);
    fails_with(
        &o,
        4,
        &format!(
            "sealed by {}, a sealer the vault does not accept",
            classic_spelling(&second_pub)
        ),
    );
    let o = run(seif()
        .args(["inspect", "--vault"])
        .arg(&v.vault_json)
        .arg(&sealed));
    fails_with(&o, 4, "the vault does not accept its sealer");
}

#[test]
fn log_verify_detects_edits_removals_and_rollback() {
    let v = age_vault(3, 2);
    let sealed = v.seal("d.seif", b"x");
    let log = v.vault_dir.join("ceremony.log");
    let early_head = {
        let o = run(ceremony()
            .args(["log", "verify"])
            .arg(&log)
            .arg("--vault")
            .arg(&v.vault_json));
        ok(&o);
        String::from_utf8_lossy(&o.stdout)
            .split("head ")
            .nth(1)
            .unwrap()
            .trim()
            .to_owned()
    };
    for _ in 0..2 {
        ok(&open_cmd(
            &v,
            &[0, 1],
            &v.dir.path().join(format!("o{}", rand_suffix())),
            &[&sealed],
        ));
    }
    let verify = |path: &Path, head: Option<&str>| {
        let mut c = ceremony();
        c.args(["log", "verify"])
            .arg(path)
            .arg("--vault")
            .arg(&v.vault_json);
        if let Some(h) = head {
            c.arg("--head").arg(h);
        }
        run(&mut c)
    };
    let o = verify(&log, Some(&early_head));
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("the recorded head is entry 1 (2 entries were added after it)")
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tampered = v.dir.path().join("tampered.log");
    // An edited entry: in the middle it breaks the chain; at the end, the
    // vault key's signature.
    std::fs::write(&tampered, text.replacen("\"open\"", "\"grant\"", 1)).unwrap();
    fails_with(
        &verify(&tampered, None),
        3,
        "line 3: it does not chain to the previous line",
    );
    let edited_last = format!(
        "{}\n{}\n{}\n",
        lines[0],
        lines[1],
        lines[2].replacen("\"open\"", "\"grant\"", 1)
    );
    std::fs::write(&tampered, edited_last).unwrap();
    fails_with(
        &verify(&tampered, None),
        3,
        "entry 3 (grant): the vault key's signature does not verify",
    );
    // A removed entry.
    std::fs::write(&tampered, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    fails_with(
        &verify(&tampered, None),
        3,
        "line 2: sequence number 3 where 2 was expected",
    );
    // The tail cut off: only the recorded head shows it.
    std::fs::write(&tampered, format!("{}\n", lines[0])).unwrap();
    ok(&verify(&tampered, None));
    let full_head = {
        let o = verify(&log, None);
        String::from_utf8_lossy(&o.stdout)
            .split("head ")
            .nth(1)
            .unwrap()
            .trim()
            .to_owned()
    };
    fails_with(
        &verify(&tampered, Some(&full_head)),
        3,
        "is not in the log: entries were removed, or the log was replaced",
    );
    // A forged acknowledgement.
    let set = active_set_id(&v.vault_json);
    std::fs::write(&tampered, text.clone()).unwrap();
    let mut log_obj = seif::ceremony::log::CeremonyLog::open(&tampered).unwrap();
    let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    log_obj.append(&d, seif::ceremony::log::Draft { event: "verify-share".into(), participants: vec![], details: serde_json::json!({"share_set": set, "index": 1, "custodian": "c1", "ack_token": "00".repeat(32)}), files: vec![]  }, None).unwrap();
    fails_with(
        &verify(&tampered, None),
        3,
        "its acknowledgement token does not match the share's ack_check: forged",
    );
    // And the printout has the witnesses' lines.
    let o = run(ceremony()
        .args(["log", "print"])
        .arg(&log)
        .arg("--vault")
        .arg(&v.vault_json));
    ok(&o);
    let paper = String::from_utf8_lossy(&o.stdout);
    assert!(
        paper.contains("VERIFIED against") && paper.matches("Witness initials:").count() == 3,
        "{paper}"
    );
}

fn rand_suffix() -> String {
    hex::encode(seif::secrets::random_array::<4>())
}

/// The air gap, both halves in network namespaces of their own (no root
/// needed on the host, and the same on every machine): with an interface
/// up, a warning that names it, and a refusal under `--require-airgap`;
/// with only loopback, no warning, and `--require-airgap` goes ahead.
#[test]
fn the_air_gap_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let init_args = |out: &str| -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec![
            "init".into(),
            "--name".into(),
            "x".into(),
            "--threshold".into(),
            "2".into(),
        ];
        for i in 0..2 {
            a.push("--custodian".into());
            a.push(format!("c{i}=age:{}", age::x25519::Identity::generate().to_public()).into());
        }
        a.push("--out".into());
        a.push(dir.path().join(out).into_os_string());
        a
    };
    // A new network namespace holds only loopback; sysfs is remounted to
    // show it. ONLINE adds one interface and brings it up: a dummy where
    // the kernel has the module, else an ifb or a bridge (each reports
    // itself up with a carrier, as a cable plugged in does).
    let script = r#"
        export PATH="$PATH:/usr/sbin:/sbin"
        if [ "$ONLINE" = 1 ]; then
            for kind in dummy ifb bridge; do
                ip link add seif0 type "$kind" 2>/dev/null && break
            done
            ip link set seif0 up || exit 98
        fi
        mount -t sysfs sysfs /sys || exit 98
        exec "$0" "$@"
    "#;
    let in_namespace = |online: bool, args: &[std::ffi::OsString]| {
        run(Command::new("unshare")
            .args(["-rnm", "sh", "-c", script])
            .arg(ceremony_bin())
            .args(args)
            .env("ONLINE", if online { "1" } else { "0" }))
    };
    let unavailable =
        |o: &std::process::Output| o.status.code() == Some(98) || stderr(o).contains("unshare:");

    // Online: a warning naming the interface, and a refusal when asked.
    let o = in_namespace(true, &init_args("online"));
    if unavailable(&o) {
        return skip(&format!(
            "cannot make a network namespace with an interface here: {}",
            stderr(&o)
        ));
    }
    ok(&o);
    assert!(
        stderr(&o).contains(
            "warning: network interface is up: seif0 (the ceremony laptop should be offline)"
        ),
        "{}",
        stderr(&o)
    );
    let mut refused_args = vec!["--require-airgap".into()];
    refused_args.extend(init_args("refused"));
    fails_with(
        &in_namespace(true, &refused_args),
        4,
        "network interface is up: seif0 (the ceremony laptop should be offline)",
    );
    assert!(!dir.path().join("refused").exists());

    // Offline: nothing to warn about, and --require-airgap goes ahead.
    let mut offline_args = vec!["--require-airgap".into()];
    offline_args.extend(init_args("offline"));
    let o = in_namespace(false, &offline_args);
    ok(&o);
    assert!(!stderr(&o).contains("network interface"), "{}", stderr(&o));
    assert!(dir.path().join("offline/vault.json").exists());
}

use std::process::Command;

/// The ceremony's normal dependencies are exactly the reviewed list in
/// `ceremony/dependencies.txt`: an allowlist, so that a crate that brings
/// network code (an HTTP client, a TLS stack, a runtime, a crate linking
/// libssl for TLS) cannot arrive unnoticed under a name nobody thought to
/// ban.
#[test]
fn the_ceremony_has_no_network_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "seif-ceremony",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tree: std::collections::BTreeSet<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            // `name vX.Y.Z`, without ` (/path)`, ` (proc-macro)` or ` (*)`.
            let mut words = l.split(' ');
            format!(
                "{} {}",
                words.next().unwrap_or_default(),
                words.next().unwrap_or_default()
            )
        })
        .filter(|l| l.trim() != "")
        .collect();
    let list_path = root.join("ceremony/dependencies.txt");
    let allowed: std::collections::BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        allowed.contains("seif-ceremony v0.1.0") && allowed.contains("sequoia-openpgp v2.4.2"),
        "{} lost its entries",
        list_path.display()
    );
    let new: Vec<&String> = tree.difference(&allowed).collect();
    let gone: Vec<&String> = allowed.difference(&tree).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "the ceremony's dependencies changed: new {new:?}, gone {gone:?}. Review each new crate for network code (HTTP, TLS, DNS, sockets, async runtimes); if it has none, update {} (the list is `cargo tree -p seif-ceremony -e normal --prefix none`, without paths and marks, sorted and unique), saying in the commit why the crate is needed",
        list_path.display()
    );
}

/// What the built ceremony binary links (its ELF `NEEDED` entries) and
/// imports (its undefined dynamic symbols), read with `readelf`. Allowed:
/// the C runtime, and OpenSSL for Sequoia's crypto. libcrypto alone would
/// do, but Sequoia's OpenSSL backend calls `OPENSSL_init_ssl` in a
/// constructor (to keep OpenSSL 3 from registering an exit handler), which
/// makes libssl a needed library; so the only symbol the binary may import
/// from libssl is that one, no TLS function. No socket or resolver
/// function may be imported from any library.
#[test]
fn the_ceremony_binary_links_no_network_library() {
    let bin = ceremony_bin();
    let readelf = |args: &[&str]| -> String {
        let o = Command::new("readelf")
            .args(args)
            .arg(&bin)
            .output()
            .unwrap_or_else(|e| {
                panic!("readelf (binutils) is needed to check what seif-ceremony links: {e}")
            });
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let needed: Vec<String> = readelf(&["-d", "-W"])
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_owned()))
        .collect();
    let allowed = |lib: &str| {
        [
            "libc.so.6",
            "libm.so.6",
            "libgcc_s.so.1",
            "libpthread.so.0",
            "libdl.so.2",
            "librt.so.1",
            "libcrypto.so.3",
            "libssl.so.3",
        ]
        .contains(&lib)
            || lib.starts_with("ld-linux")
    };
    assert!(needed.iter().any(|l| l == "libc.so.6"), "{needed:?}");
    for lib in &needed {
        assert!(
            allowed(lib),
            "{} links {lib}: only the C runtime and OpenSSL's libcrypto and libssl are allowed; find which crate brings it (`cargo tree -p seif-ceremony -e normal -i CRATE`) and keep it out of the ceremony",
            bin.display()
        );
    }
    // Which library each symbol version comes from (`.gnu.version_r`).
    let mut file_of_version = std::collections::BTreeMap::new();
    let mut file = String::new();
    for line in readelf(&["-V", "-W"]).lines() {
        if let Some(rest) = line.split_once("File: ") {
            file = rest
                .1
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        } else if line.contains("Name: ")
            && let Some(v) = line.rsplit_once("Version: ")
            && let Ok(v) = v.1.trim().parse::<u32>()
        {
            file_of_version.insert(v, file.clone());
        }
    }
    let mut imports = Vec::new();
    for line in readelf(&["--dyn-syms", "-W"]).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(6) != Some(&"UND") {
            continue;
        }
        let Some(symbol) = words.get(7) else { continue };
        let name = symbol.split('@').next().unwrap().to_owned();
        let from = words
            .get(8)
            .and_then(|v| v.trim_matches(|c| c == '(' || c == ')').parse::<u32>().ok())
            .and_then(|v| file_of_version.get(&v).cloned());
        imports.push((name, from));
    }
    assert!(
        imports.iter().any(|(n, _)| n == "BN_free"),
        "readelf listed no OpenSSL import: the parsing is off ({} imports)",
        imports.len()
    );
    let from_libssl: Vec<&str> = imports
        .iter()
        .filter(|(_, f)| f.as_deref() == Some("libssl.so.3"))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        from_libssl,
        ["OPENSSL_init_ssl"],
        "{} imports TLS functions from libssl",
        bin.display()
    );
    // std::process::Command (the card step's child process) imports
    // socketpair, sendmsg and recvmsg: the child hands its pidfd to the
    // parent over a Unix socket pair, which connects nowhere. `socket`
    // (the only way to a network socket) stays forbidden, with connect and
    // every resolver call.
    let network = [
        "socket",
        "connect",
        "bind",
        "listen",
        "accept",
        "accept4",
        "getaddrinfo",
        "getnameinfo",
        "gethostbyname",
        "gethostbyname_r",
        "gethostbyaddr",
        "sendto",
        "recvfrom",
        "setsockopt",
        "getsockopt",
        "getpeername",
        "BIO_s_connect",
        "BIO_new_connect",
        "BIO_s_socket",
        "BIO_new_socket",
        "BIO_s_accept",
        "BIO_new_accept",
        "BIO_s_datagram",
    ];
    let found: Vec<&str> = imports
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| {
            network.contains(n)
                || n.starts_with("SSL_")
                || n.starts_with("TLS_")
                || n.starts_with("DTLS_")
        })
        .collect();
    assert!(
        found.is_empty(),
        "{} imports network functions {found:?}: some crate in it opens sockets or resolves names; find it (`objdump -d` shows the callers) and keep it out of the ceremony",
        bin.display()
    );
}

/// The ceremony process turns off core dumps before it reads a share:
/// started with core dumps allowed (`ulimit -c unlimited`), it has lowered
/// both core limits to 0 and made itself not dumpable by the time it waits
/// for the share on stdin.
#[test]
fn core_dumps_are_off_while_a_share_is_read() {
    let v = age_vault(2, 2);
    readable_by_all(v.dir.path());
    let mut child = spawn_with_core_dumps_allowed(
        &ceremony_bin(),
        &[
            "verify-share".into(),
            "--vault".into(),
            v.vault_json.clone().into(),
            "-".into(),
        ],
    );
    assert_hardened(child.id(), "seif-ceremony");
    drop(child.stdin.take());
    let _ = child.wait();
}

#[test]
fn show_and_expect_vault_let_witnesses_check_the_vault() {
    let v = age_vault(3, 2);
    let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    let fp = seif::descriptor::format_fingerprint(&d.body().vault_id);
    let o = run(ceremony().arg("show").arg("--vault").arg(&v.vault_json));
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains(&format!("VAULT FINGERPRINT  {fp}"))
            && out.contains("active, 2 of 3")
            && out.contains(&v.sealer_public),
        "{out}"
    );
    ok(&run(ceremony()
        .arg("show")
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--expect-vault")
        .arg(&fp)));
    let other = age_vault(2, 2);
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&other.vault_json)
        .arg("--expect-vault")
        .arg(&fp)
        .args(other.share_args(&[0, 1]))
        .arg("--out")
        .arg(v.dir.path().join("x"))
        .arg(&v.vault_json));
    fails_with(
        &o,
        3,
        &format!(
            "is the vault {}, not the recorded {fp}",
            seif::descriptor::format_fingerprint(
                &seif::descriptor::Descriptor::load(&other.vault_json)
                    .unwrap()
                    .body()
                    .vault_id
            )
        ),
    );
    // Every quorum step names the vault first.
    let sealed = v.seal("d.seif", b"x");
    let o = open_cmd(&v, &[0, 1], &v.dir.path().join("out"), &[&sealed]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .starts_with(&format!("vault 'test vault', fingerprint {fp}"))
    );
}

#[test]
fn rotate_refuses_damaged_or_foreign_inputs_and_writes_nothing() {
    let v = age_vault(3, 2);
    let good = v.seal("good.seif", &content(300_000, 1));
    let damaged = v.seal("damaged.seif", &content(300_000, 2));
    let mut bytes = std::fs::read(&damaged).unwrap();
    let n = bytes.len();
    bytes[n - 5000] ^= 1;
    std::fs::write(&damaged, bytes).unwrap();
    let out = v.dir.path().join("rotated");
    let rotate = |inputs: &[&Path]| {
        run(ceremony()
            .arg("rotate")
            .arg("--vault")
            .arg(&v.vault_json)
            .args(v.share_args(&[0, 1]))
            .arg("--custodian")
            .arg(format!(
                "x=age:{}",
                age::x25519::Identity::generate().to_public()
            ))
            .arg("--custodian")
            .arg(format!(
                "y=age:{}",
                age::x25519::Identity::generate().to_public()
            ))
            .arg("--out")
            .arg(&out)
            .args(inputs))
    };
    let o = rotate(&[&good, &damaged]);
    fails_with(&o, 3, "failed authentication");
    assert!(
        stderr(&o).contains("not re-wrapped: rotate an intact copy"),
        "{}",
        stderr(&o)
    );
    assert!(
        !out.exists(),
        "a refused rotation leaves no vault directory"
    );
    // A file of another vault is refused before any share is asked for.
    let other = age_vault(2, 2);
    let foreign = other.seal("foreign.seif", b"x");
    let o = rotate(&[&good, &foreign]);
    fails_with(&o, 4, "sealed to another vault");
    assert!(!out.exists());
}

#[test]
fn rotate_covers_files_and_snapshots_together() {
    let v = age_vault(3, 2);
    let sealed = v.seal("file.seif", &content(100_000, 5));
    let tree = v.dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), content(50_000, 6)).unwrap();
    let store = v.dir.path().join("store");
    ok(&run(seif()
        .args(["push", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(&store)
        .arg(&tree)));
    let new_ids: Vec<(PathBuf, String)> = (0..2)
        .map(|i| {
            let p = v.dir.path().join(format!("g2-{i}.key"));
            let recipient = age_identity_file(&p);
            (p, recipient.to_string())
        })
        .collect();
    let v2 = v.dir.path().join("v2");
    let o = run(ceremony()
        .arg("rotate")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[1, 2]))
        .arg("--custodian")
        .arg(format!("x=age:{}", new_ids[0].1))
        .arg("--custodian")
        .arg(format!("y=age:{}", new_ids[1].1))
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&v2)
        .arg(&sealed)
        .arg("all"));
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("re-wrapped and checked") && out.contains(": key for generation 2 added"),
        "{out}"
    );
    let vault2 = v2.join("vault.json");
    let new_shares: Vec<std::ffi::OsString> = ["x", "y"]
        .iter()
        .zip(&new_ids)
        .flat_map(|(l, (k, _))| {
            [
                "--share".into(),
                v2.join(format!("shares/{l}.share.age")).into_os_string(),
                "--identity".into(),
                k.clone().into_os_string(),
            ]
        })
        .collect();
    let opened = v.dir.path().join("opened");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(&new_shares)
        .arg("--out")
        .arg(&opened)
        .arg(v2.join("rotated/file.seif"))));
    assert_eq!(
        std::fs::read(opened.join("file")).unwrap(),
        content(100_000, 5)
    );
    let snaps = v.dir.path().join("snaps");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(&new_shares)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&snaps)
        .arg("latest")));
    // The snapshot opens under the new key to what was pushed: one tree,
    // one file, its bytes.
    let opened_snapshots = entries(&snaps);
    assert_eq!(opened_snapshots.len(), 1, "{opened_snapshots:?}");
    let restored = snaps.join(&opened_snapshots[0]);
    assert_eq!(entries(&restored), ["tree"]);
    assert_eq!(entries(&restored.join("tree")), ["a"]);
    assert_eq!(
        std::fs::read(restored.join("tree/a")).unwrap(),
        content(50_000, 6),
        "the snapshot opened under the rotated key holds other bytes"
    );
    // A copy of the store that did not get the new keys fails verify.
    let stale = v.dir.path().join("stale");
    ok(&run(Command::new("cp").arg("-r").arg(&store).arg(&stale)));
    for e in std::fs::read_dir(stale.join("keys")).unwrap() {
        for k in std::fs::read_dir(e.unwrap().path()).unwrap() {
            let k = k.unwrap().path();
            let env = seif::snapshot::key_envelope::KeyEnvelope::parse(&std::fs::read(&k).unwrap())
                .unwrap();
            if env.generation == 2 {
                std::fs::remove_file(&k).unwrap();
            }
        }
    }
    fails_with(
        &run(seif()
            .args(["verify", "--vault"])
            .arg(&vault2)
            .arg("--store")
            .arg(&stale)),
        3,
        "has no key for the vault's current key generation 2 (only for 1)",
    );
    ok(&run(seif()
        .args(["verify", "--vault"])
        .arg(&vault2)
        .arg("--store")
        .arg(&store)));
}

#[test]
fn an_empty_piped_share_is_named() {
    let v = age_vault(3, 2);
    let sealed = v.seal("d.seif", b"x");
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0]))
        .arg("--share")
        .arg("-")
        .arg("--out")
        .arg(v.dir.path().join("o"))
        .arg(&sealed)
        .stdin(std::process::Stdio::null()));
    fails_with(
        &o,
        4,
        "share stdin: it is empty (did the decryption that feeds it, e.g. gpg -d, fail?)",
    );
    assert!(
        !v.dir.path().join("o").exists(),
        "a refused open leaves no output directory"
    );
}

#[test]
fn a_threshold_equal_to_the_custodians_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(ceremony()
        .args(["init", "--name", "x", "--threshold", "2"])
        .arg("--custodian")
        .arg(format!(
            "a=age:{}",
            age::x25519::Identity::generate().to_public()
        ))
        .arg("--custodian")
        .arg(format!(
            "b=age:{}",
            age::x25519::Identity::generate().to_public()
        ))
        .arg("--out")
        .arg(dir.path().join("v")));
    ok(&o);
    assert!(
        stderr(&o).contains(
            "threshold 2 of 2: every custodian is needed, and losing one share loses the vault"
        ),
        "{}",
        stderr(&o)
    );
}

/// `open --store` honours --force (it was hard-coded off): without it an
/// existing output is refused before any share is asked for; with it the
/// restored tree replaces the old one.
#[test]
fn opening_snapshots_honours_force() {
    let v = age_vault(3, 2);
    let tree = v.dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("f"), content(10_000, 1)).unwrap();
    let store = v.dir.path().join("store");
    ok(&run(seif()
        .args(["push", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(&store)
        .arg(&tree)));
    let out = v.dir.path().join("out");
    let open = |force: bool| {
        let mut c = ceremony();
        c.arg("open")
            .arg("--vault")
            .arg(&v.vault_json)
            .args(v.share_args(&[0, 1]))
            .arg("--store")
            .arg(&store)
            .arg("--out")
            .arg(&out)
            .arg("latest");
        if force {
            c.arg("--force");
        }
        run(&mut c)
    };
    ok(&open(false));
    let id = entries(&out).pop().unwrap();
    let restored = out.join(&id).join("tree/f");
    std::fs::write(&restored, b"changed since").unwrap();
    std::fs::write(out.join(&id).join("stray"), b"not from the snapshot").unwrap();
    let entries_before = seif::ceremony::log::CeremonyLog::open(&v.vault_dir.join("ceremony.log"))
        .unwrap()
        .entries()
        .len();
    fails_with(
        &open(false),
        1,
        &format!("{} already exists", out.join(&id).display()),
    );
    assert_eq!(
        seif::ceremony::log::CeremonyLog::open(&v.vault_dir.join("ceremony.log"))
            .unwrap()
            .entries()
            .len(),
        entries_before,
        "refused before any share was asked for: nothing logged"
    );
    ok(&open(true));
    assert_eq!(std::fs::read(&restored).unwrap(), content(10_000, 1));
    assert!(
        !out.join(&id).join("stray").exists(),
        "the tree was replaced"
    );
    assert_eq!(entries(&out), vec![id], "nothing left beside it");
}

/// The stanza types in a sealed file's wrapped key (an age file).
fn stanza_types(sealed: &Path) -> Vec<String> {
    let mut f = std::io::BufReader::new(std::fs::File::open(sealed).unwrap());
    let header = seif::sealed::format::Header::read(&mut f).unwrap();
    let text = String::from_utf8_lossy(&header.wrapped_key).into_owned();
    let head = &text[..text.find("\n---").unwrap()];
    head.split("\n-> ")
        .skip(1)
        .map(|l| l.split([' ', '\n']).next().unwrap().to_owned())
        .collect()
}

/// `seif-ceremony init` makes a post-quantum vault: vault.json publishes
/// the hybrid recipient alone and requires PQ wrapping; a pipeline's sealed
/// file carries an mlkem768x25519 stanza and no classic one; the ceremony
/// opens it with the derived hybrid identity after the key check.
#[test]
fn new_vaults_wrap_post_quantum_only() {
    let v = age_vault(3, 2);
    let d = seif::descriptor::Descriptor::load(&v.vault_json).unwrap();
    let recipients = &d.body().recipients;
    assert_eq!(recipients.len(), 1, "{recipients:?}");
    assert!(recipients[0].starts_with("age1pq1"), "{}", recipients[0]);
    assert_eq!(recipients[0].len(), 1959);
    assert!(d.body().require_pq);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&v.vault_json).unwrap()).unwrap();
    assert_eq!(json["body"]["require_pq"], true);
    let sealed = v.seal("pq.seif", &content(100_000, 9));
    let types = stanza_types(&sealed);
    assert!(types.iter().any(|t| t == "mlkem768x25519"), "{types:?}");
    assert!(
        types
            .iter()
            .all(|t| t == "mlkem768x25519" || t.ends_with("-grease")),
        "{types:?}"
    );
    let out = v.dir.path().join("out");
    ok(&open_cmd(&v, &[0, 2], &out, &[&sealed]));
    assert_eq!(std::fs::read(out.join("pq")).unwrap(), content(100_000, 9));
}

/// From a post-quantum vault a grant to a classic age1… recipient is
/// refused before any share is asked for, unless --allow-classic-recipient;
/// then the log records `classic_recipient: true`. A grant to an age1pq1…
/// recipient records nothing of the kind, and opens with its identity file.
#[test]
fn classic_grants_from_a_pq_vault_need_a_flag_and_are_logged() {
    let v = age_vault(3, 2);
    let a = v.seal("a.seif", b"granted");
    let classic_key = v.dir.path().join("classic.key");
    let classic = age_identity_file(&classic_key).to_string();
    let grant = |to: &str, out: &str, extra: &[&str]| {
        run(ceremony()
            .arg("grant")
            .arg("--vault")
            .arg(&v.vault_json)
            .args(v.share_args(&[0, 1]))
            .arg("--to")
            .arg(to)
            .args(extra)
            .arg("--out")
            .arg(v.dir.path().join(out))
            .arg(&a))
    };
    let log = v.vault_dir.join("ceremony.log");
    let entries = || seif::ceremony::log::CeremonyLog::open(&log).unwrap();
    let before = entries().entries().len();
    let o = grant(&classic, "g1", &[]);
    fails_with(&o, 4, "--allow-classic-recipient");
    assert_eq!(entries().entries().len(), before, "nothing is logged");
    assert!(!v.dir.path().join("g1").exists());

    ok(&grant(&classic, "g2", &["--allow-classic-recipient"]));
    let last = entries().entries().last().unwrap().body.clone();
    assert_eq!(last.event, "grant");
    assert_eq!(last.details["classic_recipient"], true, "{}", last.details);
    ok(&run(seif()
        .args(["open", "--identity"])
        .arg(&classic_key)
        .arg("--grant")
        .arg(v.dir.path().join("g2/a.seif.grant"))
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("-o")
        .arg(v.dir.path().join("a.classic"))
        .arg(&a)));

    let pq_key = v.dir.path().join("pq.key");
    let pq = pq_identity_file(&pq_key);
    ok(&grant(&pq, "g3", &[]));
    let last = entries().entries().last().unwrap().body.clone();
    assert!(
        last.details.get("classic_recipient").is_none(),
        "{}",
        last.details
    );
    let text = std::fs::read_to_string(v.dir.path().join("g3/a.seif.grant")).unwrap();
    assert!(text.contains(&pq), "the grant names its age1pq1 recipient");
    ok(&run(seif()
        .args(["open", "--identity"])
        .arg(&pq_key)
        .arg("--grant")
        .arg(v.dir.path().join("g3/a.seif.grant"))
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("-o")
        .arg(v.dir.path().join("a.pq"))
        .arg(&a)));
    assert_eq!(
        std::fs::read(v.dir.path().join("a.pq")).unwrap(),
        b"granted"
    );
}

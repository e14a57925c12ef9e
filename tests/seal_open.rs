//! `seif sealer`, `seal`, `open` and `inspect` through the real binary.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::*;
use sha2::{Digest, Sha256};

const CHUNK: usize = 64 * 1024;

fn seal_file(v: &TestVault, input: &std::path::Path, out: &std::path::Path, pad: bool) {
    let mut cmd = seif();
    cmd.args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(out)
        .arg(input);
    if pad {
        cmd.arg("--pad");
    }
    ok(&run(&mut cmd));
}

fn open_file(
    v: &TestVault,
    input: &std::path::Path,
    out: &std::path::Path,
) -> std::process::Output {
    run(seif()
        .args(["open", "--identity"])
        .arg(&v.identity)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("-o")
        .arg(out)
        .arg(input))
}

#[test]
fn sealer_new_writes_a_private_key_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("s.key");
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&key));
    ok(&o);
    let public = String::from_utf8(o.stdout).unwrap();
    assert!(public.trim().starts_with("seifsealerpq1"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = run(seif().args(["sealer", "public"]).arg(&key));
    ok(&again);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), public);
    let before = std::fs::read(&key).unwrap();
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&key));
    fails_with(&o, 1, "already exists");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        before,
        "the old key is untouched"
    );
}

#[test]
fn round_trips_file_to_file_at_chunk_boundaries() {
    let v = test_vault("round trips");
    let dir = v.dir.path();
    for pad in [false, true] {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 123] {
            let input = dir.join(format!("in-{len}-{pad}"));
            let data = content(len, len as u64);
            std::fs::write(&input, &data).unwrap();
            std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o640)).unwrap();
            let sealed = dir.join(format!("sealed-{len}-{pad}"));
            seal_file(&v, &input, &sealed, pad);
            let out = dir.join(format!("out-{len}-{pad}"));
            ok(&open_file(&v, &sealed, &out));
            assert_eq!(std::fs::read(&out).unwrap(), data, "len {len} pad {pad}");
            assert_eq!(
                std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
                0o600,
                "the owner's bits of the recorded 0640"
            );
        }
    }
}

/// `seif open -o` never makes plaintext more readable than the umask
/// allows, nor (unless --keep-mode) more readable than 0600, whatever mode
/// the sealed file records (a 0666 file, or a 0755 script).
#[test]
fn opened_plaintext_obeys_the_umask_and_stays_private() {
    let v = test_vault("modes");
    let dir = v.dir.path();
    let sealed_with = |mode: u32| {
        let input = dir.join(format!("in-{mode:o}"));
        std::fs::write(&input, b"private").unwrap();
        std::fs::set_permissions(&input, std::fs::Permissions::from_mode(mode)).unwrap();
        let sealed = dir.join(format!("sealed-{mode:o}"));
        seal_file(&v, &input, &sealed, false);
        sealed
    };
    let (rw, script) = (sealed_with(0o666), sealed_with(0o755));
    for (sealed, umask, keep, expected) in [
        (&rw, "077", false, 0o600),
        (&rw, "022", false, 0o600),
        (&rw, "077", true, 0o600),
        (&rw, "022", true, 0o644),
        (&rw, "000", true, 0o666),
        (&rw, "277", false, 0o400),
        (&script, "022", false, 0o700),
        (&script, "022", true, 0o755),
    ] {
        let out = dir.join(format!("out-{umask}-{keep}-{}", expected));
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_seif"))
            .args(["open", "--identity"])
            .arg(&v.identity)
            .arg("-o")
            .arg(&out);
        if keep {
            cmd.arg("--keep-mode");
        }
        ok(&run(cmd.arg(sealed)));
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777,
            expected,
            "umask {umask}, --keep-mode {keep}, sealed {}",
            sealed.display()
        );
    }
}

#[test]
fn round_trips_stdin_to_stdout() {
    let v = test_vault("pipes");
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
        let data = content(len, 7);
        let mut seal = seif()
            .args(["seal", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&v.sealer_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        seal.stdin.take().unwrap().write_all(&data).unwrap();
        let sealed = seal.wait_with_output().unwrap();
        ok(&sealed);
        let mut open = seif()
            .args(["open", "--identity"])
            .arg(&v.identity)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = open.stdin.take().unwrap();
        let bytes = sealed.stdout.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
        let opened = open.wait_with_output().unwrap();
        writer.join().unwrap();
        ok(&opened);
        assert_eq!(opened.stdout, data, "len {len}");
    }
}

/// `seif ARGS…` run under GNU time, which reports the child's peak
/// resident set size on stderr as `seif peak RSS: N KiB`.
fn seif_measured() -> std::process::Command {
    let time = std::path::Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "/usr/bin/time (GNU time) is missing: this test measures memory with it; install it (`apt-get install time`; scripts/test does)"
    );
    let mut c = std::process::Command::new(time);
    c.args(["-f", "seif peak RSS: %M KiB"])
        .arg(env!("CARGO_BIN_EXE_seif"));
    c
}

/// The peak RSS GNU time reported, in bytes.
#[track_caller]
fn peak_rss(stderr: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(stderr);
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("seif peak RSS: ")?.strip_suffix(" KiB"))
        .unwrap_or_else(|| panic!("GNU time gave no peak RSS: {text}"))
        .parse()
        .unwrap();
    kib * 1024
}

/// The most memory seal or open with two threads may take, for any input
/// size. Both run in constant memory (README: about 16 MiB; 14 MiB
/// measured); a pipeline that buffered its input would need more than a
/// gibibyte.
const CONSTANT_MEMORY: u64 = 64 << 20;

/// 1 GiB through pipes, seal | open, in constant memory, with and without
/// padding; the plaintext is generated and hashed on the fly, and each
/// process's peak RSS is measured.
#[test]
fn one_gibibyte_through_pipes() {
    const LEN: u64 = 1 << 30;
    let v = test_vault("gigabyte");
    for pad in [false, true] {
        let mut seal_cmd = seif_measured();
        seal_cmd
            .args(["seal", "--threads", "2", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&v.sealer_key);
        if pad {
            seal_cmd.arg("--pad");
        }
        let mut seal = seal_cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut open = seif_measured()
            .args(["open", "--threads", "2", "--identity"])
            .arg(&v.identity)
            .arg("--vault")
            .arg(&v.vault_json)
            .arg("-")
            .stdin(Stdio::from(seal.stdout.take().unwrap()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut seal_in = seal.stdin.take().unwrap();
        let producer = std::thread::spawn(move || {
            let mut h = Sha256::new();
            let block = content(1 << 20, 99);
            let mut sent = 0u64;
            let mut i = 0u8;
            while sent < LEN {
                let mut b = block.clone();
                b[0] = i;
                i = i.wrapping_add(1);
                h.update(&b);
                seal_in.write_all(&b).unwrap();
                sent += b.len() as u64;
            }
            h.finalize()
        });
        let mut out = open.stdout.take().unwrap();
        let mut h = Sha256::new();
        let mut got = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = out.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            got += n as u64;
        }
        let want = producer.join().unwrap();
        let sealed = seal.wait_with_output().unwrap();
        ok(&sealed);
        let opened = open.wait_with_output().unwrap();
        ok(&opened);
        assert_eq!(got, LEN);
        assert_eq!(h.finalize(), want, "pad {pad}");
        for (what, o) in [("seal", &sealed), ("open", &opened)] {
            let rss = peak_rss(&o.stderr);
            eprintln!("{what} of 1 GiB (pad {pad}): peak RSS {} KiB", rss / 1024);
            assert!(
                rss < CONSTANT_MEMORY,
                "{what} of 1 GiB (pad {pad}) peaked at {} MiB, more than the {} MiB of constant memory",
                rss >> 20,
                CONSTANT_MEMORY >> 20
            );
        }
    }
}

#[test]
fn inspect_shows_public_facts_and_judges_the_signature() {
    let v = test_vault("inspect");
    let dir = v.dir.path();
    let input = dir.join("in");
    std::fs::write(&input, content(3 * CHUNK, 1)).unwrap();
    let sealed = dir.join("sealed");
    seal_file(&v, &input, &sealed, false);
    let o = run(seif()
        .args(["inspect", "--json", "--vault"])
        .arg(&v.vault_json)
        .arg(&sealed));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["vault_id"], v.descriptor.body().vault_id);
    assert_eq!(j["vault_matches"], true);
    assert_eq!(j["sealer"], v.sealer_public);
    assert_eq!(j["signature"], "valid");
    assert_eq!(j["sealer_accepted"], true);
    assert_eq!(j["chunks"], 4);
    assert_eq!(j["stored_size"], std::fs::metadata(&sealed).unwrap().len());
    let human = run(seif().args(["inspect"]).arg(&sealed));
    ok(&human);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("signature valid"), "{text}");
    // Another vault: inspect names the mismatch, and refuses it as every
    // step does (exit 4, the vault's one rule).
    let w = test_vault("other");
    let o = run(seif()
        .args(["inspect", "--vault"])
        .arg(&w.vault_json)
        .arg(&sealed));
    fails_with(&o, 4, "sealed to another vault");
}

#[test]
fn sealing_with_a_sealer_the_vault_does_not_accept_is_refused() {
    let v = test_vault("strict");
    let dir = v.dir.path();
    let stranger = dir.join("stranger.key");
    ok(&run(seif().args(["sealer", "new", "--out"]).arg(&stranger)));
    let input = dir.join("in");
    std::fs::write(&input, b"data").unwrap();
    let out = dir.join("out.seif");
    let o = run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&stranger)
        .arg("-o")
        .arg(&out)
        .arg(&input));
    fails_with(&o, 4, "does not accept the sealer");
    assert!(!out.exists());
}

#[test]
fn a_forged_vault_descriptor_is_refused() {
    let v = test_vault("genuine");
    let text = std::fs::read_to_string(&v.vault_json)
        .unwrap()
        .replace("genuine", "forged");
    std::fs::write(&v.vault_json, text).unwrap();
    let o = run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("-o")
        .arg(v.dir.path().join("x"))
        .arg(&v.vault_json));
    fails_with(&o, 3, "signature does not verify");
}

#[test]
fn refuses_to_overwrite_without_force() {
    let v = test_vault("force");
    let dir = v.dir.path();
    let input = dir.join("in");
    std::fs::write(&input, b"one").unwrap();
    let sealed = dir.join("sealed");
    seal_file(&v, &input, &sealed, false);
    let out = dir.join("out");
    std::fs::write(&out, b"precious").unwrap();
    fails_with(&open_file(&v, &sealed, &out), 1, "already exists");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    ok(&run(seif()
        .args(["open", "--force", "--identity"])
        .arg(&v.identity)
        .arg("-o")
        .arg(&out)
        .arg(&sealed)));
    assert_eq!(std::fs::read(&out).unwrap(), b"one");
}

/// A post-quantum vault's sealed file opens with an identity file holding
/// the vault's AGE-SECRET-KEY-PQ-1 line alone; its X25519 identity alone
/// does not open it.
#[test]
fn pq_vaults_seal_to_the_hybrid_recipient_and_open_with_its_identity_file() {
    let v = test_vault_pq("pq");
    let input = v.dir.path().join("in");
    std::fs::write(&input, content(70_000, 2)).unwrap();
    let sealed = v.dir.path().join("in.seif");
    seal_file(&v, &input, &sealed, false);
    let pq_only = v.dir.path().join("pq.txt");
    std::fs::write(
        &pq_only,
        format!("{}\n", v.keys.pq_identity_text().as_str()),
    )
    .unwrap();
    let classic_only = v.dir.path().join("classic.txt");
    std::fs::write(
        &classic_only,
        format!("{}\n", v.keys.age_identity_text().as_str()),
    )
    .unwrap();
    let open_with = |id: &std::path::Path, out: &str| {
        run(seif()
            .args(["open", "--identity"])
            .arg(id)
            .arg("--vault")
            .arg(&v.vault_json)
            .arg("-o")
            .arg(v.dir.path().join(out))
            .arg(&sealed))
    };
    ok(&open_with(&pq_only, "out-pq"));
    assert_eq!(
        std::fs::read(v.dir.path().join("out-pq")).unwrap(),
        content(70_000, 2)
    );
    let o = open_with(&classic_only, "out-classic");
    fails_with(&o, 3, "none of the given identities can open");
}

/// A vault.json that sets require_pq over a classic recipient (signed by
/// the vault key, so only its content is wrong) is refused by the
/// pipeline before anything is sealed or pushed.
#[test]
fn require_pq_over_a_classic_recipient_is_refused() {
    let v = test_vault("classic");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&v.vault_json).unwrap()).unwrap();
    doc["body"]["require_pq"] = serde_json::json!(true);
    doc["signature"] = serde_json::json!(
        seif::signed::sign(
            v.keys.signing_key(),
            seif::signed::DOMAIN_DESCRIPTOR,
            &doc["body"]
        )
        .unwrap()
    );
    std::fs::write(&v.vault_json, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let input = v.dir.path().join("in");
    std::fs::write(&input, b"data").unwrap();
    let o = run(seif()
        .args(["seal", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(v.dir.path().join("x.seif"))
        .arg(&input));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("require_pq"), "{}", stderr(&o));
    assert!(!v.dir.path().join("x.seif").exists());
    let o = run(seif()
        .args(["push", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(v.dir.path().join("store"))
        .arg(&input));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("require_pq"), "{}", stderr(&o));
    assert!(!v.dir.path().join("store").join("keys").exists());
}

//! Attacks that cross boundaries, one test each, named after the attack.
//! (The host's attacks on single objects, records and chains are in
//! `snapshots.rs` (`attack_*`); attacks on sealed files in `tamper.rs`;
//! attacks with shares in `ceremony.rs`; see SECURITY.md for the map.)

mod common;

use std::path::Path;

use common::*;

fn push(v: &AgeVault, store: &Path, tree: &Path) -> serde_json::Value {
    v.push_ok(&[store], &[tree], &[]).0
}

fn small_tree(root: &Path, name: &str, seed: u64) -> std::path::PathBuf {
    let t = root.join(name);
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("register.csv"), content(70_000, seed)).unwrap();
    t
}

fn team_key(dir: &Path) -> (std::path::PathBuf, String) {
    let p = dir.join("team.key");
    let recipient = pq_identity_file(&p);
    (p, recipient)
}

#[test]
fn attack_ciphertext_of_one_vault_replayed_into_another() {
    let a = age_vault(3, 2);
    let b = age_vault(3, 2);
    // A sealed file of vault A, brought to vault B's ceremony.
    let sealed = a.seal("a.seif", b"vault A's records");
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&b.vault_json)
        .args(b.share_args(&[0, 1]))
        .arg("--out")
        .arg(b.dir.path().join("o"))
        .arg(&sealed));
    fails_with(&o, 4, "sealed to another vault");
    // A snapshot of vault A copied into vault B's store.
    let store_a = a.dir.path().join("store");
    push(&a, &store_a, &small_tree(a.dir.path(), "t", 1));
    let store_b = b.dir.path().join("store");
    push(&b, &store_b, &small_tree(b.dir.path(), "t", 2));
    for sub in ["records", "objects", "keys"] {
        ok(&run(std::process::Command::new("cp")
            .arg("-r")
            .arg(format!("{}/.", store_a.join(sub).display()))
            .arg(store_b.join(sub))));
    }
    // The host's verify names the stranger once; B's own chain stays whole
    // (nothing of A's is ever chained onto or counted as B's).
    let o = run(seif()
        .args(["verify", "--vault"])
        .arg(&b.vault_json)
        .arg("--store")
        .arg(&store_b));
    ok(&o);
    assert!(
        stderr(&o).contains("1 record(s) of another vault")
            && stderr(&o).contains("remove them if they do not belong here"),
        "{}",
        stderr(&o)
    );
    // B's next push chains onto B's record only.
    let next = push(&b, &store_b, &small_tree(b.dir.path(), "t", 2));
    let own: Vec<String> = std::fs::read_dir(store_b.join("records"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|h| {
            let r = seif::snapshot::record::Record::parse(
                &std::fs::read(store_b.join("records").join(h)).unwrap(),
                None,
            )
            .unwrap();
            r.body.vault_id.0
                == seif::descriptor::Descriptor::load(&b.vault_json)
                    .unwrap()
                    .vault_id()
                && h != next["records"][0]["record"].as_str().unwrap()
        })
        .collect();
    assert_eq!(next["records"][0]["previous"], serde_json::json!(own));
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&b.vault_json)
        .args(b.share_args(&[0, 1]))
        .arg("--store")
        .arg(&store_b)
        .arg("--out")
        .arg(b.dir.path().join("snap"))
        .arg("all"));
    fails_with(&o, 4, "belongs to another vault");
}

#[test]
fn attack_sealer_key_used_after_its_removal() {
    let v = age_vault(3, 2);
    let old_vault = v.dir.path().join("old-vault.json");
    std::fs::copy(&v.vault_json, &old_vault).unwrap();
    ok(&run(ceremony()
        .args(["sealers", "remove"])
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg(&v.sealer_public)));
    let tree = small_tree(v.dir.path(), "t", 3);
    let store = v.dir.path().join("store");
    // The pipeline, told of the removal, is refused.
    let o = run(seif()
        .args(["push", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--store")
        .arg(&store)
        .arg(&tree));
    fails_with(&o, 4, "does not accept the sealer");
    // A stolen key used with the old vault.json: the host's verify and
    // every open judge by the current vault.json.
    let o = run(seif()
        .args(["push", "--vault"])
        .arg(&old_vault)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("s2"))
        .arg("--store")
        .arg(&store)
        .arg(&tree));
    ok(&o);
    let o = run(seif()
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store));
    fails_with(&o, 3, "a sealer the vault does not accept");
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[1, 2]))
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("o"))
        .arg("latest"));
    fails_with(&o, 4, "a sealer the vault does not accept");
    let sealed = v.dir.path().join("x.seif");
    ok(&run(seif()
        .args(["seal", "--vault"])
        .arg(&old_vault)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("-o")
        .arg(&sealed)
        .arg(tree.join("register.csv"))));
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[1, 2]))
        .arg("--out")
        .arg(v.dir.path().join("o2"))
        .arg(&sealed));
    fails_with(&o, 4, "a sealer the vault does not accept");
}

#[test]
fn attack_grant_used_for_a_snapshot_it_did_not_cover() {
    let v = age_vault(3, 2);
    let store = v.dir.path().join("store");
    let first = push(&v, &store, &small_tree(v.dir.path(), "t", 4));
    std::fs::write(v.dir.path().join("t/register.csv"), content(80_000, 5)).unwrap();
    let second = push(&v, &store, &v.dir.path().join("t"));
    let (team, team_public) = team_key(v.dir.path());
    let grants = v.dir.path().join("grants");
    let sid = first["snapshot_id"].as_str().unwrap();
    ok(&run(ceremony()
        .arg("grant")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 2]))
        .arg("--store")
        .arg(&store)
        .arg("--to")
        .arg(&team_public)
        .arg("--out")
        .arg(&grants)
        .arg(sid)));
    let grant = grants.join(format!("{sid}.grant"));
    // It opens the snapshot it names…
    ok(&run(seif()
        .args(["restore", "--identity"])
        .arg(&team)
        .arg("--grant")
        .arg(&grant)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("r1"))
        .arg(sid)));
    // …and no other.
    let other = second["snapshot_id"].as_str().unwrap();
    let o = run(seif()
        .args(["restore", "--identity"])
        .arg(&team)
        .arg("--grant")
        .arg(&grant)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("r2"))
        .arg(other));
    fails_with(&o, 3, &format!("the grant is for another snapshot ({sid})"));
    // Retargeted by editing: the vault's signature no longer holds.
    let edited = v.dir.path().join("edited.grant");
    std::fs::write(
        &edited,
        std::fs::read_to_string(&grant).unwrap().replace(sid, other),
    )
    .unwrap();
    let o = run(seif()
        .args(["restore", "--identity"])
        .arg(&team)
        .arg("--grant")
        .arg(&edited)
        .arg("--vault")
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("r3"))
        .arg(other));
    fails_with(&o, 3, "the grant's signature does not verify");
    // Without --vault the signature is not checked, but the key must still
    // match the snapshot's signed commitment.
    let o = run(seif()
        .args(["restore", "--identity"])
        .arg(&team)
        .arg("--grant")
        .arg(&edited)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("r4"))
        .arg(other));
    fails_with(&o, 3, "a different data key");
    assert!(
        !v.dir.path().join("r2").join("t").exists() && !v.dir.path().join("r4").join("t").exists()
    );
}

#[test]
fn attack_key_envelope_swapped_by_the_host() {
    let v = age_vault(3, 2);
    let store = v.dir.path().join("store");
    let first = push(&v, &store, &small_tree(v.dir.path(), "t", 6));
    std::fs::write(v.dir.path().join("t/register.csv"), content(1000, 7)).unwrap();
    let second = push(&v, &store, &v.dir.path().join("t"));
    let (a, b) = (
        first["snapshot_id"].as_str().unwrap(),
        second["snapshot_id"].as_str().unwrap(),
    );
    // The host puts the first snapshot's wrapped key under the second's
    // name, rewritten to name the second snapshot and carry its commitment,
    // and stored under its new hash: every field a keyless check can see is
    // right. Only the commitment to the key inside can catch it.
    let dir_of = |sid: &str| store.join("keys").join(sid);
    let only = |sid: &str| {
        std::fs::read_dir(dir_of(sid))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    let (ka, kb) = (only(a), only(b));
    let mut env =
        seif::snapshot::key_envelope::KeyEnvelope::parse(&std::fs::read(&ka).unwrap()).unwrap();
    let real_b =
        seif::snapshot::key_envelope::KeyEnvelope::parse(&std::fs::read(&kb).unwrap()).unwrap();
    env.snapshot_id = real_b.snapshot_id;
    env.commitment = real_b.commitment;
    std::fs::remove_file(&kb).unwrap();
    let bytes = env.to_bytes();
    let name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    std::fs::write(dir_of(b).join(name), bytes).unwrap();
    ok(&run(seif()
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store)));
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(v.dir.path().join("o"))
        .arg(b));
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("no key for snapshot {b}: its key envelope opens to a key that does not match the snapshot's signed commitment")),
        "{}",
        stderr(&o)
    );
}

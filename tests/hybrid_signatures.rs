//! Hybrid signatures end to end (FORMAT.md section 10, SECURITY.md "Hybrid
//! signatures"): a pipeline signs its records in the spelling the vault
//! lists for its key, and the vault takes a record only as spelt.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use seif::descriptor::SealerEntry;
use seif::sealer::SealerPublicKey;

/// The records of `store`, as JSON documents.
fn records(store: &Path) -> Vec<serde_json::Value> {
    std::fs::read_dir(store.join("records"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect()
}

fn relist(v: &mut TestVault, sealers: Vec<SealerEntry>) {
    v.descriptor = v
        .descriptor
        .revise(&v.keys, |b| b.sealers = sealers)
        .unwrap();
    std::fs::write(&v.vault_json, v.descriptor.to_json_pretty()).unwrap();
}

fn entry(key: &SealerPublicKey, label: &str) -> SealerEntry {
    SealerEntry {
        key: key.to_string(),
        label: label.into(),
    }
}

fn verify(v: &TestVault, store: &Path) -> std::process::Output {
    run(seif()
        .args(["verify", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(store))
}

fn restore(v: &TestVault, store: &Path, snapshot: &str) -> PathBuf {
    let out = v.dir.path().join(format!("out-{snapshot}"));
    ok(&run(v.restore_cmd(store, &out).arg(snapshot)));
    out
}

/// A post-quantum vault that lists its pipeline in the classic spelling
/// (as vaults did before hybrid signatures): the push warns and writes a
/// classic record. With the hybrid spelling added, the next record carries
/// both signatures; both snapshots verify and restore. With the classic
/// spelling removed, the classic record is refused: a vault takes a record
/// only as it lists its sealer.
#[test]
fn a_pipeline_signs_as_the_vault_lists_it() {
    let mut v = test_vault_pq("hybrid records");
    assert!(v.descriptor.is_hybrid_signed());
    let hybrid: SealerPublicKey = v.sealer_public.parse().unwrap();
    assert!(hybrid.mldsa_fingerprint().is_some());
    let classic = hybrid.classic();
    let store = v.dir.path().join("store");
    let tree = v.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a.csv"), content(40_000, 1)).unwrap();

    relist(&mut v, vec![entry(&classic, "old spelling")]);
    let (first, err) = v.push_ok(&[&store], &[&tree], &[]);
    assert!(
        err.contains("the vault lists this sealer in the classic spelling"),
        "{err}"
    );
    let recs = records(&store);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["body"]["sealer"], classic.to_string());
    assert!(recs[0].get("signature_mldsa65").is_none());

    relist(
        &mut v,
        vec![entry(&classic, "old spelling"), entry(&hybrid, "pipeline")],
    );
    std::fs::write(tree.join("b.csv"), content(30_000, 2)).unwrap();
    let (second, err) = v.push_ok(&[&store], &[&tree], &[]);
    assert!(!err.contains("classic spelling"), "{err}");
    let recs = records(&store);
    let newer = recs
        .iter()
        .find(|r| r["body"]["snapshot_id"] == second["snapshot_id"])
        .expect("the second record");
    assert_eq!(newer["body"]["sealer"], hybrid.to_string());
    assert_eq!(
        newer["signature_mldsa65"].as_str().unwrap().len(),
        2 * seif::mldsa::SIGNATURE_LEN
    );
    // A third push, hybrid too: verify counts the one classic record.
    std::fs::write(tree.join("c.csv"), content(20_000, 3)).unwrap();
    v.push_ok(&[&store], &[&tree], &[]);
    let o = verify(&v, &store);
    ok(&o);
    assert!(
        stderr(&o).contains("1 of 3 records are signed with Ed25519 alone"),
        "{}",
        stderr(&o)
    );
    let o = run(seif()
        .args(["verify", "--json", "--vault"])
        .arg(&v.vault_json)
        .arg("--store")
        .arg(&store));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["classic_signed_records"], 1, "{j}");
    for (s, names) in [(&first, vec!["a.csv"]), (&second, vec!["a.csv", "b.csv"])] {
        let out = restore(&v, &store, s["snapshot_id"].as_str().unwrap());
        for n in names {
            assert_eq!(
                std::fs::read(out.join("tree").join(n)).unwrap(),
                std::fs::read(tree.join(n)).unwrap()
            );
        }
    }

    // The classic spelling removed: its record is no longer the vault's.
    relist(&mut v, vec![entry(&hybrid, "pipeline")]);
    let o = verify(&v, &store);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("a sealer the vault does not accept")
            || String::from_utf8_lossy(&o.stdout).contains("a sealer the vault does not accept"),
        "{}",
        stderr(&o)
    );
}

//! Shared helpers for the end-to-end tests: real binaries, real files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use seif::descriptor::{Custodian, Descriptor, Protection, SealerEntry, SetStatus, ShareSet};
use seif::encoding::to_hex;
use seif::keys::VaultKeys;
use seif::sealer::SealerSecretKey;
use seif::secrets::VaultSecret;

/// The `seif` binary under test.
pub fn seif() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seif"))
}

/// The `seif-ceremony` binary, as it ships: built by `cargo build -p
/// seif-ceremony` on its own, once per test process, into the target
/// directory and profile of the `seif` binary under test.
///
/// Built here for two reasons. `cargo test --test X` (or `-p seif`) builds
/// only this package's binary, so a binary left from an earlier build would
/// run stale. And a workspace build unifies features: the ceremony linked
/// beside `seif` gets the library's S3 backend (tokio, sockets), which the
/// ceremony as built alone, and as released, does not hold.
pub fn ceremony_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(build_ceremony)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn build_ceremony() -> Result<PathBuf, String> {
    let seif = Path::new(env!("CARGO_BIN_EXE_seif"));
    let profile_dir = seif.parent().expect("target/PROFILE/seif");
    let target_dir = profile_dir.parent().expect("target/PROFILE");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => return Err(format!("{}: no profile directory", seif.display())),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let o = Command::new(cargo)
        .args([
            "build",
            "--offline",
            "-p",
            "seif-ceremony",
            "--bin",
            "seif-ceremony",
        ])
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map_err(|e| format!("cannot run cargo to build seif-ceremony: {e}"))?;
    let bin = profile_dir.join("seif-ceremony");
    if !o.status.success() || !bin.exists() {
        return Err(format!(
            "`cargo build -p seif-ceremony --profile {profile}` failed, so the tests have no seif-ceremony to run ({}): {}",
            bin.display(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(bin)
}

/// Skips the rest of the calling test, visibly and countably: a test that
/// cannot run here (a tool missing, a kernel feature off) never passes in
/// silence. Under `SEIF_CI` (`.ci/run`), where nothing may be skipped, it
/// fails the test instead. Otherwise it writes `SKIPPED BINARY::TEST: why`
/// straight to stderr (past libtest's capture, so a plain `cargo test`
/// shows it), and appends the line to `$SEIF_SKIP_LOG` when that is set:
/// `scripts/test` counts them in its closing summary.
///
/// Use it as `return skip("…")`.
#[track_caller]
pub fn skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("unknown test")
        .to_owned();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| {
            s.rsplit_once('-')
                .map_or(s.clone(), |(name, _hash)| name.to_owned())
        })
        .unwrap_or_default();
    let line = format!("{binary}::{test}: {why}");
    if std::env::var_os("SEIF_CI").is_some() {
        panic!("SEIF_CI is set, and nothing may be skipped in CI: {line}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {line}");
    if let Some(log) = std::env::var_os("SEIF_SKIP_LOG") {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = appended {
            panic!(
                "cannot record a skip in SEIF_SKIP_LOG ({}): {e}: {line}",
                Path::new(&log).display()
            );
        }
    }
}

/// Runs `script` with `sh` in a private mount namespace (`unshare -rm`,
/// no root needed on the host) with a 4 MiB tmpfs at `$FULL`, so a test can
/// fill a disk. `$SEIF` and `$CEREMONY` name the binaries. Returns stdout
/// and stderr together, or `None` (after [`skip`]) where this machine
/// cannot make the namespace.
pub fn in_small_disk(script: &str, envs: &[(&str, &Path)]) -> Option<String> {
    let mut c = Command::new("unshare");
    c.args(["-rm", "sh", "-c"]).arg(format!(
        "set -u; FULL=$(mktemp -d); mount -t tmpfs -o size=4m tmpfs \"$FULL\" || exit 99; {script}"
    ));
    for (k, p) in envs {
        c.env(k, p);
    }
    c.env("SEIF", env!("CARGO_BIN_EXE_seif"));
    if script.contains("$CEREMONY") {
        c.env("CEREMONY", ceremony_bin());
    }
    let o = c.output().unwrap();
    if o.status.code() == Some(99) || String::from_utf8_lossy(&o.stderr).contains("unshare:") {
        skip(&format!(
            "cannot mount a small tmpfs here: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
        return None;
    }
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ))
}

/// A vault made through the library (as the ceremony would), with its
/// identity written to a file, and one accepted sealer.
pub struct TestVault {
    pub dir: tempfile::TempDir,
    pub vault_json: PathBuf,
    pub identity: PathBuf,
    pub sealer_key: PathBuf,
    pub sealer_public: String,
    pub keys: VaultKeys,
    pub descriptor: Descriptor,
}

/// A share set with placeholder commitments: enough for a descriptor when
/// the test never reconstructs from shares.
pub fn placeholder_share_set() -> ShareSet {
    ShareSet {
        id: to_hex(&seif::secrets::random_array::<16>()),
        generation: 1,
        status: SetStatus::Active,
        threshold: 2,
        custodians: (1..=3)
            .map(|i| Custodian {
                index: i,
                label: format!("custodian-{i}"),
                protection: Protection::Passphrase,
                key: None,
                commitment: to_hex(&[i; 32]),
                ack_check: to_hex(&[i; 32]),
            })
            .collect(),
    }
}

/// A classic test vault (X25519 recipient, as vaults made before
/// post-quantum wrapping).
pub fn test_vault(name: &str) -> TestVault {
    test_vault_with(name, seif::descriptor::KeyWrapping::Classic)
}

/// A post-quantum test vault, as `seif-ceremony init` makes them: the
/// hybrid recipient only, `require_pq` set; its identity file holds both
/// vault identities (PQ first).
pub fn test_vault_pq(name: &str) -> TestVault {
    test_vault_with(name, seif::descriptor::KeyWrapping::PostQuantum)
}

pub fn test_vault_with(name: &str, wrapping: seif::descriptor::KeyWrapping) -> TestVault {
    let dir = tempfile::tempdir().unwrap();
    let keys = VaultKeys::derive(&VaultSecret::generate());
    let sealer = SealerSecretKey::generate();
    let sealer_key = dir.path().join("sealer.key");
    std::fs::write(
        &sealer_key,
        sealer.to_file_text("2026-01-01T00:00:00Z").as_bytes(),
    )
    .unwrap();
    let descriptor = Descriptor::genesis_with(
        name,
        &keys,
        placeholder_share_set(),
        vec![SealerEntry {
            key: sealer.public().to_string(),
            label: "test pipeline".into(),
        }],
        None,
        wrapping,
    )
    .unwrap();
    let vault_json = dir.path().join("vault.json");
    std::fs::write(&vault_json, descriptor.to_json_pretty()).unwrap();
    let identity = dir.path().join("identity.txt");
    let text = match wrapping {
        seif::descriptor::KeyWrapping::Classic => {
            format!("{}\n", keys.age_identity_text().as_str())
        }
        _ => format!(
            "{}\n{}\n",
            keys.pq_identity_text().as_str(),
            keys.age_identity_text().as_str()
        ),
    };
    std::fs::write(&identity, text).unwrap();
    TestVault {
        dir,
        vault_json,
        identity,
        sealer_key,
        sealer_public: sealer.public().to_string(),
        keys,
        descriptor,
    }
}

impl TestVault {
    /// `seif restore --identity … --vault … --store STORE --out OUT`, for
    /// the caller to add the snapshot, paths and flags.
    pub fn restore_cmd(&self, store: &Path, out: &Path) -> Command {
        let mut c = seif();
        c.args(["restore", "--identity"])
            .arg(&self.identity)
            .arg("--vault")
            .arg(&self.vault_json)
            .arg("--store")
            .arg(store)
            .arg("--out")
            .arg(out);
        c
    }
}

/// The prompter for ceremonies whose custodians hold age keys only: it
/// is never asked for a new passphrase, and has none to give.
pub struct NoPassphrases;

impl seif::custody::Passphrases for NoPassphrases {
    fn new_passphrase(
        &mut self,
        _: &str,
    ) -> Result<secrecy::SecretString, seif::custody::CustodyError> {
        unreachable!("age custodians only")
    }
    fn share_passphrase(
        &mut self,
        _: &str,
        _: usize,
    ) -> Result<Option<secrecy::SecretString>, seif::custody::CustodyError> {
        Ok(None)
    }
    fn key_passphrase(
        &mut self,
        _: &str,
        _: &str,
        _: usize,
    ) -> Result<Option<secrecy::SecretString>, seif::custody::CustodyError> {
        Ok(None)
    }
}

/// What a push needs from a test's vault: its vault.json, the sealer key
/// the vault accepts, and a scratch directory (the push's state lives in
/// `SCRATCH/state`). One home for the flags every end-to-end test of
/// `seif push` gives.
#[allow(dead_code)]
pub trait Pushes {
    fn vault_json(&self) -> &Path;
    fn sealer_key(&self) -> &Path;
    fn scratch(&self) -> &Path;

    /// `seif push --json …`: [`Pushes::push_plain`] with a JSON summary.
    fn push_cmd(&self, stores: &[&Path]) -> Command {
        let mut c = self.push_plain(stores);
        c.arg("--json");
        c
    }

    /// `seif push --vault … --sealer … --state-dir SCRATCH/state --store
    /// STORE…` (what a person sees), for the caller to add flags and paths to.
    fn push_plain(&self, stores: &[&Path]) -> Command {
        let mut c = seif();
        c.args(["push", "--vault"])
            .arg(self.vault_json())
            .arg("--sealer")
            .arg(self.sealer_key())
            .arg("--state-dir")
            .arg(self.scratch().join("state"));
        for s in stores {
            c.arg("--store").arg(s);
        }
        c
    }

    /// Pushes `paths` with `extra` flags; asserts success and returns the
    /// JSON summary and stderr.
    fn push_ok(
        &self,
        stores: &[&Path],
        paths: &[&Path],
        extra: &[&str],
    ) -> (serde_json::Value, String) {
        let o = run(self.push_cmd(stores).args(extra).args(paths));
        ok(&o);
        (serde_json::from_slice(&o.stdout).unwrap(), stderr(&o))
    }
}

impl Pushes for TestVault {
    fn vault_json(&self) -> &Path {
        &self.vault_json
    }
    fn sealer_key(&self) -> &Path {
        &self.sealer_key
    }
    fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

impl Pushes for AgeVault {
    fn vault_json(&self) -> &Path {
        &self.vault_json
    }
    fn sealer_key(&self) -> &Path {
        &self.sealer_key
    }
    fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs a command, returning its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, printing stderr otherwise.
#[track_caller]
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "expected success, got {:?}: {}",
        o.status.code(),
        stderr(o)
    );
}

/// Asserts a given exit code and a message fragment on stderr.
#[track_caller]
pub fn fails_with(o: &Output, code: i32, fragment: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    assert!(
        stderr(o).contains(fragment),
        "stderr lacks {fragment:?}: {}",
        stderr(o)
    );
}

/// The classic spelling (`seifsealer1…`) of a sealer key as `seif sealer
/// new` prints it: a sealed file names the Ed25519 key alone.
pub fn classic_spelling(public: &str) -> String {
    public
        .trim()
        .parse::<seif::sealer::SealerPublicKey>()
        .unwrap()
        .classic()
        .to_string()
}

/// Deterministic test content.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Lists a directory's entries (names), sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `seif-ceremony`. On an online test machine it warns that the network is
/// up; the tests match messages by their content, so the warning is harmless.
pub fn ceremony() -> Command {
    Command::new(ceremony_bin())
}

/// A vault made by `seif-ceremony init` with age custodians (fast to open).
pub struct AgeVault {
    pub dir: tempfile::TempDir,
    pub vault_dir: PathBuf,
    pub vault_json: PathBuf,
    pub labels: Vec<String>,
    pub identities: Vec<PathBuf>,
    pub sealer_key: PathBuf,
    pub sealer_public: String,
    pub init_stdout: String,
}

impl AgeVault {
    /// `--share FILE --identity KEY` for the given custodian indices (0-based).
    pub fn share_args(&self, which: &[usize]) -> Vec<std::ffi::OsString> {
        let mut v = Vec::new();
        for &i in which {
            v.push("--share".into());
            v.push(self.share_file(i).into_os_string());
            v.push("--identity".into());
            v.push(self.identities[i].clone().into_os_string());
        }
        v
    }

    pub fn share_file(&self, i: usize) -> PathBuf {
        self.vault_dir
            .join("shares")
            .join(format!("{}.share.age", self.labels[i]))
    }

    /// Seals `data` with the vault's sealer into `name`; returns its path.
    pub fn seal(&self, name: &str, data: &[u8]) -> PathBuf {
        let input = self.dir.path().join(format!("{name}.plain"));
        std::fs::write(&input, data).unwrap();
        let out = self.dir.path().join(name);
        ok(&run(seif()
            .args(["seal", "--vault"])
            .arg(&self.vault_json)
            .arg("--sealer")
            .arg(&self.sealer_key)
            .arg("-o")
            .arg(&out)
            .arg(&input)));
        out
    }
}

/// Writes a new age identity to `path` (as `age-keygen` would) and returns
/// its recipient.
pub fn age_identity_file(path: &Path) -> age::x25519::Recipient {
    let id = age::x25519::Identity::generate();
    std::fs::write(
        path,
        format!(
            "{}\n",
            secrecy::ExposeSecret::expose_secret(&id.to_string())
        ),
    )
    .unwrap();
    id.to_public()
}

/// Writes a new hybrid post-quantum age identity to `path` (as
/// `age-keygen -pq` would) and returns its recipient (`age1pq1…`).
pub fn pq_identity_file(path: &Path) -> String {
    let id = seif::pq::HybridIdentity::generate();
    std::fs::write(path, format!("{}\n", id.to_bech32().as_str())).unwrap();
    id.to_public().to_string()
}

pub fn age_vault(n: usize, t: usize) -> AgeVault {
    let dir = tempfile::tempdir().unwrap();
    let mut labels = Vec::new();
    let mut identities = Vec::new();
    let mut cmd = ceremony();
    cmd.args([
        "init",
        "--name",
        "test vault",
        "--threshold",
        &t.to_string(),
    ]);
    for i in 0..n {
        let path = dir.path().join(format!("custodian-{i}.key"));
        let recipient = age_identity_file(&path);
        let label = format!("c{}", i + 1);
        cmd.arg("--custodian")
            .arg(format!("{label}=age:{recipient}"));
        labels.push(label);
        identities.push(path);
    }
    let sealer_key = dir.path().join("sealer.key");
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&sealer_key));
    ok(&o);
    let sealer_public = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let vault_dir = dir.path().join("vault");
    cmd.arg("--sealer")
        .arg(format!("pipeline={sealer_public}"))
        .arg("--out")
        .arg(&vault_dir);
    let o = run(&mut cmd);
    ok(&o);
    AgeVault {
        vault_json: vault_dir.join("vault.json"),
        vault_dir,
        labels,
        identities,
        sealer_key,
        sealer_public,
        init_stdout: String::from_utf8(o.stdout).unwrap(),
        dir,
    }
}

/// Makes a test directory readable by every user, so that a child started
/// as another user (see [`spawn_with_core_dumps_allowed`]) can read it.
pub fn readable_by_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(dir) {
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        let add = if meta.is_dir() { 0o055 } else { 0o044 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode | add)).unwrap();
    }
}

/// `dir` and everything below it (symbolic links not followed).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() && !out[i].is_symlink() {
            for e in std::fs::read_dir(&out[i]).unwrap() {
                out.push(e.unwrap().path());
            }
        }
        i += 1;
    }
    out
}

/// The uid a child runs as for the hardening tests: the test's own, unless
/// that is root, whose /proc files look the same dumpable or not; then
/// `nobody`.
fn hardening_uid() -> Option<u32> {
    (rustix::process::geteuid().is_root()).then_some(65534)
}

/// Starts `bin args…` the way a careless system would: with core dumps
/// allowed (`ulimit -c unlimited` in the shell that execs it), and, when
/// the test runs as root, as `nobody` (see [`assert_hardened`]). Panics,
/// rather than proving nothing, if this machine cannot raise the limit.
pub fn spawn_with_core_dumps_allowed(
    bin: &Path,
    args: &[std::ffi::OsString],
) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let shell = |script: &str| {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        if let Some(uid) = hardening_uid() {
            c.uid(uid).gid(uid);
        }
        c
    };
    let probe = shell("ulimit -c unlimited && ulimit -c").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "unlimited",
        "this machine does not let a process raise its core limit ({}): the test could not show that seif lowers it",
        String::from_utf8_lossy(&probe.stderr)
    );
    shell("ulimit -c unlimited && exec \"$0\" \"$@\"")
        .arg(bin)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// What /proc says about a process's hardening.
#[derive(Debug, PartialEq, Eq)]
pub struct Hardening {
    /// The program running (`comm`).
    pub comm: String,
    /// The soft and hard core limits, as /proc/PID/limits writes them.
    pub core_limit: (String, String),
    /// Whether the process is dumpable. Linux gives the files of
    /// /proc/PID to root when a process is not dumpable (proc(5)), so for a
    /// process that runs as another user, owner root means not dumpable.
    pub dumpable: bool,
}

pub fn hardening_of(pid: u32) -> Option<Hardening> {
    use std::os::unix::fs::MetadataExt;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))?;
    let mut words = line.split_whitespace().skip(4);
    let core_limit = (words.next()?.to_owned(), words.next()?.to_owned());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    assert_ne!(uid, 0, "the child must not run as root for this check");
    let owner = std::fs::metadata(format!("/proc/{pid}/status")).ok()?.uid();
    Some(Hardening {
        comm: comm.trim().to_owned(),
        core_limit,
        dumpable: owner == uid,
    })
}

/// Waits (up to 5 s) until `pid` runs `comm` with core dumps off (soft and
/// hard limit 0) and not dumpable, and panics with what /proc last said
/// otherwise.
#[track_caller]
pub fn assert_hardened(pid: u32, comm: &str) {
    let want = Hardening {
        comm: comm.to_owned(),
        core_limit: ("0".into(), "0".into()),
        dumpable: false,
    };
    let mut last = None;
    for _ in 0..250 {
        last = hardening_of(pid);
        if last.as_ref() == Some(&want) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{comm} is not hardened: /proc says {last:?}, expected {want:?}");
}

//! The printed ceremony runbooks cannot drift from the screen: every
//! command in `ceremony/runbook/*.md` marked as a step is run, in order, in
//! a scratch ceremony, and every Expected block is compared with what the
//! step really showed. A runbook edit that no longer matches the program
//! fails here, and so does a program change that no longer matches the
//! runbook.
//!
//! # How the runbooks are marked
//!
//! Every fenced block carries an info string: a language (`sh` or `text`)
//! and a role.
//!
//! | info string | meaning |
//! | --- | --- |
//! | `sh step` | a command the CA types: run here |
//! | `text expected` | what the preceding step shows: compared here |
//! | `text printout` | the start of the last printout (`… \| lp`): compared here |
//! | `sh laptop`, `text laptop` | needs the real laptop (smartcard, printer, media, power): shown, not run |
//! | `sh example`, `text example` | an illustration (a message's form, a transcript): not run |
//!
//! Words after the role: `exit=N` (the step's expected exit status, default
//! 0), `order=any` (an Expected block whose lines may come in any order,
//! such as a listing sorted by random ids), `track=files` or `track=snapshots` (the block belongs to the sealed
//! files or the snapshots variant of a ceremony; each track is a whole
//! story of its own), `at=pipeline` or `at=team` (the command runs on the
//! export pipeline's or the recovery team's machine, not the laptop). A
//! fenced block without a known info string fails the test: whoever edits
//! a runbook decides what is checked.
//!
//! # How Expected blocks are compared
//!
//! Lines are compared in order, each whole, with runs of spaces counted as
//! one (alignment is free) and blank lines ignored. A line of only `…`
//! stands for any number of lines; a word `…` for any text. The values of
//! the rehearsal printed in the runbook (fingerprints, hashes, ids, times,
//! dates, age recipients, sealer keys) stand for whatever the screen shows
//! in their place, and a value ending in `…` for any value that starts
//! with as many characters. Each rehearsal value is bound to the screen's
//! value the first time it is seen: wherever the runbook shows it again
//! (a later screen, a command such as `--head …` or `--expect-vault …`),
//! the screen must show, and the command gets, the same real value; two
//! different rehearsal values may not stand for one real value. So the
//! head a witness records in one step is the head the next ceremony
//! checks, as the runbook says.
//!
//! # The scratch ceremony
//!
//! Each step runs in its own user, mount and network namespace
//! (`unshare -rnm`): offline for real (only `lo`, so `--require-airgap`
//! passes and `ip -br link` shows what a laptop shows), with scratch
//! directories mounted at `/media` (the USB media), `/run` (the RAM disk
//! `/run/ceremony`), `/srv` (the pipeline's and the recovery team's
//! machines, and a store) and `/usr/local/bin` (the binaries under test,
//! and an `lp` that keeps printouts). Paths on the screen are the
//! runbooks' own. Passphrases are typed at real prompts on a
//! pseudo-terminal (`tests/support/pty_answer.py`) by whichever custodian
//! is named. The OpenPGP smartcard is stood in for by a GnuPG home holding
//! `mari`'s key without a PIN; `peeter` holds an OpenPGP key file with a
//! passphrase; `jaan` an age key. Between ceremonies the test does what
//! the world does: the pipeline seals files and pushes snapshots, stores
//! are copied to TRANSFER, media are handed over, the laptop is switched
//! off (the RAM disk emptied).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

const RUNBOOKS: &[&str] = &[
    "init.md",
    "open.md",
    "reshare.md",
    "rotate.md",
    "sealers.md",
];
/// Documents in the runbook folder whose blocks must be marked but that
/// are not part of the story.
const OTHER_DOCS: &[&str] = &["README.md"];

/// Every custodian's passphrase, typed at their prompts (the key file's
/// for peeter).
const PASSPHRASES: &[(&str, &str)] = &[
    ("liis", "liis kõnnib mööda randa"),
    ("peeter", "peeter peidab võtme"),
    ("kadri", "kadri kirjutab kirja"),
    ("toomas", "toomas toob tooli"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Track {
    Files,
    Snapshots,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Step,
    Expected,
    Printout,
    Laptop,
    Example,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Laptop,
    Pipeline,
    Team,
}

#[derive(Clone, Debug)]
struct Block {
    file: String,
    line: usize,
    role: Role,
    exit: i32,
    /// The lines of an Expected block may come in any order (a listing
    /// sorted by random ids).
    any_order: bool,
    track: Option<Track>,
    at: At,
    text: String,
}

impl Block {
    fn place(&self) -> String {
        format!("ceremony/runbook/{}:{}", self.file, self.line)
    }
}

fn runbook_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony/runbook")
}

/// The fenced blocks of a runbook, with their marks. Refuses an unmarked
/// block or an unknown word.
fn blocks(file: &str) -> Result<Vec<Block>, String> {
    let text = std::fs::read_to_string(runbook_dir().join(file)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let place = format!("ceremony/runbook/{file}:{}", i + 1);
        let words: Vec<&str> = info.split_whitespace().collect();
        let (lang, role) = match words.as_slice() {
            [lang, role, ..] => (*lang, *role),
            _ => {
                return Err(format!(
                    "{place}: a fenced block without a mark (```sh step, ```text expected, ```sh laptop, …; see tests/runbooks.rs)"
                ));
            }
        };
        if !["sh", "text"].contains(&lang) {
            return Err(format!("{place}: unknown language '{lang}' (sh or text)"));
        }
        let role = match role {
            "step" => Role::Step,
            "expected" => Role::Expected,
            "printout" => Role::Printout,
            "laptop" => Role::Laptop,
            "example" => Role::Example,
            other => return Err(format!("{place}: unknown role '{other}'")),
        };
        let mut block = Block {
            file: file.to_owned(),
            line: i + 1,
            role,
            exit: 0,
            any_order: false,
            track: None,
            at: At::Laptop,
            text: String::new(),
        };
        for w in &words[2..] {
            match w.split_once('=') {
                Some(("exit", n)) => block.exit = n.parse().map_err(|_| format!("{place}: {w}"))?,
                Some(("order", "any")) => block.any_order = true,
                Some(("track", "files")) => block.track = Some(Track::Files),
                Some(("track", "snapshots")) => block.track = Some(Track::Snapshots),
                Some(("at", "pipeline")) => block.at = At::Pipeline,
                Some(("at", "team")) => block.at = At::Team,
                _ => return Err(format!("{place}: unknown word '{w}'")),
            }
        }
        let mut body = Vec::new();
        loop {
            let Some((_, l)) = lines.next() else {
                return Err(format!("{place}: the block is not closed"));
            };
            if l.trim_start().starts_with("```") {
                break;
            }
            body.push(l.get(indent..).unwrap_or(l.trim_start()));
        }
        block.text = body.join("\n");
        out.push(block);
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// Comparing a screen with an Expected block.

fn value_finder() -> Regex {
    // Leftmost first; the longer shapes before the shorter.
    Regex::new(concat!(
        r"(?P<fp>\b[0-9a-f]{4}(?: [0-9a-f]{4}){15}\b)",
        // Half of a 64-digit hash as a printout groups it.
        r"|(?P<half>\b[0-9a-f]{4}(?: [0-9a-f]{4}){7}\b)",
        r"|(?P<time>\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)",
        r"|(?P<dateu>\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2} \d\d:\d\d:\d\d UTC \d{4}\b)",
        // A date alone at the end of a line (the canary's text); a date
        // inside a file name is part of the name.
        r"|(?P<date>\b\d{4}-\d\d-\d\d$)",
        r"|(?P<age>\bage1[0-9a-z]{8,}…?)",
        r"|(?P<sealer>\bseifsealer(?:pq)?1[0-9a-z]{8,}…?)",
        r"|(?P<secs>\b\d+\.\d s\b)",
        r"|(?P<hex>\b[0-9a-fA-F]{8,}\b…?)",
        r"|(?P<gap>…)",
    ))
    .unwrap()
}

/// A value the screen showed for a rehearsal value.
#[derive(Clone, Debug)]
struct Seen {
    rehearsal: String,
    /// The rehearsal value was shown cut short (`abcd…`).
    prefix: bool,
    /// A time, a date or a duration: any value of its shape, bound to
    /// nothing (two steps of a rehearsal can fall in one second).
    free: bool,
    actual: String,
}

/// Rehearsal values and the real values they stand for.
#[derive(Default)]
struct Bindings {
    full: BTreeMap<String, String>,
    /// (rehearsal prefix, actual prefix of the same length).
    prefixes: Vec<(String, String)>,
}

impl Bindings {
    fn check(&self, s: &Seen) -> Result<(), String> {
        if s.free {
            return Ok(());
        }
        if s.prefix {
            let p = &s.rehearsal;
            for (r, a) in &self.full {
                if r.starts_with(p.as_str()) && !a.starts_with(&s.actual) {
                    return Err(format!(
                        "'{p}…' stands for '{r}', which is '{a}' on an earlier screen, but here the screen shows '{}…'",
                        s.actual
                    ));
                }
            }
            for (rp, ap) in &self.prefixes {
                if rp == p && ap != &s.actual {
                    return Err(format!(
                        "'{p}…' was '{ap}…' on an earlier screen, and is '{}…' here",
                        s.actual
                    ));
                }
            }
            return Ok(());
        }
        if let Some(a) = self.full.get(&s.rehearsal) {
            if a != &s.actual {
                return Err(format!(
                    "'{}' was '{a}' on an earlier screen (the runbook says they are the same), but here the screen shows '{}'",
                    s.rehearsal, s.actual
                ));
            }
        } else if let Some((r, _)) = self.full.iter().find(|(_, a)| **a == s.actual) {
            return Err(format!(
                "the runbook shows '{}' here and '{r}' earlier, but the screen shows '{}' for both",
                s.rehearsal, s.actual
            ));
        }
        for (rp, ap) in &self.prefixes {
            if s.rehearsal.starts_with(rp.as_str()) && !s.actual.starts_with(ap.as_str()) {
                return Err(format!(
                    "'{}' starts with '{rp}…', which was '{ap}…' on an earlier screen, but the screen shows '{}'",
                    s.rehearsal, s.actual
                ));
            }
        }
        Ok(())
    }

    fn bind(&mut self, s: &Seen) {
        if s.free {
            return;
        }
        if s.prefix {
            self.prefixes.push((s.rehearsal.clone(), s.actual.clone()));
        } else {
            self.full.insert(s.rehearsal.clone(), s.actual.clone());
        }
    }

    /// A command with every bound rehearsal value replaced by its real
    /// value (the longest first).
    fn substitute(&self, command: &str) -> String {
        let mut pairs: Vec<(&String, &String)> = self.full.iter().collect();
        pairs.sort_by_key(|(r, _)| std::cmp::Reverse(r.len()));
        let mut out = command.to_owned();
        for (r, a) in pairs {
            out = out.replace(r.as_str(), a);
        }
        out
    }
}

/// An expected line made into a pattern: literal text, and a group for
/// each rehearsal value.
struct LinePattern {
    regex: Regex,
    /// For each capture group: (rehearsal text, cut short?, free?), or
    /// None for a `…` gap.
    groups: Vec<Option<(String, bool, bool)>>,
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn pattern(finder: &Regex, line: &str) -> LinePattern {
    let line = squash(line);
    let mut re = String::from("^");
    let mut groups = Vec::new();
    let mut last = 0;
    for c in finder.captures_iter(&line) {
        let m = c.get(0).unwrap();
        re.push_str(&regex::escape(&line[last..m.start()]));
        last = m.end();
        let text = m.as_str();
        let (prefix, core) = match text.strip_suffix('…') {
            Some(core) if !core.is_empty() => (true, core),
            _ => (false, text),
        };
        let free = ["time", "dateu", "date", "secs"]
            .iter()
            .any(|n| c.name(n).is_some());
        let class = if c.name("gap").is_some() {
            groups.push(None);
            re.push_str("(.*)");
            continue;
        } else if c.name("fp").is_some() {
            r"[0-9a-f]{4}(?: [0-9a-f]{4}){15}".to_owned()
        } else if c.name("half").is_some() {
            r"[0-9a-f]{4}(?: [0-9a-f]{4}){7}".to_owned()
        } else if c.name("time").is_some() {
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ".to_owned()
        } else if c.name("dateu").is_some() {
            r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2} \d\d:\d\d:\d\d UTC \d{4}".to_owned()
        } else if c.name("date").is_some() {
            r"\d{4}-\d\d-\d\d".to_owned()
        } else if c.name("secs").is_some() {
            r"\d+\.\d s".to_owned()
        } else if let Some(k) = c.name("age").map(|_| "age1").or(c.name("sealer").map(|m| {
            if m.as_str().starts_with("seifsealerpq1") {
                "seifsealerpq1"
            } else {
                "seifsealer1"
            }
        })) {
            let n = core.len() - k.len();
            format!(r"{k}[0-9a-z]{{{n}}}")
        } else {
            let case = if core.bytes().any(|b| b.is_ascii_uppercase()) {
                "0-9A-F"
            } else {
                "0-9a-f"
            };
            format!("[{case}]{{{}}}", core.len())
        };
        re.push('(');
        re.push_str(&class);
        re.push(')');
        if prefix {
            // The screen may show the whole value, or cut it short too.
            re.push_str("[0-9A-Za-z]*…?");
        } else {
            re.push_str(r"\b");
        }
        groups.push(Some((core.to_owned(), prefix, free)));
    }
    re.push_str(&regex::escape(&line[last..]));
    re.push('$');
    LinePattern {
        regex: Regex::new(&re).unwrap_or_else(|e| panic!("{re}: {e}")),
        groups,
    }
}

/// Matches one expected line against one screen line; returns the values
/// seen, checked against (not yet added to) the bindings.
fn match_line(p: &LinePattern, screen: &str, bindings: &Bindings) -> Result<Vec<Seen>, String> {
    let screen = squash(screen);
    let Some(c) = p.regex.captures(&screen) else {
        return Err("does not match".into());
    };
    // Values on one line are checked against each other too (a record's
    // hash and its file name).
    let mut local = Bindings {
        full: bindings.full.clone(),
        prefixes: bindings.prefixes.clone(),
    };
    let mut seen = Vec::new();
    for (i, g) in p.groups.iter().enumerate() {
        if let Some((rehearsal, prefix, free)) = g {
            let s = Seen {
                rehearsal: rehearsal.clone(),
                prefix: *prefix,
                free: *free,
                actual: c.get(i + 1).unwrap().as_str().to_owned(),
            };
            local.check(&s)?;
            local.bind(&s);
            seen.push(s);
        }
    }
    Ok(seen)
}

/// The lines of a screen as a person sees them: a line rewritten in
/// place (a progress bar: carriage return, or "erase line") shows only
/// its last text; no blank lines; and GnuPG's own messages (from `gpg -d`
/// in a pipe) left out: they depend on GnuPG's version and are not seif's.
fn screen_lines(screen: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in screen.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let last = raw.rsplit(['\r']).next().unwrap_or(raw);
        let l = last.rsplit("\u{1b}[2K").next().unwrap_or(last);
        let t = l.trim_end();
        if t.starts_with("gpg: ") {
            continue;
        }
        // GnuPG's user id line under its "encrypted with" line; seif's
        // own output may come in between (two processes, one screen).
        if t.starts_with("  ") && t.trim_start().starts_with('"') && t.ends_with('"') {
            continue;
        }
        if !t.trim().is_empty() {
            out.push(t.to_owned());
        }
    }
    out
}

/// Compares an Expected block whose lines may come in any order: each
/// matches a line of the screen not matched yet, and every screen line is
/// matched.
fn compare_any_order(
    finder: &Regex,
    expected: &str,
    screen: &str,
    bindings: &mut Bindings,
) -> Result<(), String> {
    let want: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
    let have = screen_lines(screen);
    if want.len() != have.len() {
        return Err(format!(
            "{} lines expected (in any order), the screen shows {}: {have:?}",
            want.len(),
            have.len()
        ));
    }
    let mut used = vec![false; have.len()];
    let mut local = Bindings {
        full: bindings.full.clone(),
        prefixes: bindings.prefixes.clone(),
    };
    for w in &want {
        let p = pattern(finder, w);
        let hit = have.iter().enumerate().find_map(|(i, h)| {
            if used[i] {
                return None;
            }
            match_line(&p, h, &local).ok().map(|seen| (i, seen))
        });
        let Some((i, seen)) = hit else {
            return Err(format!(
                "expected {w:?} (in any order): no line of the screen matches it: {have:?}"
            ));
        };
        used[i] = true;
        for s in &seen {
            local.bind(s);
        }
    }
    *bindings = local;
    Ok(())
}

/// Compares an Expected block with a screen; binds the values on success.
fn compare(
    finder: &Regex,
    expected: &str,
    screen: &str,
    bindings: &mut Bindings,
) -> Result<(), String> {
    let want: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
    let have = screen_lines(screen);
    let mut pending: Vec<Seen> = Vec::new();
    let mut at = 0;
    let mut gap = false;
    let scratch = |pending: &Vec<Seen>, base: &Bindings| {
        let mut b = Bindings {
            full: base.full.clone(),
            prefixes: base.prefixes.clone(),
        };
        for s in pending {
            b.bind(s);
        }
        b
    };
    for w in &want {
        if w.trim() == "…" {
            gap = true;
            continue;
        }
        let p = pattern(finder, w);
        let b = scratch(&pending, bindings);
        let mut found = None;
        let mut last_err = String::new();
        let end = if gap {
            have.len()
        } else {
            (at + 1).min(have.len())
        };
        for (i, h) in have.iter().enumerate().take(end).skip(at) {
            match match_line(&p, h, &b) {
                Ok(seen) => {
                    found = Some((i, seen));
                    break;
                }
                Err(e) => last_err = format!("{e}: {h:?}"),
            }
        }
        match found {
            Some((i, seen)) => {
                pending.extend(seen);
                at = i + 1;
                gap = false;
            }
            None => {
                let shown = have
                    .get(at)
                    .map_or("(nothing more)".to_owned(), |h| format!("{h:?}"));
                return Err(format!(
                    "expected {w:?}\n    the screen shows {shown}{}",
                    if last_err.is_empty() || gap {
                        String::new()
                    } else {
                        format!("\n    ({last_err})")
                    }
                ));
            }
        }
    }
    if !gap && at < have.len() {
        return Err(format!(
            "the screen shows more than the Expected block: {:?} (end the block with a line '…' if that is meant)",
            have[at]
        ));
    }
    for s in &pending {
        bindings.bind(s);
    }
    Ok(())
}

// ---------------------------------------------------------------------
// The scratch ceremony.

struct Scratch {
    root: tempfile::TempDir,
    track: Track,
    bindings: Bindings,
    finder: Regex,
    screen: Option<(String, String)>,
    printout: Option<String>,
    failures: Vec<String>,
    log: String,
}

fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn seif_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seif"))
}

fn ceremony_bin() -> PathBuf {
    let p = seif_bin().with_file_name("seif-ceremony");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        p.display()
    );
    p
}

fn copy_dir(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("-a").arg(from).arg(to));
}

impl Scratch {
    fn new(track: Track) -> Self {
        let root = tempfile::Builder::new()
            .prefix("runbook")
            .tempdir()
            .unwrap();
        let s = Scratch {
            root,
            track,
            bindings: Bindings::default(),
            finder: value_finder(),
            screen: None,
            printout: None,
            failures: Vec::new(),
            log: String::new(),
        };
        for d in [
            "media/ceremony",
            "run/ceremony",
            "srv/pipeline",
            "srv/team",
            "srv/stores",
            "bin",
            "gnupg",
            "printouts",
            "home",
        ] {
            std::fs::create_dir_all(s.root.path().join(d)).unwrap();
        }
        std::fs::set_permissions(
            s.root.path().join("gnupg"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::fs::copy(ceremony_bin(), s.bin("seif-ceremony")).unwrap();
        std::fs::copy(seif_bin(), s.bin("seif")).unwrap();
        let lp = s.bin("lp");
        std::fs::write(
            &lp,
            format!(
                "#!/bin/sh\n# The printer: keeps what it is given.\ncat > {}/printouts/$(date +%s%N).txt\n",
                s.root.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&lp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        s
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.path("bin").join(name)
    }

    fn media(&self, p: &str) -> PathBuf {
        self.path("media/ceremony").join(p)
    }

    fn gpg(&self, home: &Path) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", home)
            .args(["--batch", "--no-tty", "--quiet"]);
        c
    }

    fn seif(&self) -> Command {
        Command::new(self.bin("seif"))
    }

    /// Before init: the custodians' media and keys, the pipeline's key on
    /// TRANSFER.
    fn before_init(&mut self) {
        for m in [
            "TRANSFER", "mari", "jaan", "liis", "peeter", "kadri", "VAULT-A", "VAULT-B",
        ] {
            std::fs::create_dir_all(self.media(m)).unwrap();
        }
        // mari: her key lives on a smartcard; the laptop's GnuPG stands in
        // for the card, with no PIN.
        let laptop = self.path("gnupg");
        run_ok(self.gpg(&laptop).args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Mari Maasikas <mari.maasikas@example.ee>",
            "future-default",
            "default",
            "never",
        ]));
        let public =
            run_ok(
                self.gpg(&laptop)
                    .args(["--armor", "--export", "mari.maasikas@example.ee"]),
            );
        std::fs::write(self.media("mari/mari.asc"), public).unwrap();
        // The laptop only learns mari's public key at the ceremony.
        // peeter: an OpenPGP key file with a passphrase, made on his own
        // machine.
        let own = self.path("peeter-gnupg");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::set_permissions(&own, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let pw = passphrase("peeter");
        run_ok(self.gpg(&own).args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            pw,
            "--quick-gen-key",
            "Peeter Puu <peeter.puu@example.ee>",
            "future-default",
            "default",
            "never",
        ]));
        let public = run_ok(
            self.gpg(&own)
                .args(["--armor", "--export", "peeter.puu@example.ee"]),
        );
        std::fs::write(self.media("peeter/peeter.asc"), public).unwrap();
        let secret = run_ok(self.gpg(&own).args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            pw,
            "--armor",
            "--export-secret-keys",
            "peeter.puu@example.ee",
        ]));
        std::fs::write(self.media("peeter/peeter-secret.asc"), secret).unwrap();
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &own)
            .args(["--kill", "gpg-agent"])
            .status();
        // jaan: an age key.
        let id = age::x25519::Identity::generate();
        std::fs::write(
            self.media("jaan/jaan.key"),
            format!(
                "{}\n",
                secrecy::ExposeSecret::expose_secret(&id.to_string())
            ),
        )
        .unwrap();
        std::fs::write(
            self.media("jaan/jaan.recipient"),
            format!("{}\n", id.to_public()),
        )
        .unwrap();
        // The export pipeline's sealer key; its public half on TRANSFER.
        let public = run_ok(
            self.seif()
                .args(["sealer", "new", "--out"])
                .arg(self.path("srv/pipeline/rr-export.key")),
        );
        std::fs::write(self.media("TRANSFER/rr-export.pub"), public).unwrap();
    }

    /// Between init and open: what the pipelines and the home side do.
    fn after_init(&mut self) {
        self.power_off();
        let pipeline = self.path("srv/pipeline");
        // Two dumps, sealed from files named as the pipeline names them.
        for (name, len, seed) in [
            ("rr-2026-11-26.dump", 100_000, 1),
            ("rr-2026-11-27.dump", 500_000, 2),
        ] {
            let plain = pipeline.join(name);
            std::fs::write(&plain, content(len, seed)).unwrap();
            run_ok(self.seif().current_dir(&pipeline).args([
                "seal",
                "--vault",
                "vault.json",
                "--sealer",
                "rr-export.key",
                "-o",
                &format!("{name}.seif"),
                name,
            ]));
        }
        // Into a store abroad: the canary snapshot (a folder of one small
        // file), then two snapshots of an export folder.
        let canary = pipeline.join("canary");
        std::fs::create_dir_all(&canary).unwrap();
        let today = &seif::time::now_rfc3339()[..10];
        std::fs::write(
            canary.join("canary.txt"),
            format!("seif canary: sealed by rr-export on {today}\n"),
        )
        .unwrap();
        let tree = pipeline.join("export/rr");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("README.txt"), "Population Register export\n").unwrap();
        std::fs::write(tree.join("registry.csv"), content(1_000_000, 3)).unwrap();
        let store = self.path("srv/stores/tallinn");
        // The decision names the snapshots by id, as `seif ls` lists them
        // at home; the runbooks' rehearsal ids stand for these.
        let mut known: Vec<String> = Vec::new();
        let mut push = |s: &mut Scratch, what: &str, rehearsal: &str| {
            // Snapshots are ordered by their time, to the second: days
            // apart in life, a second apart here.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            run_ok(
                s.seif()
                    .current_dir(&pipeline)
                    .args([
                        "push",
                        "--vault",
                        "vault.json",
                        "--sealer",
                        "rr-export.key",
                        "--store",
                    ])
                    .arg(&store)
                    .arg(what),
            );
            let new: Vec<String> = snapshot_ids(&store)
                .into_iter()
                .filter(|i| !known.contains(i))
                .collect();
            assert_eq!(new.len(), 1, "{new:?}");
            s.bindings.full.insert(rehearsal.into(), new[0].clone());
            known.push(new[0].clone());
        };
        push(self, "canary", "0c4f2b8e6a1d3f5b7c9e0a2c4e6f8a1b");
        push(self, "export", "be54ac21c14ea814d8c352ba2bdcc797");
        std::fs::write(tree.join("changes.csv"), content(2_000_000, 4)).unwrap();
        push(self, "export", "b40637e6ac9971b1897c10522c7fe1a8");
        // To TRANSFER: the sealed files, a whole copy of the store, and a
        // copy of only what a grant or rotation needs.
        for f in [
            "canary.seif",
            "rr-2026-11-26.dump.seif",
            "rr-2026-11-27.dump.seif",
        ] {
            std::fs::copy(pipeline.join(f), self.media("TRANSFER").join(f)).unwrap();
        }
        copy_dir(&store, &self.media("TRANSFER/store"));
        std::fs::create_dir_all(self.media("TRANSFER/store-meta")).unwrap();
        for d in ["records", "lists", "keys"] {
            if store.join(d).exists() {
                copy_dir(&store.join(d), &self.media("TRANSFER/store-meta").join(d));
            }
        }
        // The recovery team's key, made on its own machine; its public
        // line on TRANSFER.
        let team = self.path("srv/team");
        run_ok(
            Command::new("age-keygen")
                .arg("-o")
                .arg(team.join("recovery-2026-11.key")),
        );
        let recipient = run_ok(
            Command::new("age-keygen")
                .arg("-y")
                .arg(team.join("recovery-2026-11.key")),
        );
        std::fs::write(self.media("TRANSFER/recovery-2026-11.recipient"), recipient).unwrap();
        std::fs::create_dir_all(self.media("RELEASE")).unwrap();
    }

    fn after_open(&mut self) {
        self.power_off();
        for l in ["mari", "jaan", "liis", "kadri", "toomas"] {
            std::fs::create_dir_all(self.media(&format!("NEW-{l}"))).unwrap();
        }
    }

    fn after_reshare(&mut self) {
        self.power_off();
        // The old media were destroyed; each new medium is now its
        // custodian's medium.
        for l in ["mari", "jaan", "liis", "peeter", "kadri"] {
            let _ = std::fs::remove_dir_all(self.media(l));
        }
        for l in ["mari", "jaan", "liis", "kadri", "toomas"] {
            std::fs::rename(self.media(&format!("NEW-{l}")), self.media(l)).unwrap();
            std::fs::create_dir_all(self.media(&format!("NEW-{l}"))).unwrap();
        }
        // For the sealers part: a new pipeline key, its public half on
        // TRANSFER.
        let public = run_ok(
            self.seif()
                .args(["sealer", "new", "--out"])
                .arg(self.path("srv/pipeline/rr-export-2027.key")),
        );
        std::fs::write(self.media("TRANSFER/rr-export-2027.pub"), public).unwrap();
    }

    fn after_rotate(&mut self) {
        self.power_off();
        // The new media are the custodians' media now (the old ones wait
        // in the safe for the destruction session).
        for l in ["mari", "jaan", "liis", "kadri", "toomas"] {
            let old = self.path(&format!("old-media/{l}"));
            std::fs::create_dir_all(old.parent().unwrap()).unwrap();
            std::fs::rename(self.media(l), &old).unwrap();
            std::fs::rename(self.media(&format!("NEW-{l}")), self.media(l)).unwrap();
        }
    }

    /// The laptop is switched off: the RAM disk is gone.
    fn power_off(&mut self) {
        let run = self.path("run/ceremony");
        std::fs::remove_dir_all(&run).unwrap();
        std::fs::create_dir_all(&run).unwrap();
    }

    /// The pipeline installs the newest vault.json handed over on
    /// TRANSFER; the recovery team gets what the ceremony gave it.
    fn prepare(&mut self, at: At) {
        match at {
            At::Laptop => {}
            At::Pipeline => {
                std::fs::copy(
                    self.media("TRANSFER/vault.json"),
                    self.path("srv/pipeline/vault.json"),
                )
                .unwrap();
            }
            At::Team => {
                let team = self.path("srv/team");
                std::fs::copy(self.media("TRANSFER/vault.json"), team.join("vault.json")).unwrap();
                let f = "rr-2026-11-27.dump.seif";
                std::fs::copy(self.media("TRANSFER").join(f), team.join(f)).unwrap();
                if let Ok(grants) = std::fs::read_dir(self.media("TRANSFER/grants")) {
                    for g in grants {
                        let g = g.unwrap();
                        std::fs::copy(g.path(), team.join(g.file_name())).unwrap();
                    }
                }
            }
        }
    }

    /// Runs one step in its namespace, on a pseudo-terminal.
    fn run_step(&mut self, block: &Block) -> (i32, String) {
        self.prepare(block.at);
        let script = self.bindings.substitute(&block.text);
        let script_path = self.path("step.sh");
        std::fs::write(&script_path, &script).unwrap();
        let cwd = match block.at {
            At::Laptop => "/run/ceremony",
            At::Pipeline => "/srv/pipeline",
            At::Team => "/srv/team",
        };
        let pty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_answer.py");
        let root = self.root.path();
        let setup = format!(
            "set -e; mount -t sysfs sysfs /sys; ip link set lo up; \
             mount --bind {media} /media; mount --bind {run} /run; mount --bind {srv} /srv; \
             mount --bind {bin} /usr/local/bin; cd {cwd}; \
             exec python3 {pty} {answers} -- bash -e -o pipefail {script}",
            media = root.join("media").display(),
            run = root.join("run").display(),
            srv = root.join("srv").display(),
            bin = root.join("bin").display(),
            pty = pty.display(),
            answers = answers(),
            script = script_path.display(),
        );
        let o = Command::new("unshare")
            .args(["-rnm", "bash", "-c", &setup])
            .env("GNUPGHOME", self.path("gnupg"))
            .env(
                "PATH",
                format!(
                    "/usr/local/bin:{}",
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("TZ", "UTC")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("unshare runs");
        let screen = String::from_utf8_lossy(&o.stdout).into_owned();
        if !o.stderr.is_empty() {
            // The namespace could not be set up (unshare, mount or ip).
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                !err.contains("unshare:") && !err.contains("mount:"),
                "this test needs user, mount and network namespaces (`unshare -rnm`): {err}"
            );
        }
        (o.status.code().unwrap_or(-1), screen)
    }

    fn newest_printout(&self) -> Option<String> {
        let mut all: Vec<PathBuf> = std::fs::read_dir(self.path("printouts"))
            .ok()?
            .map(|e| e.unwrap().path())
            .collect();
        all.sort();
        all.last().map(|p| std::fs::read_to_string(p).unwrap())
    }

    /// Runs the blocks of one runbook that belong to this track.
    fn follow(&mut self, file: &str) {
        let blocks = match blocks(file) {
            Ok(b) => b,
            Err(e) => {
                self.failures.push(e);
                return;
            }
        };
        for b in blocks {
            if b.track.is_some_and(|t| t != self.track) {
                continue;
            }
            match b.role {
                Role::Laptop | Role::Example => {}
                Role::Step => {
                    let (code, screen) = self.run_step(&b);
                    self.log.push_str(&format!(
                        "=== {} ({:?}) exit {code}\n$ {}\n{screen}\n",
                        b.place(),
                        self.track,
                        b.text
                    ));
                    if code != b.exit {
                        self.failures.push(format!(
                            "{} ({:?} track): the step exited with {code}, the runbook expects {}:\n{}",
                            b.place(),
                            self.track,
                            b.exit,
                            screen_lines(&screen).join("\n")
                        ));
                    }
                    self.screen = Some((b.place(), screen));
                    self.printout = self.newest_printout();
                }
                Role::Expected | Role::Printout => {
                    let Some((step, screen)) = &self.screen else {
                        self.failures
                            .push(format!("{}: an Expected block before any step", b.place()));
                        continue;
                    };
                    let against = if b.role == Role::Printout {
                        match &self.printout {
                            Some(p) => p.clone(),
                            None => {
                                self.failures
                                    .push(format!("{}: nothing was printed", b.place()));
                                continue;
                            }
                        }
                    } else {
                        screen.clone()
                    };
                    let step = step.clone();
                    let compared = if b.any_order {
                        compare_any_order(&self.finder, &b.text, &against, &mut self.bindings)
                    } else {
                        compare(&self.finder, &b.text, &against, &mut self.bindings)
                    };
                    if let Err(e) = compared {
                        self.failures.push(format!(
                            "{} ({:?} track), Expected of the step at {step}:\n    {e}",
                            b.place(),
                            self.track
                        ));
                    }
                    // A printout is compared from its start: the block
                    // may end with `…`.
                }
            }
        }
    }

    fn stop_agents(&self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path("gnupg"))
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

fn passphrase(label: &str) -> &'static str {
    PASSPHRASES.iter().find(|(l, _)| *l == label).unwrap().1
}

/// The prompt and answer pairs for pty_answer.py, shell-quoted.
fn answers() -> String {
    let mut out = Vec::new();
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    for (label, pw) in PASSPHRASES {
        for prompt in [
            format!("Passphrase for {label}'s share"),
            format!("New passphrase for custodian '{label}'"),
            format!("Repeat the passphrase for '{label}'"),
        ] {
            out.push(q(&prompt));
            out.push(q(pw));
        }
    }
    // peeter's key file.
    out.push(q("Passphrase for OpenPGP key"));
    out.push(q(passphrase("peeter")));
    out.join(" ")
}

fn snapshot_ids(store: &Path) -> Vec<String> {
    let o = run_ok(Command::new(seif_bin()).args(["ls", "--store"]).arg(store));
    let text = String::from_utf8(o).unwrap();
    let id = Regex::new(r"\b[0-9a-f]{32}\b").unwrap();
    let mut ids: Vec<String> = Vec::new();
    for l in text.lines() {
        if let Some(m) = id.find(l)
            && !ids.contains(&m.as_str().to_owned())
        {
            ids.push(m.as_str().to_owned());
        }
    }
    ids
}

fn content(len: usize, seed: u64) -> Vec<u8> {
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

fn story(track: Track) -> (Vec<String>, String) {
    let mut s = Scratch::new(track);
    s.before_init();
    s.follow("init.md");
    s.after_init();
    s.follow("open.md");
    s.after_open();
    s.follow("reshare.md");
    s.after_reshare();
    s.follow("rotate.md");
    s.after_rotate();
    s.follow("sealers.md");
    s.stop_agents();
    if let Ok(dir) = std::env::var("SEIF_RUNBOOK_SCREENS") {
        std::fs::write(Path::new(&dir).join(format!("{track:?}.txt")), &s.log).unwrap();
        let mut values = String::new();
        for (r, a) in &s.bindings.full {
            values.push_str(&format!("{r}\t{a}\n"));
        }
        for (r, a) in &s.bindings.prefixes {
            values.push_str(&format!("{r}…\t{a}…\n"));
        }
        std::fs::write(Path::new(&dir).join(format!("{track:?}.values")), values).unwrap();
    }
    (s.failures, s.log)
}

fn report(track: Track) {
    let (failures, _) = story(track);
    assert!(
        failures.is_empty(),
        "the runbooks and the screens differ ({track:?} track; {} difference(s)):\n\n{}\n\n(set SEIF_RUNBOOK_SCREENS=DIR to keep every step's screen)",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_runbook_block_is_marked() {
    for f in RUNBOOKS.iter().chain(OTHER_DOCS) {
        let blocks = blocks(f).unwrap_or_else(|e| panic!("{e}"));
        // An Expected block follows a step of its track.
        let mut last: BTreeMap<Option<Track>, Role> = BTreeMap::new();
        for b in &blocks {
            if matches!(b.role, Role::Expected | Role::Printout) {
                let before = [b.track, None]
                    .iter()
                    .filter_map(|t| last.get(t))
                    .any(|r| *r == Role::Step || *r == Role::Expected || *r == Role::Printout);
                assert!(
                    before,
                    "{}: an Expected block that follows no step",
                    b.place()
                );
            }
            if matches!(b.role, Role::Step | Role::Expected | Role::Printout) {
                last.insert(b.track, b.role);
            }
            if OTHER_DOCS.contains(f) {
                assert!(
                    matches!(b.role, Role::Example | Role::Laptop),
                    "{}: only the scripts are run; README blocks are examples",
                    b.place()
                );
            }
        }
    }
}

#[test]
fn the_runbooks_match_the_screens_sealed_files() {
    report(Track::Files);
}

#[test]
fn the_runbooks_match_the_screens_snapshots() {
    report(Track::Snapshots);
}

#[test]
fn the_comparison_binds_values_and_refuses_what_differs() {
    let f = value_finder();
    let mut b = Bindings::default();
    let head = "f2e49b0517515a8eeb6986e852f7dff1c60c00896ca2b3186ac22b364497bd34";
    let real = "0".repeat(63) + "1";
    compare(
        &f,
        &format!("ceremony log: 1 entry, head {head}"),
        &format!("ceremony log: 1 entry, head {real}\n"),
        &mut b,
    )
    .unwrap();
    // The same rehearsal value later must be the same real value...
    let other = "2".repeat(64);
    assert!(
        compare(
            &f,
            &format!("head {head}"),
            &format!("head {other}"),
            &mut b
        )
        .is_err()
    );
    assert!(compare(&f, &format!("head {head}"), &format!("head {real}"), &mut b).is_ok());
    // ... a cut-short one too...
    assert!(compare(&f, "head f2e49b05…", &format!("head {other}"), &mut b).is_err());
    assert!(compare(&f, "head f2e49b05…", &format!("head {real}"), &mut b).is_ok());
    // ... and commands get it.
    assert_eq!(
        b.substitute(&format!("--head {head}")),
        format!("--head {real}")
    );
    // Words are words; order and count are strict.
    assert!(compare(&f, "revision hash 1", "fingerprint 1", &mut b).is_err());
    assert!(compare(&f, "a\nb", "a\nx\nb", &mut b).is_err());
    assert!(compare(&f, "a\n…\nb", "a\nx\nb", &mut b).is_ok());
    assert!(compare(&f, "a", "a\nb", &mut b).is_err());
    // Two rehearsal values cannot stand for one real one.
    // Times, dates and durations are any of their shape, bound to nothing.
    let mut b = Bindings::default();
    compare(
        &f,
        "at 2026-11-27T13:14:02Z\nat 2026-11-27T13:16:37Z",
        "at 2026-12-06T02:37:47Z\nat 2026-12-06T02:37:47Z",
        &mut b,
    )
    .unwrap();
    compare(
        &f,
        "rr-2026-11-27.dump on 2026-11-27",
        "rr-2026-11-27.dump on 2027-01-02",
        &mut b,
    )
    .unwrap();
    assert!(compare(&f, "rr-2026-11-27.dump", "rr-2027-01-02.dump", &mut b).is_err());
    // A line rewritten in place shows its last text.
    assert_eq!(
        screen_lines("restore 0 B\u{1b}[2Krestore 2 MiB\rseif: restored\r\n"),
        ["seif: restored"]
    );
    let mut b = Bindings::default();
    compare(
        &f,
        "set 4a0739aa32ed1c7c2f46149198521330",
        "set 11111111111111111111111111111111",
        &mut b,
    )
    .unwrap();
    assert!(
        compare(
            &f,
            "set 89faae5c0a9096381c2256a3cf6aef51",
            "set 11111111111111111111111111111111",
            &mut b
        )
        .is_err()
    );
    // GnuPG's own lines are not seif's.
    assert_eq!(
        screen_lines("gpg: encrypted with cv25519 key\n      \"Mari <m@x>\"\nshare ok\r\n\n"),
        ["share ok"]
    );
}

//! Progress on stderr. The work runs in the library and updates shared
//! counters; a thread here reports them: a bar with an ETA on a terminal,
//! or, with `--progress` when stderr is a log or a pipe, a plain line every
//! few seconds and one at the end. By default nothing is drawn when stderr
//! is not a terminal (a cron job's mail stays clean), and `-q` draws
//! nothing anywhere.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};
use seif::snapshot::Counters;

/// When progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On a terminal only (the default).
    Auto = 0,
    /// Always: a bar on a terminal, plain lines elsewhere (`--progress`).
    Always = 1,
    /// Never (`-q`).
    Never = 2,
}

static MODE: AtomicU8 = AtomicU8::new(Mode::Auto as u8);

/// Sets when progress is shown, for the rest of the process (`main`).
pub fn set_mode(mode: Mode) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        1 => Mode::Always,
        2 => Mode::Never,
        _ => Mode::Auto,
    }
}

/// How often a plain progress line is written to a log.
const LINE_EVERY: Duration = Duration::from_secs(10);
/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(120);

/// Progress reported by its own thread until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Whether progress is shown: a command may skip work that only
    /// progress needs (push's count of the bytes ahead).
    pub fn shown() -> bool {
        !matches!(
            (mode(), std::io::stderr().is_terminal()),
            (Mode::Never, _) | (Mode::Auto, false)
        )
    }

    /// Starts reporting `counters` under `label` (`push`, `verify`, …).
    pub fn start(label: &'static str, counters: Arc<Counters>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = if !Self::shown() {
            None
        } else if std::io::stderr().is_terminal() {
            Some(std::thread::spawn(move || bar(label, &counters, &s)))
        } else {
            Some(std::thread::spawn(move || lines(label, &counters, &s)))
        };
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// "3 of 10 files, 12 objects": only the counts this command keeps (verify
/// counts objects, not files).
fn counts(c: &Counters) -> String {
    let (files, total_files) = (Counters::get(&c.files), Counters::get(&c.total_files));
    let objects = Counters::get(&c.objects);
    let mut parts = Vec::new();
    if total_files > 0 {
        parts.push(format!("{files} of {total_files} files"));
    } else if files > 0 {
        parts.push(format!("{files} files"));
    }
    if objects > 0 {
        parts.push(format!("{objects} objects"));
    }
    parts.join(", ")
}

const WITH_TOTAL: &str =
    "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}";
const NO_TOTAL: &str =
    "{prefix} {spinner} [{elapsed_precise}] {bytes} of an unknown total {bytes_per_sec} {msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The bar on a terminal: with the total and an ETA once the total is
/// known (a push learns it from its pre-scan), a spinner before or without
/// it (a stream from stdin).
fn bar(label: &'static str, counters: &Counters, stop: &AtomicBool) {
    let bar = ProgressBar::new(0);
    bar.set_style(style(NO_TOTAL));
    bar.set_prefix(label);
    let mut known = false;
    while !stop.load(Ordering::Relaxed) {
        let total = Counters::get(&counters.total_bytes);
        if total > 0 && !known {
            bar.set_style(style(WITH_TOTAL));
            known = true;
        }
        if known {
            bar.set_length(total);
        }
        bar.set_position(Counters::get(&counters.bytes));
        bar.set_message(counts(counters));
        bar.tick();
        std::thread::sleep(TICK);
    }
    bar.finish_and_clear();
}

/// Plain lines for a log: one every [`LINE_EVERY`], and one at the end.
fn lines(label: &'static str, counters: &Counters, stop: &AtomicBool) {
    let started = Instant::now();
    let mut last = Instant::now();
    loop {
        let done = stop.load(Ordering::Relaxed);
        if done || last.elapsed() >= LINE_EVERY {
            let line = plain_line(label, counters, started.elapsed(), done);
            let _ = writeln!(std::io::stderr().lock(), "{line}");
            last = Instant::now();
        }
        if done {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One progress line: `push: 1.2 GiB of 4 GiB (30%), 80 MiB/s, ETA 36s, 3 of 10 files`.
fn plain_line(label: &str, counters: &Counters, elapsed: Duration, done: bool) -> String {
    let bytes = Counters::get(&counters.bytes);
    let total = Counters::get(&counters.total_bytes);
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = bytes as f64 / secs;
    let mut line = format!("{label}: ");
    if done {
        line.push_str(&format!("finished, {} in {:.1} s", HumanBytes(bytes), secs));
    } else if total > 0 {
        line.push_str(&format!(
            "{} of {} ({}%)",
            HumanBytes(bytes),
            HumanBytes(total),
            bytes.saturating_mul(100) / total
        ));
    } else {
        line.push_str(&format!("{} of an unknown total", HumanBytes(bytes)));
    }
    line.push_str(&format!(", {}/s", HumanBytes(rate as u64)));
    if !done && total > bytes && rate > 0.0 {
        let left = Duration::from_secs_f64((total - bytes) as f64 / rate);
        line.push_str(&format!(", ETA {}", HumanDuration(left)));
    }
    let c = counts(counters);
    if !c.is_empty() {
        line.push_str(", ");
        line.push_str(&c);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(bytes: u64, total: u64, files: u64, total_files: u64, objects: u64) -> Counters {
        let c = Counters::default();
        Counters::add(&c.bytes, bytes);
        Counters::add(&c.total_bytes, total);
        Counters::add(&c.files, files);
        Counters::add(&c.total_files, total_files);
        Counters::add(&c.objects, objects);
        c
    }

    #[test]
    fn a_known_total_gives_a_share_and_an_eta() {
        let c = counters(1 << 30, 4 << 30, 3, 10, 0);
        let line = plain_line("push", &c, Duration::from_secs(10), false);
        assert!(
            line.starts_with("push: 1.00 GiB of 4.00 GiB (25%)"),
            "{line}"
        );
        assert!(line.contains("ETA 30 seconds"), "{line}");
        assert!(line.ends_with("3 of 10 files"), "{line}");
    }

    #[test]
    fn an_unknown_total_says_so_and_guesses_no_eta() {
        let c = counters(5 << 20, 0, 0, 0, 0);
        let line = plain_line("push", &c, Duration::from_secs(1), false);
        assert!(line.contains("of an unknown total"), "{line}");
        assert!(!line.contains("ETA"), "{line}");
    }

    #[test]
    fn counts_name_only_what_the_command_keeps() {
        assert_eq!(counts(&counters(0, 0, 0, 0, 7)), "7 objects");
        assert_eq!(counts(&counters(0, 0, 2, 0, 0)), "2 files");
        assert_eq!(counts(&counters(0, 0, 0, 0, 0)), "");
    }
}

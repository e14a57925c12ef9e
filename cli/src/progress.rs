//! Progress bars on stderr, only when stderr is a terminal. The work runs in
//! the library and updates shared counters; a thread here draws them.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use seif::snapshot::Counters;

/// A progress bar drawn by its own thread until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `counters` (a no-op when stderr is not a terminal).
    pub fn start(label: &'static str, counters: Arc<Counters>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix} {spinner} [{elapsed_precise}] {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(label);
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let total = Counters::get(&counters.total_bytes);
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(Counters::get(&counters.bytes));
                bar.set_message(format!(
                    "{} files, {} objects",
                    Counters::get(&counters.files),
                    Counters::get(&counters.objects)
                ));
                bar.tick();
                std::thread::sleep(Duration::from_millis(120));
            }
            bar.finish_and_clear();
        });
        Progress {
            stop,
            thread: Some(thread),
        }
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

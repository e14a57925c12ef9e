//! Named write points where a test can kill the process, for certain.
//!
//! A kill at a random moment proves little: most land before or after the
//! write that matters. Instead, every step that writes more than one thing
//! calls [`reached`] with a name at each point where a crash would leave a
//! different state on disk ("after the temporary file", "between vault.json
//! and the log"…). A test sets `SEIF_KILL_AT=NAME` (or `NAME#N` for the
//! N-th time that point is reached, from 1) and the process sends itself
//! SIGKILL there: exactly what a power cut or `kill -9` at that instant
//! does, with no destructor, flush or `atexit` handler run.
//!
//! `SEIF_PAUSE_AT=NAME=PATH` pauses there instead: the process creates
//! `PATH.reached` and waits (at most a minute) until `PATH.go` exists, so a
//! test can change the world at that exact moment (swap a file for a FIFO
//! between the walk and the open, say).
//!
//! Only debug builds read these variables (the tests run debug builds); in a
//! release build `reached` compiles to nothing, so no environment variable
//! can make a production binary kill itself.

/// The environment variable a test sets to kill.
pub const ENV: &str = "SEIF_KILL_AT";
/// The environment variable a test sets to pause.
pub const PAUSE_ENV: &str = "SEIF_PAUSE_AT";

#[cfg(debug_assertions)]
static COUNT: std::sync::Mutex<Vec<(String, u64)>> = std::sync::Mutex::new(Vec::new());

/// Marks a named write point; in a debug build with `SEIF_KILL_AT` naming
/// it, the process is killed here (SIGKILL).
#[inline]
pub fn reached(name: &str) {
    #[cfg(debug_assertions)]
    {
        if let Some(p) = std::env::var_os(PAUSE_ENV)
            && let Some((point, path)) = p.to_string_lossy().split_once('=')
            && point == name
        {
            let _ = std::fs::write(format!("{path}.reached"), b"");
            let go = std::path::PathBuf::from(format!("{path}.go"));
            for _ in 0..6000 {
                if go.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let Some(want) = std::env::var_os(ENV) else {
            return;
        };
        let want = want.to_string_lossy();
        let (point, nth) = match want.split_once('#') {
            Some((p, n)) => (p.to_owned(), n.parse::<u64>().unwrap_or(1)),
            None => (want.to_string(), 1),
        };
        if point != name {
            return;
        }
        let hits = {
            let mut c = COUNT.lock().unwrap_or_else(|p| p.into_inner());
            match c.iter_mut().find(|(n, _)| n == name) {
                Some((_, k)) => {
                    *k += 1;
                    *k
                }
                None => {
                    c.push((name.to_owned(), 1));
                    1
                }
            }
        };
        if hits == nth {
            // Say where, so a test can tell a kill at the point from a
            // crash elsewhere; then die as a power cut would.
            eprintln!("seif: killed at {name}");
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            // SIGKILL cannot be caught; this is never reached.
            std::process::abort();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

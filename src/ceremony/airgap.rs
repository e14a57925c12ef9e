//! The air gap: the ceremony binary has no network code, and it looks for
//! network interfaces that are up, other than loopback. It warns about them;
//! `--require-airgap` makes that a refusal.

use std::path::PathBuf;

/// Where Linux lists network interfaces.
const SYS_CLASS_NET: &str = "/sys/class/net";

/// The interfaces, other than loopback, whose link is up (operstate `up` or
/// `unknown` with carrier, as some virtual links report).
pub fn interfaces_up() -> Vec<String> {
    // Tests point this at a fake tree; on a real laptop it is /sys/class/net.
    let root = std::env::var_os("SEIF_TEST_SYS_CLASS_NET")
        .map_or_else(|| PathBuf::from(SYS_CLASS_NET), PathBuf::from);
    let Ok(dir) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let read = |p: PathBuf| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let mut up: Vec<String> = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lo")
        .filter(|name| {
            let state = read(root.join(name).join("operstate"));
            state == "up" || (state == "unknown" && read(root.join(name).join("carrier")) == "1")
        })
        .collect();
    up.sort();
    up
}

//! The air gap: the ceremony binary has no network code, and it looks for
//! network interfaces that are up, other than loopback. It warns about them;
//! `--require-airgap` makes that a refusal.

use std::path::Path;

/// Where Linux lists network interfaces.
const SYS_CLASS_NET: &str = "/sys/class/net";

/// What the laptop's network looks like.
#[derive(Debug, PartialEq, Eq)]
pub enum Network {
    /// Only loopback is up.
    Offline,
    /// These interfaces (other than loopback) are up.
    Up(Vec<String>),
    /// The interface list cannot be read, so nothing can be promised.
    Unknown(String),
}

/// Reads the state of the network interfaces.
pub fn network() -> Network {
    network_at(Path::new(SYS_CLASS_NET))
}

/// [`network`] over another sysfs tree (for tests of the parser only: the
/// binary always reads the real one).
pub fn network_at(root: &Path) -> Network {
    let dir = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) => return Network::Unknown(format!("cannot read {}: {e}", root.display())),
    };
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let mut up: Vec<String> = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lo")
        .filter(|name| {
            // `unknown` with a carrier is how some virtual links report "up".
            let state = read(root.join(name).join("operstate"));
            state == "up" || (state == "unknown" && read(root.join(name).join("carrier")) == "1")
        })
        .collect();
    up.sort();
    if up.is_empty() {
        Network::Offline
    } else {
        Network::Up(up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interface_states() {
        let sys = tempfile::tempdir().unwrap();
        for (name, state, carrier) in [
            ("lo", "unknown", "1"),
            ("eth0", "up", "1"),
            ("wlan0", "down", "0"),
            ("tun0", "unknown", "1"),
        ] {
            std::fs::create_dir(sys.path().join(name)).unwrap();
            std::fs::write(sys.path().join(name).join("operstate"), state).unwrap();
            std::fs::write(sys.path().join(name).join("carrier"), carrier).unwrap();
        }
        assert_eq!(
            network_at(sys.path()),
            Network::Up(vec!["eth0".into(), "tun0".into()])
        );
        std::fs::write(sys.path().join("eth0").join("operstate"), "down").unwrap();
        std::fs::write(sys.path().join("tun0").join("carrier"), "0").unwrap();
        assert_eq!(network_at(sys.path()), Network::Offline);
        assert!(matches!(
            network_at(&sys.path().join("missing")),
            Network::Unknown(_)
        ));
    }
}

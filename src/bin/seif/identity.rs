//! `seif identity new|public`: the age identity of a recovery team (or
//! anyone a ceremony grants to). A new identity is post-quantum
//! (`mlkem768x25519`, `AGE-SECRET-KEY-PQ-1…`), the kind a post-quantum
//! vault grants to without an exception; Go age ≥ 1.3 reads the same file.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use seif::pq::HybridIdentity;
use seif_cli::report::Failure;
use zeroize::Zeroizing;

use crate::files::io_failure;

pub fn new(out: &Path) -> Result<(), Failure> {
    seif::hardening::disable_core_dumps()
        .map_err(|e| Failure::error(format!("cannot disable core dumps: {e}")))?;
    let id = HybridIdentity::generate();
    let recipient = id.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        seif::time::now_rfc3339(),
        id.to_bech32().as_str()
    ));
    crate::files::write_new_key(out, text.as_bytes(), "identity")?;
    let _ = writeln!(std::io::stdout(), "{recipient}");
    seif_cli::report::note(
        crate::TOOL,
        &format!(
            "wrote the secret identity to {} (mode 0600); bring only the public key above (age1pq1…) to the ceremony",
            out.display()
        ),
    );
    Ok(())
}

/// Prints the recipient of every identity in an age identity file
/// (post-quantum `AGE-SECRET-KEY-PQ-1…` and classic `AGE-SECRET-KEY-1…`).
pub fn public(path: &Path) -> Result<(), Failure> {
    let mut text = Zeroizing::new(String::new());
    std::io::Read::read_to_string(
        &mut std::io::Read::take(
            std::fs::File::open(path).map_err(|e| io_failure(path, "cannot read", &e))?,
            1 << 20,
        ),
        &mut text,
    )
    .map_err(|e| io_failure(path, "cannot read", &e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |e: String| {
            Failure::error(format!("{} line {}: {e}", path.display(), n + 1))
                .hint("pass an age identity file (`seif identity new` or age-keygen writes one)")
        };
        if line.starts_with("AGE-SECRET-KEY-PQ-1") {
            let id = HybridIdentity::from_str(line).map_err(|e| bad(e.to_string()))?;
            out.push(id.to_public().to_string());
        } else {
            let id = age::x25519::Identity::from_str(line).map_err(|e| bad(e.to_string()))?;
            out.push(id.to_public().to_string());
        }
    }
    if out.is_empty() {
        return Err(Failure::error(format!(
            "{} holds no age identity",
            path.display()
        )));
    }
    let _ = writeln!(std::io::stdout(), "{}", out.join("\n"));
    Ok(())
}

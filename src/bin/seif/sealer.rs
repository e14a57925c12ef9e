//! `seif sealer new|public`.

use std::io::Write;
use std::path::Path;

use seif::sealer::{SealerKeyError, SealerSecretKey};
use seif_cli::report::Failure;

use crate::files::io_failure;

pub fn new(out: &Path) -> Result<(), Failure> {
    seif::hardening::disable_core_dumps()
        .map_err(|e| Failure::error(format!("cannot disable core dumps: {e}")))?;
    let key = SealerSecretKey::generate();
    let text = key.to_file_text(&seif::time::now_rfc3339());
    crate::files::write_new_key(out, text.as_bytes(), "sealer key")?;
    let _ = writeln!(std::io::stdout(), "{}", key.public());
    seif_cli::report::note(
        crate::TOOL,
        &format!(
            "wrote the secret sealer key to {} (mode 0600); give the public key above to the custodians so a ceremony can add it to the vault",
            out.display()
        ),
    );
    Ok(())
}

pub fn load(path: &Path) -> Result<SealerSecretKey, Failure> {
    SealerSecretKey::load(path).map_err(|e| match e {
        SealerKeyError::Io(e) => io_failure(path, "cannot read the sealer key", &e),
        other => Failure::error(format!("{}: {other}", path.display()))
            .hint("pass the file written by `seif sealer new`"),
    })
}

pub fn public(path: &Path) -> Result<(), Failure> {
    let key = load(path)?;
    let _ = writeln!(std::io::stdout(), "{}", key.public());
    Ok(())
}

//! Passphrases: asked at a prompt (rpassword reads the terminal, not stdin),
//! or read from a file named with `--passphrase-file KEY=FILE`, where KEY is
//! a custodian label or an OpenPGP key fingerprint. Never from argv or the
//! environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use std::io::Read;

use seif::custody::passphrase::{self, MIN_PASSPHRASE_CHARS, PASSPHRASE_FILE_MAX};
use seif::custody::{CustodyError, PASSPHRASE_ATTEMPTS, Passphrases};
use seif_cli::report::Failure;
use zeroize::Zeroizing;

/// A passphrase or PIN file, read as the prompt reads a typed line (see
/// `passphrase::from_file_text`); the error names the file.
pub fn read_secret_file(path: &std::path::Path) -> Result<SecretString, String> {
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(PASSPHRASE_FILE_MAX as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
    passphrase::from_file_text(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub struct Prompter {
    files: BTreeMap<String, PathBuf>,
}

impl Prompter {
    pub fn new(args: &[String]) -> Result<Self, Failure> {
        let mut files = BTreeMap::new();
        for a in args {
            let Some((key, file)) = a.split_once('=') else {
                return Err(Failure::usage(format!(
                    "--passphrase-file '{}': expected LABEL=FILE",
                    seif::untrusted::Shown(a)
                )));
            };
            if files.insert(key.to_owned(), PathBuf::from(file)).is_some() {
                return Err(Failure::error(format!(
                    "--passphrase-file: '{key}' is given twice"
                )));
            }
        }
        Ok(Prompter { files })
    }

    /// Reads every passphrase file once, before anyone is asked for
    /// anything: a mistyped path is found now, not after other custodians
    /// have typed.
    pub fn check_files(&self) -> Result<(), Failure> {
        for key in self.files.keys() {
            self.read_file(key).map_err(|e| {
                Failure::error(format!("--passphrase-file {key}=…: {e}"))
                    .hint(crate::context::NOTHING_ASKED)
            })?;
        }
        Ok(())
    }

    /// A passphrase file is read as the prompt reads a typed line (see
    /// `passphrase::from_file_text`): both give the library the same text.
    fn read_file(&self, key: &str) -> Result<Option<SecretString>, CustodyError> {
        let Some(path) = self.files.get(key) else {
            return Ok(None);
        };
        read_secret_file(path)
            .map(Some)
            .map_err(CustodyError::NoPassphrase)
    }

    /// Asks at the terminal. What a prompt quotes from a file is safe to
    /// show by then: a custodian label has passed `--custodian`'s rule, and
    /// an OpenPGP user id comes escaped from the library.
    fn ask(&self, prompt: &str) -> Result<SecretString, CustodyError> {
        rpassword::prompt_password(prompt)
            .map(SecretString::from)
            .map_err(|e| CustodyError::NoPassphrase(format!("cannot prompt ({e}); use --passphrase-file LABEL=FILE when there is no terminal")))
    }
}

impl Passphrases for Prompter {
    fn new_passphrase(&mut self, label: &str) -> Result<SecretString, CustodyError> {
        if let Some(p) = self.read_file(label)? {
            return Ok(p);
        }
        for _ in 0..PASSPHRASE_ATTEMPTS {
            let a = self.ask(&format!("New passphrase for custodian '{label}' (at least {MIN_PASSPHRASE_CHARS} characters): "))?;
            if !passphrase::long_enough(&a) {
                eprintln!("seif-ceremony: that passphrase is too short; try again");
                continue;
            }
            let b = self.ask(&format!("Repeat the passphrase for '{label}': "))?;
            if a.expose_secret() == b.expose_secret() {
                return Ok(a);
            }
            eprintln!("seif-ceremony: the two passphrases differ; try again");
        }
        Err(CustodyError::NoPassphrase(format!(
            "no passphrase agreed for '{label}'"
        )))
    }

    fn share_passphrase(
        &mut self,
        label: &str,
        attempt: usize,
    ) -> Result<Option<SecretString>, CustodyError> {
        if self.files.contains_key(label) {
            return if attempt == 1 {
                self.read_file(label)
            } else {
                Ok(None)
            };
        }
        let again = if attempt > 1 {
            " (wrong; try again)"
        } else {
            ""
        };
        self.ask(&format!("Passphrase for {label}'s share{again}: "))
            .map(Some)
    }

    fn key_passphrase(
        &mut self,
        fingerprint: &str,
        prompt: &str,
        attempt: usize,
    ) -> Result<Option<SecretString>, CustodyError> {
        if self.files.contains_key(fingerprint) {
            return if attempt == 1 {
                self.read_file(fingerprint)
            } else {
                Ok(None)
            };
        }
        self.ask(&format!("{prompt}: ")).map(Some)
    }
}

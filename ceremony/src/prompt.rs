//! Passphrases: asked at a prompt (rpassword reads the terminal, not stdin),
//! or read from a file named with `--passphrase-file KEY=FILE`, where KEY is
//! a custodian label or an OpenPGP key fingerprint. Never from argv or the
//! environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use seif::custody::passphrase::MIN_PASSPHRASE_CHARS;
use seif::custody::{CustodyError, Passphrases};
use seif::report::Failure;
use zeroize::Zeroizing;

pub struct Prompter {
    files: BTreeMap<String, PathBuf>,
}

impl Prompter {
    pub fn new(args: &[String]) -> Result<Self, Failure> {
        let mut files = BTreeMap::new();
        for a in args {
            let Some((key, file)) = a.split_once('=') else {
                return Err(Failure::error(format!(
                    "--passphrase-file '{a}': expected LABEL=FILE"
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

    fn read_file(&self, key: &str) -> Result<Option<SecretString>, CustodyError> {
        let Some(path) = self.files.get(key) else {
            return Ok(None);
        };
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| CustodyError::NoPassphrase(format!("{}: {e}", path.display())))?,
        );
        let line = text.lines().next().unwrap_or("");
        Ok(Some(SecretString::from(line.to_owned())))
    }

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
        for _ in 0..3 {
            let a = self.ask(&format!("New passphrase for custodian '{label}' (at least {MIN_PASSPHRASE_CHARS} characters): "))?;
            if a.expose_secret().chars().count() < MIN_PASSPHRASE_CHARS {
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

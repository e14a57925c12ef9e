//! A presented share file of any kind (decrypted, passphrase, age,
//! OpenPGP, card) from untrusted bytes, opened with fixed identities (a
//! card share with a software key standing in for the card).
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use seif::custody::{CustodyError, Identities, Passphrases, open_share, passphrase};

struct Fixed;

impl Passphrases for Fixed {
    fn new_passphrase(&mut self, _: &str) -> Result<SecretString, CustodyError> {
        Err(CustodyError::NoPassphrase("fuzz".into()))
    }
    // No passphrase: Argon2id at 64 MiB per try would stall the fuzzer; the
    // parser is what is under test (passphrase::parse below).
    fn share_passphrase(&mut self, _: &str, _: usize) -> Result<Option<SecretString>, CustodyError> {
        Ok(None)
    }
    fn key_passphrase(&mut self, _: &str, _: &str, _: usize) -> Result<Option<SecretString>, CustodyError> {
        Ok(None)
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = passphrase::parse(data);
    let _ = seif::custody::card::parse(data);
    let mut ids = Identities::default();
    ids.add_age(Box::new(common::vault_keys().age_identity().clone()));
    ids.set_card(Box::new(|p, _| Ok(p.open_with_secret_scalar(&[7; 48])?)));
    let _ = open_share(data, &mut ids, &mut Fixed);
});

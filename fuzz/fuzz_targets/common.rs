//! Fixed keys for the fuzz targets: the test vault of FORMAT.md 1.1.
#![allow(dead_code)]

use seif::keys::VaultKeys;
use seif::secrets::{DataKey, VaultSecret};

pub fn vault_keys() -> VaultKeys {
    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    VaultKeys::derive(&VaultSecret::from_bytes(zeroize::Zeroizing::new(s)))
}

pub fn data_key() -> DataKey {
    DataKey::from_bytes(zeroize::Zeroizing::new([7u8; 32]))
}

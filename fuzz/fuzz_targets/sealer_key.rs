//! Sealer key files and public keys from untrusted text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seif::sealer::{SealerPublicKey, SealerSecretKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(k) = SealerSecretKey::from_file_text(text) {
        let again = SealerSecretKey::from_file_text(&k.to_file_text("x")).expect("re-reads");
        assert_eq!(again.public(), k.public());
    }
    if let Ok(p) = text.parse::<SealerPublicKey>() {
        assert_eq!(p.to_string(), text, "one spelling per key");
    }
});

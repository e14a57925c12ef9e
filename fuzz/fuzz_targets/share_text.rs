//! A decrypted share from untrusted text; canonical shares round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seif::shares::Share;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(share) = Share::from_text(text) else { return };
    let again = Share::from_text(&share.to_text()).expect("a share's text parses");
    assert_eq!(again.commitment(), share.commitment());
    assert_eq!(again.to_text().as_str(), share.to_text().as_str());
});

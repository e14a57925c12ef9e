//! vault.json from untrusted bytes; an accepted descriptor round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seif::descriptor::Descriptor;

fuzz_target!(|data: &[u8]| {
    let Ok(d) = Descriptor::from_json(data) else { return };
    let again = Descriptor::from_json(d.to_json_pretty().as_bytes()).expect("re-reads");
    assert_eq!(again.body(), d.body());
    assert_eq!(again.fingerprint(), d.fingerprint());
});

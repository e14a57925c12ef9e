//! Ceremony logs from untrusted bytes, verified against the test vault's
//! descriptor shape (the signatures will not hold; the parser and checks
//! must still never panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seif::ceremony::log::CeremonyLog;

fuzz_target!(|data: &[u8]| {
    let Ok(log) = CeremonyLog::parse(std::path::Path::new("fuzz.log"), data) else { return };
    let _ = log.head();
    for e in log.entries() {
        let _ = &e.body.event;
    }
});

//! The hub's configuration parser on arbitrary text: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hub::config::Config::parse(text, std::path::Path::new("fuzz.toml"));
    }
});

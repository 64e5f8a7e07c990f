//! The hub's configuration parser (TOML to typed, validated config): any text
//! gets a `Config` or a `ConfigError`, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hub::config::Config::parse(text, Path::new("fuzz.toml"));
    }
});

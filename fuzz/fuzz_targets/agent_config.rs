//! The agent's configuration parser (TOML to typed, validated config, with its
//! own duration, size and bitrate syntax): errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = agent::config::Config::parse(text);
        let _ = agent::config::parse_duration(text);
        let _ = agent::config::parse_size(text);
        let _ = agent::config::parse_bitrate(text);
    }
});

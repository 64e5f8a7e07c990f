//! Crash recovery and probing of untrusted MP4 bytes: never panics, and a
//! recovered prefix is never longer than the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = media::recover(data) {
        assert!(r.valid_len as usize <= data.len());
    }
    let _ = media::probe(data);
});

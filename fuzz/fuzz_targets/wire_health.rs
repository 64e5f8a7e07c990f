//! An agent's health report is parsed without panicking, and what it accepts is within
//! bounds; the throttling word decoder never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::health::{AgentHealth, MAX_VERSION_LEN, Throttled};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = AgentHealth::parse(data) {
        assert!(h.version.len() <= MAX_VERSION_LEN);
        assert!(h.cpu_temp_c.is_none_or(f64::is_finite));
        assert!(h.load.is_none_or(|l| l.iter().all(|v| v.is_finite() && *v >= 0.0)));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Throttled::parse(text);
    }
});

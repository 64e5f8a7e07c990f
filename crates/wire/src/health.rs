//! The agent's health report to the hub: `POST` [`status_path`] with
//! `Authorization: Bearer TOKEN` (the camera's agent token) and an [`AgentHealth`] JSON
//! body of at most [`MAX_STATUS_LEN`] bytes; the hub answers `204` (kept), `400` (not a
//! report), `401` (token refused), `404` (no such agent camera), `413` (too long). Beside
//! the ingest websocket, whose framing stays the seed's. Also the decoding of the
//! Raspberry Pi firmware's throttling word ([`Throttled`]). Pure, no I/O.

use serde::{Deserialize, Serialize};

/// The route, as the hub's router writes it.
pub const STATUS_ROUTE: &str = "/api/v1/agents/{camera_id}/status";
/// Longest report body the hub reads.
pub const MAX_STATUS_LEN: usize = 16 * 1024;
/// Longest version string kept.
pub const MAX_VERSION_LEN: usize = 64;

/// The path of camera `camera_id`'s report.
pub fn status_path(camera_id: u32) -> String {
    format!("/api/v1/agents/{camera_id}/status")
}

/// What an agent says about its Pi. Every reading is optional: an agent reports what its
/// machine exposes. Unknown fields are ignored (a newer agent may say more).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentHealth {
    /// The agent's version.
    pub version: String,
    /// Seconds since the agent started.
    pub uptime_s: u64,
    /// SoC temperature, °C.
    #[serde(default)]
    pub cpu_temp_c: Option<f64>,
    /// The firmware's throttling word, decoded (Raspberry Pi only).
    #[serde(default)]
    pub throttled: Option<Throttled>,
    /// 1, 5 and 15 minute load averages.
    #[serde(default)]
    pub load: Option<[f64; 3]>,
    /// Free and total bytes on the recordings' filesystem.
    #[serde(default)]
    pub disk_free_bytes: Option<u64>,
    #[serde(default)]
    pub disk_total_bytes: Option<u64>,
    /// Segments (and their bytes) recorded but not yet on the hub.
    #[serde(default)]
    pub upload_backlog_segments: Option<u64>,
    #[serde(default)]
    pub upload_backlog_bytes: Option<u64>,
    /// Live frames the agent's queue dropped since it started.
    #[serde(default)]
    pub frames_dropped: u64,
}

impl AgentHealth {
    /// A report read from `body`: JSON, bounded, values in range.
    pub fn parse(body: &[u8]) -> Result<AgentHealth, String> {
        if body.len() > MAX_STATUS_LEN {
            return Err(format!("longer than {MAX_STATUS_LEN} bytes"));
        }
        let h: AgentHealth = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if h.version.len() > MAX_VERSION_LEN || h.version.chars().any(char::is_control) {
            return Err("version: at most 64 printable characters".into());
        }
        if let Some(t) = h.cpu_temp_c
            && !(t.is_finite() && (-100.0..=200.0).contains(&t))
        {
            return Err("cpu_temp_c: out of range".into());
        }
        if let Some(l) = h.load
            && l.iter().any(|v| !(v.is_finite() && *v >= 0.0))
        {
            return Err("load: out of range".into());
        }
        Ok(h)
    }
}

/// The Raspberry Pi firmware's `get_throttled` word: what is happening now and what has
/// happened since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttled {
    pub under_voltage: bool,
    pub frequency_capped: bool,
    pub throttled: bool,
    pub soft_temp_limit: bool,
    pub under_voltage_occurred: bool,
    pub frequency_capped_occurred: bool,
    pub throttled_occurred: bool,
    pub soft_temp_limit_occurred: bool,
}

impl Throttled {
    /// Decodes `0x50005` (sysfs), `throttled=0x50005` (`vcgencmd get_throttled`) or a
    /// decimal number.
    pub fn parse(text: &str) -> Option<Throttled> {
        let t = text.trim();
        let t = t.strip_prefix("throttled=").unwrap_or(t);
        let bits = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => t.parse().ok()?,
        };
        let bit = |n: u32| bits & (1 << n) != 0;
        Some(Throttled {
            under_voltage: bit(0),
            frequency_capped: bit(1),
            throttled: bit(2),
            soft_temp_limit: bit(3),
            under_voltage_occurred: bit(16),
            frequency_capped_occurred: bit(17),
            throttled_occurred: bit(18),
            soft_temp_limit_occurred: bit(19),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_words_decode() {
        let t = Throttled::parse("0x50005\n").unwrap();
        assert!(t.under_voltage && t.throttled && !t.frequency_capped);
        assert!(t.under_voltage_occurred && t.throttled_occurred);
        assert_eq!(
            Throttled::parse("throttled=0x0"),
            Some(Throttled::default())
        );
        let past = Throttled::parse("0x50000").unwrap();
        assert!(!past.under_voltage && past.under_voltage_occurred);
        assert!(Throttled::parse("8").unwrap().soft_temp_limit);
        assert_eq!(Throttled::parse("0xZZ"), None);
    }

    #[test]
    fn reports_are_bounded_and_checked() {
        let ok =
            br#"{"version":"0.1.0","uptime_s":5,"cpu_temp_c":48.1,"load":[0.1,0.2,0.3],"extra":1}"#;
        let h = AgentHealth::parse(ok).unwrap();
        assert_eq!(h.cpu_temp_c, Some(48.1));
        assert!(AgentHealth::parse(&vec![b' '; MAX_STATUS_LEN + 1]).is_err());
        assert!(AgentHealth::parse(br#"{"version":"x","uptime_s":1,"cpu_temp_c":1e9}"#).is_err());
        assert!(AgentHealth::parse(br#"{"version":"x","uptime_s":1,"load":[-1,0,0]}"#).is_err());
        assert!(AgentHealth::parse(b"not json").is_err());
        let long = format!(r#"{{"version":"{}","uptime_s":1}}"#, "v".repeat(65));
        assert!(AgentHealth::parse(long.as_bytes()).is_err());
    }
}

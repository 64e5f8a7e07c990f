//! Keys for operating the hub from outside: `[metrics]` (who may scrape `/metrics`) and
//! `[mqtt]` (Home Assistant over an MQTT broker) and `[health]` (when health events fire).

use std::path::PathBuf;

use serde::Deserialize;

/// `[metrics]`: Prometheus scraping of `GET /metrics`. Without a token, only the hub's
/// users (Basic or session) may read it; never anonymous.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// File holding the token Prometheus sends as `Authorization: Bearer TOKEN`
    /// (`authorization.credentials_file` in its scrape config). Must not be readable by
    /// group or others; at least 16 characters.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// One `[[webhook]]`: a URL that gets a signed JSON `POST` for each chosen event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// File holding the HMAC-SHA256 key (at least 16 characters, mode 0600).
    pub secret_file: PathBuf,
    /// Event kinds to send (`motion`, `alarm`, `battery`, `online`, `offline`,
    /// `auth_failed`, `health`); empty for all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Deliveries held while the receiver is down or slow; past it the oldest is dropped.
    #[serde(default = "default_webhook_queue")]
    pub queue: usize,
    /// Bound on one attempt (a receiver that hangs is given up on and tried again).
    #[serde(default = "default_webhook_timeout")]
    pub timeout: units::Dur,
    /// A delivery not accepted within this long after its event is dropped.
    #[serde(default = "default_webhook_max_age")]
    pub max_age: units::Dur,
}

/// The event kinds a webhook may choose (`events::What::key`).
pub const EVENT_KINDS: [&str; 7] = [
    "motion",
    "alarm",
    "battery",
    "online",
    "offline",
    "auth_failed",
    "health",
];

fn default_webhook_queue() -> usize {
    256
}
fn default_webhook_timeout() -> units::Dur {
    units::Dur::from_secs(10)
}
fn default_webhook_max_age() -> units::Dur {
    units::Dur::from_secs(3600)
}

impl WebhookConfig {
    /// The problem with these values, as (key, reason).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let url = self.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || reqwest::Url::parse(url).is_err()
        {
            return Err(("url", "an http:// or https:// URL".into()));
        }
        if let Some(k) = self
            .events
            .iter()
            .find(|k| !EVENT_KINDS.contains(&k.as_str()))
        {
            return Err((
                "events",
                format!("{k:?} is not one of {}", EVENT_KINDS.join(", ")),
            ));
        }
        if self.queue == 0 || self.queue > 100_000 {
            return Err(("queue", "between 1 and 100000 deliveries".into()));
        }
        if self.timeout.is_zero() || self.max_age.is_zero() {
            return Err(("timeout", "timeout and max_age must be above 0".into()));
        }
        Ok(())
    }
}

/// `[health]`: when readings and silences become health events (`crate::health`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Time between two checks.
    #[serde(default = "default_check_interval")]
    pub check_interval: units::Dur,
    /// A camera silent this long is a health problem (`offline`).
    #[serde(default = "default_health_offline")]
    pub offline_after: units::Dur,
    /// A disk forecast under this many days is a problem (`disk_low`): the hub's disk
    /// holding fewer days of footage, or an agent's Pi filling within them.
    #[serde(default = "default_forecast_days")]
    pub disk_forecast_days: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            check_interval: default_check_interval(),
            offline_after: default_health_offline(),
            disk_forecast_days: default_forecast_days(),
        }
    }
}

fn default_check_interval() -> units::Dur {
    units::Dur::from_secs(10)
}
fn default_health_offline() -> units::Dur {
    units::Dur::from_secs(300)
}
fn default_forecast_days() -> u32 {
    7
}

/// `[mqtt]`: the broker the hub publishes Home Assistant discovery, states, events and
/// snapshots to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker's host name or address.
    pub host: String,
    /// The broker's port (default 1883, 8883 with `[mqtt.tls]`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Connect over TLS (`[mqtt.tls]`).
    #[serde(default)]
    pub tls: Option<MqttTls>,
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password; must not be readable by group or others.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The hub's topics start with this (`PREFIX/status`, `PREFIX/CAMERA/motion`, ...).
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Home Assistant's discovery prefix.
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
    /// The MQTT client id; also the start of every entity's unique id.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Least time between two snapshots of a camera while its motion lasts.
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval: units::Dur,
    /// Messages held while the broker is slow or away; past it the oldest is dropped.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// MQTT keep-alive; the broker publishes the hub's last will after 1.5 times this
    /// without a word (at once when the connection drops).
    #[serde(default = "default_keep_alive")]
    pub keep_alive: units::Dur,
}

/// `[mqtt.tls]`: the certificate authorities the broker's certificate must chain to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTls {
    /// PEM bundle (default: Debian's system bundle).
    #[serde(default = "default_ca_file")]
    pub ca_file: PathBuf,
}

fn default_topic_prefix() -> String {
    "camera-hub".into()
}
fn default_discovery_prefix() -> String {
    "homeassistant".into()
}
fn default_client_id() -> String {
    "camera-hub".into()
}
fn default_snapshot_interval() -> units::Dur {
    units::Dur::from_secs(1)
}
fn default_queue() -> usize {
    256
}
fn default_keep_alive() -> units::Dur {
    units::Dur::from_secs(30)
}
fn default_ca_file() -> PathBuf {
    PathBuf::from("/etc/ssl/certs/ca-certificates.crt")
}

impl MqttConfig {
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.tls.is_some() { 8883 } else { 1883 })
    }

    /// The problem with these values, as (key, reason).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let topic_ok = |t: &str| {
            !t.is_empty()
                && t.len() <= 128
                && !t.starts_with('/')
                && !t.ends_with('/')
                && !t.contains(['+', '#', '\0'])
        };
        if self.host.trim().is_empty() {
            return Err(("host", "must not be empty".into()));
        }
        if !topic_ok(&self.topic_prefix) {
            return Err((
                "topic_prefix",
                "1-128 characters, no '+', '#', or leading/trailing '/'".into(),
            ));
        }
        if !topic_ok(&self.discovery_prefix) {
            return Err((
                "discovery_prefix",
                "1-128 characters, no '+', '#', or leading/trailing '/'".into(),
            ));
        }
        if self.client_id.is_empty()
            || self.client_id.len() > 64
            || !self
                .client_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err((
                "client_id",
                "1-64 characters of letters, digits, '-' and '_'".into(),
            ));
        }
        if self.queue == 0 || self.queue > 100_000 {
            return Err(("queue", "between 1 and 100000 messages".into()));
        }
        if self.snapshot_interval.is_zero() {
            return Err(("snapshot_interval", "must be above 0".into()));
        }
        if self.keep_alive.as_secs() < 5 || self.keep_alive.as_secs() > 3600 {
            return Err(("keep_alive", "between 5s and 1h".into()));
        }
        if self.password_file.is_some() && self.username.is_none() {
            return Err(("password_file", "needs a username".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn err(mqtt: &str) -> String {
        let text = format!("data_dir = \"d\"\n[mqtt]\nhost = \"broker\"\n{mqtt}\n");
        match Config::parse(&text, Path::new("hub.toml")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_mqtt_keys_are_named() {
        assert_eq!(err(""), "");
        for (line, key) in [
            ("client_id = \"a b\"", "mqtt.client_id"),
            ("topic_prefix = \"a/#\"", "mqtt.topic_prefix"),
            ("discovery_prefix = \"/ha\"", "mqtt.discovery_prefix"),
            ("queue = 0", "mqtt.queue"),
            ("snapshot_interval = \"0s\"", "mqtt.snapshot_interval"),
            ("keep_alive = \"1s\"", "mqtt.keep_alive"),
            ("password_file = \"p\"", "mqtt.password_file"),
        ] {
            let e = err(line);
            assert!(e.contains(key), "{line}: {e}");
        }
        let e = err("colour = \"red\"");
        assert!(e.ends_with("unknown key `colour` (line 4)"), "{e}");
        let cfg = Config::parse(
            "data_dir = \"d\"\n[mqtt]\nhost = \"b\"\n[mqtt.tls]\n",
            Path::new("hub.toml"),
        )
        .unwrap();
        assert_eq!(cfg.mqtt.unwrap().port(), 8883);
    }
}

#[cfg(test)]
mod webhook_tests {
    use std::path::Path;

    use crate::config::Config;

    fn err(hook: &str) -> String {
        let text = format!("data_dir = \"d\"\n[[webhook]]\nsecret_file = \"s\"\n{hook}\n");
        match Config::parse(&text, Path::new("hub.toml")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_webhook_keys_are_named() {
        assert_eq!(err("url = \"https://example.org/hook\""), "");
        for (line, key) in [
            ("url = \"ftp://x/\"", "webhook[0].url"),
            ("url = \"http://\"", "webhook[0].url"),
            (
                "url = \"http://h/\"\nevents = [\"motoin\"]",
                "webhook[0].events",
            ),
            ("url = \"http://h/\"\nqueue = 0", "webhook[0].queue"),
            (
                "url = \"http://h/\"\ntimeout = \"0s\"",
                "webhook[0].timeout",
            ),
        ] {
            let e = err(line);
            assert!(e.contains(key), "{line}: {e}");
        }
    }
}

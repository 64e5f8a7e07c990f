//! The running hub's state, shared by every part of it: the configuration, the camera
//! registry, authentication, recordings, events, the secret agent tokens derive from, and the
//! shutdown token. Built by [`crate::server::build`]; the web layer, the sources and the
//! recorders each take from it what they need.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::camera::Registry;
use crate::config::Config;
use crate::event_store::EventStore;
use crate::recordings::Recordings;

/// The hub.
pub struct Hub {
    pub cfg: Config,
    pub cameras: Registry,
    pub auth: Auth,
    /// The secret agent tokens derive from.
    pub secret: Vec<u8>,
    /// Cancelled when the hub shuts down; long-lived responses end with it.
    pub shutdown: CancellationToken,
    /// True when served over TLS (cookies get `Secure`).
    pub tls: bool,
    /// Recorded segments: files, index, retention.
    pub recordings: Arc<Recordings>,
    /// Every camera's events: motion, alarms, health.
    pub events: Arc<EventStore>,
    /// The bearer token `/metrics` accepts (`[metrics] token_file`).
    pub metrics_token: Option<String>,
    /// The listener's connections by state.
    pub connections: Arc<crate::listener::ConnStats>,
    /// The MQTT publisher's state (`[mqtt]`).
    pub mqtt: Arc<crate::counters::MqttStats>,
    /// Each `[[webhook]]`'s counters, in configuration order.
    pub webhooks: Vec<Arc<crate::counters::WebhookStats>>,
    /// The off-site bucket (`[offsite]`), when configured.
    pub offsite: Option<Arc<offsite::Bucket>>,
    /// The off-site replicator's counters and backlog.
    pub replication: Arc<crate::offsite::stats::Stats>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

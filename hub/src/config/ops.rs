//! Keys for operating the hub from outside: `[metrics]` (who may scrape `/metrics`).

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

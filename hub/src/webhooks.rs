//! Webhooks (`[[webhook]]`): each URL gets a signed JSON `POST` for every event of the
//! kinds it chose, from every camera:
//!
//! ```text
//! POST URL
//! Content-Type: application/json
//! X-Camera-Hub-Timestamp: 1767000000            (unix seconds of this attempt)
//! X-Camera-Hub-Signature: sha256=HEX            (HMAC-SHA256 with the secret of "TIMESTAMP.BODY")
//!
//! {"id":"…","camera":"porch","event":{"at_ms":…,"origin":"camera","kind":"motion","active":true}}
//! ```
//!
//! A receiver checks the signature and refuses timestamps far from its clock (replay);
//! `id` is the same on every attempt of one delivery (duplicates). A 2xx accepts; a 4xx
//! other than 408 and 429 refuses for good (logged, dropped); anything else (connection
//! refused, a timeout, 5xx) is tried again with backoff (1 s doubling to 60 s) until the
//! delivery is `max_age` old. Each URL has its own bounded outbox (drop-oldest, counted)
//! and sends one delivery at a time, in order; nothing waits for a receiver.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::Hub;
use crate::config::WebhookConfig;
use crate::counters::WebhookStats;
use crate::outbox::Outbox;

pub const TIMESTAMP_HEADER: &str = "x-camera-hub-timestamp";
pub const SIGNATURE_HEADER: &str = "x-camera-hub-signature";
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The signature header's value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One event to deliver.
#[derive(Debug)]
struct Delivery {
    body: bytes::Bytes,
    made: Instant,
}

struct Hook {
    cfg: WebhookConfig,
    secret: Vec<u8>,
    outbox: Outbox<Delivery>,
    stats: Arc<WebhookStats>,
}

impl Hook {
    fn wants(&self, kind: &str) -> bool {
        self.cfg.events.is_empty() || self.cfg.events.iter().any(|k| k == kind)
    }
}

/// Reads every webhook's secret (0600, at least 16 characters) and returns its stats,
/// for the hub to hold; fails on a secret it cannot use.
pub fn stats_for(cfgs: &[WebhookConfig]) -> anyhow::Result<Vec<Arc<WebhookStats>>> {
    for (i, c) in cfgs.iter().enumerate() {
        read_secret(i, c)?;
    }
    Ok(cfgs.iter().map(|_| Arc::default()).collect())
}

fn read_secret(i: usize, c: &WebhookConfig) -> anyhow::Result<Vec<u8>> {
    let key = format!("webhook[{i}].secret_file");
    let s = crate::config::read_secret_file(&key, &c.secret_file).map_err(anyhow::Error::msg)?;
    let s = s.trim();
    if s.len() < 16 {
        anyhow::bail!(
            "{key} {}: the secret must be at least 16 characters",
            c.secret_file.display()
        );
    }
    Ok(s.as_bytes().to_vec())
}

/// Starts a sender per webhook and an event consumer per camera, until `stop`.
pub fn spawn(hub: &Hub, tracker: &TaskTracker, stop: &CancellationToken) -> anyhow::Result<()> {
    if hub.cfg.webhooks.is_empty() {
        return Ok(());
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("camera-hub/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut hooks = Vec::new();
    for (i, cfg) in hub.cfg.webhooks.iter().enumerate() {
        let stats = hub.webhooks.get(i).cloned().unwrap_or_default();
        hooks.push(Arc::new(Hook {
            secret: read_secret(i, cfg)?,
            outbox: Outbox::new(cfg.queue, Arc::clone(&stats.queue)),
            cfg: cfg.clone(),
            stats,
        }));
    }
    for hook in &hooks {
        tracker.spawn(send(client.clone(), Arc::clone(hook), stop.clone()));
    }
    for cam in hub.cameras.iter() {
        let (mut rx, stop, name, hooks) = (
            cam.events.subscribe(),
            stop.clone(),
            cam.name.clone(),
            hooks.clone(),
        );
        tracker.spawn(async move {
            let mut n = 0u64;
            loop {
                let e = tokio::select! {
                    _ = stop.cancelled() => return,
                    e = rx.recv() => e,
                };
                let e = match e {
                    Ok(e) => e,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(camera = %name, missed, "webhooks fell behind the events");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                n += 1;
                let id = format!("{name}-{}-{n}", e.at_ms);
                let body = serde_json::json!({ "id": id, "camera": name, "event": &*e });
                let body = bytes::Bytes::from(body.to_string());
                for h in hooks.iter().filter(|h| h.wants(e.what.key())) {
                    h.outbox.push(Delivery {
                        body: body.clone(),
                        made: Instant::now(),
                    });
                }
            }
        });
    }
    Ok(())
}

/// What one attempt came to.
enum Outcome {
    Accepted,
    Refused(u16),
    Retry(String),
}

async fn attempt(client: &reqwest::Client, hook: &Hook, d: &Delivery) -> Outcome {
    let ts = crate::camera::now_ms() / 1000;
    let sent = client
        .post(hook.cfg.url.trim())
        .timeout(hook.cfg.timeout.as_duration())
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sign(&hook.secret, ts, &d.body))
        .body(d.body.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Outcome::Accepted,
        Ok(r) if r.status().is_client_error() && r.status() != 408 && r.status() != 429 => {
            Outcome::Refused(r.status().as_u16())
        }
        Ok(r) => Outcome::Retry(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Outcome::Retry("timed out".into()),
        Err(e) if e.is_connect() => Outcome::Retry("cannot connect".into()),
        Err(_) => Outcome::Retry("request failed".into()),
    }
}

/// One webhook's deliveries, oldest first, one at a time.
async fn send(client: reqwest::Client, hook: Arc<Hook>, stop: CancellationToken) {
    // The host only: a URL may carry a secret in its path or query.
    let host = reqwest::Url::parse(hook.cfg.url.trim())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let max_age = hook.cfg.max_age.as_duration();
    loop {
        let d = tokio::select! {
            _ = stop.cancelled() => return,
            d = hook.outbox.pop() => d,
        };
        let mut backoff = BACKOFF_MIN;
        let mut failing = false;
        loop {
            if d.made.elapsed() > max_age {
                hook.stats.given_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%host, "webhook delivery too old; dropped");
                break;
            }
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                o = attempt(&client, &hook, &d) => o,
            };
            match outcome {
                Outcome::Accepted => {
                    hook.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    if failing {
                        tracing::info!(%host, "webhook receiver accepts again");
                    }
                    break;
                }
                Outcome::Refused(status) => {
                    hook.stats.given_up.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%host, status, "webhook receiver refused a delivery; dropped");
                    break;
                }
                Outcome::Retry(why) => {
                    hook.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    if !failing {
                        tracing::warn!(%host, %why, "webhook delivery failed; retrying");
                        failing = true;
                    }
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed here independently of `sign`: the MAC of "12.body".
        let key = b"Jefe";
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(b"12.body");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign(key, 12, b"body"), expected);
        assert_ne!(sign(key, 13, b"body"), expected, "the timestamp is signed");
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?"),
        // here as timestamp 0 and a body that makes "0." part of the message.
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

//! Store and forward for events, like segments: each event the agent notices is written to
//! the spool (`STATE_DIR/events/ID.json`, crash-safe: a temporary file, fsynced, renamed,
//! the directory fsynced) before anything is sent; the [`EventSender`] posts the spool to
//! the hub (`wire::events`), oldest first, and deletes an ended event's file once the hub
//! has it. While the hub is unreachable the files wait; the hub keeps one event per id,
//! so one sent twice (the answer lost in an outage) is stored once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use wire::events::{AgentEvent, events_path, valid_id};

use crate::backoff::{Backoff, Problem, sleep_or_cancel};
use crate::config::UploadConfig;

/// How often the spool is looked at without a wake-up.
const RESCAN: Duration = Duration::from_secs(10);
/// The most events kept waiting (the oldest are dropped beyond it, each logged).
pub const MAX_SPOOLED: usize = 10_000;

/// The directory of events waiting for the hub.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool in `dir`, created (mode 0700) if missing.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        Ok(Spool {
            dir: dir.to_owned(),
        })
    }

    /// Writes (or replaces) `event`'s file, crash-safe.
    pub fn put(&self, event: &AgentEvent) -> std::io::Result<()> {
        use std::io::Write;
        if !valid_id(&event.id) {
            return Err(std::io::Error::other("not an event id"));
        }
        let path = self.dir.join(format!("{}.json", event.id));
        let tmp = self.dir.join(format!(".{}.json.tmp", event.id));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(event).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.trim();
        Ok(())
    }

    /// The spooled events, oldest start first. Files that do not read are removed (logged).
    pub fn list(&self) -> std::io::Result<Vec<AgentEvent>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<AgentEvent>(&b).ok())
            {
                Some(e) if e.check().is_ok() => out.push(e),
                _ => {
                    warn!(file = %path.display(), "unreadable event file removed");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        out.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
        Ok(out)
    }

    /// Ends the events a previous run left open (it stopped without ending them, e.g.
    /// killed): each ends where it started, the only moment known. How many.
    pub fn end_dangling(&self) -> std::io::Result<usize> {
        let mut n = 0;
        for mut e in self.list()? {
            if e.end_ms.is_none() {
                e.end_ms = Some(e.start_ms);
                self.put(&e)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes `id`'s file.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        if !valid_id(id) {
            return Ok(());
        }
        match std::fs::remove_file(self.dir.join(format!("{id}.json"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Drops the oldest events beyond [`MAX_SPOOLED`].
    fn trim(&self) {
        let Ok(list) = self.list() else { return };
        for e in list.iter().take(list.len().saturating_sub(MAX_SPOOLED)) {
            warn!(id = %e.id, "event spool full; the oldest event is dropped");
            let _ = self.remove(&e.id);
        }
    }
}

/// Sends the spool to the hub.
#[derive(Debug)]
pub struct EventSender {
    cfg: UploadConfig,
    spool: Spool,
    wake: Arc<Notify>,
    client: reqwest::Client,
    /// Ongoing events the hub has as they are now (id -> its JSON), so they are not sent
    /// again until they change.
    sent_open: HashMap<String, String>,
}

/// What one post achieved.
enum Sent {
    Stored,
    /// The hub refused this event for good (it is dropped).
    Refused(String),
    /// Try again later (`true`: the token was refused).
    Later(String, bool),
}

impl EventSender {
    pub fn new(cfg: UploadConfig, spool: Spool, wake: Arc<Notify>) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("camera-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(EventSender {
            cfg,
            spool,
            wake,
            client,
            sent_open: HashMap::new(),
        })
    }

    /// Sends until `cancel`.
    pub async fn run(mut self, cancel: CancellationToken) {
        info!(hub = %self.cfg.hub_base_url, "event sender started");
        let mut backoff = Backoff::new(self.cfg.backoff_initial, self.cfg.backoff_max);
        let mut problem = Problem::new("sending events to the hub");
        loop {
            let wait = match self.pass().await {
                Ok(()) => {
                    backoff.reset();
                    problem.clear();
                    None
                }
                Err((why, unauthorized)) => {
                    let d = if unauthorized {
                        self.cfg.unauthorized_backoff
                    } else {
                        backoff.next_delay()
                    };
                    problem.report(&why, d);
                    Some(d)
                }
            };
            let cancelled = match wait {
                Some(d) => sleep_or_cancel(d, &cancel).await,
                None => tokio::select! {
                    _ = cancel.cancelled() => true,
                    _ = self.wake.notified() => false,
                    _ = tokio::time::sleep(RESCAN) => false,
                },
            };
            if cancelled {
                break;
            }
        }
        info!("event sender stopped");
    }

    /// Posts every spooled event the hub does not have as it is.
    async fn pass(&mut self) -> Result<(), (String, bool)> {
        let spool = self.spool.clone();
        let events = tokio::task::spawn_blocking(move || spool.list())
            .await
            .map_err(|e| (e.to_string(), false))?
            .map_err(|e| (format!("reading the event spool: {e}"), false))?;
        for event in events {
            let json = serde_json::to_string(&event).map_err(|e| (e.to_string(), false))?;
            if self.sent_open.get(&event.id) == Some(&json) {
                continue;
            }
            match self.post(&json).await {
                Sent::Stored => {
                    if event.end_ms.is_some() {
                        self.sent_open.remove(&event.id);
                        self.remove(&event.id).await;
                    } else {
                        self.sent_open.insert(event.id.clone(), json);
                    }
                }
                Sent::Refused(why) => {
                    warn!(id = %event.id, reason = %why, "the hub refused an event; dropped");
                    self.sent_open.remove(&event.id);
                    self.remove(&event.id).await;
                }
                Sent::Later(why, unauthorized) => return Err((why, unauthorized)),
            }
        }
        Ok(())
    }

    async fn remove(&self, id: &str) {
        let (spool, id) = (self.spool.clone(), id.to_owned());
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || spool.remove(&id)).await {
            warn!(error = %e, "could not remove a sent event's file");
        }
    }

    async fn post(&self, json: &str) -> Sent {
        let url = format!(
            "{}{}",
            self.cfg.hub_base_url.trim_end_matches('/'),
            events_path(self.cfg.camera_id)
        );
        let r = self
            .client
            .post(url)
            .bearer_auth(self.cfg.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json.to_owned())
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => return Sent::Later(format!("hub unreachable: {e}"), false),
        };
        match r.status().as_u16() {
            200..=299 => Sent::Stored,
            401 => Sent::Later("the hub refused the agent token (401)".into(), true),
            s @ (400 | 413 | 422) => {
                let body = r.text().await.unwrap_or_default();
                Sent::Refused(format!(
                    "{s} {}",
                    body.chars().take(200).collect::<String>()
                ))
            }
            s => Sent::Later(format!("the hub answered {s}"), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, start: i64) -> AgentEvent {
        AgentEvent {
            zone: None,
            id: id.into(),
            kind: "motion".into(),
            start_ms: start,
            end_ms: None,
            score: None,
            thumbnail_jpeg: None,
        }
    }

    #[test]
    fn spool_keeps_replaces_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("events")).unwrap();
        spool.put(&ev("b", 20)).unwrap();
        spool.put(&ev("a", 10)).unwrap();
        let mut ended = ev("b", 20);
        ended.end_ms = Some(30);
        spool.put(&ended).unwrap();
        std::fs::write(dir.path().join("events/junk.json"), b"{").unwrap();
        let list = spool.list().unwrap();
        assert_eq!(list, vec![ev("a", 10), ended]);
        assert!(!dir.path().join("events/junk.json").exists());
        spool.remove("a").unwrap();
        assert_eq!(spool.list().unwrap().len(), 1);
        spool.put(&ev("c", 40)).unwrap();
        assert_eq!(spool.end_dangling().unwrap(), 1);
        let c = spool.list().unwrap().pop().unwrap();
        assert_eq!((c.id.as_str(), c.end_ms), ("c", Some(40)));
        assert!(spool.put(&ev("../x", 1)).is_err());
    }
}

//! Home Assistant over MQTT (`[mqtt]`, `rumqttc`): the hub announces every camera with
//! retained discovery configs ([`discovery`]), publishes each camera's source events as
//! they start and end (motion, labelled alarms, battery, online; every event as JSON too),
//! a battery camera's Wi-Fi signal as it changes (read from its source status every
//! [`SIGNAL_CHECK`]; the camera is asked every minute),
//! snapshots at `snapshot_interval` while motion lasts, and its own availability
//! (`PREFIX/status`: `online` on connect, `offline` as its last will and on shutdown).
//!
//! Nothing waits for the broker: the event consumers push into a bounded [`Outbox`] that
//! drops its oldest message when full (counted in `/metrics`; `crate::outbox`); one task forwards it to the
//! connection, another drives the connection and reconnects with backoff (1 s doubling to
//! 30 s). On every (re)connection the availability, discovery configs and current states
//! are published again, ahead of the outbox and outside its bound (so a small queue full of
//! outage-time messages cannot push them out).

pub mod discovery;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use events::What;
use rumqttc::{AsyncClient, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::Camera;
use crate::config::{MqttConfig, SourceConfig};
use crate::counters::MqttStats;
use crate::outbox::Outbox;
use discovery::{CameraFacts, Topics};

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a battery camera's source status is read for a new Wi-Fi signal reading.
pub const SIGNAL_CHECK: Duration = Duration::from_secs(5);
/// rumqttc's own request channel; the outbox in front of it is the real bound.
const CLIENT_CHANNEL: usize = 16;

/// A camera's states as last published, sent again after a reconnection.
#[derive(Debug, Default, Clone)]
struct States {
    motion: bool,
    online: Option<bool>,
    battery: Option<u8>,
    /// Wi-Fi signal, dBm.
    signal: Option<i32>,
    labels: BTreeMap<String, bool>,
}

impl States {
    /// Motion or a labelled alarm is going on.
    fn active(&self) -> bool {
        self.motion || self.labels.values().any(|a| *a)
    }
}

/// One camera as the publisher sees it.
struct Cam {
    camera: Arc<Camera>,
    facts: CameraFacts,
    states: Mutex<States>,
}

/// Everything the tasks share.
struct Shared {
    topics: Topics,
    outbox: Outbox<Message>,
    /// What a fresh connection needs, sent before the outbox (not subject to its bound;
    /// replaced by the next connection's). The outbox's state messages after it are in
    /// the order they happened, so the last one of each topic is still the current state.
    announcement: Mutex<VecDeque<Message>>,
    announced: tokio::sync::Notify,
    cams: Vec<Cam>,
}

impl Shared {
    fn on_off(v: bool) -> &'static str {
        if v { "ON" } else { "OFF" }
    }

    /// The messages a fresh connection needs: availability, discovery, current states;
    /// queued ahead of the outbox.
    fn announce(&self) {
        let t = &self.topics;
        let mut out = VecDeque::new();
        out.push_back(Message::new(t.status(), "online", true));
        for c in &self.cams {
            for (topic, json) in discovery::configs(t, &c.facts) {
                out.push_back(Message::new(topic, json.to_string(), true));
            }
            let s = lock(&c.states).clone();
            let name = &c.facts.name;
            out.push_back(Message::new(
                t.camera(name, "motion"),
                Self::on_off(s.motion),
                true,
            ));
            if c.facts.labels {
                for l in discovery::LABELS {
                    let on = s.labels.get(l).copied().unwrap_or(false);
                    out.push_back(Message::new(t.camera(name, l), Self::on_off(on), true));
                }
            }
            if let Some(on) = s.online {
                out.push_back(Message::new(
                    t.camera(name, "online"),
                    Self::on_off(on),
                    true,
                ));
            }
            if let Some(p) = s.battery {
                out.push_back(Message::new(t.camera(name, "battery"), p.to_string(), true));
            }
            if let Some(dbm) = s.signal {
                out.push_back(Message::new(
                    t.camera(name, "signal"),
                    dbm.to_string(),
                    true,
                ));
            }
            let active = c.camera.agent_health.problems();
            for code in &c.facts.health {
                out.push_back(Message::new(
                    t.camera(name, &format!("health_{code}")),
                    Self::on_off(active.contains(code)),
                    true,
                ));
            }
        }
        *lock(&self.announcement) = out;
        self.announced.notify_one();
    }

    /// Applies `what` to the camera's states and queues the state messages it changes.
    fn state_messages(&self, c: &Cam, what: &What) {
        let t = &self.topics;
        let name = &c.facts.name;
        let mut s = lock(&c.states);
        let msg = match what {
            What::Motion { active } => {
                s.motion = *active;
                Some(("motion".to_owned(), Self::on_off(*active).to_owned()))
            }
            What::Alarm { label, active } => {
                let l = label.as_str();
                if l.is_empty()
                    || !l
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                {
                    None
                } else {
                    s.labels.insert(l.to_owned(), *active);
                    Some((l.to_owned(), Self::on_off(*active).to_owned()))
                }
            }
            What::Battery { percent, .. } => {
                s.battery = Some(*percent);
                Some(("battery".to_owned(), percent.to_string()))
            }
            What::Online => {
                s.online = Some(true);
                Some(("online".to_owned(), "ON".to_owned()))
            }
            What::Offline { .. } => {
                s.online = Some(false);
                Some(("online".to_owned(), "OFF".to_owned()))
            }
            What::Health { code, active, .. } => {
                if code
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                {
                    Some((format!("health_{code}"), Self::on_off(*active).to_owned()))
                } else {
                    None
                }
            }
            What::AuthFailed => None,
        };
        drop(s);
        if let Some((what, payload)) = msg {
            self.outbox
                .push(Message::new(t.camera(name, &what), payload, true));
        }
    }

    /// Queues the camera's Wi-Fi signal when its source reports a new reading.
    fn signal(&self, c: &Cam) {
        let now = c
            .camera
            .video
            .as_ref()
            .and_then(|v| v.status().source)
            .and_then(|s| s.wifi_signal_dbm);
        let Some(dbm) = now else { return };
        let mut s = lock(&c.states);
        if s.signal == Some(dbm) {
            return;
        }
        s.signal = Some(dbm);
        drop(s);
        self.outbox.push(Message::new(
            self.topics.camera(&c.facts.name, "signal"),
            dbm.to_string(),
            true,
        ));
    }

    fn snapshot(&self, c: &Cam, last_seq: &mut u64) {
        if let Some(f) = c.camera.latest()
            && f.seq != *last_seq
        {
            *last_seq = f.seq;
            self.outbox.push(Message::snapshot(
                self.topics.camera(&c.facts.name, "snapshot"),
                f.jpeg,
            ));
        }
    }
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    /// QoS 0 (snapshots: the next one replaces it); others QoS 1.
    pub at_most_once: bool,
}

impl Message {
    pub fn new(topic: String, payload: impl Into<Bytes>, retain: bool) -> Message {
        Message {
            topic,
            payload: payload.into(),
            retain,
            at_most_once: false,
        }
    }

    /// A camera's latest picture: retained, QoS 0.
    pub fn snapshot(topic: String, jpeg: Bytes) -> Message {
        Message {
            topic,
            payload: jpeg,
            retain: true,
            at_most_once: true,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn facts(c: &crate::config::CameraConfig) -> CameraFacts {
    let kind = c.source.kind();
    let (labels, battery) = match &c.source {
        SourceConfig::Reolink(r) => (true, r.transport == crate::config::ReolinkTransport::Udp),
        _ => (false, false),
    };
    CameraFacts {
        name: c.name.clone(),
        description: c.description.clone(),
        kind: kind.name,
        labels,
        battery,
        health: crate::health::monitor::codes_for(kind).copied().collect(),
    }
}

/// The connection options: broker, credentials (password from its 0600 file), last
/// will, TLS.
fn options(cfg: &MqttConfig, max_packet: usize, topics: &Topics) -> anyhow::Result<MqttOptions> {
    let mut o = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port());
    o.set_keep_alive(cfg.keep_alive.as_duration());
    o.set_clean_session(true);
    o.set_max_packet_size(64 * 1024, max_packet);
    o.set_last_will(LastWill::new(
        topics.status(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &cfg.username {
        let password = match &cfg.password_file {
            Some(p) => crate::config::read_secret_file("mqtt.password_file", p)
                .map_err(anyhow::Error::msg)?,
            None => String::new(),
        };
        o.set_credentials(user.clone(), password);
    }
    if let Some(tls) = &cfg.tls {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(&tls.ca_file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("mqtt.tls.ca_file {}", tls.ca_file.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            anyhow::bail!(
                "mqtt.tls.ca_file {}: no certificate in it",
                tls.ca_file.display()
            );
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("mqtt.tls")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(client)),
        ));
    }
    Ok(o)
}

/// Starts the publisher when `[mqtt]` is set: the connection, the forwarder and one event
/// consumer per camera, on `tracker` until `stop`. Fails only on a configuration it
/// cannot use (an unreadable or public password file, a bad CA file).
pub fn spawn(
    hub: &crate::app::Hub,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(cfg) = hub.cfg.mqtt.clone() else {
        return Ok(());
    };
    let topics = Topics {
        prefix: cfg.topic_prefix.clone(),
        discovery: cfg.discovery_prefix.clone(),
        client_id: cfg.client_id.clone(),
    };
    let max_packet = hub.cfg.max_frame_size.0 as usize + 64 * 1024;
    let opts = options(&cfg, max_packet, &topics)?;
    let cams = hub
        .cfg
        .cameras
        .iter()
        .filter_map(|c| {
            Some(Cam {
                camera: Arc::clone(hub.cameras.by_id(c.id)?),
                facts: facts(c),
                states: Mutex::default(),
            })
        })
        .collect();
    let shared = Arc::new(Shared {
        topics,
        outbox: Outbox::new(cfg.queue, Arc::clone(&hub.mqtt.queue)),
        announcement: Mutex::default(),
        announced: tokio::sync::Notify::new(),
        cams,
    });
    let (client, eventloop) = AsyncClient::new(opts, CLIENT_CHANNEL);
    tracker.spawn(connection(
        eventloop,
        client.clone(),
        Arc::clone(&shared),
        Arc::clone(&hub.mqtt),
        stop.clone(),
        cfg.host.clone(),
    ));
    tracker.spawn(forward(
        client,
        Arc::clone(&shared),
        Arc::clone(&hub.mqtt),
        stop.clone(),
    ));
    for i in 0..shared.cams.len() {
        tracker.spawn(consume(
            Arc::clone(&shared),
            i,
            cfg.snapshot_interval.as_duration(),
            stop.clone(),
        ));
    }
    Ok(())
}

/// Drives the connection: announce on every connection, back off after failures, and on
/// shutdown say `offline` and disconnect.
async fn connection(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    shared: Arc<Shared>,
    stats: Arc<MqttStats>,
    stop: CancellationToken,
    host: String,
) {
    let mut backoff = BACKOFF_MIN;
    let mut failing = false;
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => break,
            ev = eventloop.poll() => ev,
        };
        match ev {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                stats.connected.store(1, Ordering::Relaxed);
                stats.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(broker = %host, "mqtt connected");
                backoff = BACKOFF_MIN;
                failing = false;
                shared.announce();
            }
            Ok(_) => {}
            Err(e) => {
                stats.connected.store(0, Ordering::Relaxed);
                if !failing {
                    tracing::warn!(broker = %host, error = %e, "mqtt connection lost; retrying");
                    failing = true;
                } else {
                    tracing::debug!(broker = %host, error = %e, "mqtt connection failed");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    // Shutting down: offline (retained), then a clean disconnect, within 2 s.
    if stats.connected.load(Ordering::Relaxed) == 1 {
        let _ = client.try_publish(shared.topics.status(), QoS::AtLeastOnce, true, "offline");
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while eventloop.poll().await.is_ok() {}
        })
        .await;
    }
    stats.connected.store(0, Ordering::Relaxed);
}

/// Hands the outbox's messages to the connection, oldest first.
async fn forward(
    client: AsyncClient,
    shared: Arc<Shared>,
    stats: Arc<MqttStats>,
    stop: CancellationToken,
) {
    loop {
        let next = lock(&shared.announcement).pop_front();
        let m = match next {
            Some(m) => m,
            None => tokio::select! {
                _ = stop.cancelled() => return,
                _ = shared.announced.notified() => continue,
                m = shared.outbox.pop() => m,
            },
        };
        let qos = if m.at_most_once {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        let sent = tokio::select! {
            _ = stop.cancelled() => return,
            r = client.publish_bytes(m.topic, qos, m.retain, m.payload) => r,
        };
        match sent {
            Ok(()) => {
                stats.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, "mqtt publish failed"),
        }
    }
}

/// One camera's events to MQTT, and its snapshots while motion lasts.
async fn consume(shared: Arc<Shared>, i: usize, every: Duration, stop: CancellationToken) {
    let c = &shared.cams[i];
    let mut rx = c.camera.events.subscribe();
    // Events from before this consumer started set the states (no event messages).
    for e in c.camera.events.recent() {
        shared.state_messages(c, &e.what);
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seq = 0;
    let mut signal = tokio::time::interval(SIGNAL_CHECK);
    signal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // While motion lasts this publisher is a JPEG consumer of the camera (a bridged
    // camera decodes key frames only while one exists).
    let mut looking: Option<tokio::sync::watch::Receiver<Option<crate::camera::LiveFrame>>> = None;
    // Motion started before the camera had a current picture: send the next one.
    let mut first_pending = false;
    loop {
        let active = lock(&c.states).active();
        if !active {
            looking = None;
            first_pending = false;
        }
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            _ = signal.tick(), if c.facts.battery => {
                shared.signal(c);
                continue;
            }
            _ = tick.tick(), if active => {
                shared.snapshot(c, &mut last_seq);
                continue;
            }
            changed = async {
                match looking.as_mut() {
                    Some(l) => l.changed().await.is_ok(),
                    None => std::future::pending::<bool>().await,
                }
            }, if first_pending => {
                first_pending = false;
                if changed {
                    shared.snapshot(c, &mut last_seq);
                }
                continue;
            }
            e = rx.recv() => e,
        };
        match event {
            Ok(e) => {
                let was_active = lock(&c.states).active();
                shared.state_messages(c, &e.what);
                if let Ok(json) = serde_json::to_string(&*e) {
                    shared.outbox.push(Message::new(
                        shared.topics.camera(&c.facts.name, "event"),
                        json,
                        false,
                    ));
                }
                if !was_active && lock(&c.states).active() {
                    // Motion starts: a snapshot now (or as soon as the camera has a
                    // current picture), then one per interval.
                    looking = Some(c.camera.subscribe());
                    if c.camera.picture_is_current() {
                        shared.snapshot(c, &mut last_seq);
                    } else {
                        first_pending = true;
                    }
                    tick.reset();
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(camera = %c.facts.name, missed = n, "mqtt fell behind the events");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

//! `GET /metrics`: the hub's state in Prometheus' text exposition format (0.0.4), read
//! at scrape time from what the hub already keeps (camera counters and statistics, the
//! video feeds' source status, the recordings index, the event feeds, the listener's
//! connections, `/proc/self`) and encoded by `prometheus-client`. Nothing is counted twice
//! and nothing is registered globally: each scrape builds a [`Snapshot`] and encodes it.
//!
//! Names (every per-camera series has a `camera` label):
//! `camera_frames_in_total`, `camera_bytes_in_total`, `camera_fps_in`,
//! `camera_frames_out_total{viewer}` (fps out is its rate), `camera_viewers{viewer}` (HLS:
//! clients with a request in the last `counters::HLS_VIEWER_WINDOW`),
//! `camera_frames_dropped_total{reason}`, `camera_jpeg_decodes_total` (key frames decoded
//! for the JPEG views of a bridged camera: moves only while someone looks),
//! `camera_jpeg_decoder_bytes` (the picture buffers that decoder holds; 0 when released),
//! `camera_online`, `camera_source_state{state}`,
//! `camera_source_reconnects_total`, `camera_battery_percent`, `camera_wifi_signal_dbm`,
//! `camera_recording_lag_seconds` (now minus the end of the newest segment),
//! `camera_last_segment_age_seconds` (since the newest segment was stored),
//! `camera_segments_stored`, `camera_stored_bytes`,
//! `camera_retention_deleted_segments_total`, `camera_retention_deleted_bytes_total`,
//! `camera_events_total{kind}`, `camera_health_problem{code}`; from agents' health reports
//! `agent_cpu_temperature_celsius`, `agent_under_voltage`, `agent_throttled`, `agent_load1`,
//! `agent_disk_free_bytes`, `agent_upload_backlog_segments`, `agent_upload_backlog_bytes`,
//! `agent_uptime_seconds`, `agent_report_age_seconds`, `agent_info{version}`;
//! `process_resident_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `hub_connections{state}`, `hub_connections_refused_total`; with
//! `[mqtt]`: `mqtt_connected`, `mqtt_queued_messages`, `mqtt_dropped_messages_total`,
//! `mqtt_published_messages_total`, `mqtt_connects_total`; with `[[webhook]]` (label
//! `webhook`, its index): `webhook_delivered_total`, `webhook_failed_attempts_total`,
//! `webhook_given_up_total`, `webhook_dropped_total`, `webhook_queued`; with a writable
//! `[offsite]` (per copied camera) `camera_offsite_backlog_objects`,
//! `camera_offsite_backlog_bytes`, `camera_offsite_lag_seconds` (age of the oldest object
//! waiting), `camera_offsite_replicated_objects`, `camera_offsite_lost_total` (segments
//! deleted locally before they were copied), and `offsite_replicated_bytes_total`,
//! `offsite_replicated_objects_total`, `offsite_sent_bytes_total` (request bodies on the
//! wire, retries included), `offsite_errors_total{kind}`, `offsite_paused{cause}`.

use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::app::Hub;
use crate::counters::{DropReason, ViewerKind};
use crate::video::SourceState;

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One sample's labels.
pub type Labels = Vec<(&'static str, String)>;

/// A sample's value.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Int(i64),
    Float(f64),
}

/// One metric: its name, help, type and samples.
#[derive(Debug)]
pub struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
    samples: Vec<(Labels, Value)>,
}

impl Family {
    pub fn counter(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            counter: true,
            samples: Vec::new(),
        }
    }

    pub fn gauge(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            counter: false,
            samples: Vec::new(),
        }
    }

    pub fn push(&mut self, labels: Labels, v: Value) {
        self.samples.push((labels, v));
    }
}

/// Everything one scrape shows.
#[derive(Debug, Default)]
pub struct Snapshot {
    families: Vec<Family>,
}

impl Snapshot {
    /// Adds `family` (one with no samples is left out).
    pub fn add(&mut self, family: Family) {
        if !family.samples.is_empty() {
            self.families.push(family);
        }
    }

    /// The text exposition.
    pub fn encode(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            // The encoder adds `_total` to counters' names.
            let name = if f.counter {
                f.name.strip_suffix("_total").unwrap_or(f.name)
            } else {
                f.name
            };
            let kind = if f.counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut m = encoder.encode_descriptor(name, f.help, None, kind)?;
            for (labels, v) in &f.samples {
                let mut s = m.encode_family(labels)?;
                match (f.counter, *v) {
                    (true, Value::Int(i)) => {
                        s.encode_counter::<NoLabelSet, _, u64>(&(i.max(0) as u64), None)?
                    }
                    (true, Value::Float(x)) => s.encode_counter::<NoLabelSet, _, f64>(&x, None)?,
                    (false, Value::Int(i)) => s.encode_gauge(&i)?,
                    (false, Value::Float(x)) => s.encode_gauge(&x)?,
                }
            }
        }
        Ok(())
    }
}

fn cam(name: &str) -> Labels {
    vec![("camera", name.to_owned())]
}

fn with(mut l: Labels, key: &'static str, value: &str) -> Labels {
    l.push((key, value.to_owned()));
    l
}

fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Every camera's and the process's metrics now.
pub async fn collect(hub: &Hub) -> Snapshot {
    let now_ms = crate::camera::now_ms();
    let stored = hub.recordings.stored_by_camera().await;
    let offline_after = hub.cfg.offline_after.as_duration();

    let mut frames_in = Family::counter(
        "camera_frames_in_total",
        "Frames received from the camera's source",
    );
    let mut bytes_in = Family::counter(
        "camera_bytes_in_total",
        "JPEG bytes received from the camera's source",
    );
    let mut fps_in = Family::gauge(
        "camera_fps_in",
        "Frames per second arriving from the source",
    );
    let mut frames_out = Family::counter(
        "camera_frames_out_total",
        "Frames (MSE: video messages; HLS: frames of the segments served) sent to live viewers",
    );
    let mut viewers = Family::gauge("camera_viewers", "Live viewers open now, by kind");
    let mut dropped = Family::counter("camera_frames_dropped_total", "Frames dropped, by reason");
    let mut jpeg_decodes = Family::counter(
        "camera_jpeg_decodes_total",
        "Key frames decoded to JPEG for the JPEG views (only while someone looks)",
    );
    let mut jpeg_decoder = Family::gauge(
        "camera_jpeg_decoder_bytes",
        "Picture buffers the key-frame decoder holds now (0: released)",
    );
    let mut online = Family::gauge("camera_online", "1 while frames arrive");
    let mut state = Family::gauge(
        "camera_source_state",
        "1 for the bridged source's current state",
    );
    let mut reconnects = Family::counter(
        "camera_source_reconnects_total",
        "Sessions re-established after a lost one",
    );
    let mut battery = Family::gauge("camera_battery_percent", "A battery camera's charge");
    let mut signal = Family::gauge(
        "camera_wifi_signal_dbm",
        "A Wi-Fi camera's signal strength in dBm",
    );
    let mut lag = Family::gauge(
        "camera_recording_lag_seconds",
        "Now minus the end of the newest recorded segment",
    );
    let mut age = Family::gauge(
        "camera_last_segment_age_seconds",
        "Seconds since the newest segment was stored",
    );
    let mut segments = Family::gauge("camera_segments_stored", "Recorded segments stored");
    let mut stored_bytes = Family::gauge("camera_stored_bytes", "Bytes of recordings stored");
    let mut ret_segments = Family::counter(
        "camera_retention_deleted_segments_total",
        "Segments deleted by retention",
    );
    let mut ret_bytes = Family::counter(
        "camera_retention_deleted_bytes_total",
        "Bytes deleted by retention",
    );
    let mut events = Family::counter("camera_events_total", "Source events, by kind");
    let mut problems = Family::gauge(
        "camera_health_problem",
        "1 while a health problem is active, by code",
    );
    let mut a_temp = Family::gauge("agent_cpu_temperature_celsius", "The Pi's SoC temperature");
    let mut a_uv = Family::gauge(
        "agent_under_voltage",
        "1 while the Pi reports under-voltage",
    );
    let mut a_thr = Family::gauge(
        "agent_throttled",
        "1 while the Pi is throttled or frequency-capped",
    );
    let mut a_load = Family::gauge("agent_load1", "The Pi's 1-minute load average");
    let mut a_free = Family::gauge(
        "agent_disk_free_bytes",
        "Free bytes on the Pi's recordings disk",
    );
    let mut a_backlog = Family::gauge(
        "agent_upload_backlog_segments",
        "Segments recorded on the Pi and not yet on the hub",
    );
    let mut a_backlog_bytes = Family::gauge(
        "agent_upload_backlog_bytes",
        "Bytes recorded on the Pi and not yet on the hub",
    );
    let mut a_uptime = Family::gauge("agent_uptime_seconds", "Seconds since the agent started");
    let mut a_age = Family::gauge(
        "agent_report_age_seconds",
        "Seconds since the agent's latest health report",
    );
    let mut a_info = Family::gauge("agent_info", "The agent's version (value 1)");

    for c in hub.cameras.iter() {
        let l = cam(&c.name);
        let st = c.status(offline_after);
        frames_in.push(l.clone(), int(st.frames_total));
        bytes_in.push(l.clone(), int(c.bytes_total.load(Ordering::Relaxed)));
        fps_in.push(l.clone(), Value::Float(st.fps));
        for k in ViewerKind::ALL {
            let lk = with(l.clone(), "viewer", k.as_str());
            frames_out.push(lk.clone(), int(c.counters.frames_out(k)));
            viewers.push(lk, Value::Int(c.counters.viewers(k)));
        }
        for r in DropReason::ALL {
            dropped.push(
                with(l.clone(), "reason", r.as_str()),
                int(c.counters.dropped(r)),
            );
        }
        if c.decodes_pictures() {
            jpeg_decodes.push(l.clone(), int(c.counters.jpeg_decodes()));
            jpeg_decoder.push(l.clone(), int(c.counters.jpeg_decoder_bytes()));
        }
        online.push(l.clone(), Value::Int(i64::from(st.online)));
        if let Some(src) = st.video.as_ref().and_then(|v| v.source.as_ref()) {
            for s in [
                SourceState::Connecting,
                SourceState::LoggingIn,
                SourceState::Playing,
                SourceState::AuthFailed,
                SourceState::Disconnected,
                SourceState::Stopped,
                SourceState::Error,
            ] {
                state.push(
                    with(l.clone(), "state", s.as_str()),
                    Value::Int(i64::from(src.state == s)),
                );
            }
            reconnects.push(l.clone(), int(src.reconnects));
            if let Some(b) = src.battery {
                battery.push(l.clone(), Value::Int(i64::from(b.percent)));
            }
            if let Some(dbm) = src.wifi_signal_dbm {
                signal.push(l.clone(), Value::Int(i64::from(dbm)));
            }
        }
        let s = stored.get(&c.name).copied().unwrap_or_default();
        segments.push(l.clone(), int(s.segments));
        stored_bytes.push(l.clone(), int(s.bytes));
        if let Some(end) = s.newest_end_ms {
            lag.push(l.clone(), Value::Float((now_ms - end) as f64 / 1000.0));
        }
        if let Some(at) = s.newest_indexed_ms {
            age.push(l.clone(), Value::Float((now_ms - at) as f64 / 1000.0));
        }
        let (rs, rb) = hub.recordings.retention_deleted(&c.name);
        ret_segments.push(l.clone(), int(rs));
        ret_bytes.push(l.clone(), int(rb));
        for (kind, n) in c.events.counts() {
            events.push(with(l.clone(), "kind", kind), int(n));
        }
        for code in crate::health::monitor::CODES {
            problems.push(
                with(l.clone(), "code", code),
                Value::Int(i64::from(st.problems.contains(&code))),
            );
        }
        if let Some(r) = &st.agent {
            let h = &r.health;
            if let Some(t) = h.cpu_temp_c {
                a_temp.push(l.clone(), Value::Float(t));
            }
            if let Some(t) = h.throttled {
                a_uv.push(l.clone(), Value::Int(i64::from(t.under_voltage)));
                a_thr.push(
                    l.clone(),
                    Value::Int(i64::from(t.throttled || t.frequency_capped)),
                );
            }
            if let Some(load) = h.load {
                a_load.push(l.clone(), Value::Float(load[0]));
            }
            if let Some(f) = h.disk_free_bytes {
                a_free.push(l.clone(), int(f));
            }
            if let Some(b) = h.upload_backlog_segments {
                a_backlog.push(l.clone(), int(b));
            }
            if let Some(b) = h.upload_backlog_bytes {
                a_backlog_bytes.push(l.clone(), int(b));
            }
            a_uptime.push(l.clone(), int(h.uptime_s));
            a_age.push(
                l.clone(),
                Value::Float((now_ms - r.received_ms) as f64 / 1000.0),
            );
            a_info.push(with(l.clone(), "version", &h.version), Value::Int(1));
        }
    }

    let mut snap = Snapshot::default();
    for f in [
        frames_in,
        bytes_in,
        fps_in,
        frames_out,
        viewers,
        dropped,
        jpeg_decodes,
        jpeg_decoder,
        online,
        state,
        reconnects,
        battery,
        signal,
        lag,
        age,
        segments,
        stored_bytes,
        ret_segments,
        ret_bytes,
        events,
        problems,
        a_temp,
        a_uv,
        a_thr,
        a_load,
        a_free,
        a_backlog,
        a_backlog_bytes,
        a_uptime,
        a_age,
        a_info,
    ] {
        snap.add(f);
    }
    process(hub, &mut snap);
    offsite(hub, now_ms, &mut snap).await;
    snap
}

/// The off-site replicator: each copied camera's queue, the bytes sent, errors by kind.
async fn offsite(hub: &Hub, now_ms: i64, snap: &mut Snapshot) {
    let (Some(bucket), Some(q)) = (&hub.offsite, &hub.recordings.offsite) else {
        return;
    };
    let backlog = match hub
        .recordings
        .db
        .call(|c| crate::recordings::replication::backlog(c))
        .await
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the off-site queue");
            Default::default()
        }
    };
    let mut fams = [
        Family::gauge(
            "camera_offsite_backlog_objects",
            "Objects (segments, events, thumbnails, day indexes) waiting to be copied off-site",
        ),
        Family::gauge(
            "camera_offsite_backlog_bytes",
            "Bytes of the segments waiting to be copied off-site",
        ),
        Family::gauge(
            "camera_offsite_lag_seconds",
            "Age of the oldest object waiting to be copied off-site (0: none)",
        ),
        Family::gauge(
            "camera_offsite_replicated_objects",
            "Objects the off-site bucket holds",
        ),
        Family::counter(
            "camera_offsite_lost_total",
            "Segments deleted locally before they were copied off-site",
        ),
    ];
    let mut names: Vec<&str> = hub
        .recordings
        .camera_names()
        .filter(|c| q.includes(c))
        .collect();
    names.sort();
    for name in names {
        let b = backlog.get(name).cloned().unwrap_or_default();
        let lag_ms = b.oldest_queued_ms.map_or(0, |t| (now_ms - t).max(0));
        for (f, v) in fams.iter_mut().zip([
            int(b.pending),
            int(b.pending_bytes),
            Value::Float(lag_ms as f64 / 1000.0),
            int(b.done),
            int(hub.recordings.lost_before_replication(name)),
        ]) {
            f.push(cam(name), v);
        }
    }
    for f in fams {
        snap.add(f);
    }
    let st = &hub.replication;
    for (name, help, v) in [
        (
            "offsite_replicated_bytes_total",
            "Bytes of objects stored off-site (as stored) since start",
            st.bytes_replicated.load(Ordering::Relaxed),
        ),
        (
            "offsite_replicated_objects_total",
            "Objects stored off-site since start",
            st.objects_replicated.load(Ordering::Relaxed),
        ),
        (
            "offsite_sent_bytes_total",
            "Request body bytes sent to the object store, retries included",
            bucket.traffic().body_bytes_sent.load(Ordering::Relaxed),
        ),
    ] {
        let mut f = Family::counter(name, help);
        f.push(Vec::new(), int(v));
        snap.add(f);
    }
    let mut errors = Family::counter(
        "offsite_errors_total",
        "Failed tries to copy an object off-site, by kind",
    );
    for (kind, n) in st.errors() {
        errors.push(vec![("kind", kind.to_owned())], int(n));
    }
    snap.add(errors);
    let mut paused = Family::gauge(
        "offsite_paused",
        "1 while off-site copies are paused, by cause (auth-refused, quota-reached)",
    );
    let cause = st.paused().map(|p| p.cause);
    for c in ["auth-refused", "quota-reached"] {
        paused.push(
            vec![("cause", c.to_owned())],
            int(u64::from(cause == Some(c))),
        );
    }
    snap.add(paused);
}

/// The process: memory, file descriptors, connections.
fn process(hub: &Hub, snap: &mut Snapshot) {
    if let Some(rss) = resident_bytes() {
        let mut f = Family::gauge("process_resident_memory_bytes", "Resident memory");
        f.push(Vec::new(), int(rss));
        snap.add(f);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let mut f = Family::gauge("process_open_fds", "Open file descriptors");
        f.push(Vec::new(), int(dir.count() as u64));
        snap.add(f);
    }
    if let Some(max) = crate::listener::fd_limit() {
        let mut f = Family::gauge("process_max_fds", "The open-files limit");
        f.push(Vec::new(), int(max));
        snap.add(f);
    }
    let c = &hub.connections;
    let open = c.open.load(Ordering::Relaxed);
    let handshake = c.tls_handshake.load(Ordering::Relaxed);
    let mut f = Family::gauge("hub_connections", "Open connections, by state");
    f.push(
        vec![("state", "tls_handshake".into())],
        int(handshake.min(open)),
    );
    f.push(
        vec![("state", "established".into())],
        int(open.saturating_sub(handshake)),
    );
    snap.add(f);
    if hub.cfg.mqtt.is_some() {
        let m = &hub.mqtt;
        for (name, help, counter, v) in [
            (
                "mqtt_connected",
                "1 while connected to the MQTT broker",
                false,
                &m.connected,
            ),
            (
                "mqtt_queued_messages",
                "MQTT messages waiting for the broker",
                false,
                &m.queue.queued,
            ),
            (
                "mqtt_dropped_messages_total",
                "MQTT messages dropped from a full queue (oldest first)",
                true,
                &m.queue.dropped,
            ),
            (
                "mqtt_published_messages_total",
                "MQTT messages handed to the broker connection",
                true,
                &m.published,
            ),
            (
                "mqtt_connects_total",
                "Connections to the MQTT broker made",
                true,
                &m.connects,
            ),
        ] {
            let mut f = if counter {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            };
            f.push(Vec::new(), int(v.load(Ordering::Relaxed)));
            snap.add(f);
        }
    }
    if !hub.webhooks.is_empty() {
        let mut fams = [
            Family::counter(
                "webhook_delivered_total",
                "Deliveries the receiver accepted",
            ),
            Family::counter(
                "webhook_failed_attempts_total",
                "Attempts that failed and were tried again",
            ),
            Family::counter(
                "webhook_given_up_total",
                "Deliveries refused by the receiver or too old",
            ),
            Family::counter(
                "webhook_dropped_total",
                "Deliveries dropped from a full queue (oldest first)",
            ),
            Family::gauge("webhook_queued", "Deliveries waiting"),
        ];
        for (i, w) in hub.webhooks.iter().enumerate() {
            let l: Labels = vec![("webhook", i.to_string())];
            for (f, v) in fams.iter_mut().zip([
                &w.delivered,
                &w.failed_attempts,
                &w.given_up,
                &w.queue.dropped,
                &w.queue.queued,
            ]) {
                f.push(l.clone(), int(v.load(Ordering::Relaxed)));
            }
        }
        for f in fams {
            snap.add(f);
        }
    }
    let mut f = Family::counter(
        "hub_connections_refused_total",
        "Connections closed at once because the connection cap was reached",
    );
    f.push(Vec::new(), int(c.refused.load(Ordering::Relaxed)));
    snap.add(f);
}

/// Resident memory: `VmRSS` of `/proc/self/status` (kB).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_encode_as_prometheus_text() {
        let mut snap = Snapshot::default();
        let mut c = Family::counter("camera_frames_in_total", "Frames in");
        c.push(cam("porch"), Value::Int(3));
        snap.add(c);
        let mut g = Family::gauge("camera_fps_in", "Fps");
        g.push(cam("porch"), Value::Float(2.5));
        snap.add(g);
        snap.add(Family::gauge("empty", "left out"));
        assert_eq!(
            snap.encode(),
            "# HELP camera_frames_in_total Frames in\n\
             # TYPE camera_frames_in_total counter\n\
             camera_frames_in_total{camera=\"porch\"} 3\n\
             # HELP camera_fps_in Fps\n\
             # TYPE camera_fps_in gauge\n\
             camera_fps_in{camera=\"porch\"} 2.5\n"
        );
    }
}

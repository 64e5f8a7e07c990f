//! Reolink cameras (`kind = "reolink"`): the `reolink` crate's source (TCP
//! or battery-camera UDP) on the server's task tracker, its events forwarded
//! into the camera's video feed, its state and battery shown on the pages.

use std::sync::Arc;

use reolink::{ConnState, ReolinkConfig, ReolinkStatus, Stream, Transport};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::bridge::{forward, refuse};
use crate::camera::Camera;
use crate::config::{ReolinkSettings, ReolinkStream, ReolinkTransport};
use crate::video::{AlarmStatus, BatteryStatus, SourceState, SourceStatus};

/// What people read when the camera refuses the password.
pub const AUTH_MESSAGE: &str =
    "The camera refused the user name or password. Retrying every 5 minutes.";

/// The `reolink` crate's configuration for these settings.
pub fn config(name: &str, s: &ReolinkSettings, password: String) -> ReolinkConfig {
    let transport = match s.transport {
        ReolinkTransport::Tcp => Transport::Tcp {
            host: s.host.clone().unwrap_or_default(),
            port: s.port.unwrap_or(reolink::config::DEFAULT_TCP_PORT),
        },
        ReolinkTransport::Udp => Transport::Udp {
            uid: s.uid.clone(),
            ip: s.ip,
            local_port: s.local_port,
            ports: s.port.into_iter().collect(),
            targets: Vec::new(),
        },
    };
    let mut c = ReolinkConfig::new(name, transport, s.username.clone(), password);
    c.stream = match s.stream {
        ReolinkStream::Main => Stream::Main,
        ReolinkStream::Sub => Stream::Sub,
    };
    c.channel = s.channel;
    c
}

/// Start the source and its forwarder for `cam`.
pub fn spawn(
    cam: Arc<Camera>,
    s: &ReolinkSettings,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) {
    let Some(feed) = cam.video.clone() else {
        return;
    };
    let password = match super::read_password(s.password_file.as_deref(), s.password.as_deref()) {
        Ok(p) => p,
        Err(e) => return refuse(&cam, &feed, e),
    };
    let cfg = config(&cam.name, s, password);
    let (tx, rx) = mpsc::channel(reolink::sink::EVENT_CHANNEL_CAPACITY);
    let (status_tx, status_rx) = watch::channel(ReolinkStatus::default());
    tracker.spawn(reolink::source::run(cfg, stop.clone(), tx, status_tx));
    let span = tracing::info_span!("bridge", camera = %cam.name, kind = "reolink");
    tracker.spawn(forward(cam, feed, rx, status_rx, map_status, stop.clone()).instrument(span));
}

fn map_status(s: &ReolinkStatus) -> SourceStatus {
    let (state, message) = match &s.state {
        ConnState::Connecting => (SourceState::Connecting, None),
        ConnState::LoggingIn => (SourceState::LoggingIn, None),
        ConnState::Streaming => (SourceState::Playing, None),
        ConnState::AuthFailed => (SourceState::AuthFailed, Some(AUTH_MESSAGE.to_owned())),
        ConnState::Disconnected { reason } => (
            SourceState::Disconnected,
            Some(format!("Reconnecting: {reason}")),
        ),
    };
    SourceStatus {
        state,
        message,
        reconnects: s.reconnects,
        last_error: s.last_error.clone(),
        battery: s.battery.map(|b| BatteryStatus {
            percent: b.percent,
            charging: b.charging,
        }),
        model: s.device.as_ref().and_then(|d| d.model.clone()),
        alarm: AlarmStatus {
            motion: s.alarm.motion,
            labels: s.alarm.labels.clone(),
        },
    }
}

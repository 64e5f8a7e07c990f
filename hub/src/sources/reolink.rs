//! Reolink cameras (`kind = "reolink"`): the `reolink` crate's source (TCP
//! or battery-camera UDP) on the server's task tracker, its events forwarded
//! into the camera's video feed, its state and battery shown on the pages.
//! A camera with `stream = "on-demand"` (battery cameras by default) holds a
//! session only while [`crate::demand::drive`] says someone watches.

use std::sync::Arc;

use reolink::{ConnState, ReolinkConfig, ReolinkStatus, Stream, Transport};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::bridge::{forward, refuse};
use crate::camera::Camera;
use crate::config::{ReolinkSettings, ReolinkStream, ReolinkTransport, StreamMode};
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
    c.stream = match s.profile() {
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
    let on_demand = s.stream_mode() == StreamMode::OnDemand;
    let (wanted_tx, wanted_rx) = watch::channel(!on_demand);
    if on_demand {
        let viewers = {
            let cam = Arc::clone(&cam);
            move || cam.viewers_now()
        };
        tracker.spawn(crate::demand::follow_alarms(
            cam.name.clone(),
            Arc::clone(&cam.demand),
            cam.events.subscribe(),
            stop.clone(),
        ));
        tracker.spawn(crate::demand::drive(
            cam.name.clone(),
            Arc::clone(&cam.demand),
            viewers,
            s.idle_timeout(),
            wanted_tx,
            stop.clone(),
        ));
    } else {
        drop(wanted_tx); // a closed channel keeps its value: streams always
    }
    tracker.spawn(reolink::source::run_on_demand(
        cfg,
        stop.clone(),
        tx,
        status_tx,
        wanted_rx,
    ));
    let span = tracing::info_span!("bridge", camera = %cam.name, kind = "reolink");
    let map = move |s: &ReolinkStatus| map_status(s, on_demand);
    tracker.spawn(forward(cam, feed, Some(rx), status_rx, map, stop.clone()).instrument(span));
}

fn map_status(s: &ReolinkStatus, on_demand: bool) -> SourceStatus {
    let (state, message) = match &s.state {
        ConnState::Connecting => (SourceState::Connecting, None),
        ConnState::LoggingIn => (SourceState::LoggingIn, None),
        ConnState::Streaming => (SourceState::Playing, None),
        ConnState::AuthFailed => (SourceState::AuthFailed, Some(AUTH_MESSAGE.to_owned())),
        ConnState::Disconnected { reason } => (
            SourceState::Disconnected,
            Some(format!("Reconnecting: {reason}")),
        ),
        ConnState::Sleeping => (SourceState::Sleeping, None),
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
        wakes: on_demand.then_some(s.wakes),
        alarm: AlarmStatus {
            motion: s.alarm.motion,
            labels: s.alarm.labels.clone(),
        },
        wifi_signal_dbm: s.wifi_signal_dbm,
    }
}

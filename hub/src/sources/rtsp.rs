//! RTSP cameras (`kind = "rtsp"`): the `rtsp` crate's source on the server's
//! task tracker, its events forwarded into the camera's video feed and its
//! status shown on the pages.

use std::sync::Arc;

use rtsp::{RtspConfig, RtspState, RtspStatus, Sink, SourceOptions};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::bridge::{forward, publish_video, refuse};
use crate::camera::Camera;
use crate::config::RtspSettings;
use crate::video::{SourceState, SourceStatus};

/// What people read when the camera refuses the password.
pub const AUTH_MESSAGE: &str = "The camera refused the user name or password (use the camera's local account). Retrying every 5 minutes.";

/// Start the source and its forwarder for `cam`.
pub fn spawn(cam: Arc<Camera>, s: &RtspSettings, tracker: &TaskTracker, stop: &CancellationToken) {
    let Some(feed) = cam.video.clone() else {
        return;
    };
    let password = match super::read_password(s.password_file.as_deref(), s.password.as_deref()) {
        Ok(p) => p,
        Err(e) => return refuse(&cam, &feed, e),
    };
    let cfg = RtspConfig {
        name: cam.name.clone(),
        host: s.host.clone(),
        port: s.port,
        username: s.username.clone(),
        password,
        path: s.path.clone(),
        transport: s.transport,
    };
    if let Some(settings) = &s.motion {
        let motion_cfg = RtspConfig {
            name: format!("{}-motion", cam.name),
            path: s.motion_path.clone().unwrap_or_else(|| s.path.clone()),
            ..cfg.clone()
        };
        super::motion::spawn(cam.clone(), motion_cfg, settings.clone(), tracker, stop);
    }
    // The session publishes into the feed itself: a frame reaches the feed (and the
    // recorder's batch) on the task that read it, with no hop through another task.
    let sink_feed = Arc::clone(&feed);
    let sink = Sink::direct(move |ev| publish_video(&sink_feed, ev));
    let (status_tx, status_rx) = watch::channel(RtspStatus::default());
    tracker.spawn(rtsp::run(
        cfg,
        SourceOptions::default(),
        sink,
        status_tx,
        stop.clone(),
    ));
    let span = tracing::info_span!("bridge", camera = %cam.name, kind = "rtsp");
    tracker.spawn(forward(cam, feed, None, status_rx, map_status, stop.clone()).instrument(span));
}

fn map_status(s: &RtspStatus) -> SourceStatus {
    let (state, message) = match &s.state {
        RtspState::Connecting => (SourceState::Connecting, None),
        RtspState::Playing => (SourceState::Playing, None),
        RtspState::AuthFailed => (SourceState::AuthFailed, Some(AUTH_MESSAGE.to_owned())),
        RtspState::Disconnected { reason } => (
            SourceState::Disconnected,
            Some(format!("Reconnecting: {reason}")),
        ),
        RtspState::Stopped => (SourceState::Stopped, s.last_error.clone()),
    };
    SourceStatus {
        state,
        message,
        reconnects: s.reconnects,
        last_error: s.last_error.clone(),
        battery: None,
        model: None,
        wakes: None,
        alarm: Default::default(),
        wifi_signal_dbm: None,
    }
}

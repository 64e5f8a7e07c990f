//! Camera feeds that the hub runs itself (as opposed to agents, which push).
//! Each runs as a named task that stops with the hub's shutdown token.

pub mod demo;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::Registry;
use crate::config::{Config, SourceConfig};

/// Start every hub-side source in the configuration.
pub fn spawn_all(cfg: &Config, cameras: &Registry, tracker: &TaskTracker, stop: &CancellationToken) {
    for c in &cfg.cameras {
        let Some(cam) = cameras.by_id(c.id).cloned() else {
            continue;
        };
        match &c.source {
            SourceConfig::Agent { .. } => {}
            SourceConfig::Demo {
                width,
                height,
                fps,
                jpeg_quality,
            } => {
                let settings = demo::Settings {
                    width: *width,
                    height: *height,
                    fps: *fps,
                    jpeg_quality: *jpeg_quality,
                };
                tracker.spawn(demo::run(Arc::clone(&cam), settings, stop.clone()));
            }
        }
    }
}

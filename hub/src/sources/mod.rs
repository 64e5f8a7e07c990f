//! Camera feeds that the hub runs itself (as opposed to agents, which push):
//! the demo pattern, RTSP cameras and Reolink cameras. Each runs as a named
//! task on the server's `TaskTracker` and stops with the hub's shutdown token.
//!
//! The bridged cameras (RTSP, Reolink) hand their encoded video to the
//! camera's [`VideoFeed`](crate::video::VideoFeed) through [`bridge`]; the JPEG
//! views get pictures from the snapshot decoder ([`snapshot`]).

pub mod bridge;
pub mod demo;
pub mod reolink;
pub mod rtsp;
pub mod snapshot;

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::Registry;
use crate::config::{CameraConfig, SourceConfig};

/// The password of a bridged camera: read from `file` (refused if group or
/// others can read it), else the inline one, else empty.
pub fn read_password(file: Option<&Path>, inline: Option<&str>) -> Result<String, String> {
    match file {
        Some(path) => crate::config::read_private_file("password_file", path),
        None => Ok(inline.unwrap_or_default().to_owned()),
    }
}

/// Starts every hub-side source of `cameras`: the demo pattern, the bridges, and for the
/// bridged cameras the snapshot decoder that gives their JPEG views pictures.
pub fn spawn_all(
    cameras: &[CameraConfig],
    registry: &Registry,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) {
    for c in cameras {
        let Some(cam) = registry.by_id(c.id).cloned() else {
            continue;
        };
        let snapshot_interval = match &c.source {
            SourceConfig::Agent { .. } => None,
            SourceConfig::Demo(settings) => {
                tracker.spawn(demo::run(Arc::clone(&cam), *settings, stop.clone()));
                None
            }
            SourceConfig::Rtsp(s) => {
                rtsp::spawn(Arc::clone(&cam), s, tracker, stop);
                Some(s.snapshot_interval)
            }
            SourceConfig::Reolink(s) => {
                reolink::spawn(Arc::clone(&cam), s, tracker, stop);
                Some(s.snapshot_interval)
            }
        };
        if let (Some(every), Some(feed)) = (snapshot_interval, cam.video.clone()) {
            tracker.spawn(snapshot::run(
                Arc::clone(&cam),
                feed,
                every.as_duration(),
                stop.clone(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn password_files_others_can_read_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "secret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(
            super::read_password(Some(&p), None)
                .unwrap_err()
                .contains("chmod 600")
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(super::read_password(Some(&p), None).unwrap(), "secret");
        assert_eq!(super::read_password(None, Some("x")).unwrap(), "x");
    }
}

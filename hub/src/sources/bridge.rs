//! What the bridged cameras (RTSP, Reolink) share: [`forward`] hands a source crate's
//! video to the camera's video feed, its status to the feed's status, and what changed in
//! that status as source events (online, offline, a refused password, battery, the camera's
//! own motion and AI alarms) to the
//! camera's event feed; [`refuse`] says once why a camera cannot start.

use std::sync::Arc;

use events::{Event, Label, Origin, What};
use media::VideoEvent;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::camera::{Camera, now_ms};
use crate::video::{BatteryStatus, SourceState, SourceStatus, VideoFeed};

/// A camera whose configuration cannot be used: say why, once.
pub fn refuse(cam: &Camera, feed: &VideoFeed, why: String) {
    tracing::error!(camera = %cam.name, error = %why, "camera not started");
    let status = SourceStatus {
        state: SourceState::Error,
        message: Some(why.clone()),
        last_error: Some(why),
        ..SourceStatus::default()
    };
    publish_changes(cam, None, &status);
    feed.set_source_status(status);
}

/// Hand one of a source's events to the camera's feed (a new track also says whether JPEG
/// pictures can be made of it).
pub fn publish_video(feed: &VideoFeed, ev: VideoEvent) {
    if let VideoEvent::Track(t) = &ev {
        feed.set_snapshot_note(super::snapshot::note_for(t));
    }
    feed.publish(ev)
}

/// Forward a source's video into the camera's feed (unless the source publishes into the
/// feed itself: `video` is `None`) and its status into the feed's status and the camera's
/// events, until the source ends or `stop`.
pub async fn forward<S: Send + Sync + 'static>(
    cam: Arc<Camera>,
    feed: Arc<VideoFeed>,
    mut video: Option<mpsc::Receiver<VideoEvent>>,
    mut status: watch::Receiver<S>,
    map: impl Fn(&S) -> SourceStatus + Send + 'static,
    stop: CancellationToken,
) {
    let mut last = map(&status.borrow_and_update());
    publish_changes(&cam, None, &last);
    feed.set_source_status(last.clone());
    let mut status_open = true;
    loop {
        let has_video = video.is_some();
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = recv(&mut video), if has_video => match ev {
                Some(ev) => publish_video(&feed, ev),
                None => break,
            },
            changed = status.changed(), if status_open => {
                if changed.is_err() {
                    status_open = false;
                    if !has_video {
                        break; // the source publishes itself and has ended
                    }
                } else {
                    let next = map(&status.borrow_and_update());
                    publish_changes(&cam, Some(&last), &next);
                    feed.set_source_status(next.clone());
                    last = next;
                }
            }
        }
    }
    let next = map(&status.borrow());
    publish_changes(&cam, Some(&last), &next);
    feed.set_source_status(next);
}

async fn recv(video: &mut Option<mpsc::Receiver<VideoEvent>>) -> Option<VideoEvent> {
    match video {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn publish_changes(cam: &Camera, prev: Option<&SourceStatus>, next: &SourceStatus) {
    for e in changes(prev, next, now_ms()) {
        cam.events.publish(e);
    }
}

/// The source events a status change means: online when it starts playing, offline (with
/// why) when it stops or cannot start, a refused password, and each new battery reading.
pub fn changes(prev: Option<&SourceStatus>, next: &SourceStatus, at_ms: i64) -> Vec<Event> {
    let hub = |what| Event::new(at_ms, Origin::Hub, what);
    let mut out = Vec::new();
    let was = prev.map(|p| p.state);
    if was != Some(next.state) {
        let lost = matches!(
            next.state,
            SourceState::Disconnected
                | SourceState::Stopped
                | SourceState::Error
                | SourceState::AuthFailed
        );
        if next.state == SourceState::Playing {
            out.push(hub(What::Online));
        } else if lost && matches!(was, None | Some(SourceState::Playing)) {
            let reason = next
                .message
                .as_deref()
                .or(next.last_error.as_deref())
                .unwrap_or(next.state.as_str());
            out.push(hub(What::offline(reason)));
        }
        if next.state == SourceState::AuthFailed {
            out.push(hub(What::AuthFailed));
        }
    }
    // The camera's own alarms: motion, and each AI class as it appears and goes.
    let before = prev.map(|p| p.alarm.clone()).unwrap_or_default();
    let camera = |what| Event::new(at_ms, Origin::Camera, what);
    if before.motion != next.alarm.motion {
        out.push(camera(What::Motion {
            active: next.alarm.motion,
        }));
    }
    for label in next
        .alarm
        .labels
        .iter()
        .filter(|l| !before.labels.contains(l))
    {
        out.push(camera(What::Alarm {
            label: Label::parse(label),
            active: true,
        }));
    }
    for label in before
        .labels
        .iter()
        .filter(|l| !next.alarm.labels.contains(l))
    {
        out.push(camera(What::Alarm {
            label: Label::parse(label),
            active: false,
        }));
    }
    if let Some(BatteryStatus { percent, charging }) = next.battery
        && prev.and_then(|p| p.battery) != next.battery
    {
        out.push(Event::new(
            at_ms,
            Origin::Camera,
            What::Battery { percent, charging },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use reolink::sim::{SimCamera, SimConfig, SimTransport};
    use tokio::sync::broadcast;
    use tokio_util::task::TaskTracker;

    use super::*;

    fn status(state: SourceState, battery: Option<(u8, bool)>) -> SourceStatus {
        SourceStatus {
            state,
            message: (state == SourceState::Disconnected).then(|| "Reconnecting: reset".into()),
            battery: battery.map(|(percent, charging)| BatteryStatus { percent, charging }),
            ..SourceStatus::default()
        }
    }

    #[test]
    fn status_changes_as_events() {
        let what = |prev: Option<&SourceStatus>, next: &SourceStatus| -> Vec<What> {
            changes(prev, next, 1).into_iter().map(|e| e.what).collect()
        };
        let connecting = status(SourceState::Connecting, None);
        let playing = status(SourceState::Playing, Some((80, false)));
        let lost = status(SourceState::Disconnected, Some((80, false)));
        assert_eq!(what(None, &connecting), vec![]);
        assert_eq!(
            what(Some(&connecting), &playing),
            vec![
                What::Online,
                What::Battery {
                    percent: 80,
                    charging: false
                }
            ]
        );
        assert_eq!(what(Some(&playing), &playing), vec![]);
        assert_eq!(
            what(Some(&playing), &lost),
            vec![What::offline("Reconnecting: reset")]
        );
        // Still trying: no second offline, and no online before it plays.
        assert_eq!(
            what(
                Some(&lost),
                &status(SourceState::Connecting, Some((80, false)))
            ),
            vec![]
        );
        let refused = status(SourceState::AuthFailed, None);
        assert_eq!(what(Some(&connecting), &refused), vec![What::AuthFailed]);
        let never = SourceStatus {
            state: SourceState::Error,
            message: Some("password_file: missing".into()),
            ..SourceStatus::default()
        };
        assert_eq!(
            what(None, &never),
            vec![What::offline("password_file: missing")]
        );
        let charging = status(SourceState::Playing, Some((81, true)));
        let e = changes(Some(&playing), &charging, 7);
        assert_eq!(
            e,
            vec![Event::new(
                7,
                Origin::Camera,
                What::Battery {
                    percent: 81,
                    charging: true
                }
            )]
        );
    }

    /// The next event, within 20 s.
    async fn next(rx: &mut broadcast::Receiver<Arc<Event>>) -> What {
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an event within 20 s")
            .expect("the feed is open")
            .what
            .clone()
    }

    /// A Reolink camera (the simulator on loopback) through the hub's bridge: online, its
    /// battery as it changes, offline when it goes away.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reolink_camera_publishes_online_battery_and_offline() {
        let mut sim = SimConfig::new(SimTransport::Tcp);
        sim.battery_percent = 55;
        sim.charging = true;
        sim.battery_push_interval = Duration::from_secs(1);
        let sim = SimCamera::start(sim).await.unwrap();
        let text = format!(
            "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"door\"\nkind = \"reolink\"\n\
             host = \"127.0.0.1\"\nport = {}\npassword = \"{}\"\n",
            sim.port(),
            SimConfig::new(SimTransport::Tcp).password
        );
        let cfg = crate::config::Config::parse(&text, Path::new("t.toml")).unwrap();
        let crate::config::SourceConfig::Reolink(settings) = &cfg.cameras[0].source else {
            unreachable!()
        };
        let cam = Arc::new(Camera::from_config(&cfg.cameras[0]));
        let mut rx = cam.events.subscribe();
        let (tracker, stop) = (TaskTracker::new(), CancellationToken::new());
        super::super::reolink::spawn(Arc::clone(&cam), settings, &tracker, &stop);

        let mut seen = Vec::new();
        while !(seen.contains(&What::Online)
            && seen.contains(&What::Battery {
                percent: 55,
                charging: true,
            }))
        {
            seen.push(next(&mut rx).await);
        }
        assert_eq!(seen.iter().filter(|w| **w == What::Online).count(), 1);

        sim.set_battery(54, false);
        assert_eq!(
            next(&mut rx).await,
            What::Battery {
                percent: 54,
                charging: false
            }
        );

        sim.stop().await;
        let offline = loop {
            match next(&mut rx).await {
                What::Battery { .. } => continue,
                w => break w,
            }
        };
        assert_eq!(offline.key(), "offline", "{offline:?}");
        let recent: Vec<&'static str> = cam.events.recent().iter().map(|e| e.what.key()).collect();
        assert!(recent.contains(&"online"), "{recent:?}");
        assert!(recent.ends_with(&["offline"]), "{recent:?}");

        stop.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

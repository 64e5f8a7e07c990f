//! A camera's live state as JSON (`/api/cameras`, `/api/v1/cameras/{name}/status`): the web
//! layer's own types, built from the domain's [`CameraStatus`]. Field names, order and
//! values are what the pages and scripts have always read.

use serde::Serialize;

use crate::camera::{CameraStatus, unix_ms};
use crate::video::{BatteryStatus, SourceStatus, VideoStatus};

#[derive(Debug, Serialize)]
pub struct CameraJson {
    pub id: u32,
    pub name: String,
    pub description: String,
    /// `agent`, `demo`, `rtsp` or `reolink`.
    pub kind: &'static str,
    pub online: bool,
    pub connected: bool,
    pub fps: f64,
    /// Unix milliseconds of the last frame, if any.
    pub last_frame_ms: Option<i64>,
    pub frames_total: u64,
    /// Pushed frames skipped because they were not JPEG pictures.
    pub frames_rejected: u64,
    /// Why the latest skipped frame was, once there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rejected: Option<String>,
    pub viewers: usize,
    /// Encoded video and its source's state (cameras with a video feed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoJson>,
    /// The agent's latest health report (`wire::health::AgentHealth`) and when it came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentJson>,
    /// Health problems active now (`under_voltage`, `offline`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<&'static str>,
    /// On-demand cameras wanted awake now: `viewer` or `alarm` (the camera's own motion or
    /// AI alarm keeps it awake); absent when it may sleep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awake_for: Option<&'static str>,
    /// Off-site copies of the camera's footage (with `[offsite]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsite: Option<super::offsite::OffsiteJson>,
}

impl CameraJson {
    /// The camera's status with its off-site copies' state.
    pub fn of(hub: &crate::app::Hub, s: CameraStatus) -> CameraJson {
        let mut j = CameraJson::from(s);
        j.offsite = super::offsite::camera_json(hub, &j.name);
        j
    }
}

#[derive(Debug, Serialize)]
pub struct AgentJson {
    /// Unix milliseconds of the report.
    pub received_ms: i64,
    #[serde(flatten)]
    pub health: wire::health::AgentHealth,
}

#[derive(Debug, Serialize)]
pub struct VideoJson {
    /// RFC 6381 codec, e.g. `avc1.4D401F`, once the upstream sent a track.
    pub codec: Option<String>,
    /// `video/mp4; codecs="..."` for `MediaSource.isTypeSupported`.
    pub mime: Option<String>,
    pub width: Option<u16>,
    pub height: Option<u16>,
    pub fps: f64,
    pub frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceJson>,
    /// Why there are no JPEG pictures, when there are none (e.g. H.265).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SourceJson {
    /// `connecting`, `logging-in`, `playing`, `auth-failed`, `disconnected`, `stopped`,
    /// `error` or `sleeping` (an on-demand camera nobody watches; not offline).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub reconnects: u64,
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery: Option<BatteryJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// On-demand cameras (`stream = "on-demand"`): times woken for a viewer since the hub
    /// started. Absent for cameras that stream always.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wakes: Option<u64>,
    /// Cameras on Wi-Fi that report it: the signal in dBm (nearer 0 is stronger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wifi_signal_dbm: Option<i32>,
}

#[derive(Debug, Serialize)]
pub struct BatteryJson {
    pub percent: u8,
    pub charging: bool,
}

impl From<CameraStatus> for CameraJson {
    fn from(s: CameraStatus) -> CameraJson {
        CameraJson {
            id: s.id,
            name: s.name,
            description: s.description,
            kind: s.kind.name,
            online: s.online,
            connected: s.connected,
            fps: s.fps,
            last_frame_ms: s.last_frame.map(unix_ms),
            frames_total: s.frames_total,
            frames_rejected: s.frames_rejected,
            last_rejected: s.last_rejected,
            viewers: s.viewers,
            video: s.video.map(VideoJson::from),
            agent: s.agent.map(|a| AgentJson {
                received_ms: a.received_ms,
                health: a.health,
            }),
            problems: s.problems,
            awake_for: s.awake_for.map(|r| r.as_str()),
            offsite: None,
        }
    }
}

impl From<VideoStatus> for VideoJson {
    fn from(v: VideoStatus) -> VideoJson {
        let track = v.track.as_ref();
        VideoJson {
            codec: track.map(|t| t.codec_string().to_owned()),
            mime: track.map(|t| t.mime_type()),
            width: track.map(|t| t.width()),
            height: track.map(|t| t.height()),
            fps: v.fps,
            frames: v.frames,
            source: v.source.map(SourceJson::from),
            snapshots: v.snapshots,
        }
    }
}

impl From<SourceStatus> for SourceJson {
    fn from(s: SourceStatus) -> SourceJson {
        SourceJson {
            state: s.state.as_str(),
            message: s.message,
            reconnects: s.reconnects,
            last_error: s.last_error,
            battery: s.battery.map(|b: BatteryStatus| BatteryJson {
                percent: b.percent,
                charging: b.charging,
            }),
            model: s.model,
            wakes: s.wakes,
            wifi_signal_dbm: s.wifi_signal_dbm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::SourceState;

    fn camera(video: Option<VideoStatus>) -> CameraStatus {
        CameraStatus {
            id: 3,
            name: "porch".into(),
            description: "by the door".into(),
            kind: crate::config::SourceConfig::Agent {
                token_scheme: wire::TokenScheme::HmacSha256,
                token_file: None,
            }
            .kind(),
            online: true,
            connected: false,
            fps: 9.5,
            last_frame: Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1234)),
            frames_total: 7,
            frames_rejected: 0,
            last_rejected: None,
            viewers: 2,
            video,
            agent: None,
            problems: Vec::new(),
            awake_for: None,
        }
    }

    /// The bytes pages and scripts read: names, order and values.
    #[test]
    fn status_json_bytes() {
        let plain = serde_json::to_string(&CameraJson::from(camera(None))).unwrap();
        assert_eq!(
            plain,
            r#"{"id":3,"name":"porch","description":"by the door","kind":"agent","online":true,"connected":false,"fps":9.5,"last_frame_ms":1234,"frames_total":7,"frames_rejected":0,"viewers":2}"#
        );
        let video = VideoStatus {
            track: None,
            fps: 15.0,
            frames: 40,
            source: Some(SourceStatus {
                state: SourceState::AuthFailed,
                message: Some("no".into()),
                reconnects: 1,
                last_error: None,
                battery: Some(BatteryStatus {
                    percent: 80,
                    charging: true,
                }),
                model: None,
                wakes: None,
                alarm: Default::default(),
                wifi_signal_dbm: None,
            }),
            snapshots: None,
            last_frame: None,
        };
        let with_video = serde_json::to_string(&CameraJson::from(camera(Some(video)))).unwrap();
        assert!(
            with_video.ends_with(
                r#""viewers":2,"video":{"codec":null,"mime":null,"width":null,"height":null,"fps":15.0,"frames":40,"source":{"state":"auth-failed","message":"no","reconnects":1,"last_error":null,"battery":{"percent":80,"charging":true}}}}"#
            ),
            "{with_video}"
        );
    }
}

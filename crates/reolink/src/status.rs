//! What a running source reports about itself ([`ReolinkStatus`], published on a
//! `tokio::sync::watch` channel).

use baichuan::xml::{BatteryInfo, DeviceInfo};

pub use baichuan::crypto::EncryptionLevel;

/// Connection state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConnState {
    /// Opening the transport (TCP connect or UDP discovery).
    #[default]
    Connecting,
    /// Transport up, login in progress.
    LoggingIn,
    /// Logged in and media flowing.
    Streaming,
    /// The camera rejected the credentials; retried only every `Timing::auth_retry`.
    AuthFailed,
    /// Between attempts, waiting to reconnect.
    Disconnected {
        /// Why the last connection ended.
        reason: String,
    },
    /// Not wanted (an on-demand camera nobody watches): no session, the camera rests.
    Sleeping,
}

/// Battery state of a battery camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Battery {
    /// 0–100.
    pub percent: u8,
    /// `chargeStatus` is "charging".
    pub charging: bool,
}

impl Battery {
    /// From the camera's `BatteryInfo`; `None` without a percentage.
    pub fn from_info(info: &BatteryInfo) -> Option<Battery> {
        let percent = info.battery_percent?.min(100) as u8;
        Some(Battery {
            percent,
            charging: info.charge_status.as_deref() == Some("charging"),
        })
    }
}

/// What the camera's own detection reports now (msg 33 pushes): motion, and the AI
/// classes it sees (`people`, `vehicle`, `dog_cat`, ...). Cleared when the session ends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alarm {
    pub motion: bool,
    /// Sorted, lower-case, without `none`.
    pub labels: Vec<String>,
}

impl Alarm {
    /// From the camera's alarm event of one channel.
    pub fn from_event(e: &baichuan::xml::AlarmEvent) -> Alarm {
        Alarm {
            motion: e.motion(),
            labels: e.ai_labels(),
        }
    }
}

/// A summary of the login reply's DeviceInfo.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceSummary {
    /// `typeInfo`, e.g. "IPC".
    pub model: Option<String>,
    /// `type`, e.g. "ipc", "wifipc".
    pub kind: Option<String>,
    /// `firmVersion` or `softVer`.
    pub firmware: Option<String>,
    /// Sensor resolution.
    pub resolution: Option<(u32, u32)>,
    /// Channel count (NVRs).
    pub channels: Option<u32>,
}

impl From<&DeviceInfo> for DeviceSummary {
    fn from(d: &DeviceInfo) -> Self {
        DeviceSummary {
            model: d.type_info.clone(),
            kind: d.kind.clone(),
            firmware: d.firm_version.clone().or_else(|| d.soft_ver.clone()),
            resolution: d.resolution,
            channels: d.channel_num,
        }
    }
}

/// The status of one source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReolinkStatus {
    /// Connection state.
    pub state: ConnState,
    /// Latest battery reading (battery cameras only).
    pub battery: Option<Battery>,
    /// The camera's motion and AI alarms now.
    pub alarm: Alarm,
    /// The camera's Wi-Fi signal in dBm, from its latest msg 115 reply (cameras on a
    /// cable refuse the question: `None`).
    pub wifi_signal_dbm: Option<i32>,
    /// From the last successful login.
    pub device: Option<DeviceSummary>,
    /// Video frames delivered to the channel since start.
    pub frames: u64,
    /// Video frames dropped because the consumer was slow (skipped to the next key frame).
    pub dropped_frames: u64,
    /// Audio packets received (ignored for now).
    pub audio_packets: u64,
    /// Connections opened after a lost one (a wake's first connection is not one).
    pub reconnects: u64,
    /// Times the source was woken from [`ConnState::Sleeping`].
    pub wakes: u64,
    /// Login attempts made (first message sent).
    pub login_attempts: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Negotiated encryption of the current/last session.
    pub encryption: Option<EncryptionLevel>,
}

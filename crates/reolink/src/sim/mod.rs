//! A simulated Reolink camera on 127.0.0.1, built from the protocol spec, for tests of this
//! crate and of the hub (enable the `sim` feature as a dev-dependency).
//!
//! It speaks the camera's side of Baichuan over TCP or BcUdp: the login handshake with a
//! configurable encryption level (none/BCEncrypt, AES, full AES with partially encrypted
//! media) and real credential checks, DeviceInfo, battery replies and msg 252 pushes (also
//! on [`SimHandle::set_battery`]), msg 33 alarm pushes to sessions that subscribed with msg 31
//! (on [`SimHandle::set_alarm`]), msg 115 Wi-Fi signal replies (battery cameras; on
//! [`SimHandle::set_wifi_signal`]), ping replies, and media paced in real time: a replayed
//! capture (looped, timestamps rewritten to a continuous microsecond clock that wraps 3 s
//! in) or generated H.264. On UDP it answers discovery by UID (`C2D_C`) and UID lookup
//! (`C2D_S`), opens each session on its own socket (as real cameras talk from a new port),
//! acks and retransmits, sends heartbeats and the camera-initiated msg 234 keep-alive
//! (dropping the session with `D2C_DISC` when it goes unanswered for 8.5 s), and injects
//! seeded loss / reordering / duplication in both directions. For battery-camera tests it
//! counts its open sessions and streams and the time it has spent sending video
//! ([`SimHandle::streaming_time`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use reolink::sim::{SimCamera, SimConfig, SimTransport};
//! let cam = SimCamera::start(SimConfig::new(SimTransport::Tcp)).await?;
//! let port = cam.addr().port(); // point a ReolinkConfig at 127.0.0.1:port
//! # let _ = port;
//! println!("{:?}", cam.stats());
//! cam.stop().await;
//! # Ok(()) }
//! ```

mod camera;
mod faults;
mod h264gen;
mod media;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baichuan::crypto::EncryptionLevel;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use faults::{FaultCounts, Faults};
pub use h264gen::H264Gen;
pub use media::{CLOCK_START_US, SimMedia};

/// Transport the simulated camera serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimTransport {
    /// BC over TCP (a wired camera's port 9000).
    Tcp,
    /// BcUdp (a battery camera).
    Udp,
}

/// Highest encryption the simulated camera agrees to (it picks the lower of this and what
/// the client asks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimEncryption {
    /// 0x00: plain.
    None,
    /// 0x01: BCEncrypt.
    BcEncrypt,
    /// 0x02: AES on XML.
    Aes,
    /// 0x12: AES on XML and the first 1024 bytes of each media message.
    FullAes,
}

impl SimEncryption {
    fn level(self) -> EncryptionLevel {
        match self {
            SimEncryption::None => EncryptionLevel::None,
            SimEncryption::BcEncrypt => EncryptionLevel::BcEncrypt,
            SimEncryption::Aes => EncryptionLevel::Aes,
            SimEncryption::FullAes => EncryptionLevel::FullAes,
        }
    }
}

/// The simulated camera.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// TCP or UDP.
    pub transport: SimTransport,
    /// Port to bind on 127.0.0.1 (0 = ephemeral; reuse [`SimHandle::addr`]'s port to
    /// simulate a camera restart). For UDP this is the discovery port.
    pub port: u16,
    /// Accepted user.
    pub username: String,
    /// Accepted password.
    pub password: String,
    /// Highest encryption agreed to.
    pub encryption: SimEncryption,
    /// UID answered in UDP discovery.
    pub uid: String,
    /// Video source.
    pub media: SimMedia,
    /// Battery percentage reported.
    pub battery_percent: u8,
    /// Whether the battery reports "charging".
    pub charging: bool,
    /// Faults injected on UDP sessions (both directions).
    pub udp_faults: Faults,
    /// Interval of the camera-initiated msg 234 on UDP.
    pub keepalive_interval: Duration,
    /// Interval of unsolicited msg 252 battery pushes.
    pub battery_push_interval: Duration,
    /// Wi-Fi signal answered to msg 115, dBm (`None`: a camera on a cable, which answers
    /// 400).
    pub wifi_signal: Option<i32>,
    /// Drop the connection on the header-only login "upgrade" message, as some firmware
    /// does (spec §4.2, D5K): clients must fall back to the 1836-byte legacy message.
    pub reset_on_login_upgrade: bool,
}

impl SimConfig {
    /// admin/password, BCEncrypt, generated media, 87 % not charging, no faults; on UDP
    /// (battery cameras, on Wi-Fi) a signal of -55 dBm.
    pub fn new(transport: SimTransport) -> Self {
        SimConfig {
            transport,
            port: 0,
            username: "admin".into(),
            password: "password".into(),
            encryption: SimEncryption::BcEncrypt,
            uid: "95270000SIMCAM01".into(),
            media: SimMedia::GENERATED,
            battery_percent: 87,
            charging: false,
            udp_faults: Faults::NONE,
            keepalive_interval: Duration::from_secs(2),
            battery_push_interval: Duration::from_secs(10),
            wifi_signal: (transport == SimTransport::Udp).then_some(-55),
            reset_on_login_upgrade: false,
        }
    }

    fn is_udp(&self) -> bool {
        self.transport == SimTransport::Udp
    }
}

/// What the simulated camera saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// TCP connections accepted / UDP sessions opened.
    pub connections: u64,
    /// Modern login messages received.
    pub login_attempts: u64,
    /// Accepted logins.
    pub logins_ok: u64,
    /// Rejected logins.
    pub logins_failed: u64,
    /// 1836-byte legacy first messages received.
    pub legacy_logins: u64,
    /// Legacy first messages whose hashes did not match.
    pub legacy_login_mismatches: u64,
    /// Connections dropped on the header-only login (`reset_on_login_upgrade`).
    pub upgrade_logins_reset: u64,
    /// Start-video requests.
    pub streams_started: u64,
    /// Video frames sent.
    pub frames_sent: u64,
    /// Msg 93 pings answered.
    pub pings: u64,
    /// Msg 253 requests answered.
    pub battery_requests: u64,
    /// Msg 252 pushes sent.
    pub battery_pushes: u64,
    /// Msg 115 Wi-Fi signal requests received.
    pub signal_requests: u64,
    /// Alarm subscriptions (msg 31) received.
    pub alarm_subscriptions: u64,
    /// Msg 33 alarm pushes sent.
    pub alarm_pushes: u64,
    /// Msg 234 keep-alives sent.
    pub keepalives_sent: u64,
    /// Msg 234 replies received.
    pub keepalive_replies: u64,
    /// `C2D_C` received.
    pub discovery_requests: u64,
    /// `C2D_S` received.
    pub uid_lookups: u64,
    /// UDP sessions ended by the camera for an unanswered keep-alive or silence.
    pub sessions_dropped: u64,
    /// DATA packets retransmitted.
    pub retransmits: u64,
    /// Faults injected on outgoing datagrams.
    pub faults_out: FaultCounts,
    /// Faults injected on incoming datagrams.
    pub faults_in: FaultCounts,
}

/// What the simulated camera is doing now, and how long it has streamed.
#[derive(Debug, Default)]
struct Activity {
    /// Sessions open now (TCP connections, UDP sessions).
    sessions: usize,
    /// Streams sending video now, with when each started (by session number).
    streams: Vec<(u64, Instant)>,
    /// Time of the streams that have ended, summed.
    streamed: Duration,
}

/// State shared by the simulator's tasks.
pub(crate) struct Shared {
    cfg: SimConfig,
    media: media::Prepared,
    stats: Mutex<SimStats>,
    activity: Mutex<Activity>,
    battery: watch::Sender<(u8, bool)>,
    /// Motion, and the AI classes seen (`people`, `vehicle`, `dog_cat`).
    alarm: watch::Sender<(bool, Vec<String>)>,
    /// The Wi-Fi signal answered to msg 115.
    wifi_signal: watch::Sender<Option<i32>>,
}

impl Shared {
    fn stat(&self, f: impl FnOnce(&mut SimStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A session opened; it counts as open until the guard drops.
    pub(crate) fn session_opened(self: &Arc<Self>) -> SessionGuard {
        self.activity().sessions += 1;
        SessionGuard(Arc::clone(self))
    }

    /// Session `id` started sending video.
    pub(crate) fn stream_started(&self, id: u64) {
        let mut a = self.activity();
        if !a.streams.iter().any(|(i, _)| *i == id) {
            a.streams.push((id, Instant::now()));
        }
    }

    /// Session `id` stopped sending video (or closed); its time is added to the total.
    pub(crate) fn stream_ended(&self, id: u64) {
        let mut a = self.activity();
        if let Some(pos) = a.streams.iter().position(|(i, _)| *i == id) {
            let (_, since) = a.streams.swap_remove(pos);
            a.streamed += since.elapsed();
        }
    }
}

/// Held by a session's task while the session is open.
pub(crate) struct SessionGuard(Arc<Shared>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut a = self.0.activity();
        a.sessions = a.sessions.saturating_sub(1);
    }
}

/// Starts simulated cameras.
#[derive(Debug)]
pub struct SimCamera;

impl SimCamera {
    /// Binds on 127.0.0.1 and starts serving. Fails if the port is taken or a replay file
    /// cannot be read.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimHandle> {
        let media = media::prepare(&cfg.media)?;
        let (battery, _) = watch::channel((cfg.battery_percent, cfg.charging));
        let cfg_signal = cfg.wifi_signal;
        let shared = Arc::new(Shared {
            cfg,
            media,
            stats: Mutex::new(SimStats::default()),
            activity: Mutex::new(Activity::default()),
            battery,
            alarm: watch::channel((false, Vec::new())).0,
            wifi_signal: watch::channel(cfg_signal).0,
        });
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let addr = match shared.cfg.transport {
            SimTransport::Tcp => tcp::start(shared.clone(), stop.clone(), tracker.clone())?,
            SimTransport::Udp => udp::start(shared.clone(), stop.clone(), tracker.clone()).await?,
        };
        tracker.close();
        Ok(SimHandle {
            addr,
            shared,
            stop,
            tracker,
        })
    }
}

/// A running simulated camera. Dropping it without [`SimHandle::stop`] also stops it
/// (its tasks end at their next wake-up).
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The TCP listener, or the UDP discovery socket.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port of [`SimHandle::addr`].
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Counters so far.
    pub fn stats(&self) -> SimStats {
        self.shared.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Sessions open now (TCP connections and UDP sessions, logged in or not).
    pub fn open_sessions(&self) -> usize {
        self.shared.activity().sessions
    }

    /// Streams sending video now.
    pub fn active_streams(&self) -> usize {
        self.shared.activity().streams.len()
    }

    /// The time the camera has spent sending video, summed over its streams (from a
    /// start-video request to the stream's stop, logout or the session's end), including
    /// the streams still going: what a battery camera's drain follows.
    pub fn streaming_time(&self) -> Duration {
        let a = self.shared.activity();
        a.streamed
            + a.streams
                .iter()
                .map(|(_, since)| since.elapsed())
                .sum::<Duration>()
    }

    /// Changes the battery state; logged-in sessions get a msg 252 push.
    pub fn set_battery(&self, percent: u8, charging: bool) {
        self.shared.battery.send_replace((percent, charging));
    }

    /// Changes the Wi-Fi signal the camera answers to its next msg 115 (`None`: it answers
    /// 400, as a camera on a cable).
    pub fn set_wifi_signal(&self, dbm: Option<i32>) {
        self.shared.wifi_signal.send_replace(dbm);
    }

    /// Changes the camera's alarm state (motion, AI classes such as `people`); sessions
    /// that subscribed to alarms (msg 31) get a msg 33 push.
    pub fn set_alarm(&self, motion: bool, ai: &[&str]) {
        self.shared
            .alarm
            .send_replace((motion, ai.iter().map(|s| (*s).to_owned()).collect()));
    }

    /// Stops serving: closes the listener and every connection (as a camera reboot would)
    /// and waits for the tasks to end.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tracker.wait().await;
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

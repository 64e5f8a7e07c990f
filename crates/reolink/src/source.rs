//! The source task: connect → log in → stream → (on any failure) gap, back off, reconnect.
//! One task per camera owns the transport, the [`Session`] state machine, the frame
//! converter and the event sink; it publishes [`ReolinkStatus`] on a watch channel.
//! [`run_on_demand`] holds a session only while its caller wants video (battery cameras):
//! otherwise it logs out, ends the stream with a gap and sleeps until wanted again.

use std::time::Duration;

use baichuan::media::MediaPacket;
use baichuan::msg;
use baichuan::session::{Action, LoginFailure, LoginMethod, Session};
use bytes::BytesMut;
use media::VideoEvent;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{ReolinkConfig, Transport};
use crate::conn::{Conn, TcpConn, UdpConn};
use crate::error::SourceError;
use crate::sink::{EVENT_CHANNEL_CAPACITY, EventSink, Offer};
use crate::status::{Alarm, Battery, ConnState, DeviceSummary, ReolinkStatus};
use crate::video::{Converter, Skip};

/// A Reolink camera as a video source.
#[derive(Debug)]
pub struct ReolinkSource;

impl ReolinkSource {
    /// Spawns the source task on the current runtime. Events arrive on the returned bounded
    /// channel ([`EVENT_CHANNEL_CAPACITY`]; when full, frames are dropped up to the next key
    /// frame); the status on the watch channel. The task ends when `cancel` fires (it logs
    /// out first) or when the event receiver is dropped.
    pub fn spawn(
        cfg: ReolinkConfig,
        cancel: CancellationToken,
    ) -> (mpsc::Receiver<VideoEvent>, watch::Receiver<ReolinkStatus>) {
        let (tx, rx) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
        let (status_tx, status_rx) = watch::channel(ReolinkStatus::default());
        tokio::spawn(run(cfg, cancel, tx, status_tx));
        (rx, status_rx)
    }
}

/// The source loop, for callers that spawn it themselves (e.g. on a `TaskTracker`):
/// streams all the time.
pub async fn run(
    cfg: ReolinkConfig,
    cancel: CancellationToken,
    tx: mpsc::Sender<VideoEvent>,
    status: watch::Sender<ReolinkStatus>,
) {
    let (_always, wanted) = watch::channel(true);
    run_on_demand(cfg, cancel, tx, status, wanted).await
}

/// The gap's reason when a source goes to sleep.
pub const SLEEP_REASON: &str = "camera asleep (nobody watching)";

/// The source loop, holding a session only while `wanted` is true. While it is false the
/// source has no session ([`ConnState::Sleeping`]); when it turns false during a session
/// the source logs out, closes the transport and sends a `Gap` ([`SLEEP_REASON`]). Each
/// return from sleep counts in [`ReolinkStatus::wakes`]. A closed `wanted` channel keeps
/// its last value.
pub async fn run_on_demand(
    cfg: ReolinkConfig,
    cancel: CancellationToken,
    tx: mpsc::Sender<VideoEvent>,
    status: watch::Sender<ReolinkStatus>,
    wanted: watch::Receiver<bool>,
) {
    let span = tracing::info_span!("reolink", camera = %cfg.name);
    Runner {
        sink: EventSink::new(tx),
        conv: Converter::new(),
        rng: fastrand::Rng::new(),
        status,
        cfg,
        cancel,
        wanted,
        last_frame_at: None,
        bad_params_logged: false,
        garbage: GarbageLog::default(),
    }
    .run()
    .instrument(span)
    .await
}

/// How a connection ended without error.
enum Outcome {
    /// Cancelled or the receiver is gone: stop the source.
    Stop,
    /// No longer wanted: logged out; sleep until wanted again.
    Sleep,
}

/// Resolves once `wanted` is false (never, if the sender is gone while it is true).
async fn unwanted(wanted: &mut watch::Receiver<bool>) {
    if wanted.wait_for(|w| !*w).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What one connection achieved before it ended.
#[derive(Default)]
struct RunStats {
    announced: bool,
    frames: u64,
    got_nonce: bool,
}

struct Runner {
    cfg: ReolinkConfig,
    cancel: CancellationToken,
    /// Whether a session is wanted now (always true for [`run`]).
    wanted: watch::Receiver<bool>,
    sink: EventSink,
    conv: Converter,
    rng: fastrand::Rng,
    status: watch::Sender<ReolinkStatus>,
    last_frame_at: Option<Instant>,
    /// "Cannot build a track" is logged once per source, not per frame or connection.
    bad_params_logged: bool,
    garbage: GarbageLog,
}

/// Garbage in the camera's stream, logged at most once per [`GarbageLog::EVERY`].
#[derive(Default)]
struct GarbageLog {
    since_log: u64,
    logged_at: Option<Instant>,
}

impl GarbageLog {
    const EVERY: Duration = Duration::from_secs(10);

    fn saw(&mut self, what: std::fmt::Arguments<'_>) {
        self.since_log += 1;
        if self.logged_at.is_none_or(|t| t.elapsed() >= Self::EVERY) {
            tracing::warn!(
                times = self.since_log,
                last = %what,
                "garbage in the camera's stream; resynchronised, waiting for a key frame"
            );
            self.logged_at = Some(Instant::now());
            self.since_log = 0;
        }
    }
}

fn login_error(f: LoginFailure) -> SourceError {
    match f {
        LoginFailure::Rejected(c @ (400 | 401)) => SourceError::AuthFailed(c),
        LoginFailure::Rejected(c) => SourceError::Login(format!("status {c}")),
        LoginFailure::UnsupportedEncryption(l) => {
            SourceError::Login(format!("unsupported encryption level {l:#04x}"))
        }
        LoginFailure::NoNonce(c) => SourceError::Login(format!("no nonce (status {c:#06x})")),
    }
}

impl Runner {
    /// The stream resynchronised past bytes it could not read: frames may
    /// be lost, and pictures that refer to them would decode wrongly, so the
    /// converter skips to the next key frame. Logged (rate-limited) and shown
    /// as the source's last error.
    fn garbage(&mut self, what: std::fmt::Arguments<'_>) {
        self.conv.lost_data();
        self.garbage.saw(what);
        self.status.send_modify(|s| {
            s.last_error = Some("garbage in the camera's stream (resynchronised)".into())
        });
    }

    fn set_state(&self, state: ConnState) {
        self.status.send_modify(|s| {
            // Without a session the camera's alarms are unknown: they end.
            if !matches!(state, ConnState::Streaming | ConnState::LoggingIn) {
                s.alarm = Alarm::default();
            }
            s.state = state;
        });
    }

    /// Waits `d` (cut short when the session stops being wanted); false when cancelled.
    async fn sleep(&self, d: Duration) -> bool {
        let mut wanted = self.wanted.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = unwanted(&mut wanted) => true,
            _ = self.cancel.cancelled() => false,
        }
    }

    /// Sleeps while the session is not wanted: no session, state [`ConnState::Sleeping`].
    /// Returns false when cancelled, true once wanted (counting a wake if it slept).
    async fn rest(&mut self) -> bool {
        if *self.wanted.borrow_and_update() {
            return true;
        }
        tracing::info!("asleep: no session until wanted");
        self.set_state(ConnState::Sleeping);
        let woken = tokio::select! {
            r = self.wanted.wait_for(|w| *w) => r.is_ok(),
            _ = self.cancel.cancelled() => return false,
        };
        if !woken {
            // The caller is gone and left the source unwanted: sleep until cancelled.
            self.cancel.cancelled().await;
            return false;
        }
        tracing::info!("woken");
        self.status.send_modify(|s| s.wakes += 1);
        true
    }

    async fn run(mut self) {
        let t = self.cfg.timing;
        let mut backoff = t.backoff_initial;
        let mut method = LoginMethod::Upgrade;
        let mut attempts = 0u64;
        let mut auth_reported = false;
        loop {
            if self.cancel.is_cancelled() || self.sink.is_closed() {
                break;
            }
            if !*self.wanted.borrow() {
                if !self.rest().await {
                    break;
                }
                attempts = 0;
                backoff = t.backoff_initial;
                auth_reported = false;
            }
            if attempts > 0 {
                self.status.send_modify(|s| s.reconnects += 1);
            }
            attempts += 1;
            let gap = self.last_frame_at.map(|i| i.elapsed()).unwrap_or_default();
            self.conv.new_run(gap);
            let mut stats = RunStats::default();
            let res = self.connection(method, &mut stats).await;
            let err = match res {
                Ok(Outcome::Stop) => break,
                Ok(Outcome::Sleep) => {
                    if stats.announced
                        && self.sink.control(VideoEvent::Gap {
                            reason: SLEEP_REASON.into(),
                        }) == Offer::Closed
                    {
                        break;
                    }
                    continue;
                }
                Err(e) => e,
            };
            let reason = err.to_string();
            if stats.announced
                && self.sink.control(VideoEvent::Gap {
                    reason: reason.clone(),
                }) == Offer::Closed
            {
                break;
            }
            if err.is_auth() {
                if !auth_reported {
                    tracing::warn!(error = %err, retry_secs = t.auth_retry.as_secs(), "camera rejected the credentials");
                    auth_reported = true;
                }
                self.status.send_modify(|s| {
                    s.state = ConnState::AuthFailed;
                    s.last_error = Some(reason.clone());
                });
                if !self.sleep(t.auth_retry).await {
                    break;
                }
                continue;
            }
            auth_reported = false;
            if !stats.got_nonce
                && matches!(
                    err,
                    SourceError::Closed | SourceError::Io(_) | SourceError::Timeout("login")
                )
            {
                // Some firmware resets on the header-only login: alternate the first message.
                method = match method {
                    LoginMethod::Upgrade => LoginMethod::Legacy,
                    LoginMethod::Legacy => LoginMethod::Upgrade,
                };
            }
            if stats.frames > 0 {
                backoff = t.backoff_initial;
            }
            let jitter = 0.75 + 0.5 * self.rng.f64();
            let delay = backoff.mul_f64(jitter);
            tracing::warn!(error = %err, frames = stats.frames, retry_ms = delay.as_millis() as u64, "connection ended");
            self.status.send_modify(|s| {
                s.state = ConnState::Disconnected {
                    reason: reason.clone(),
                };
                s.last_error = Some(reason.clone());
            });
            backoff = (backoff * 2).min(t.backoff_max);
            if !self.sleep(delay).await {
                break;
            }
        }
        self.status.send_modify(|s| {
            s.state = ConnState::Disconnected {
                reason: "stopped".into(),
            }
        });
    }

    async fn open(&mut self) -> Result<Conn, SourceError> {
        let t = self.cfg.timing;
        match &self.cfg.transport {
            Transport::Tcp { host, port } => Ok(Conn::Tcp(
                TcpConn::connect(host, *port, t.connect_timeout).await?,
            )),
            tr @ Transport::Udp {
                uid, local_port, ..
            } => {
                let targets = tr.udp_discovery_targets();
                let c =
                    UdpConn::connect(uid.as_deref(), *local_port, targets, &mut self.rng).await?;
                Ok(Conn::Udp(Box::new(c)))
            }
        }
    }

    async fn connection(
        &mut self,
        method: LoginMethod,
        stats: &mut RunStats,
    ) -> Result<Outcome, SourceError> {
        let t = self.cfg.timing;
        self.set_state(ConnState::Connecting);
        let cancel = self.cancel.clone();
        let mut wanted = self.wanted.clone();
        let mut conn = tokio::select! {
            c = self.open() => c?,
            _ = cancel.cancelled() => return Ok(Outcome::Stop),
            _ = unwanted(&mut wanted) => return Ok(Outcome::Sleep),
        };
        self.set_state(ConnState::LoggingIn);
        self.status.send_modify(|s| s.login_attempts += 1);
        let mut session = Session::new(&self.cfg.username, &self.cfg.password)
            .with_max_encryption(self.cfg.max_encryption);
        let first = session
            .start_login(method)
            .map_err(|e| SourceError::Protocol(e.to_string()))?;
        conn.send(&first).await?;

        let mut buf = BytesMut::new();
        let login_deadline = Instant::now() + t.login_timeout;
        let mut logged_in = false;
        let mut last_rx = Instant::now();
        let mut last_media = Instant::now();
        let mut ping = tokio::time::interval_at(Instant::now() + t.ping_interval, t.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut battery =
            tokio::time::interval_at(Instant::now() + t.battery_interval, t.battery_interval);
        battery.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut signal =
            tokio::time::interval_at(Instant::now() + t.signal_interval, t.signal_interval);
        signal.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut events = Vec::new();
        loop {
            tokio::select! {
                r = conn.recv(&mut buf) => {
                    r?;
                    last_rx = Instant::now();
                }
                _ = ping.tick(), if logged_in => {
                    if last_rx.elapsed() > t.idle_timeout {
                        return Err(SourceError::Timeout("camera silent"));
                    }
                    // A camera that answers pings but stopped streaming is as good as gone.
                    if last_media.elapsed() > t.idle_timeout {
                        return Err(SourceError::Timeout("no media"));
                    }
                    let b = session.ping().map_err(|e| SourceError::Protocol(e.to_string()))?;
                    conn.send(&b).await?;
                    continue;
                }
                _ = battery.tick(), if logged_in => {
                    let b = session
                        .request_battery(self.cfg.channel)
                        .map_err(|e| SourceError::Protocol(e.to_string()))?;
                    conn.send(&b).await?;
                    continue;
                }
                _ = signal.tick(), if logged_in => {
                    let b = session
                        .request_wifi_signal()
                        .map_err(|e| SourceError::Protocol(e.to_string()))?;
                    conn.send(&b).await?;
                    continue;
                }
                _ = tokio::time::sleep_until(login_deadline), if !logged_in => {
                    return Err(SourceError::Timeout("login"));
                }
                outcome = async {
                    tokio::select! {
                        _ = cancel.cancelled() => Outcome::Stop,
                        _ = unwanted(&mut wanted) => Outcome::Sleep,
                    }
                } => {
                    if logged_in && let Ok(b) = session.logout() {
                        let _ = tokio::time::timeout(Duration::from_millis(500), conn.send(&b)).await;
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(500), conn.close()).await;
                    if matches!(outcome, Outcome::Sleep) {
                        tracing::info!("not wanted any more: logged out");
                    }
                    return Ok(outcome);
                }
            }
            let actions = session
                .on_bytes(&mut buf)
                .map_err(|e| SourceError::Protocol(e.to_string()))?;
            for a in actions {
                match a {
                    Action::Send(b) => {
                        if !logged_in {
                            stats.got_nonce = true;
                        }
                        conn.send(&b).await?;
                    }
                    Action::LoggedIn { level, device_info } => {
                        logged_in = true;
                        stats.got_nonce = true;
                        last_media = Instant::now();
                        tracing::info!(encryption = ?level, "logged in");
                        self.status.send_modify(|s| {
                            s.encryption = Some(level);
                            if let Some(d) = &device_info {
                                s.device = Some(DeviceSummary::from(d));
                            }
                        });
                        let b = session
                            .start_video(self.cfg.channel, self.cfg.stream.kind())
                            .map_err(|e| SourceError::Protocol(e.to_string()))?;
                        conn.send(&b).await?;
                        let b = session
                            .request_battery(self.cfg.channel)
                            .map_err(|e| SourceError::Protocol(e.to_string()))?;
                        conn.send(&b).await?;
                        let b = session
                            .subscribe_alarms()
                            .map_err(|e| SourceError::Protocol(e.to_string()))?;
                        conn.send(&b).await?;
                        let b = session
                            .request_wifi_signal()
                            .map_err(|e| SourceError::Protocol(e.to_string()))?;
                        conn.send(&b).await?;
                    }
                    Action::LoginFailed(f) => return Err(login_error(f)),
                    Action::Media { packet, .. } => {
                        last_media = Instant::now();
                        match packet {
                            MediaPacket::Video(v) => {
                                events.clear();
                                match self.conv.push(&v, &mut events) {
                                    Ok(()) => {}
                                    Err(Skip::WaitingForKeyFrame) => {}
                                    Err(Skip::BadParameters(e)) => {
                                        if !self.bad_params_logged {
                                            tracing::warn!(codec = ?v.codec, error = %e, "cannot build a track from the key frame's parameter sets; skipping frames");
                                            self.bad_params_logged = true;
                                        }
                                    }
                                    Err(Skip::BadFrame(e)) => {
                                        tracing::debug!(error = %e, "frame skipped")
                                    }
                                }
                                for ev in events.drain(..) {
                                    let offer = match ev {
                                        VideoEvent::Frame(_) => {
                                            let o = self.sink.frame(ev);
                                            if o == Offer::Sent {
                                                stats.frames += 1;
                                                self.last_frame_at = Some(Instant::now());
                                                let first = stats.frames == 1;
                                                self.status.send_modify(|s| {
                                                    s.frames += 1;
                                                    if first {
                                                        s.state = ConnState::Streaming;
                                                        s.last_error = None;
                                                    }
                                                });
                                            } else if o == Offer::Dropped {
                                                let d = self.sink.dropped();
                                                self.status.send_modify(|s| s.dropped_frames = d);
                                            }
                                            o
                                        }
                                        other => {
                                            stats.announced = true;
                                            self.sink.control(other)
                                        }
                                    };
                                    if offer == Offer::Closed {
                                        return Ok(Outcome::Stop);
                                    }
                                }
                            }
                            MediaPacket::Aac(_) | MediaPacket::Adpcm(_) => {
                                self.status.send_modify(|s| s.audio_packets += 1);
                            }
                            MediaPacket::InfoV1(i) | MediaPacket::InfoV2(i) => {
                                tracing::debug!(
                                    width = i.width,
                                    height = i.height,
                                    fps = i.fps,
                                    "stream info"
                                );
                            }
                        }
                    }
                    Action::MediaResync { skipped, .. } => {
                        self.garbage(format_args!("{skipped} bytes of unrecognised media data"));
                    }
                    Action::StreamRefused { code, .. } => {
                        return Err(SourceError::StreamRefused(code));
                    }
                    Action::Battery(list) => {
                        let ch = self.cfg.channel;
                        let info = list
                            .iter()
                            .find(|b| b.channel_id == Some(ch))
                            .or_else(|| list.first());
                        if let Some(b) = info.and_then(Battery::from_info) {
                            self.status.send_if_modified(|s| {
                                let changed = s.battery != Some(b);
                                s.battery = Some(b);
                                changed
                            });
                        }
                    }
                    Action::WifiSignal(dbm) => {
                        self.status.send_if_modified(|s| {
                            let changed = s.wifi_signal_dbm != Some(dbm);
                            s.wifi_signal_dbm = Some(dbm);
                            changed
                        });
                    }
                    Action::Alarms(list) => {
                        let ch = self.cfg.channel;
                        if let Some(e) = list
                            .iter()
                            .find(|e| e.channel_id == Some(ch))
                            .or_else(|| list.first())
                        {
                            let alarm = Alarm::from_event(e);
                            self.status.send_if_modified(|s| {
                                let changed = s.alarm != alarm;
                                s.alarm = alarm;
                                changed
                            });
                        }
                    }
                    Action::Reply(m) | Action::Push(m) => {
                        tracing::trace!(
                            msg_id = m.header.msg_id,
                            code = m.header.response_code,
                            "message"
                        );
                    }
                    // Framing errors mean bytes were skipped; a message that
                    // framed but did not parse (e.g. odd XML) lost nothing else.
                    Action::ProtocolError(
                        e @ (msg::Error::BadMagic(_)
                        | msg::Error::UnknownClass(_)
                        | msg::Error::BodyTooLong { .. }
                        | msg::Error::BadPayloadOffset { .. }),
                    ) => self.garbage(format_args!("{e}")),
                    Action::ProtocolError(e) => {
                        tracing::debug!(error = %e, "message skipped (recovered)")
                    }
                }
            }
        }
    }
}

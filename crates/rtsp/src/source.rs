//! The tokio side: one task per camera stream that keeps one RTSP session playing, turns
//! retina's frames into [`VideoEvent`]s and reconnects when the camera goes away.
//!
//! State machine of the task (each arrow updates [`RtspStatus::state`]):
//!
//! ```text
//!   Connecting --DESCRIBE/SETUP/PLAY ok--> Playing --error/EOF/stall--> Disconnected
//!       |  ^                                                              |
//!       |  +------------------ backoff (1 s .. 60 s, jitter) ------------+
//!       +--401--> AuthFailed --auth_retry (5 min)--> Connecting
//!   any state --cancel / receiver dropped / bad config--> Stopped
//! ```
//!
//! Only the video stream is SET UP: audio (Tapo: G.711 A-law; other cameras AAC) is not
//! requested, so the MP4 path never sees G.711. AAC could be added later as a second track
//! (retina depacketizes it and builds an `mp4a` sample entry); G.711 would need transcoding.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use media::{Frame, TrackConfig, VideoEvent};
use retina::client::{PlayOptions, Session, SessionGroup, SessionOptions, SetupOptions};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParameters};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::config::{RtspConfig, Transport};
use crate::error::{ErrorKind, SessionError};
use crate::outbox::{Closed, Offer, Outbox, Sink};
use crate::status::{RtspState, RtspStatus};
use crate::timing::{Backoff, DtsMapper, random_jitter};

/// Tuning of a source; the defaults suit Tapo cameras on a LAN.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// Capacity of the event channel, in events. Default 64 (about 2 s at 30 fps).
    pub channel_capacity: usize,
    /// Limit for each of DESCRIBE, SETUP and PLAY. Default 10 s.
    pub connect_timeout: Duration,
    /// No video frame for this long ends the session (and reconnects). Default 10 s
    /// (Tapo key frames come every ~2 s).
    pub stall_timeout: Duration,
    /// Reconnect schedule after failures other than a refused password.
    pub backoff: Backoff,
    /// Delay between attempts while the camera refuses the credentials. Default 5 min:
    /// cameras lock accounts out after repeated failures.
    pub auth_retry: Duration,
    /// Sent as `User-Agent`.
    pub user_agent: String,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            channel_capacity: 64,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            auth_retry: Duration::from_secs(300),
            user_agent: concat!("camera-hub-rtsp/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// An RTSP camera stream as a source of [`VideoEvent`]s.
///
/// Keeps exactly one upstream session per camera stream (Tapo cameras allow only about two):
/// the hub fans the events out to the recorder and live viewers.
#[derive(Debug)]
pub struct RtspSource;

impl RtspSource {
    /// Starts the source on the current tokio runtime with default options. It runs until
    /// `cancel` fires or the event receiver is dropped.
    pub fn spawn(
        cfg: RtspConfig,
        cancel: CancellationToken,
    ) -> (mpsc::Receiver<VideoEvent>, watch::Receiver<RtspStatus>) {
        Self::spawn_with(cfg, SourceOptions::default(), cancel)
    }

    /// Like [`spawn`](Self::spawn) with explicit options.
    pub fn spawn_with(
        cfg: RtspConfig,
        opts: SourceOptions,
        cancel: CancellationToken,
    ) -> (mpsc::Receiver<VideoEvent>, watch::Receiver<RtspStatus>) {
        let (tx, rx) = mpsc::channel(opts.channel_capacity.max(1));
        let (status_tx, status_rx) = watch::channel(RtspStatus::default());
        tokio::spawn(run(cfg, opts, tx, status_tx, cancel));
        (rx, status_rx)
    }
}

/// The source's task body, for callers that spawn it themselves (e.g. on a `TaskTracker`).
/// The events go to `tx`: a channel's sender, or a [`Sink::Direct`] consumer.
/// Returns when `cancel` fires, `tx`'s receiver is dropped or the configuration is unusable;
/// the final status is [`RtspState::Stopped`].
pub async fn run(
    cfg: RtspConfig,
    opts: SourceOptions,
    tx: impl Into<Sink>,
    status: watch::Sender<RtspStatus>,
    cancel: CancellationToken,
) {
    let span = info_span!("rtsp", camera = %cfg.name, path = %cfg.path);
    async move {
        let mut worker = match Worker::new(cfg, opts, tx.into(), &status) {
            Ok(w) => w,
            Err(e) => {
                error!(error = %e, "unusable camera configuration; source stopped");
                status.send_modify(|s| {
                    s.state = RtspState::Stopped;
                    s.last_error = Some(e.to_string());
                });
                return;
            }
        };
        worker.run(&cancel).await;
        status.send_modify(|s| s.state = RtspState::Stopped);
        debug!("source stopped");
    }
    .instrument(span)
    .await
}

/// Why one session ended.
enum Ended {
    Failed(SessionError),
    ConsumerGone,
}

impl From<SessionError> for Ended {
    fn from(e: SessionError) -> Self {
        Ended::Failed(e)
    }
}

impl From<Closed> for Ended {
    fn from(_: Closed) -> Self {
        Ended::ConsumerGone
    }
}

struct Worker<'a> {
    cfg: RtspConfig,
    opts: SourceOptions,
    url: url::Url,
    group: Arc<SessionGroup>,
    outbox: Outbox,
    status: &'a watch::Sender<RtspStatus>,
    /// Consecutive failures, for the backoff.
    failures: u32,
    /// The refused password was logged (once per streak of refusals).
    auth_reported: bool,
    /// The failure last logged at warn level; the same failure again is logged at debug, so an
    /// unreachable camera does not flood the log (cleared once a session plays).
    last_warned: Option<String>,
    ever_played: bool,
}

impl<'a> Worker<'a> {
    fn new(
        cfg: RtspConfig,
        opts: SourceOptions,
        tx: Sink,
        status: &'a watch::Sender<RtspStatus>,
    ) -> Result<Self, SessionError> {
        let url = cfg.url()?;
        let group = Arc::new(SessionGroup::default().named(cfg.name.clone()));
        Ok(Worker {
            cfg,
            opts,
            url,
            group,
            outbox: Outbox::new(tx),
            status,
            failures: 0,
            auth_reported: false,
            last_warned: None,
            ever_played: false,
        })
    }

    async fn run(&mut self, cancel: &CancellationToken) {
        loop {
            self.status.send_modify(|s| {
                s.state = RtspState::Connecting;
                s.attempts += 1;
            });
            let mut played_at = None;
            let ended = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                ended = self.session(&mut played_at) => ended,
            };
            let err = match ended {
                Ended::ConsumerGone => {
                    debug!("consumer dropped the receiver");
                    return;
                }
                Ended::Failed(err) => err,
            };
            let reason = err.to_string();
            if self.outbox.gap(reason.clone()).is_err() {
                return;
            }
            let delay = match err.kind() {
                ErrorKind::Fatal => {
                    error!(error = %reason, "source stopped");
                    self.status
                        .send_modify(|s| s.last_error = Some(reason.clone()));
                    return;
                }
                ErrorKind::Auth => {
                    let retry = self.opts.auth_retry;
                    if !self.auth_reported {
                        error!(
                            username = %self.cfg.username,
                            url = %self.url,
                            error = %reason,
                            "camera refused the username/password (use the camera's local \
                             account); retrying every {retry:?}"
                        );
                        self.auth_reported = true;
                    } else {
                        debug!(error = %reason, "credentials still refused");
                    }
                    self.status.send_modify(|s| {
                        s.state = RtspState::AuthFailed;
                        s.last_error = Some(reason);
                    });
                    retry
                }
                ErrorKind::Retry => {
                    let stable = played_at
                        .is_some_and(|t: Instant| t.elapsed() >= self.opts.backoff.stable_after);
                    if stable {
                        self.failures = 0;
                    }
                    let delay = self.opts.backoff.delay(self.failures, random_jitter());
                    self.failures = self.failures.saturating_add(1);
                    if self.last_warned.as_deref() == Some(reason.as_str()) {
                        debug!(error = %reason, retry_in = ?delay, "camera still unavailable");
                    } else if played_at.is_some() {
                        warn!(error = %reason, retry_in = ?delay, "lost the camera; reconnecting");
                    } else {
                        warn!(error = %reason, retry_in = ?delay, "could not start the stream");
                    }
                    self.last_warned = Some(reason.clone());
                    self.status.send_modify(|s| {
                        s.state = RtspState::Disconnected {
                            reason: reason.clone(),
                        };
                        s.last_error = Some(reason);
                    });
                    delay
                }
            };
            if !self.wait(delay, cancel).await {
                return;
            }
        }
    }

    /// Sleeps for `delay` while delivering pending control events; false to stop.
    async fn wait(&mut self, delay: Duration, cancel: &CancellationToken) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            let pending = self.outbox.has_pending();
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return false,
                r = self.outbox.drain(), if pending => if r.is_err() { return false },
                _ = &mut sleep => return !self.outbox.is_closed(),
            }
        }
    }

    /// One session: DESCRIBE, SETUP (video only), PLAY, then frames until it fails.
    async fn session(&mut self, played_at: &mut Option<Instant>) -> Ended {
        match self.session_inner(played_at).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn session_inner(
        &mut self,
        played_at: &mut Option<Instant>,
    ) -> Result<std::convert::Infallible, Ended> {
        let limit = self.opts.connect_timeout;
        let options = SessionOptions::default()
            .creds(self.cfg.credentials())
            .session_group(self.group.clone())
            .user_agent(self.opts.user_agent.clone());
        debug!(url = %self.url, "DESCRIBE");
        let mut session = step(
            "DESCRIBE",
            limit,
            Session::describe(self.url.clone(), options),
        )
        .await?;
        let Some(stream_i) = session
            .streams()
            .iter()
            .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
        else {
            let offered: Vec<String> = session
                .streams()
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect();
            return Err(SessionError::NoVideo(offered.join(", ")).into());
        };
        let clock_rate = session.streams()[stream_i].clock_rate_hz();
        let transport = match self.cfg.transport {
            Transport::Tcp => retina::client::Transport::Tcp(Default::default()),
            Transport::Udp => retina::client::Transport::Udp(Default::default()),
        };
        let setup = SetupOptions::default()
            .transport(transport)
            .frame_format(FrameFormat::MP4);
        step("SETUP", limit, session.setup(stream_i, setup)).await?;
        let playing = step("PLAY", limit, session.play(PlayOptions::default())).await?;
        let mut demuxed = playing
            .demuxed()
            .map_err(|e| SessionError::from_retina(&e))?;

        *played_at = Some(Instant::now());
        let reconnected = self.ever_played;
        self.ever_played = true;
        self.auth_reported = false;
        self.last_warned = None;
        self.status.send_modify(|s| {
            s.state = RtspState::Playing;
            s.reconnects += u64::from(reconnected);
        });
        info!(url = %self.url, transport = ?self.cfg.transport, "playing");

        let mut mapper = DtsMapper::new(clock_rate);
        // The status counts over all sessions; the mapper counts this one.
        let (nudged_base, jumps_base) = {
            let s = self.status.borrow();
            (s.nudged_timestamps, s.timestamp_jumps)
        };
        let mut track = None;
        if let Some(ParametersRef::Video(p)) = demuxed.streams()[stream_i].parameters() {
            self.announce(p, &mut track)?;
        }
        let stall = self.opts.stall_timeout;
        let mut deadline = Instant::now() + stall;
        loop {
            let item = match tokio::time::timeout_at(deadline, demuxed.next()).await {
                Err(_) => return Err(SessionError::Stalled(stall).into()),
                Ok(None) => return Err(SessionError::Ended.into()),
                Ok(Some(Err(e))) => {
                    debug!(error = %e, "session error");
                    return Err(SessionError::from_retina(&e).into());
                }
                Ok(Some(Ok(item))) => item,
            };
            let CodecItem::VideoFrame(f) = item else {
                continue; // RTCP; audio is never set up
            };
            if f.stream_id() != stream_i {
                continue;
            }
            deadline = Instant::now() + stall;
            if f.has_new_parameters()
                && let Some(ParametersRef::Video(p)) = demuxed.streams()[stream_i].parameters()
            {
                self.announce(p, &mut track)?;
            }
            if track.is_none() {
                continue; // no SPS/PPS yet: nothing can describe or decode this frame
            }
            if f.loss() > 0 {
                debug!(
                    lost_packets = f.loss(),
                    "RTP loss; skipping to the next key frame"
                );
                self.outbox.skip_to_key();
            }
            let dts = mapper.map(f.timestamp().timestamp());
            let frame = Frame {
                is_key: f.is_random_access_point(),
                dts,
                // RTP carries presentation time only; Tapo streams have no B-frames, so
                // decode order is presentation order.
                pts: dts,
                data: Bytes::from(f.into_data()),
            };
            let offer = self.outbox.frame(frame)?;
            let (dropped, skipped) = (self.outbox.dropped(), self.outbox.skipped());
            let (nudged, jumps) = (nudged_base + mapper.nudged(), jumps_base + mapper.jumps());
            self.status.send_if_modified(|s| {
                s.frames += u64::from(offer == Offer::Sent);
                s.dropped_frames = dropped;
                s.skipped_frames = skipped;
                s.nudged_timestamps = nudged;
                s.timestamp_jumps = jumps;
                // Wake watchers on the first frame, then every 64 and on every drop.
                s.frames % 64 == 1 || offer == Offer::Dropped
            });
        }
    }

    /// Emits a track for new video parameters (unless unchanged) and records it in the status.
    fn announce(
        &mut self,
        params: &VideoParameters,
        current: &mut Option<TrackConfig>,
    ) -> Result<(), Ended> {
        let entry = params
            .mp4_sample_entry()
            .build()
            .map_err(|e| SessionError::BadParameters(e.to_string()))?;
        let new = TrackConfig::from_sample_entry(&entry)
            .map_err(|e| SessionError::BadParameters(e.to_string()))?;
        if current.as_ref() == Some(&new) {
            return Ok(());
        }
        info!(
            codec = new.codec_string(),
            width = new.width(),
            height = new.height(),
            "video track"
        );
        self.status.send_modify(|s| {
            s.codec = Some(new.codec_string().to_owned());
            s.width = Some(new.width());
            s.height = Some(new.height());
        });
        self.outbox.track(new.clone())?;
        *current = Some(new);
        Ok(())
    }
}

/// Runs one RTSP request step with a time limit, classifying its error.
async fn step<T>(
    name: &'static str,
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, retina::Error>>,
) -> Result<T, SessionError> {
    match tokio::time::timeout(limit, fut).await {
        Err(_) => Err(SessionError::Timeout {
            step: name,
            timeout: limit,
        }),
        Ok(Err(e)) => {
            debug!(step = name, error = %e, "request failed");
            Err(SessionError::from_retina(&e))
        }
        Ok(Ok(v)) => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RtspConfig;

    fn opts() -> SourceOptions {
        SourceOptions {
            connect_timeout: Duration::from_millis(300),
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(200),
                stable_after: Duration::from_secs(30),
            },
            ..SourceOptions::default()
        }
    }

    /// Waits (bounded) until the status satisfies `f`.
    async fn wait_for(
        status: &mut watch::Receiver<RtspStatus>,
        f: impl FnMut(&RtspStatus) -> bool,
    ) -> RtspStatus {
        tokio::time::timeout(Duration::from_secs(10), status.wait_for(f))
            .await
            .expect("status in time")
            .expect("sender alive")
            .clone()
    }

    #[tokio::test]
    async fn bad_config_stops_at_once() {
        let cfg = RtspConfig::new("cam", "user:pw@host", "u", "p");
        let (mut rx, mut status) = RtspSource::spawn_with(cfg, opts(), CancellationToken::new());
        assert!(rx.recv().await.is_none());
        let s = wait_for(&mut status, |s| s.state == RtspState::Stopped).await;
        assert!(s.last_error.unwrap().contains("host"));
        assert_eq!(s.attempts, 0);
    }

    /// A camera that accepts TCP but never answers: DESCRIBE times out, the source backs off
    /// and tries again, and cancelling stops it.
    #[tokio::test]
    async fn silent_camera_times_out_and_retries_until_cancelled() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                conns.push(c); // keep open, say nothing
            }
        });
        let cfg = RtspConfig {
            port,
            ..RtspConfig::new("cam", "127.0.0.1", "u", "p")
        };
        let cancel = CancellationToken::new();
        let (mut rx, mut status) = RtspSource::spawn_with(cfg, opts(), cancel.clone());
        let s = wait_for(&mut status, |s| s.attempts >= 2).await;
        assert!(
            s.last_error.as_deref().unwrap().contains("DESCRIBE"),
            "{s:?}"
        );
        cancel.cancel();
        wait_for(&mut status, |s| s.state == RtspState::Stopped).await;
        assert!(rx.recv().await.is_none(), "no events, then closed");
        hold.abort();
    }

    #[tokio::test]
    async fn dropping_the_receiver_stops_the_source() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener); // connection refused from now on
        let cfg = RtspConfig {
            port,
            ..RtspConfig::new("cam", "127.0.0.1", "u", "p")
        };
        let (rx, mut status) = RtspSource::spawn_with(cfg, opts(), CancellationToken::new());
        wait_for(&mut status, |s| {
            matches!(s.state, RtspState::Disconnected { .. })
        })
        .await;
        drop(rx);
        let s = wait_for(&mut status, |s| s.state == RtspState::Stopped).await;
        assert!(
            s.last_error.unwrap().contains("refused"),
            "connection refused"
        );
    }
}

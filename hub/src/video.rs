//! Encoded video inside the hub: one upstream per camera (an RTSP session,
//! a Reolink session), fanned out to every consumer (recorder, live MSE/HLS
//! viewers, the snapshot decoder) through a [`VideoFeed`].
//!
//! The feed is a bounded `broadcast` channel: a consumer that falls behind
//! gets `Lagged` and must resynchronise at the next key frame (the feed keeps
//! the current GOP so a new live viewer can start at once). The upstream
//! never waits for a consumer.
//!
//! A consumer that is always there and keeps up (the recorder) is a [`Tap`] instead:
//! called in line by [`VideoFeed::publish`], on the upstream's task, so it costs no task
//! wake-up per frame. A tap must not block; the recorder's batches one GOP and hands it
//! to its disk thread without waiting.
//!
//! Consumers elsewhere: the recorder (`crate::recordings::recorder`, a tap), the
//! snapshot decoder (`crate::sources::snapshot`), and for viewers the MSE muxer
//! and the HLS packager (`crate::web::video`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use media::{Frame, TrackConfig, VideoEvent};
use tokio::sync::broadcast;

/// Events buffered per consumer before it lags (about 10 s at 25 fps).
pub const FEED_CAPACITY: usize = 256;
/// Most frames kept for the current GOP (a bound even if a camera sends no
/// key frames for a long time).
pub const MAX_GOP_FRAMES: usize = 600;

/// What a new consumer needs to start at once: the track and every frame
/// since the last key frame.
#[derive(Debug, Clone, Default)]
pub struct GopSnapshot {
    pub track: Option<TrackConfig>,
    pub frames: Vec<Frame>,
}

/// A consumer called by [`VideoFeed::publish`] with every event, in order, under the
/// feed's lock: it must return quickly and never wait (no I/O, no blocking send).
pub trait Tap: Send {
    fn event(&mut self, ev: &Arc<VideoEvent>);
}

/// Names an attached [`Tap`] for [`VideoFeed::detach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapId(u64);

#[derive(Default)]
struct State {
    taps: Vec<(TapId, Box<dyn Tap>)>,
    next_tap: u64,
    track: Option<TrackConfig>,
    gop: Vec<Frame>,
    /// Arrival times of the latest frames, for the frame rate.
    arrivals: crate::rate::Arrivals,
    frames: u64,
    source: Option<SourceStatus>,
    snapshots: Option<String>,
}

/// A feed whose last frame is this old shows 0 fps.
const FPS_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the upstream of a feed (an RTSP or Reolink session) stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceState {
    #[default]
    Connecting,
    LoggingIn,
    /// Video flows.
    Playing,
    /// The camera refused the user name or password.
    AuthFailed,
    /// The session was lost; reconnecting.
    Disconnected,
    /// The source ended.
    Stopped,
    /// The camera cannot start (its configuration cannot be used).
    Error,
    /// An on-demand camera nobody watches: no session, the camera rests (not offline).
    Sleeping,
}

impl SourceState {
    /// The name pages and `/api/cameras` show.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Connecting => "connecting",
            SourceState::LoggingIn => "logging-in",
            SourceState::Playing => "playing",
            SourceState::AuthFailed => "auth-failed",
            SourceState::Disconnected => "disconnected",
            SourceState::Stopped => "stopped",
            SourceState::Error => "error",
            SourceState::Sleeping => "sleeping",
        }
    }
}

/// What the upstream of a feed reports. Never holds a credential.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStatus {
    pub state: SourceState,
    /// A sentence for people when something is wrong (e.g. a refused password).
    pub message: Option<String>,
    /// Sessions re-established after an earlier one was lost.
    pub reconnects: u64,
    /// The latest failure (first line, no credentials).
    pub last_error: Option<String>,
    /// Battery cameras (Reolink).
    pub battery: Option<BatteryStatus>,
    /// Device model / firmware when the camera says (Reolink).
    pub model: Option<String>,
    /// On-demand cameras: times woken for a viewer since the hub started (`None`: the
    /// camera streams always).
    pub wakes: Option<u64>,
    /// The camera's own motion and AI alarms now (Reolink).
    pub alarm: AlarmStatus,
    /// The camera's Wi-Fi signal in dBm (Reolink cameras on Wi-Fi, polled every minute
    /// while a session is open).
    pub wifi_signal_dbm: Option<i32>,
}

/// What a camera's own detection reports now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlarmStatus {
    pub motion: bool,
    /// What its AI classifies (`people`, `vehicle`, `dog_cat`, ...), sorted.
    pub labels: Vec<String>,
}

/// A battery camera's charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatteryStatus {
    pub percent: u8,
    pub charging: bool,
}

/// A point-in-time view of a feed.
#[derive(Debug, Clone)]
pub struct VideoStatus {
    /// The track, once the upstream sent one.
    pub track: Option<TrackConfig>,
    /// Encoded frames per second over the latest frames.
    pub fps: f64,
    /// Frames received since start.
    pub frames: u64,
    /// The upstream's state (bridged cameras only).
    pub source: Option<SourceStatus>,
    /// Why there are no JPEG pictures, when there are none (e.g. H.265).
    pub snapshots: Option<String>,
    /// When the last frame arrived.
    pub last_frame: Option<Instant>,
}

/// Fan-out of one camera's encoded video.
pub struct VideoFeed {
    tx: broadcast::Sender<Arc<VideoEvent>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for VideoFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFeed")
            .field("receivers", &self.tx.receiver_count())
            .finish_non_exhaustive()
    }
}

impl Default for VideoFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl VideoFeed {
    pub fn new() -> VideoFeed {
        VideoFeed {
            tx: broadcast::Sender::new(FEED_CAPACITY),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record what the upstream reports.
    pub fn set_source_status(&self, s: SourceStatus) {
        self.lock().source = Some(s);
    }

    /// Say why there are no JPEG pictures (`None` once there are).
    pub fn set_snapshot_note(&self, note: Option<String>) {
        self.lock().snapshots = note;
    }

    /// The feed's state.
    pub fn status(&self) -> VideoStatus {
        let st = self.lock();
        VideoStatus {
            track: st.track.clone(),
            fps: st.arrivals.fps(Instant::now(), FPS_FRESH),
            frames: st.frames,
            source: st.source.clone(),
            snapshots: st.snapshots.clone(),
            last_frame: st.arrivals.last(),
        }
    }

    /// Hand one event to every consumer. Never blocks.
    pub fn publish(&self, ev: VideoEvent) {
        let ev = Arc::new(ev);
        {
            let mut st = self.lock();
            match &*ev {
                VideoEvent::Track(t) => {
                    st.track = Some(t.clone());
                    st.gop.clear();
                }
                VideoEvent::Frame(f) => {
                    st.frames += 1;
                    st.arrivals.push(Instant::now());
                    if f.is_key {
                        st.gop.clear();
                    }
                    if (f.is_key || !st.gop.is_empty()) && st.gop.len() < MAX_GOP_FRAMES {
                        st.gop.push(f.clone());
                    }
                }
                VideoEvent::Gap { .. } => st.gop.clear(),
            }
            for (_, tap) in &mut st.taps {
                tap.event(&ev);
            }
        }
        // Without subscribers (nobody watching) this returns at once, storing nothing.
        let _ = self.tx.send(ev);
    }

    /// Attach a [`Tap`]: `make` gets what a new consumer needs to start at once (the track
    /// and the current GOP, as [`subscribe`](Self::subscribe) gives) and returns the tap,
    /// which then sees every event published after them, none twice.
    pub fn attach(&self, make: impl FnOnce(&GopSnapshot) -> Box<dyn Tap>) -> TapId {
        let mut st = self.lock();
        let snap = GopSnapshot {
            track: st.track.clone(),
            frames: st.gop.clone(),
        };
        let tap = make(&snap);
        let id = TapId(st.next_tap);
        st.next_tap += 1;
        st.taps.push((id, tap));
        id
    }

    /// Detach a tap; it sees nothing published after this returns. Returns it.
    pub fn detach(&self, id: TapId) -> Option<Box<dyn Tap>> {
        let mut st = self.lock();
        let i = st.taps.iter().position(|(t, _)| *t == id)?;
        Some(st.taps.remove(i).1)
    }

    /// Subscribe to events from now on, together with the current GOP so the
    /// consumer can start decoding at once. Take the snapshot and the
    /// receiver in this order and skip events whose frames are already in
    /// the snapshot (compare `dts`).
    pub fn subscribe(&self) -> (GopSnapshot, broadcast::Receiver<Arc<VideoEvent>>) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        (
            GopSnapshot {
                track: st.track.clone(),
                frames: st.gop.clone(),
            },
            rx,
        )
    }

    /// The current track, if the upstream has sent one.
    pub fn track(&self) -> Option<TrackConfig> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .track
            .clone()
    }

    pub fn consumers(&self) -> usize {
        self.tx.receiver_count()
    }
}

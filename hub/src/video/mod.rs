//! Encoded video inside the hub: one upstream per camera (an RTSP session,
//! a Reolink session), fanned out to every consumer (recorder, live MSE/HLS
//! viewers, the snapshot decoder) through a [`VideoFeed`].
//!
//! The feed is a bounded `broadcast` channel: a consumer that falls behind
//! gets `Lagged` and must resynchronise at the next key frame (the feed keeps
//! the current GOP so a new live viewer can start at once). The upstream
//! never waits for a consumer.

use std::sync::{Arc, Mutex};

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

#[derive(Default)]
struct State {
    track: Option<TrackConfig>,
    gop: Vec<Frame>,
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

    /// Hand one event to every consumer. Never blocks.
    pub fn publish(&self, ev: VideoEvent) {
        {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match &ev {
                VideoEvent::Track(t) => {
                    st.track = Some(t.clone());
                    st.gop.clear();
                }
                VideoEvent::Frame(f) => {
                    if f.is_key {
                        st.gop.clear();
                    }
                    if (f.is_key || !st.gop.is_empty()) && st.gop.len() < MAX_GOP_FRAMES {
                        st.gop.push(f.clone());
                    }
                }
                VideoEvent::Gap { .. } => st.gop.clear(),
            }
        }
        let _ = self.tx.send(Arc::new(ev));
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

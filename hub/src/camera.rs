//! The camera registry and each camera's live state: the latest frame (a
//! one-slot `watch` channel, so a slow viewer skips frames and never slows the
//! camera or other viewers), frame-rate and activity statistics, which
//! ingest connection currently owns the camera, and who wants its live video
//! ([`crate::demand`]: every live view subscribes here, so an on-demand camera
//! wakes for it). The JPEG views' subscriptions are also what a bridged camera's
//! key-frame decoder ([`crate::sources::snapshot`]) runs for: it decodes only while
//! one exists ([`Camera::jpeg_wanted`], [`Camera::jpeg_unwanted`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;

use crate::config::{CameraConfig, SourceKind};
use crate::demand::{Demand, Lease, WakeReason};
use crate::video::{GopSnapshot, SourceState, VideoFeed};

/// Lock ignoring poisoning: nothing guarded here can be left half-updated
/// by a panic (every update is a single assignment or push).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One JPEG as the live views see it.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    /// Increases by one per frame published on this camera.
    pub seq: u64,
    pub jpeg: Bytes,
    /// When the hub received it.
    pub received_at: SystemTime,
    /// The frame as one part of each MJPEG stream kind, built by the first viewer that
    /// sends it and shared by the others ([`LiveFrame::part`]).
    parts: [OnceLock<Bytes>; PART_KINDS],
}

/// How many encodings of a frame [`LiveFrame::part`] keeps (one per MJPEG boundary).
pub const PART_KINDS: usize = 2;

impl LiveFrame {
    /// Encoding `kind` (below [`PART_KINDS`]) of this frame: `build(jpeg)` the first time,
    /// the same shared bytes after that, for every viewer of the frame.
    pub fn part(&self, kind: usize, build: impl FnOnce(&[u8]) -> Bytes) -> Bytes {
        self.parts[kind].get_or_init(|| build(&self.jpeg)).clone()
    }
}

#[derive(Default)]
struct Stats {
    arrivals: crate::rate::Arrivals,
    last_frame_wall: Option<SystemTime>,
    /// Why the latest pushed frame that was not taken was refused.
    last_rejected: Option<String>,
}

/// A camera and its live state.
pub struct Camera {
    pub id: u32,
    pub name: String,
    pub description: String,
    /// Facts of its source (see [`crate::config::SourceConfig::kind`]).
    pub kind: SourceKind,
    pub fallback_image: Option<std::path::PathBuf>,
    /// The literal token its agent presents (`token_file`), when not derived.
    literal_token: Option<String>,
    /// Encoded video (H.264/H.265) for cameras whose source produces it;
    /// `None` for JPEG-only cameras (agents push JPEG and record on the Pi).
    pub video: Option<Arc<crate::video::VideoFeed>>,
    /// What its source says besides video (online/offline, battery, alarms).
    pub events: crate::event_feed::EventFeed,
    /// Who wants its live video now (drives on-demand cameras).
    pub demand: Arc<Demand>,
    /// The idle timeout of a camera that streams only on demand; `None`: always.
    pub on_demand: Option<Duration>,
    /// Viewers, frames out and dropped, retention (read by `/metrics`).
    pub counters: Arc<crate::counters::CameraCounters>,
    /// Its agent's latest health report and the health problems active now.
    pub agent_health: crate::health::slot::HealthSlot,
    live: watch::Sender<Option<LiveFrame>>,
    /// Signalled when a JPEG view subscribes (wakes an idle key-frame decoder).
    jpeg_subscribed: tokio::sync::Notify,
    /// Bridged cameras: whether the latest picture is current, i.e. the key-frame
    /// decoder has run since the present JPEG consumers arrived. Always true for cameras
    /// that push or render their own JPEGs.
    picture_current: AtomicBool,
    seq: AtomicU64,
    stats: Mutex<Stats>,
    /// Generation of the ingest connection that owns the camera; a newer
    /// connection takes over and the older one stops publishing.
    owner: AtomicU64,
    connections: AtomicUsize,
    pub frames_total: AtomicU64,
    pub bytes_total: AtomicU64,
    pub frames_rejected: AtomicU64,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A point-in-time view of a camera's state.
#[derive(Debug, Clone)]
pub struct CameraStatus {
    pub id: u32,
    pub name: String,
    pub description: String,
    pub kind: SourceKind,
    pub online: bool,
    pub connected: bool,
    pub fps: f64,
    /// When the last frame arrived (a bridged camera: its last video frame).
    pub last_frame: Option<SystemTime>,
    pub frames_total: u64,
    /// Pushed frames that were not JPEG pictures (skipped), and why the latest was.
    pub frames_rejected: u64,
    pub last_rejected: Option<String>,
    /// Live JPEG views subscribed now.
    pub viewers: usize,
    /// Encoded video and its source's state (cameras with a video feed).
    pub video: Option<crate::video::VideoStatus>,
    /// The agent's latest health report (agent cameras that sent one).
    pub agent: Option<crate::health::slot::AgentReport>,
    /// Health problems active now (`crate::health::monitor`).
    pub problems: Vec<&'static str>,
    /// On-demand cameras wanted awake now: by a viewer, or by the camera's own alarm.
    pub awake_for: Option<WakeReason>,
}

static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

impl Camera {
    /// The camera of `c`, reading its `token_file` if it has one.
    pub fn load(c: &CameraConfig) -> Result<Camera, String> {
        let mut cam = Camera::from_config(c);
        if let crate::config::SourceConfig::Agent {
            token_file: Some(path),
            ..
        } = &c.source
        {
            let token = crate::config::read_secret_file("token_file", path)?;
            let token = token.trim();
            if token.is_empty() || token.len() > wire::MAX_TOKEN_LEN {
                return Err(format!(
                    "token_file {}: the token must be 1 to {} bytes",
                    path.display(),
                    wire::MAX_TOKEN_LEN
                ));
            }
            cam.literal_token = Some(token.to_owned());
        }
        Ok(cam)
    }

    /// The camera of `c` (a `token_file` is not read: see [`Camera::load`]).
    pub fn from_config(c: &CameraConfig) -> Camera {
        let kind = c.source.kind();
        Camera {
            id: c.id,
            name: c.name.clone(),
            description: c.description.clone(),
            kind,
            fallback_image: c.fallback_image.clone(),
            literal_token: None,
            video: kind.video.then(|| Arc::new(crate::video::VideoFeed::new())),
            events: crate::event_feed::EventFeed::default(),
            demand: Arc::default(),
            on_demand: c.source.on_demand(),
            counters: Arc::default(),
            agent_health: Default::default(),
            live: watch::Sender::new(None),
            jpeg_subscribed: tokio::sync::Notify::new(),
            picture_current: AtomicBool::new(!kind.bridged),
            seq: AtomicU64::new(0),
            stats: Mutex::new(Stats::default()),
            owner: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            frames_total: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            frames_rejected: AtomicU64::new(0),
        }
    }

    /// Publish a frame to every live view. Never blocks: viewers that have
    /// not taken the previous frame simply skip it.
    pub fn publish(&self, jpeg: Bytes) {
        let now_wall = SystemTime::now();
        let now = Instant::now();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.frames_total.fetch_add(1, Ordering::Relaxed);
        self.bytes_total
            .fetch_add(jpeg.len() as u64, Ordering::Relaxed);
        {
            let mut st = lock(&self.stats);
            st.arrivals.push(now);
            st.last_frame_wall = Some(now_wall);
        }
        self.live.send_replace(Some(LiveFrame {
            seq,
            jpeg,
            received_at: now_wall,
            parts: Default::default(),
        }));
    }

    /// Whether `presented` is the token of this camera's agent: the literal one of its
    /// `token_file`, else the one derived from `secret`; `None` if no agent may push
    /// to it. Constant time in the tokens' content.
    pub fn agent_token_ok(&self, secret: &[u8], presented: &str) -> Option<bool> {
        let scheme = self.kind.agent_token?;
        Some(match &self.literal_token {
            Some(token) => wire::literal_token_matches(token, presented),
            None => wire::verify_token(scheme, secret, self.id, presented),
        })
    }

    /// Count a pushed frame that was not taken (not a JPEG picture), and keep why for
    /// the camera's status.
    pub fn reject_frame(&self, why: String) {
        self.frames_rejected.fetch_add(1, Ordering::Relaxed);
        lock(&self.stats).last_rejected = Some(why);
    }

    /// A receiver of the latest frame (the current one is marked seen only
    /// after the first `changed`/`borrow_and_update`). Every JPEG view subscribes here:
    /// it wakes an on-demand camera, which stays awake while any receiver lives.
    pub fn subscribe(&self) -> watch::Receiver<Option<LiveFrame>> {
        self.demand.wake(WakeReason::Viewer);
        let rx = self.live.subscribe();
        self.jpeg_subscribed.notify_waiters();
        rx
    }

    /// Whether a JPEG consumer (a live JPEG view, a snapshot request waiting, an MQTT
    /// snapshot publisher while motion lasts) is subscribed now.
    pub fn jpeg_wanted_now(&self) -> bool {
        self.live.receiver_count() > 0
    }

    /// Returns once a JPEG consumer is subscribed (at once if one is).
    pub async fn jpeg_wanted(&self) {
        loop {
            let subscribed = self.jpeg_subscribed.notified();
            if self.jpeg_wanted_now() {
                return;
            }
            subscribed.await;
        }
    }

    /// Returns once no JPEG consumer is subscribed (at once if none is).
    pub async fn jpeg_unwanted(&self) {
        self.live.closed().await;
    }

    /// Whether pictures come from a key-frame decoder that runs only while someone looks
    /// (bridged cameras), rather than from the source itself.
    pub fn decodes_pictures(&self) -> bool {
        self.kind.bridged
    }

    /// Says whether the latest picture is current (the decoder sets it when it publishes
    /// for the present consumers and clears it when the last one leaves).
    pub fn set_picture_current(&self, current: bool) {
        self.picture_current.store(current, Ordering::Relaxed);
    }

    /// Whether the latest picture is current (see [`Camera::current_picture`]).
    pub fn picture_is_current(&self) -> bool {
        !self.decodes_pictures() || self.picture_current.load(Ordering::Relaxed)
    }

    /// Whether a live view should skip the latest picture and wait for the next: a
    /// streaming bridged camera whose decoder is only starting for this view (its latest
    /// picture is from whenever someone last looked; the next comes within one decode).
    pub fn picture_coming(&self) -> bool {
        !self.picture_is_current() && self.streaming()
    }

    /// The current picture for a one-shot use (a snapshot request, an event's picture):
    /// the latest if it is current; else, for a streaming camera whose pictures are
    /// decoded only while someone looks, this request is such a consumer: it waits up to
    /// `wait` for the decoder's picture of the current key frame. `None` if none came in
    /// time (the caller may still serve [`Camera::latest`], an older picture). Never wakes
    /// an on-demand camera: it is not streaming.
    pub async fn current_picture(&self, wait: Duration) -> Option<LiveFrame> {
        if !self.decodes_pictures() || !self.streaming() {
            return self.latest();
        }
        let mut rx = self.subscribe();
        let seen = {
            let latest = rx.borrow_and_update();
            if self.picture_current.load(Ordering::Relaxed) {
                return latest.clone();
            }
            latest.as_ref().map(|f| f.seq)
        };
        let fresh = tokio::time::timeout(
            wait,
            rx.wait_for(|f| f.as_ref().is_some_and(|f| Some(f.seq) != seen)),
        )
        .await;
        match fresh {
            Ok(Ok(f)) => f.clone(),
            _ => None,
        }
    }

    /// The encoded video for a live viewer (MSE): the feed's current GOP and receiver
    /// (see [`VideoFeed::subscribe`]) and a lease that keeps an on-demand camera awake
    /// while held. `None` for JPEG-only cameras.
    pub fn watch_video(
        &self,
    ) -> Option<(
        GopSnapshot,
        tokio::sync::broadcast::Receiver<Arc<media::VideoEvent>>,
        Lease,
    )> {
        let feed: &VideoFeed = self.video.as_deref()?;
        let lease = self.demand.lease(WakeReason::Viewer);
        let (snap, rx) = feed.subscribe();
        Some((snap, rx, lease))
    }

    /// Live viewers now: JPEG views subscribed and encoded-video leases.
    pub fn viewers_now(&self) -> usize {
        self.live.receiver_count() + self.demand.leases()
    }

    /// Whether an on-demand camera is not streaming now (asleep or still waking).
    pub fn resting(&self) -> bool {
        self.on_demand.is_some() && !self.streaming()
    }

    /// Whether a bridged camera's source is playing now.
    pub fn streaming(&self) -> bool {
        self.video
            .as_ref()
            .and_then(|v| v.status().source)
            .is_some_and(|s| s.state == SourceState::Playing)
    }

    /// For a one-shot picture (a snapshot): wakes the camera and, if it is an on-demand
    /// camera that is not streaming, waits up to `wait` for a picture taken after the
    /// wake.
    pub async fn picture_after_wake(&self, wait: Duration) -> WokenPicture {
        let mut rx = self.subscribe();
        if !self.resting() {
            return WokenPicture::WasAwake;
        }
        let seen = rx.borrow_and_update().as_ref().map(|f| f.seq);
        let fresh = tokio::time::timeout(
            wait,
            rx.wait_for(|f| f.as_ref().is_some_and(|f| Some(f.seq) != seen)),
        )
        .await;
        match fresh {
            Ok(Ok(f)) => f.clone().map_or(WokenPicture::None, WokenPicture::Fresh),
            _ => WokenPicture::None,
        }
    }

    pub fn latest(&self) -> Option<LiveFrame> {
        self.live.borrow().clone()
    }

    /// Register an ingest connection; it owns the camera until a newer one
    /// registers. Returns its generation.
    pub fn attach(&self) -> ConnectionGuard<'_> {
        let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        self.owner.store(generation, Ordering::SeqCst);
        self.connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard {
            camera: self,
            generation,
        }
    }

    pub fn status(&self, offline_after: Duration) -> CameraStatus {
        let st = lock(&self.stats);
        let now = Instant::now();
        let online = st
            .arrivals
            .last()
            .is_some_and(|t| now.duration_since(t) < offline_after);
        let fps = st.arrivals.fps(now, offline_after);
        // Bridged cameras are online while video arrives (their JPEG
        // pictures come only at the snapshot rate, or never for H.265).
        let video = self.video.as_ref().map(|v| v.status());
        // A camera put to sleep is not online, however recent its last frame.
        let (online, fps) = match &video {
            Some(v) if self.kind.bridged => (
                v.last_frame
                    .is_some_and(|t| now.duration_since(t) < offline_after)
                    && v.source.as_ref().map(|s| s.state) != Some(SourceState::Sleeping),
                v.fps,
            ),
            _ => (online, fps),
        };
        // A bridged camera's last frame is its video's (its JPEG pictures are made only
        // while someone looks).
        let last_frame = match &video {
            Some(v) if self.kind.bridged => v
                .last_frame
                .and_then(|t| SystemTime::now().checked_sub(now.duration_since(t))),
            _ => st.last_frame_wall,
        };
        let connected = match &video {
            Some(v) if self.kind.bridged => v
                .source
                .as_ref()
                .is_some_and(|s| s.state == SourceState::Playing),
            // An agent's camera while a connection pushes; one the hub runs itself always.
            _ if self.kind.agent_token.is_some() => self.connections.load(Ordering::SeqCst) > 0,
            _ => true,
        };
        CameraStatus {
            id: self.id,
            name: self.name.clone(),
            description: self.description.clone(),
            kind: self.kind,
            online,
            connected,
            fps,
            last_frame,
            frames_total: self.frames_total.load(Ordering::Relaxed),
            frames_rejected: self.frames_rejected.load(Ordering::Relaxed),
            last_rejected: st.last_rejected.clone(),
            viewers: self.live.receiver_count(),
            video,
            agent: self.agent_health.latest(),
            problems: self.agent_health.problems(),
            awake_for: self.wanted_by(),
        }
    }

    /// Why an on-demand camera is wanted awake now (`None`: it may sleep, or it streams
    /// always): who holds it, else who last wanted it within the idle timeout.
    pub fn wanted_by(&self) -> Option<WakeReason> {
        let idle = self.on_demand?;
        let n = self.viewers_now();
        if n > 0 {
            return Some(self.demand.holder(n));
        }
        let (at, reason) = self.demand.last()?;
        (at.elapsed() < idle).then_some(reason)
    }
}

/// What [`Camera::picture_after_wake`] got.
#[derive(Debug)]
pub enum WokenPicture {
    /// The camera streams (always, or already awake): serve what it has.
    WasAwake,
    /// A picture taken after the wake.
    Fresh(LiveFrame),
    /// It was asleep and sent no picture in time (unreachable, refused the password):
    /// serve the last known picture or the fallback, without waiting again.
    None,
}

/// Held by an ingest connection while it is open.
pub struct ConnectionGuard<'a> {
    camera: &'a Camera,
    generation: u64,
}

impl ConnectionGuard<'_> {
    /// False once a newer connection has taken the camera over.
    pub fn owns_camera(&self) -> bool {
        self.camera.owner.load(Ordering::SeqCst) == self.generation
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.camera.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// All cameras, by id and by name. Built once from the configuration.
#[derive(Debug, Default)]
pub struct Registry {
    by_id: BTreeMap<u32, Arc<Camera>>,
    by_name: BTreeMap<String, Arc<Camera>>,
}

impl Registry {
    /// The cameras of the configuration; fails on a `token_file` that cannot be read
    /// or is readable by others, naming the camera.
    pub fn new(cameras: &[CameraConfig]) -> Result<Registry, String> {
        let mut r = Registry::default();
        for (i, c) in cameras.iter().enumerate() {
            let cam = Arc::new(Camera::load(c).map_err(|e| format!("camera[{i}]: {e}"))?);
            r.by_id.insert(cam.id, cam.clone());
            r.by_name.insert(cam.name.clone(), cam);
        }
        Ok(r)
    }

    pub fn by_id(&self, id: u32) -> Option<&Arc<Camera>> {
        self.by_id.get(&id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Camera>> {
        self.by_name.get(name)
    }

    /// Cameras in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Camera>> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> Camera {
        Camera::from_config(&CameraConfig {
            id: 1,
            name: "a".into(),
            description: String::new(),
            source: crate::config::SourceConfig::Agent {
                token_scheme: wire::TokenScheme::HmacSha256,
                token_file: None,
            },
            fallback_image: None,
            segment_duration: None,
            retention: None,
        })
    }

    #[test]
    fn latest_frame_wins_and_counts() {
        let c = cam();
        let mut rx = c.subscribe();
        for i in 0..10u8 {
            c.publish(Bytes::from(vec![i]));
        }
        assert!(rx.has_changed().unwrap());
        let f = rx.borrow_and_update().clone().unwrap();
        assert_eq!(f.seq, 10);
        assert_eq!(&f.jpeg[..], &[9]);
        let s = c.status(Duration::from_secs(5));
        assert!(s.online);
        assert_eq!(s.frames_total, 10);
        assert_eq!(s.viewers, 1);
    }

    #[test]
    fn newer_connection_takes_over() {
        let c = cam();
        let a = c.attach();
        assert!(a.owns_camera());
        let b = c.attach();
        assert!(!a.owns_camera());
        assert!(b.owns_camera());
        assert!(c.status(Duration::from_secs(5)).connected);
        drop(a);
        drop(b);
        assert!(!c.status(Duration::from_secs(5)).connected);
    }
}

//! HLS from memory: a bounded sliding playlist of fMP4 segments per camera
//! (`/{camera}/stream.m3u8`, as the seed HLS server served), cut at key frames
//! about every [`TARGET_SEGMENT`]. Only the latest [`MAX_SEGMENTS`] segments
//! are kept; older ones are freed as new ones arrive, so memory is bounded by
//! about `MAX_SEGMENTS` × segment length of video per camera.
//!
//! Only while asked for: the packager sleeps, subscribed to nothing and holding no
//! segment, until an HLS request comes ([`HlsStore::asked`]). It then packages from the
//! current GOP on (the first playlist request waits until the window holds three
//! target durations of video, bounded by the caller) and keeps packaging while requests keep coming; [`PACKAGE_WHILE_ASKED`] after
//! the last one it frees its window and sleeps again. The next window starts with a
//! discontinuity and sequence numbers after the old ones.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::fmp4::{Sample, encode_fragment};
use media::{Duration90k, Frame, TrackConfig, VideoEvent};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::video::VideoFeed;

/// Segments kept in the playlist.
pub const MAX_SEGMENTS: usize = 6;
/// Cut at the first key frame after this much video.
pub const TARGET_SEGMENT: Duration90k = Duration90k::from_secs(2);
/// A segment with no key frame to end it is dropped past this many frames.
const MAX_SEGMENT_FRAMES: usize = 1200;
/// The packager keeps running this long after the last HLS request (a playing client
/// asks for the playlist about every segment length).
pub const PACKAGE_WHILE_ASKED: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Segment {
    seq: u64,
    init_id: u64,
    duration_secs: f64,
    discontinuity: bool,
    data: Bytes,
    /// Video frames in it.
    frames: u32,
}

#[derive(Debug, Default)]
struct Inner {
    inits: VecDeque<(u64, Bytes)>,
    segments: VecDeque<Segment>,
    discontinuity_seq: u64,
}

impl Inner {
    /// `#EXT-X-TARGETDURATION`: the longest segment, rounded up to whole seconds.
    fn target_duration(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.duration_secs.ceil() as u64)
            .max()
            .unwrap_or(2)
            .max(1)
    }

    /// Whether the window holds three target durations of video: where a
    /// player may start a live stream.
    fn startable(&self) -> bool {
        let held: f64 = self.segments.iter().map(|s| s.duration_secs).sum();
        !self.segments.is_empty() && held >= 3.0 * self.target_duration() as f64 - 0.001
    }
}

/// One camera's playlist and segments.
#[derive(Debug)]
pub struct HlsStore {
    inner: Mutex<Inner>,
    /// The number of segments ever added, for waiting on the first.
    added: watch::Sender<u64>,
    /// When an HLS client last asked for the playlist or a file.
    asked: watch::Sender<Option<Instant>>,
    /// How long the packager runs after the last request ([`PACKAGE_WHILE_ASKED`]).
    idle: Duration,
}

impl Default for HlsStore {
    fn default() -> Self {
        HlsStore {
            inner: Mutex::new(Inner::default()),
            added: watch::Sender::new(0),
            asked: watch::Sender::new(None),
            idle: PACKAGE_WHILE_ASKED,
        }
    }
}

impl HlsStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An HLS client asked for something now: package (again) if the packager sleeps, and
    /// keep packaging for [`PACKAGE_WHILE_ASKED`] from now.
    pub fn asked(&self) {
        self.asked.send_replace(Some(Instant::now()));
    }

    /// When the packager should stop, given the last request; `None` if nobody asked yet.
    fn idle_at(&self) -> Option<Instant> {
        self.asked.borrow().map(|t| t + self.idle)
    }

    /// Waits until a client asks (returns at once if one did within
    /// [`PACKAGE_WHILE_ASKED`]).
    async fn wait_asked(&self) {
        let mut rx = self.asked.subscribe();
        let _ = rx
            .wait_for(|t| t.is_some_and(|t| t.elapsed() < self.idle))
            .await;
    }

    /// Frees every segment and init segment (the packager goes to sleep).
    fn clear(&self) {
        let mut st = self.lock();
        st.segments.clear();
        st.inits.clear();
    }

    fn add_init(&self, id: u64, init: Bytes) {
        let mut st = self.lock();
        st.inits.push_back((id, init));
    }

    fn add_segment(&self, seg: Segment) {
        {
            let mut st = self.lock();
            st.segments.push_back(seg);
            while st.segments.len() > MAX_SEGMENTS {
                if let Some(old) = st.segments.pop_front()
                    && old.discontinuity
                {
                    st.discontinuity_seq += 1;
                }
            }
            // Keep only the init segments still referenced.
            let oldest = st.segments.front().map_or(0, |s| s.init_id);
            while st.inits.len() > 1 && st.inits.front().is_some_and(|(id, _)| *id < oldest) {
                st.inits.pop_front();
            }
        }
        self.added.send_modify(|n| *n += 1);
    }

    /// Wait until a segment newer than the window at the call exists (or `limit` passes):
    /// for a camera just woken, whose window holds only what it sent before it slept.
    pub async fn wait_new(&self, limit: std::time::Duration) -> bool {
        let mut rx = self.added.subscribe();
        let before = *rx.borrow_and_update();
        tokio::time::timeout(limit, rx.wait_for(|n| *n > before))
            .await
            .is_ok()
    }

    /// Wait until the playlist holds three target durations of video (RFC 8216
    /// 6.3.3: a client starts no closer than that to the end; Chromium's own HLS
    /// player fails to parse a live playlist of one or two segments), or `limit`
    /// passes; then whether it holds at least one segment.
    pub async fn wait_ready(&self, limit: std::time::Duration) -> bool {
        let mut rx = self.added.subscribe();
        if self.lock().startable() {
            return true;
        }
        let _ = tokio::time::timeout(limit, rx.wait_for(|_| self.lock().startable())).await;
        !self.lock().segments.is_empty()
    }

    /// The playlist text; `None` before the first segment.
    pub fn playlist(&self) -> Option<String> {
        let st = self.lock();
        let first = st.segments.front()?;
        let target = st.target_duration();
        let mut p = String::new();
        let _ = write!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
            first.seq, st.discontinuity_seq
        );
        let mut init = None;
        for (i, s) in st.segments.iter().enumerate() {
            if s.discontinuity && i > 0 {
                p.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if init != Some(s.init_id) {
                let _ = writeln!(p, "#EXT-X-MAP:URI=\"hls/init-{}.mp4\"", s.init_id);
                init = Some(s.init_id);
            }
            let _ = write!(
                p,
                "#EXTINF:{:.3},\nhls/seg-{}.m4s\n",
                s.duration_secs, s.seq
            );
        }
        Some(p)
    }

    /// A segment or init segment by file name (`seg-N.m4s`, `init-N.mp4`).
    pub fn file(&self, name: &str) -> Option<Bytes> {
        self.file_with_frames(name).map(|(b, _)| b)
    }

    /// [`HlsStore::file`] with the number of video frames in it (0 for an init segment).
    pub fn file_with_frames(&self, name: &str) -> Option<(Bytes, u32)> {
        let st = self.lock();
        if let Some(n) = name
            .strip_prefix("seg-")
            .and_then(|r| r.strip_suffix(".m4s"))
        {
            let n: u64 = n.parse().ok()?;
            return st
                .segments
                .iter()
                .find(|s| s.seq == n)
                .map(|s| (s.data.clone(), s.frames));
        }
        if let Some(n) = name
            .strip_prefix("init-")
            .and_then(|r| r.strip_suffix(".mp4"))
        {
            let n: u64 = n.parse().ok()?;
            return st
                .inits
                .iter()
                .find(|(id, _)| *id == n)
                .map(|(_, b)| (b.clone(), 0));
        }
        None
    }

    /// Bytes held (segments and init segments).
    pub fn bytes(&self) -> usize {
        let st = self.lock();
        st.segments.iter().map(|s| s.data.len()).sum::<usize>()
            + st.inits.iter().map(|(_, b)| b.len()).sum::<usize>()
    }
}

/// Cuts a feed's frames into segments.
#[derive(Debug, Default)]
struct Packager {
    init_id: u64,
    has_init: bool,
    next_seq: u64,
    pending: Vec<Frame>,
    discontinuity: bool,
    waiting_key: bool,
}

impl Packager {
    fn track(&mut self, store: &HlsStore, t: &TrackConfig) {
        self.close(store, None);
        match media::init_segment(t) {
            Ok(init) => {
                self.init_id += 1;
                store.add_init(self.init_id, Bytes::from(init));
                self.has_init = true;
                if self.next_seq > 0 {
                    self.discontinuity = true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "no HLS for this track");
                self.has_init = false;
            }
        }
        self.waiting_key = true;
    }

    fn frame(&mut self, store: &HlsStore, f: &Frame) {
        if !self.has_init || (self.waiting_key && !f.is_key) {
            return;
        }
        self.waiting_key = false;
        if let Some(last) = self.pending.last()
            && f.dts <= last.dts
        {
            // Time went back without a gap: treat it as one.
            self.pending.clear();
            self.discontinuity = true;
            self.waiting_key = !f.is_key;
            if !f.is_key {
                return;
            }
        }
        if f.is_key
            && let Some(first) = self.pending.first()
            && f.dts.0 - first.dts.0 >= TARGET_SEGMENT.0
        {
            self.close(store, Some(f.dts.0));
        }
        if self.pending.len() >= MAX_SEGMENT_FRAMES {
            self.pending.clear();
            self.waiting_key = true;
            self.discontinuity = true;
            return;
        }
        self.pending.push(f.clone());
    }

    /// End the segment being built; `end` is the next frame's dts if known.
    fn close(&mut self, store: &HlsStore, end: Option<i64>) {
        let frames = std::mem::take(&mut self.pending);
        if frames.is_empty() || !self.has_init {
            return;
        }
        let mut samples = Vec::with_capacity(frames.len());
        let mut last_d = 6000;
        for (i, f) in frames.iter().enumerate() {
            let next = frames.get(i + 1).map(|n| n.dts.0).or(end);
            let d = next.map_or(last_d, |n| n - f.dts.0).clamp(1, 180_000);
            last_d = d;
            samples.push(Sample {
                data: f.data.clone(),
                dts: f.dts,
                pts: f.pts.max(f.dts),
                duration: Duration90k(d),
                is_key: f.is_key,
            });
        }
        let total: i64 = samples.iter().map(|s| s.duration.0).sum();
        self.next_seq += 1;
        match encode_fragment(self.next_seq as u32, &samples) {
            Ok(data) => store.add_segment(Segment {
                seq: self.next_seq,
                init_id: self.init_id,
                duration_secs: total as f64 / 90_000.0,
                discontinuity: std::mem::take(&mut self.discontinuity),
                data: Bytes::from(data),
                frames: u32::try_from(samples.len()).unwrap_or(u32::MAX),
            }),
            Err(e) => tracing::warn!(error = %e, "HLS segment dropped"),
        }
    }
}

/// Keep `store` filled from `feed` while HLS clients ask for it, until `stop`.
pub async fn run(
    feed: Arc<VideoFeed>,
    store: Arc<HlsStore>,
    name: String,
    stop: CancellationToken,
) {
    let span = tracing::info_span!("hls", camera = %name);
    async move {
        let store = &*store;
        // Kept between windows: sequence and init numbers keep growing.
        let mut p = Packager::default();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = store.wait_asked() => {}
            }
            tracing::debug!("an HLS client asked: packaging");
            let go_on = package(&feed, store, &mut p, &stop).await;
            p.pending.clear();
            store.clear();
            if !go_on {
                return;
            }
            tracing::debug!("no HLS request lately: window freed");
        }
    }
    .instrument(span)
    .await
}

/// Packages `feed` into `store` until nobody asked for [`PACKAGE_WHILE_ASKED`]; false
/// when the task should end.
async fn package(
    feed: &VideoFeed,
    store: &HlsStore,
    p: &mut Packager,
    stop: &CancellationToken,
) -> bool {
    let (snap, mut rx) = feed.subscribe();
    p.has_init = false;
    p.waiting_key = true;
    if let Some(t) = &snap.track {
        p.track(store, t);
        for f in &snap.frames {
            p.frame(store, f);
        }
    }
    let Some(mut idle_at) = store.idle_at() else {
        return true;
    };
    let idle = tokio::time::sleep_until(idle_at.into());
    tokio::pin!(idle);
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => return false,
            () = &mut idle => {
                match store.idle_at() {
                    Some(t) if t > idle_at => {
                        idle_at = t;
                        idle.as_mut().reset(t.into());
                        continue;
                    }
                    _ => return true,
                }
            }
            ev = rx.recv() => ev,
        };
        match ev {
            Ok(ev) => match &*ev {
                VideoEvent::Track(t) => p.track(store, t),
                VideoEvent::Frame(f) => p.frame(store, f),
                VideoEvent::Gap { .. } => {
                    p.close(store, None);
                    p.discontinuity = true;
                    p.waiting_key = true;
                }
            },
            Err(RecvError::Lagged(n)) => {
                tracing::debug!(missed = n, "HLS packager lagged");
                p.pending.clear();
                p.discontinuity = true;
                p.waiting_key = true;
            }
            Err(RecvError::Closed) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::Time90k;

    fn track() -> TrackConfig {
        let sps = b"\x67\x42\xc0\x1e\xd9\x00\xa0\x2f\xf9\x70\x11\x00\x00\x03\x00\x01\x00\x00\x03\x00\x1e\x0f\x16\x2e\x48";
        TrackConfig::h264(sps, b"\x68\xcb\x83\xcb\x20").unwrap()
    }

    fn frame(i: i64) -> Frame {
        Frame {
            data: Bytes::from_static(b"\x00\x00\x00\x02\x65\x88"),
            dts: Time90k(i * 6000),
            pts: Time90k(i * 6000),
            is_key: i % 15 == 0,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn packages_only_while_asked_and_frees_the_window_after() {
        let feed = Arc::new(VideoFeed::new());
        let store = Arc::new(HlsStore {
            idle: Duration::from_millis(300),
            ..HlsStore::default()
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(feed.clone(), store.clone(), "cam".into(), stop.clone()));
        feed.publish(VideoEvent::Track(track()));
        let mut i = 0;
        // 15 fps, a key frame every second: publishes `secs` of video, letting the
        // packager run after each frame.
        let mut play = async |secs: i64| {
            for _ in 0..secs * 15 {
                feed.publish(VideoEvent::Frame(frame(i)));
                i += 1;
                tokio::task::yield_now().await;
            }
        };
        play(6).await;
        assert!(store.playlist().is_none(), "nobody asked: nothing packaged");
        assert_eq!(store.bytes(), 0);

        // Asked: packaging starts from the current GOP; segments of 2 s follow.
        store.asked();
        tokio::task::yield_now().await;
        play(7).await;
        let pl = store.playlist().expect("segments once asked");
        assert_eq!(pl.matches("#EXTINF:2.000,").count(), 3, "{pl}");
        assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{pl}");
        assert!(pl.contains("hls/init-1.mp4"), "{pl}");

        // Nobody asks again: the window is freed after the idle time.
        tokio::time::sleep(Duration::from_millis(450)).await;
        play(1).await;
        assert!(store.playlist().is_none());
        assert_eq!(store.bytes(), 0, "window freed");
        play(3).await;
        assert!(store.playlist().is_none(), "asleep: nothing packaged");

        // Asked again: a new window, numbered after the old one.
        store.asked();
        tokio::task::yield_now().await;
        play(5).await;
        let pl = store.playlist().expect("segments once asked again");
        assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:4\n"), "{pl}");
        assert!(pl.contains("hls/init-2.mp4"), "{pl}");
        assert!(store.file("init-1.mp4").is_none());

        stop.cancel();
        task.await.unwrap();
    }

    #[test]
    fn the_playlist_slides_and_frees_old_segments() {
        let store = HlsStore::default();
        let mut p = Packager {
            waiting_key: true,
            ..Packager::default()
        };
        p.track(&store, &track());
        assert!(store.playlist().is_none());
        // 15 fps, a key frame every 15 frames (1 s): segments of 2 s.
        for i in 0..15 * 40 {
            p.frame(
                &store,
                &Frame {
                    data: Bytes::from_static(b"\x00\x00\x00\x02\x65\x88"),
                    dts: Time90k(i * 6000),
                    pts: Time90k(i * 6000),
                    is_key: i % 15 == 0,
                },
            );
        }
        let pl = store.playlist().unwrap();
        assert_eq!(pl.matches("#EXTINF:2.000,").count(), MAX_SEGMENTS, "{pl}");
        assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:14\n"), "{pl}");
        assert!(pl.contains("#EXT-X-MAP:URI=\"hls/init-1.mp4\""), "{pl}");
        assert!(!pl.contains("PLAYLIST-TYPE"), "{pl}");
        assert!(store.file("seg-19.m4s").is_some());
        assert!(store.file("seg-13.m4s").is_none(), "old segments are freed");
        assert!(store.file("init-1.mp4").is_some());
        assert!(store.bytes() < 10_000);
    }

    #[tokio::test]
    async fn a_first_playlist_waits_for_three_target_durations() {
        let store = HlsStore::default();
        let mut p = Packager {
            waiting_key: true,
            ..Packager::default()
        };
        p.track(&store, &track());
        let frame = |i: i64| Frame {
            data: Bytes::from_static(b"\x00\x00\x00\x02\x65\x88"),
            dts: Time90k(i * 6000),
            pts: Time90k(i * 6000),
            is_key: i % 30 == 0,
        };
        // Two 2 s segments: not yet where a player may start.
        for i in 0..=60 {
            p.frame(&store, &frame(i));
        }
        assert_eq!(
            store.playlist().unwrap().matches("#EXTINF:2.000,").count(),
            2
        );
        assert!(!store.lock().startable());
        let limit = std::time::Duration::from_millis(300);
        let waiting = std::time::Instant::now();
        assert!(store.wait_ready(limit).await, "served after the bound");
        assert!(waiting.elapsed() >= limit, "it waited for a third segment");
        // The third makes it startable: no wait.
        for i in 61..=90 {
            p.frame(&store, &frame(i));
        }
        let never = std::time::Duration::from_secs(3600);
        assert!(
            tokio::time::timeout(limit, store.wait_ready(never)).await == Ok(true),
            "no wait once startable"
        );
        // An empty store is not ready after the bound either.
        assert!(!HlsStore::default().wait_ready(limit).await);
    }
}

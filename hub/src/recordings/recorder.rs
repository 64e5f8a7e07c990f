//! The hub's own recorder: one per camera whose source gives encoded video
//! ([`crate::video::VideoFeed`]). A [`Batcher`] attached to the feed as a tap sees every
//! event in line with the upstream (no task wake-up per frame) and hands frames to a
//! dedicated thread through a bounded channel, in batches that end just after a key frame
//! (one thread wake-up per GOP; see [`BATCH_SPAN`]). Backpressure: if the disk is slow
//! and the channel is full, the batch is dropped and counted, the segment is closed and
//! recording resumes at the next key frame; the camera never waits.
//! The thread runs [`media::Segmenter`] and writes segments with the store,
//! then indexes each finished one and applies retention.
//!
//! A `Gap` in the feed (camera reconnect) or a dropped batch closes the
//! current segment, so a gap in the feed is a gap in the timeline, never
//! stretched video. Wall-clock start times come from the hub's clock at the first
//! frame of each run, plus media time from there (segments of one run abut
//! exactly).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use media::{SegmentEvent, Segmenter, SegmenterConfig, Time90k, TrackConfig, VideoEvent};
use sha2::{Digest, Sha256};
use store::SegmentSink;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{RecError, Recordings, Segment, Source};
use crate::counters::{CameraCounters, DropReason};
use crate::video::{GopSnapshot, Tap, VideoFeed};

/// Messages queued between the feed's tap and the disk thread (each a batch of frames
/// of at most [`BATCH_SPAN`] or [`BATCH_FRAMES`], or one event).
pub const RECORDER_QUEUE: usize = 8;
/// The tap hands frames to the disk thread in batches, so the thread wakes about
/// once per GOP rather than once per frame: a batch ends with the frame after a key frame
/// (the segmenter holds each frame until the next gives its duration, and releasing the
/// key frame is what closes the previous GOP's fragment and opens a new segment: so
/// fragments and segments reach the disk when they did frame by frame), at this much
/// media time, or at [`BATCH_FRAMES`].
pub const BATCH_SPAN: media::Duration90k = media::Duration90k::from_secs(2);
/// Most frames in one batch.
pub const BATCH_FRAMES: usize = 120;
/// A batch older than this in wall time is handed over on the next check (a camera that
/// stops sending without a gap); checked every half of it.
pub const BATCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug)]
enum Msg {
    Event(Arc<VideoEvent>),
    /// Frames of the feed, in order (every event a `VideoEvent::Frame`).
    Frames(Vec<Arc<VideoEvent>>),
    /// Frames were dropped: close the segment; the next batch starts at a key frame.
    Resync,
}

/// Starts recording `camera` from `feed` until `shutdown`; the tracker waits for the
/// last segment to be closed and indexed.
pub fn spawn(
    rec: Arc<Recordings>,
    camera: String,
    feed: Arc<VideoFeed>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    spawn_counted(rec, camera, feed, Arc::default(), tracker, shutdown);
}

/// [`spawn`], counting the frames the recorder skips when it falls behind in `counters`.
pub fn spawn_counted(
    rec: Arc<Recordings>,
    camera: String,
    feed: Arc<VideoFeed>,
    counters: Arc<CameraCounters>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let (tx, rx) = mpsc::channel::<Msg>(RECORDER_QUEUE);
    let thread_rec = rec.clone();
    let thread_camera = camera.clone();
    let thread = std::thread::Builder::new()
        .name(format!("rec-{camera}"))
        .spawn(move || Thread::new(thread_rec, thread_camera).run(rx));
    let thread = match thread {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(camera, error = %e, "cannot start the recorder thread");
            return;
        }
    };
    let batcher = Arc::new(Mutex::new(Batcher::new(tx, counters)));
    let tap = feed.attach(|snap| {
        lock(&batcher).start(snap);
        Box::new(BatcherTap(Arc::clone(&batcher)))
    });
    let span = tracing::info_span!("recorder", camera = %camera);
    tracker.spawn(tracing::Instrument::instrument(
        async move {
            let mut check = tokio::time::interval(BATCH_WAIT / 2);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = check.tick() => lock(&batcher).flush_stale(Instant::now()),
                }
            }
            feed.detach(tap);
            // Stopping: the frames batched so far still belong in the last segment.
            let (rest, tx) = lock(&batcher).finish();
            if let Some(tx) = tx {
                for msg in rest {
                    if tx.send(msg).await.is_err() {
                        break;
                    }
                }
            }
            // The sender is gone: the thread closes its segment and exits.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            tracing::info!("recorder stopped");
        },
        span,
    ));
}

fn lock(b: &Mutex<Batcher>) -> std::sync::MutexGuard<'_, Batcher> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

/// The feed's tap: the batcher it shares with the recorder's check task.
struct BatcherTap(Arc<Mutex<Batcher>>);

impl Tap for BatcherTap {
    fn event(&mut self, ev: &Arc<VideoEvent>) {
        lock(&self.0).event(ev);
    }
}

/// Groups a feed's frames into batches for the disk thread without ever waiting: see the
/// module docs.
struct Batcher {
    /// `None` once the disk thread is gone.
    tx: Option<mpsc::Sender<Msg>>,
    counters: Arc<CameraCounters>,
    batch: Vec<Arc<VideoEvent>>,
    batch_start: Time90k,
    /// When the batch's first frame arrived.
    batch_since: Instant,
    /// The last frame batched was a key frame: the next one ends the batch.
    after_key: bool,
    /// A close (gap or resync) the channel had no room for; it goes before anything else.
    close: Option<Msg>,
    /// A track the channel had no room for; it goes after `close`.
    track: Option<Msg>,
    /// Frames were dropped: skip to the next key frame.
    lagging: bool,
}

impl Batcher {
    fn new(tx: mpsc::Sender<Msg>, counters: Arc<CameraCounters>) -> Batcher {
        Batcher {
            tx: Some(tx),
            counters,
            batch: Vec::new(),
            batch_start: Time90k(0),
            batch_since: Instant::now(),
            after_key: false,
            close: None,
            track: None,
            lagging: false,
        }
    }

    /// Starts from the feed's state when the recorder attaches.
    fn start(&mut self, snap: &GopSnapshot) {
        if let Some(t) = &snap.track {
            self.event(&Arc::new(VideoEvent::Track(t.clone())));
        }
        for f in &snap.frames {
            self.event(&Arc::new(VideoEvent::Frame(f.clone())));
        }
    }

    fn event(&mut self, ev: &Arc<VideoEvent>) {
        match &**ev {
            VideoEvent::Frame(f) => {
                if self.lagging {
                    if !(f.is_key && self.flush_control()) {
                        self.counters.drop_frames(DropReason::RecorderLag, 1);
                        return;
                    }
                    self.lagging = false;
                    tracing::info!("recorder caught up; recording from this key frame");
                }
                if self.batch.is_empty() {
                    self.batch_start = f.dts;
                    self.batch_since = Instant::now();
                }
                self.batch.push(Arc::clone(ev));
                let ends = std::mem::replace(&mut self.after_key, f.is_key);
                if ends
                    || self.batch.len() >= BATCH_FRAMES
                    || f.dts.0.saturating_sub(self.batch_start.0) >= BATCH_SPAN.0
                {
                    self.send_batch();
                }
            }
            VideoEvent::Track(_) => {
                self.send_batch();
                self.track = Some(Msg::Event(Arc::clone(ev)));
                self.flush_control();
            }
            VideoEvent::Gap { .. } => {
                self.send_batch();
                self.after_key = false;
                if self.close.is_none() {
                    self.close = Some(Msg::Event(Arc::clone(ev)));
                }
                self.flush_control();
            }
        }
    }

    /// Hands the batch over if its first frame waited [`BATCH_WAIT`].
    fn flush_stale(&mut self, now: Instant) {
        if !self.batch.is_empty() && now.duration_since(self.batch_since) >= BATCH_WAIT {
            self.send_batch();
        } else if !self.lagging {
            self.flush_control();
        }
    }

    /// Hands the batch to the disk thread; if the channel is full, drops it (counted),
    /// closes the segment and skips to the next key frame.
    fn send_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let frames = std::mem::take(&mut self.batch);
        if !self.flush_control() {
            return self.lag(frames.len());
        }
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(Msg::Frames(frames)) {
            Ok(()) => {}
            Err(TrySendError::Full(Msg::Frames(frames))) => self.lag(frames.len()),
            Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Closed(_)) => self.tx = None,
        }
    }

    fn lag(&mut self, frames: usize) {
        if !self.lagging {
            tracing::warn!(frames, "recorder fell behind the camera; resynchronising");
        }
        self.counters
            .drop_frames(DropReason::RecorderLag, frames as u64);
        self.lagging = true;
        self.after_key = false;
        if self.close.is_none() {
            self.close = Some(Msg::Resync);
        }
    }

    /// Sends the waiting close and track, in that order; true when none is left.
    fn flush_control(&mut self) -> bool {
        let Some(tx) = &self.tx else {
            return true;
        };
        for slot in [&mut self.close, &mut self.track] {
            let Some(msg) = slot.take() else {
                continue;
            };
            match tx.try_send(msg) {
                Ok(()) => {}
                Err(TrySendError::Full(msg)) => {
                    *slot = Some(msg);
                    return false;
                }
                Err(TrySendError::Closed(_)) => {
                    self.tx = None;
                    return true;
                }
            }
        }
        true
    }

    /// What is left to send when the recorder stops, and the sender to send it with.
    fn finish(&mut self) -> (Vec<Msg>, Option<mpsc::Sender<Msg>>) {
        let mut rest: Vec<Msg> = [self.close.take(), self.track.take()]
            .into_iter()
            .flatten()
            .collect();
        if !self.lagging && !self.batch.is_empty() {
            rest.push(Msg::Frames(std::mem::take(&mut self.batch)));
        }
        (rest, self.tx.take())
    }
}

/// The segment being written: what its index row needs besides the store's summary.
struct Open {
    hasher: Sha256,
    track: TrackConfig,
}

/// The disk side, on its own thread.
struct Thread {
    rec: Arc<Recordings>,
    camera: String,
    cfg: SegmenterConfig,
    segmenter: Option<Segmenter>,
    /// (dts, wall ms) of the first frame of the current run.
    base: Option<(Time90k, i64)>,
    /// The camera's directory; on a full disk retention makes room, index rows first.
    sink: Option<SegmentSink>,
    open: Option<Open>,
    events: Vec<SegmentEvent>,
}

impl Thread {
    fn new(rec: Arc<Recordings>, camera: String) -> Thread {
        let secs = rec.segment_duration_secs(&camera) as i64;
        let sink = Recordings::sink(&rec, &camera);
        Thread {
            rec,
            camera,
            sink,
            cfg: SegmenterConfig {
                target_duration: media::Duration90k::from_secs(secs),
                ..Default::default()
            },
            segmenter: None,
            base: None,
            open: None,
            events: Vec::new(),
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Frames(frames) => {
                    for ev in frames {
                        if let VideoEvent::Frame(f) = &*ev {
                            self.frame(f.clone());
                        }
                    }
                }
                Msg::Resync => self.close("resync after lag"),
                Msg::Event(ev) => match &*ev {
                    VideoEvent::Track(t) => match self.segmenter.as_mut() {
                        Some(s) => s.set_track(t.clone()),
                        None => self.segmenter = Some(Segmenter::new(t.clone(), self.cfg)),
                    },
                    VideoEvent::Frame(f) => self.frame(f.clone()),
                    VideoEvent::Gap { reason } => self.close(reason),
                },
            }
        }
        self.close("shutdown");
    }

    fn frame(&mut self, f: media::Frame) {
        let Some(seg) = self.segmenter.as_mut() else {
            return; // no track yet
        };
        if self.base.is_none() {
            self.base = Some((f.dts, self.rec.clock.now_ms()));
        }
        match seg.push(f.clone(), &mut self.events) {
            Ok(()) => self.drain(),
            Err(media::Error::NonMonotonicDts { .. }) => {
                // The source restarted its clock without a Gap: treat it as one.
                self.close("timestamps went backwards");
                self.base = Some((f.dts, self.rec.clock.now_ms()));
                if let Some(seg) = self.segmenter.as_mut()
                    && seg.push(f, &mut self.events).is_ok()
                {
                    self.drain();
                }
            }
            Err(e) => tracing::warn!(camera = self.camera, error = %e, "frame dropped"),
        }
    }

    /// Ends the current segment (if any); the next run starts at a key frame.
    fn close(&mut self, why: &str) {
        if let Some(seg) = self.segmenter.as_mut() {
            tracing::debug!(camera = self.camera, why, "closing segment");
            if let Err(e) = seg.finish(&mut self.events) {
                tracing::warn!(camera = self.camera, error = %e, "closing segment");
            }
            self.drain();
        }
        self.base = None;
    }

    fn drain(&mut self) {
        let events = std::mem::take(&mut self.events);
        for ev in events {
            if let Err(e) = self.apply(ev) {
                tracing::error!(camera = self.camera, error = %e, "recording failed; segment dropped");
                self.open = None;
                if let Some(sink) = self.sink.as_mut() {
                    sink.abort();
                }
            }
        }
    }

    fn apply(&mut self, ev: SegmentEvent) -> Result<(), RecError> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(RecError::NotFound(format!(
                "no recordings directory for camera {}",
                self.camera
            )));
        };
        match ev {
            SegmentEvent::Start { start, init, .. } => {
                self.open = None;
                let (base_dts, base_ms) = self.base.unwrap_or((start, self.rec.clock.now_ms()));
                let start_ms = base_ms + (start.0 - base_dts.0) / 90;
                sink.start(start_ms, &init)?;
                let mut hasher = Sha256::new();
                hasher.update(&init);
                if let Some(track) = self.segmenter.as_ref().map(|s| s.track().clone()) {
                    self.open = Some(Open { hasher, track });
                }
            }
            SegmentEvent::Fragment(f) => {
                if let Some(o) = self.open.as_mut()
                    && sink.write_fragment(&f)?
                {
                    for part in f.parts() {
                        o.hasher.update(part);
                    }
                }
            }
            SegmentEvent::End(summary) => {
                let Some(o) = self.open.take() else {
                    return Ok(());
                };
                let Some(done) = sink.finish(&summary)? else {
                    return Ok(());
                };
                let sha256 = if done.size_bytes == summary.file_bytes {
                    hex::encode(o.hasher.finalize())
                } else {
                    super::sha256_file(&sink.dir().path().join(&done.name))?
                };
                let seg = Segment {
                    camera: self.camera.clone(),
                    file_name: done.name.clone(),
                    start_ms: done.start_ms,
                    duration_ms: done.duration.0.max(0) / 90,
                    size_bytes: done.size_bytes,
                    sha256,
                    codec: o.track.codec_string().to_owned(),
                    width: u32::from(o.track.width()),
                    height: u32::from(o.track.height()),
                    source: Source::Recorder,
                };
                self.rec.insert(&seg)?;
                tracing::info!(
                    camera = self.camera,
                    segment = done.name,
                    duration_ms = seg.duration_ms,
                    size_bytes = seg.size_bytes,
                    "segment recorded"
                );
                if let Err(e) = self.rec.enforce_retention() {
                    tracing::warn!(error = %e, "retention after a segment failed");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use media::Frame;

    use super::*;

    fn track() -> Arc<VideoEvent> {
        // 640x360 baseline SPS/PPS.
        let sps = b"\x67\x42\xc0\x1e\xd9\x00\xa0\x2f\xf9\x70\x11\x00\x00\x03\x00\x01\x00\x00\x03\x00\x1e\x0f\x16\x2e\x48";
        Arc::new(VideoEvent::Track(
            TrackConfig::h264(sps, b"\x68\xcb\x83\xcb\x20").unwrap(),
        ))
    }

    /// Frame `i` at 15 fps; `K` frames are key frames.
    fn frame(i: i64, key: bool) -> Arc<VideoEvent> {
        Arc::new(VideoEvent::Frame(Frame {
            data: Bytes::from_static(b"\x00\x00\x00\x02\x65\x88"),
            dts: Time90k(i * 6000),
            pts: Time90k(i * 6000),
            is_key: key,
        }))
    }

    /// Feeds `script` (`K3` key frame 3, `P4` other frame 4, `T` track, `G` gap).
    fn feed(b: &mut Batcher, script: &str) {
        for w in script.split_whitespace() {
            match w {
                "T" => b.event(&track()),
                "G" => b.event(&Arc::new(VideoEvent::Gap { reason: "t".into() })),
                _ => b.event(&frame(w[1..].parse().unwrap(), w.starts_with('K'))),
            }
        }
    }

    /// What the disk thread would receive so far, compactly.
    fn got(rx: &mut mpsc::Receiver<Msg>) -> Vec<String> {
        let name = |ev: &VideoEvent| match ev {
            VideoEvent::Track(_) => "T".to_owned(),
            VideoEvent::Gap { .. } => "G".to_owned(),
            VideoEvent::Frame(f) => {
                format!("{}{}", if f.is_key { "K" } else { "P" }, f.dts.0 / 6000)
            }
        };
        let mut out = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            out.push(match msg {
                Msg::Event(ev) => name(&ev),
                Msg::Resync => "R".to_owned(),
                Msg::Frames(f) => {
                    let v: Vec<String> = f.iter().map(|e| name(e)).collect();
                    format!("[{}]", v.join(" "))
                }
            });
        }
        out
    }

    #[test]
    fn a_batch_ends_with_the_frame_after_a_key_frame() {
        let (tx, mut rx) = mpsc::channel(8);
        let counters = Arc::new(CameraCounters::default());
        let mut b = Batcher::new(tx, Arc::clone(&counters));
        feed(&mut b, "T K0 P1 P2 P3 K4");
        assert_eq!(got(&mut rx), ["T", "[K0 P1]"]);
        feed(&mut b, "P5 P6");
        assert_eq!(got(&mut rx), ["[P2 P3 K4 P5]"]);
        // A gap hands over the frames so far, then the gap.
        feed(&mut b, "G T K7");
        assert_eq!(got(&mut rx), ["[P6]", "G", "T"]);
        // 2 s of media without a key frame ends a batch too (30 frames at 15 fps).
        feed(
            &mut b,
            "P8 P9 P10 P11 P12 P13 P14 P15 P16 P17 P18 P19 P20 P21 P22 P23",
        );
        feed(
            &mut b,
            "P24 P25 P26 P27 P28 P29 P30 P31 P32 P33 P34 P35 P36",
        );
        assert_eq!(got(&mut rx), ["[K7 P8]"]);
        feed(&mut b, "P37 P38");
        assert_eq!(got(&mut rx), Vec::<String>::new(), "P9..P38 is under 2 s");
        feed(&mut b, "P39");
        let batch = got(&mut rx);
        assert_eq!(batch.len(), 1);
        assert!(batch[0].starts_with("[P9 P10 ") && batch[0].ends_with(" P38 P39]"));
        // On stopping, what is batched is handed over.
        feed(&mut b, "P40");
        let (rest, tx) = b.finish();
        assert!(tx.is_some());
        assert_eq!(rest.len(), 1);
        assert_eq!(counters.dropped(DropReason::RecorderLag), 0);
    }

    #[test]
    fn a_full_queue_drops_the_batch_closes_the_segment_and_resumes_at_a_key_frame() {
        let (tx, mut rx) = mpsc::channel(3);
        let counters = Arc::new(CameraCounters::default());
        let mut b = Batcher::new(tx, Arc::clone(&counters));
        // The disk thread takes nothing: the track and two batches fill the queue.
        feed(&mut b, "T K0 P1 P2 K3 P4");
        // [P5 P6 K7 P8] finds no room: dropped, and everything up to a key frame that finds
        // room for the segment's close.
        feed(&mut b, "P5 P6 K7 P8 P9 K10 P11 P12");
        assert_eq!(counters.dropped(DropReason::RecorderLag), 4 + 4);
        assert_eq!(got(&mut rx), ["T", "[K0 P1]", "[P2 K3 P4]"]);
        // Room again: the segment is closed, and recording resumes at the next key frame.
        feed(&mut b, "K13 P14 P15");
        assert_eq!(got(&mut rx), ["R", "[K13 P14]"]);
        // A track waiting for room is never lost: it follows the close, before the frames.
        feed(&mut b, "K16 P17 P18 G T K19 P20");
        assert_eq!(got(&mut rx), ["[P15 K16 P17]", "[P18]", "G"]);
        feed(&mut b, "P21 K22 P23");
        assert_eq!(got(&mut rx), ["R", "T", "[K22 P23]"]);
        assert_eq!(counters.dropped(DropReason::RecorderLag), 4 + 4 + 2 + 1);
        let (rest, _) = b.finish();
        assert!(rest.is_empty());
    }

    #[test]
    fn a_recorder_attached_late_starts_from_the_current_gop() {
        let feed_ = VideoFeed::new();
        for ev in [track(), frame(0, true), frame(1, false), frame(2, false)] {
            feed_.publish(Arc::unwrap_or_clone(ev));
        }
        let (tx, mut rx) = mpsc::channel(8);
        let b = Arc::new(Mutex::new(Batcher::new(tx, Arc::default())));
        let id = feed_.attach(|snap| {
            lock(&b).start(snap);
            Box::new(BatcherTap(Arc::clone(&b)))
        });
        feed_.publish(Arc::unwrap_or_clone(frame(3, true)));
        feed_.publish(Arc::unwrap_or_clone(frame(4, false)));
        assert!(feed_.detach(id).is_some());
        feed_.publish(Arc::unwrap_or_clone(frame(5, false)));
        assert_eq!(got(&mut rx), ["T", "[K0 P1]", "[P2 K3 P4]"]);
        assert!(lock(&b).finish().0.is_empty(), "nothing after detaching");
    }
}

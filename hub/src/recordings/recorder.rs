//! The hub's own recorder: one per camera whose source gives encoded video
//! ([`crate::video::VideoFeed`]). An async task subscribes to the feed and hands
//! events to a dedicated thread through a bounded channel, frames in batches that end
//! just after a key frame (one thread wake-up per GOP, not per frame; see [`BATCH_SPAN`])
//! (backpressure: if the
//! disk is slow the task waits, the feed's buffer fills, and the task gets
//! `Lagged` and resynchronises at the next key frame; the camera never waits).
//! The thread runs [`media::Segmenter`] and writes segments with the store,
//! then indexes each finished one and applies retention.
//!
//! A `Gap` in the feed (camera reconnect) or a `Lagged` consumer closes the
//! current segment, so a gap in the feed is a gap in the timeline, never
//! stretched video. Wall-clock start times come from the hub's clock at the first
//! frame of each run, plus media time from there (segments of one run abut
//! exactly).

use std::sync::Arc;

use media::{SegmentEvent, Segmenter, SegmenterConfig, Time90k, TrackConfig, VideoEvent};
use sha2::{Digest, Sha256};
use store::SegmentSink;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{RecError, Recordings, Segment, Source};
use crate::counters::{CameraCounters, DropReason};
use crate::video::VideoFeed;

/// Messages queued between the feed task and the disk thread (each a batch of frames
/// of at most [`BATCH_SPAN`] or [`BATCH_FRAMES`], or one event).
pub const RECORDER_QUEUE: usize = 8;
/// The feed task hands frames to the disk thread in batches, so the thread wakes about
/// once per GOP rather than once per frame: a batch ends with the frame after a key frame
/// (the segmenter holds each frame until the next gives its duration, and releasing the
/// key frame is what closes the previous GOP's fragment and opens a new segment: so
/// fragments and segments reach the disk when they did frame by frame), at this much
/// media time, or at [`BATCH_FRAMES`].
pub const BATCH_SPAN: media::Duration90k = media::Duration90k::from_secs(2);
/// Most frames in one batch.
pub const BATCH_FRAMES: usize = 120;
/// Longest a batch waits for its end in wall time (a camera that stops sending).
pub const BATCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug)]
enum Msg {
    Event(Arc<VideoEvent>),
    Frame(media::Frame),
    /// Frames of the feed, in order (every event a `VideoEvent::Frame`).
    Frames(Vec<Arc<VideoEvent>>),
    /// We fell behind the feed: close the segment, restart at the next key frame.
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
    let span = tracing::info_span!("recorder", camera = %camera);
    tracker.spawn(tracing::Instrument::instrument(
        async move {
            forward(feed, tx, &counters, shutdown).await;
            // The sender is gone: the thread closes its segment and exits.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            tracing::info!("recorder stopped");
        },
        span,
    ));
}

async fn forward(
    feed: Arc<VideoFeed>,
    tx: mpsc::Sender<Msg>,
    counters: &CameraCounters,
    shutdown: CancellationToken,
) {
    let (snap, mut rx) = feed.subscribe();
    if let Some(t) = snap.track {
        let _ = tx.send(Msg::Event(Arc::new(VideoEvent::Track(t)))).await;
    }
    let mut skip_until: Option<Time90k> = snap.frames.last().map(|f| f.dts);
    for f in snap.frames {
        if tx.send(Msg::Frame(f)).await.is_err() {
            return;
        }
    }
    let mut batch: Vec<Arc<VideoEvent>> = Vec::new();
    let mut batch_start = Time90k(0);
    // The last frame batched was a key frame: the next one ends the batch.
    let mut after_key = false;
    // A batch waits at most BATCH_SPAN of wall time too (a camera that stops sending).
    let mut flush_at = tokio::time::Instant::now();
    loop {
        let r = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = rx.recv() => r,
            _ = tokio::time::sleep_until(flush_at), if !batch.is_empty() => {
                if !send(&tx, &shutdown, &mut batch).await {
                    return;
                }
                continue;
            }
        };
        let msg = match r {
            Ok(ev) => {
                if let VideoEvent::Frame(f) = &*ev {
                    if skip_until.is_some_and(|last| f.dts <= last) {
                        continue; // already sent with the snapshot
                    }
                    skip_until = None;
                    let (key, dts) = (f.is_key, f.dts);
                    if batch.is_empty() {
                        batch_start = dts;
                        flush_at = tokio::time::Instant::now() + BATCH_WAIT;
                    }
                    batch.push(ev);
                    let ends = std::mem::replace(&mut after_key, key);
                    if !ends
                        && batch.len() < BATCH_FRAMES
                        && dts.0.saturating_sub(batch_start.0) < BATCH_SPAN.0
                    {
                        continue;
                    }
                    Msg::Frames(std::mem::take(&mut batch))
                } else {
                    skip_until = None;
                    if !send(&tx, &shutdown, &mut batch).await {
                        return;
                    }
                    Msg::Event(ev)
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "recorder fell behind the feed; resynchronising");
                counters.drop_frames(DropReason::RecorderLag, n);
                skip_until = None;
                if !send(&tx, &shutdown, &mut batch).await {
                    return;
                }
                Msg::Resync
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = tx.send(msg) => if r.is_err() { return },
        }
    }
    // Stopping: the frames batched so far still belong in the last segment.
    if !batch.is_empty() {
        let _ = tx.send(Msg::Frames(batch)).await;
    }
}

/// Hands the frames batched so far to the disk thread (before an event, keeping the
/// order); false if the thread is gone or the hub is stopping.
async fn send(
    tx: &mpsc::Sender<Msg>,
    shutdown: &CancellationToken,
    batch: &mut Vec<Arc<VideoEvent>>,
) -> bool {
    if batch.is_empty() {
        return true;
    }
    let msg = Msg::Frames(std::mem::take(batch));
    tokio::select! {
        _ = shutdown.cancelled() => false,
        r = tx.send(msg) => r.is_ok(),
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
                Msg::Frame(f) => self.frame(f),
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
                    o.hasher.update(&f.bytes);
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

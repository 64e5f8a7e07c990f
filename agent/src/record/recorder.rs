//! The recorder thread: [`RecordItem`]s in, segment files out.
//!
//! Raw pictures are encoded with openh264 here (on this thread, never on
//! capture's); coded pictures pass through. Media time is the capture
//! instant relative to the first recorded frame, in 90 kHz ticks (forced to
//! increase by at least one tick), so wall-clock steps never bend the
//! timeline; a segment's name is its first frame's capture instant mapped
//! to UTC when the segment starts. The [`Segmenter`] cuts at key frames
//! without dropping or repeating a frame; each segment goes through a
//! [`store::SegmentWriter`] (partial file, fdatasync per fragment, fsync,
//! rename, directory fsync).
//!
//! Opening the directory recovers segments torn by a crash and moves the media
//! time of segments recorded before every file started at 0 to start at 0
//! ([`store::retime`]; only those new since the previous start are looked at).
//!
//! Disk trouble never stops the agent: a full disk applies retention, then
//! deletes the oldest segment, and retries; an unusable directory (missing,
//! unmarked, another camera's, I/O errors) is retried every
//! [`RecorderSettings::retry_open`] while the queue is drained and counted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::{
    Duration90k, FragmentPolicy, Frame, SegmentEvent, Segmenter, SegmenterConfig, Time90k,
    TrackConfig,
};
use store::{
    Clock, FsStats, RecoveryAction, RetentionPolicy, RetimeScope, SegmentDir, SegmentSink, SetUp,
    StoreError,
};
use tracing::{debug, error, info, warn};

use super::queue::{RecordItem, RecordQueue};
use super::status::RecordStatus;
use crate::config::{Config, FragmentMode};
use codec::{EncoderSettings, H264Encoder};

/// The recorder queue's bounds.
pub const QUEUE_ITEMS: usize = 64;
pub const QUEUE_BYTES: usize = 24 << 20;

/// Everything the recorder needs to know.
#[derive(Debug, Clone)]
pub struct RecorderSettings {
    pub dir: PathBuf,
    /// The camera's name in the directory's marker.
    pub camera: String,
    pub segmenter: SegmenterConfig,
    /// For the software encoder (raw sources).
    pub fps: u32,
    pub bitrate_bps: u32,
    pub gop: u32,
    pub policy: RetentionPolicy,
    /// `MustExist` in the agent: the directory is set up once, by
    /// `agent setup-recording`.
    pub setup: SetUp,
    /// How long to wait before trying an unusable directory again.
    pub retry_open: Duration,
}

/// The marker's camera name for a camera id.
pub fn camera_name(camera_id: u32) -> String {
    format!("camera-{camera_id}")
}

/// The segmenter settings for a `[record]` section.
pub fn segmenter_config(cfg: &Config) -> SegmenterConfig {
    let fragments = match cfg.record.fragment {
        FragmentMode::Gop => FragmentPolicy::default(),
        FragmentMode::OneSecond => FragmentPolicy {
            min_duration: Duration90k::from_secs(1),
            max_duration: Duration90k::from_secs(1),
            ..FragmentPolicy::default()
        },
    };
    // Capture jitter must not push a cut a whole GOP later: a key frame
    // within half a frame period of the target counts as on time.
    let half_frame = Duration::from_secs(1) / cfg.source.fps.max(1) / 2;
    SegmenterConfig {
        target_duration: Duration90k::from_std(
            cfg.record.segment_duration.0.saturating_sub(half_frame),
        ),
        fragments,
        lone_frame_duration: Duration90k::from_std(Duration::from_secs(1) / cfg.source.fps.max(1)),
    }
}

/// The store's policy for a `[record.retention]` section.
pub fn retention_policy(cfg: &Config) -> RetentionPolicy {
    RetentionPolicy::from_config(&cfg.record.retention, cfg.upload.enabled)
}

impl RecorderSettings {
    pub fn from_config(cfg: &Config) -> RecorderSettings {
        RecorderSettings {
            dir: cfg.record.dir.clone(),
            camera: camera_name(cfg.camera_id),
            segmenter: segmenter_config(cfg),
            fps: cfg.source.fps,
            bitrate_bps: cfg.record.bitrate.0,
            gop: cfg.record.gop_frames(cfg.source.fps),
            policy: retention_policy(cfg),
            setup: SetUp::MustExist,
            retry_open: Duration::from_secs(10),
        }
    }
}

/// A running recorder thread.
#[derive(Debug)]
pub struct RecorderHandle {
    pub queue: Arc<RecordQueue>,
    pub status: Arc<RecordStatus>,
    /// The directory while the recorder has it open (for the uploader).
    pub dir: tokio::sync::watch::Receiver<Option<SegmentDir>>,
    /// Notified after each finished segment (wakes the uploader).
    pub segment_finished: Arc<tokio::sync::Notify>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Drop for RecorderHandle {
    /// A handle dropped without [`RecorderHandle::stop`] still lets the
    /// thread finish its segment and end.
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl RecorderHandle {
    /// Close the queue and wait (up to `timeout`) for the recorder to write
    /// what is queued and finish its segment. Blocking. True if it did.
    pub fn stop(self, timeout: Duration) -> bool {
        self.queue.close();
        match self.done.recv_timeout(timeout) {
            Ok(()) => true,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                error!("recorder thread ended without finishing (panicked?)");
                false
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

/// Start the recorder thread.
pub fn spawn(
    settings: RecorderSettings,
    clock: Arc<dyn Clock>,
    fs: Arc<dyn FsStats>,
) -> std::io::Result<RecorderHandle> {
    let queue = Arc::new(RecordQueue::new(QUEUE_ITEMS, QUEUE_BYTES));
    let status = Arc::new(RecordStatus::new(&settings.dir, settings.policy));
    let (done_tx, done) = std::sync::mpsc::channel();
    let (dir_tx, dir_rx) = tokio::sync::watch::channel(None);
    let segment_finished = Arc::new(tokio::sync::Notify::new());
    let recorder = Recorder {
        dir_tx,
        segment_finished: segment_finished.clone(),
        s: settings,
        clock,
        fs,
        status: status.clone(),
        queue: queue.clone(),
        dir: None,
        encoder: None,
        track: None,
        seg: None,
        sink: None,
        t0: None,
        last_dts: None,
        events: Vec::new(),
        dir_problem: None,
        encode_problem: false,
        started_any: false,
    };
    let span = tracing::info_span!("recorder");
    std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || {
            let _enter = span.enter();
            recorder.run();
            let _ = done_tx.send(());
        })?;
    Ok(RecorderHandle {
        queue,
        status,
        dir: dir_rx,
        segment_finished,
        done,
    })
}

struct Recorder {
    s: RecorderSettings,
    dir_tx: tokio::sync::watch::Sender<Option<SegmentDir>>,
    segment_finished: Arc<tokio::sync::Notify>,
    clock: Arc<dyn Clock>,
    fs: Arc<dyn FsStats>,
    status: Arc<RecordStatus>,
    queue: Arc<RecordQueue>,
    dir: Option<SegmentDir>,
    encoder: Option<H264Encoder>,
    /// The latest codec configuration seen.
    track: Option<TrackConfig>,
    seg: Option<Segmenter>,
    /// Writes into `dir` while it is open; makes room on a full disk.
    sink: Option<SegmentSink>,
    /// Capture instant of media time 0.
    t0: Option<Instant>,
    last_dts: Option<Time90k>,
    events: Vec<SegmentEvent>,
    /// The last directory problem logged (logged again only when it changes).
    dir_problem: Option<String>,
    encode_problem: bool,
    started_any: bool,
}

impl Recorder {
    fn run(mut self) {
        info!(dir = %self.s.dir.display(), camera = %self.s.camera, "recorder started");
        let mut next_open = Instant::now();
        loop {
            if self.dir.is_none()
                && Instant::now() >= next_open
                && let Err(e) = self.open()
            {
                let msg = e.to_string();
                if self.dir_problem.as_deref() != Some(&msg) {
                    error!(error = %msg, retry_in = ?self.s.retry_open, "cannot record into the recordings directory; live streaming continues");
                }
                self.dir_problem = Some(msg.clone());
                self.status.set_state("waiting", Some(msg));
                next_open = Instant::now() + self.s.retry_open;
            }
            match self.queue.pop_timeout(Duration::from_millis(500)) {
                None => {}
                Some(None) => break,
                Some(Some(RecordItem::SourceLost { .. })) => {
                    if self.seg.is_some() {
                        info!("the camera was lost: closing the current segment");
                    }
                    self.finish_segment();
                    // The next picture starts a new segment: make it a key frame.
                    self.encoder = None;
                }
                Some(Some(item)) => {
                    if self.dir.is_some() {
                        self.handle(item);
                    } else {
                        self.status.update(|s| s.frames_not_recorded += 1);
                    }
                    // Counted once handled, so "frames_in == pushed" means idle.
                    self.status.update(|s| s.frames_in += 1);
                }
            }
        }
        self.finish_segment();
        self.dir_tx.send_replace(None);
        self.status.set_state("stopped", None);
        self.refresh_usage();
        info!("recorder stopped");
    }

    /// Open the directory, recover torn segments, apply retention.
    fn open(&mut self) -> store::Result<()> {
        let dir = SegmentDir::open(&self.s.dir, &self.s.camera, self.s.setup)?;
        let reports = dir.recover_partials()?;
        for r in &reports {
            match &r.action {
                RecoveryAction::Finished { name } => warn!(
                    file = r.file,
                    segment = name,
                    fragments_kept = r.fragments,
                    frames_kept = r.samples,
                    seconds_kept = r.duration.as_secs_f64(),
                    bytes_kept = r.bytes_kept,
                    torn_bytes_dropped = r.bytes_dropped,
                    "recovered a segment left open by a crash: kept every complete fragment, dropped the torn tail"
                ),
                RecoveryAction::Deleted { why } => warn!(
                    file = r.file,
                    bytes_dropped = r.bytes_dropped,
                    why,
                    "deleted a segment left open by a crash: nothing playable in it"
                ),
                RecoveryAction::RemovedStray => {
                    info!(file = r.file, "removed a stray file")
                }
                RecoveryAction::Retimed { name } => warn!(
                    segment = name,
                    "finished moving a segment's media time to start at 0 (a crash interrupted it)"
                ),
                other => warn!(file = r.file, action = ?other, "start-up recovery"),
            }
        }
        retime(&dir);
        if self.dir_problem.take().is_some() {
            info!("recordings directory usable again");
        }
        info!(
            dir = %self.s.dir.display(),
            recovered = reports.len(),
            "recording"
        );
        self.status.update(|s| {
            s.recovered += reports
                .iter()
                .filter(|r| matches!(r.action, RecoveryAction::Finished { .. }))
                .count() as u64;
        });
        self.status.set_state("recording", None);
        let (policy, clock, fs, status) = (
            self.s.policy,
            self.clock.clone(),
            self.fs.clone(),
            self.status.clone(),
        );
        self.sink = Some(SegmentSink::new(dir.clone(), move |dir, current| {
            make_room(dir, current, &policy, clock.as_ref(), fs.as_ref(), &status)
        }));
        self.dir = Some(dir);
        self.dir_tx.send_replace(self.dir.clone());
        self.enforce(None);
        self.refresh_usage();
        Ok(())
    }

    fn handle(&mut self, item: RecordItem) {
        let (au, at) = match item {
            RecordItem::SourceLost { .. } => return,
            RecordItem::H264 { au, captured_at } => (au, captured_at),
            RecordItem::Jpeg { jpeg, captured_at } => {
                let decoded = decode_jpeg_i420(&jpeg);
                match decoded.and_then(|(i420, w, h)| self.encode(&i420, w, h)) {
                    Some(au) => (au, captured_at),
                    None => {
                        self.status.update(|s| s.frames_not_recorded += 1);
                        return;
                    }
                }
            }
            RecordItem::Raw {
                i420,
                width,
                height,
                captured_at,
            } => match self.encode(&i420, width, height) {
                Some(au) => (au, captured_at),
                None => {
                    self.status.update(|s| s.frames_not_recorded += 1);
                    return;
                }
            },
        };
        if !au.has_picture() {
            return;
        }
        if let (Some(sps), Some(pps)) = (au.sps(), au.pps()) {
            match TrackConfig::h264(sps, pps) {
                Ok(t) => {
                    if let Some(seg) = self.seg.as_mut() {
                        seg.set_track(t.clone());
                    }
                    self.track = Some(t);
                }
                Err(e) => warn!(error = %e, "unusable SPS/PPS; keeping the previous ones"),
            }
        }
        if self.seg.is_none() {
            match (&self.track, au.is_key) {
                (Some(t), true) => {
                    self.seg = Some(Segmenter::new(t.clone(), self.s.segmenter));
                }
                _ => {
                    // Nothing decodable yet: wait for a key frame with SPS/PPS.
                    self.status.update(|s| s.frames_not_recorded += 1);
                    return;
                }
            }
        }
        let t0 = *self.t0.get_or_insert(at);
        let mut dts = Time90k(ticks(at.saturating_duration_since(t0)));
        if let Some(last) = self.last_dts
            && dts <= last
        {
            dts = Time90k(last.0 + 1);
        }
        let frame = match Frame::from_access_unit(&au, dts) {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "dropping a frame that cannot be recorded");
                self.status.update(|s| s.frames_not_recorded += 1);
                return;
            }
        };
        let seg = self.seg.as_mut().expect("set above");
        let skipped_before = seg.skipped_frames();
        if let Err(e) = seg.push(frame, &mut self.events) {
            warn!(error = %e, "dropping a frame the segmenter refused");
            self.status.update(|s| s.frames_not_recorded += 1);
            return;
        }
        let skipped = seg.skipped_frames() - skipped_before;
        if skipped > 0 {
            self.status.update(|s| s.frames_not_recorded += skipped);
        }
        self.last_dts = Some(dts);
        self.apply_events();
    }

    fn encode(&mut self, i420: &[u8], width: u32, height: u32) -> Option<media::h264::AccessUnit> {
        let fits = self
            .encoder
            .as_ref()
            .is_some_and(|e| (e.settings().width, e.settings().height) == (width, height));
        if !fits {
            match H264Encoder::new(EncoderSettings {
                width,
                height,
                fps: self.s.fps,
                bitrate_bps: self.s.bitrate_bps,
                gop: self.s.gop,
            }) {
                Ok(e) => {
                    info!(
                        width,
                        height,
                        bitrate = self.s.bitrate_bps,
                        gop = self.s.gop,
                        "openh264 encoder ready"
                    );
                    self.encoder = Some(e);
                }
                Err(e) => {
                    if !self.encode_problem {
                        error!(error = %e, "cannot create the H.264 encoder; not recording");
                        self.encode_problem = true;
                    }
                    return None;
                }
            }
        }
        let enc = self.encoder.as_mut()?;
        match enc.encode(i420) {
            Ok(au) => {
                self.encode_problem = false;
                au
            }
            Err(e) => {
                if !self.encode_problem {
                    error!(error = %e, "H.264 encoding failed");
                    self.encode_problem = true;
                }
                None
            }
        }
    }

    fn apply_events(&mut self) {
        let events = std::mem::take(&mut self.events);
        for ev in events {
            self.on_event(ev);
        }
    }

    fn on_event(&mut self, ev: SegmentEvent) {
        match ev {
            SegmentEvent::Start { start, init, .. } => {
                let start_ms = self.wall_ms_of(start);
                let Some(sink) = self.sink.as_mut() else {
                    return;
                };
                match sink.start(start_ms, &init) {
                    Ok(w) => {
                        let name = w.name().to_owned();
                        if self.started_any {
                            debug!(segment = name, "segment started");
                        } else {
                            info!(segment = name, "first segment started");
                            self.started_any = true;
                        }
                        self.status.update(|s| s.current_segment = Some(name));
                    }
                    Err(e) => self.store_failed("starting a segment", e),
                }
            }
            SegmentEvent::Fragment(f) => {
                let written = match self.sink.as_mut() {
                    Some(sink) => sink.write_fragment(&f),
                    None => Ok(false),
                };
                match written {
                    Ok(true) => {
                        self.status.update(|s| {
                            s.frames_written += u64::from(f.sample_count);
                            s.media_bytes_written += f.media_bytes as u64;
                            s.file_bytes_written += f.len() as u64;
                        });
                    }
                    Ok(false) => self
                        .status
                        .update(|s| s.frames_not_recorded += u64::from(f.sample_count)),
                    Err(e) if e.is_no_space() => {
                        // Nothing left to delete: this fragment is lost, the
                        // segment goes on (the file stays valid, with a gap).
                        warn!(
                            segment = self.current_name(),
                            frames = f.sample_count,
                            "disk full and nothing left to delete: fragment lost"
                        );
                        self.status.update(|s| {
                            s.frames_not_recorded += u64::from(f.sample_count);
                            s.error = Some("disk full".into());
                        });
                    }
                    Err(e) => {
                        self.status
                            .update(|s| s.frames_not_recorded += u64::from(f.sample_count));
                        self.store_failed("writing a fragment", e);
                    }
                }
            }
            SegmentEvent::End(summary) => {
                let Some(sink) = self.sink.as_mut() else {
                    return;
                };
                let name = sink.current().map(|w| w.name().to_owned());
                match sink.finish(&summary) {
                    Ok(None) => return,
                    Ok(Some(done)) => {
                        info!(
                            segment = done.name,
                            seconds = done.duration.as_secs_f64(),
                            frames = summary.frames,
                            bytes = done.size_bytes,
                            "segment finished"
                        );
                        self.status.update(|s| {
                            s.segments_finished += 1;
                            s.current_segment = None;
                            s.last_segment = Some(done.name.clone());
                            if s.error.as_deref() == Some("disk full") {
                                s.error = None;
                            }
                        });
                        self.segment_finished.notify_one();
                    }
                    Err(e) => {
                        error!(segment = name, error = %e, "finishing a segment failed; it will be recovered");
                        if let Some(dir) = &self.dir
                            && let Err(e) = dir.recover_partials()
                        {
                            warn!(error = %e, "recovering it failed too");
                        }
                    }
                }
                self.enforce(None);
                self.refresh_usage();
            }
        }
    }

    /// The name of the segment being written, for log lines.
    fn current_name(&self) -> Option<String> {
        let w = self.sink.as_ref()?.current()?;
        Some(w.name().to_owned())
    }

    /// Routine retention.
    fn enforce(&mut self, current: Option<&str>) {
        let Some(dir) = &self.dir else { return };
        match dir.enforce(
            &self.s.policy,
            self.clock.now_ms(),
            self.fs.as_ref(),
            current,
        ) {
            Ok(r) => {
                if !r.deleted.is_empty() {
                    info!(
                        deleted = r.deleted.len(),
                        bytes_freed = r.bytes_freed,
                        "retention"
                    );
                    self.status.update(|s| s.deleted += r.deleted.len() as u64);
                }
            }
            Err(e) => warn!(error = %e, "retention failed"),
        }
    }

    fn refresh_usage(&mut self) {
        let Some(dir) = &self.dir else { return };
        let segments = match dir.segments() {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot list segments");
                return;
            }
        };
        let free = self.fs.free_bytes(dir.path()).unwrap_or(0);
        let f = store::forecast(&segments, free, &self.s.policy);
        self.status.update(|s| s.set_forecast(&f, free));
    }

    /// A store error other than a full disk: give up the directory (the
    /// open segment stays `.partial` for recovery) and reopen it later.
    fn store_failed(&mut self, what: &str, e: StoreError) {
        if e.is_no_space() {
            warn!(error = %e, "{what}: disk full and nothing left to delete; retrying at the next segment");
            self.status.update(|s| s.error = Some("disk full".into()));
            return;
        }
        error!(error = %e, "{what} failed; reopening the recordings directory");
        // Dropping the sink leaves the open segment `.partial`, for recovery.
        self.sink = None;
        self.seg = None;
        self.dir = None;
        self.dir_tx.send_replace(None);
        if let Some(enc) = self.encoder.as_mut() {
            enc.force_key_frame();
        }
        self.status.set_state("waiting", Some(e.to_string()));
    }

    fn finish_segment(&mut self) {
        if let Some(seg) = self.seg.as_mut() {
            if let Err(e) = seg.finish(&mut self.events) {
                warn!(error = %e, "finishing the segmenter failed");
            }
            self.apply_events();
        }
        self.seg = None;
    }

    /// UTC ms of media time `dts`, from the capture clock: now minus how
    /// long ago that frame was captured.
    fn wall_ms_of(&self, dts: Time90k) -> i64 {
        let Some(t0) = self.t0 else {
            return self.clock.now_ms();
        };
        let at = t0 + Duration::from_nanos((dts.0.max(0) as u64).saturating_mul(100_000) / 9);
        let ago = Instant::now().saturating_duration_since(at);
        self.clock.now_ms() - i64::try_from(ago.as_millis()).unwrap_or(0)
    }
}

/// Moves the media time of segments recorded before every file started at 0 to start
/// at 0, and logs each. A failure is logged and recording goes on.
fn retime(dir: &SegmentDir) {
    match dir.retime_segments(RetimeScope::SincePreviousPass, &mut |_| Ok(())) {
        Ok(pass) => {
            for r in &pass.retimed {
                warn!(
                    segment = r.name,
                    started_at_seconds = r.was_at.as_secs_f64(),
                    fragments = r.fragments,
                    "moved a segment's media time to start at 0 (recorded before every segment file started at 0)"
                );
            }
            for (name, why) in &pass.failed {
                warn!(
                    segment = name,
                    why, "could not move a segment's media time to start at 0; left as it is"
                );
            }
            if pass.checked > 0 {
                debug!(
                    checked = pass.checked,
                    retimed = pass.retimed.len(),
                    "media time check"
                );
            }
        }
        Err(e) => warn!(error = %e, "checking the segments' media time failed; recording anyway"),
    }
}

/// The disk is full: apply the policy; if that deletes nothing, delete the oldest finished
/// segment that is not `current`. Returns the bytes freed (the sink retries the write while
/// this frees something).
fn make_room(
    dir: &SegmentDir,
    current: Option<&str>,
    policy: &RetentionPolicy,
    clock: &dyn Clock,
    fs: &dyn FsStats,
    status: &RecordStatus,
) -> u64 {
    match dir.enforce(policy, clock.now_ms(), fs, current) {
        Ok(r) if !r.deleted.is_empty() => {
            warn!(
                deleted = r.deleted.len(),
                bytes_freed = r.bytes_freed,
                "disk full: retention deleted segments; retrying"
            );
            status.update(|s| s.deleted += r.deleted.len() as u64);
            return r.bytes_freed.max(1);
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "retention failed while the disk is full"),
    }
    let oldest = match dir.segments() {
        Ok(list) => store::oldest(&list, current),
        Err(e) => {
            warn!(error = %e, "cannot list segments");
            None
        }
    };
    let Some(oldest) = oldest else {
        return 0;
    };
    match dir.apply(std::slice::from_ref(&oldest)) {
        Ok(r) if !r.deleted.is_empty() => {
            warn!(
                segment = oldest.name,
                bytes_freed = r.bytes_freed,
                "disk full: deleted the oldest segment; retrying"
            );
            status.update(|s| s.deleted += r.deleted.len() as u64);
            r.bytes_freed.max(1)
        }
        Ok(_) => 0,
        Err(e) => {
            warn!(error = %e, "deleting the oldest segment failed");
            0
        }
    }
}

/// A JPEG as I420 (cropped to even dimensions), for re-encoding.
fn decode_jpeg_i420(jpeg: &[u8]) -> Option<(Vec<u8>, u32, u32)> {
    let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
    let rgb = dec.decode().ok()?;
    let (w, h) = dec.dimensions()?;
    let (ew, eh) = (w & !1, h & !1);
    if ew == 0 || eh == 0 || rgb.len() < w * h * 3 {
        return None;
    }
    let mut cropped = Vec::with_capacity(ew * eh * 3);
    for row in rgb.chunks_exact(w * 3).take(eh) {
        cropped.extend_from_slice(&row[..ew * 3]);
    }
    let image = testpattern::Image {
        width: ew as u32,
        height: eh as u32,
        rgb: cropped,
    };
    Some((image.to_i420(), ew as u32, eh as u32))
}

/// A duration in 90 kHz ticks.
fn ticks(d: Duration) -> i64 {
    i64::try_from(d.as_nanos() * 9 / 100_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_90khz() {
        assert_eq!(ticks(Duration::from_secs(1)), 90_000);
        assert_eq!(ticks(Duration::from_millis(100)), 9000);
    }
}

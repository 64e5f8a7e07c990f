//! `agent --config FILE`: capture and stream until SIGTERM/SIGINT.
//!
//! Every task is spawned on one [`TaskTracker`] with a span and stops on one
//! [`CancellationToken`]. The first signal cancels: capture stops, the
//! uplink sends a close (1000), `rpicam-vid`'s process group is killed. A
//! second signal exits at once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::Config;
use crate::queue::FrameQueue;
use crate::record::recorder::{self, RecorderHandle, RecorderSettings};
use crate::record::status::{AgentStatus, RecordSnapshot, write_status};
use crate::source::RecordTap;
use crate::uplink::{UplinkSettings, UplinkStats};
use crate::{source, systemd, uplink};

/// How long tasks get to finish after cancellation.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the recorder gets to write what is queued and finish its segment.
const RECORDER_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often `status.json` is rewritten.
const STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// Load the config, install signal handlers and run.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)
        .with_context(|| format!("configuration {}", config_path.display()))?;
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone()).context("installing signal handlers")?;
    run_with(config, cancel).await
}

/// Run with a parsed config until `cancel` fires (or the source cannot
/// work at all). Tests call this directly.
pub async fn run_with(config: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    let token = config.load_token()?;
    let recorder = if config.record.enabled {
        if !config.source.width.is_multiple_of(2) || !config.source.height.is_multiple_of(2) {
            anyhow::bail!(
                "recording needs an even source.width and source.height (H.264 4:2:0), not {}x{}",
                config.source.width,
                config.source.height
            );
        }
        Some(
            recorder::spawn(
                RecorderSettings::from_config(&config),
                Arc::new(store::SystemClock),
                Arc::new(store::Statvfs),
            )
            .context("starting the recorder thread")?,
        )
    } else {
        None
    };
    // Store and forward: uploads what the recorder finishes (a dropped recorder handle
    // stops its thread if this fails).
    let uploader = match (&recorder, config.upload.enabled) {
        (Some(r), true) => Some(
            crate::upload::Uploader::with_dir_watch(
                config.upload_config(token.clone())?,
                r.dir.clone(),
            )?
            .with_waker(r.segment_finished.clone()),
        ),
        _ => None,
    };
    let tap = recorder.as_ref().map(|r| RecordTap {
        queue: r.queue.clone(),
        bitrate_bps: config.record.bitrate.0,
        gop: config.record.gop_frames(config.source.fps),
    });
    let source = match source::from_config_with(&config.source, tap) {
        Ok(s) => s,
        Err(e) => {
            if let Some(r) = recorder {
                r.queue.close();
            }
            return Err(e.into());
        }
    };
    let queue = Arc::new(FrameQueue::new(config.uplink.queue_frames));
    // Motion detection: a detector thread fed beside the uplink, its events spooled and
    // sent to the hub.
    let mut motion_thread = None;
    let event_sender = match &config.motion {
        Some(settings) => {
            let spool = crate::event_upload::Spool::open(&config.state_dir.join("events"))
                .context("creating the event spool (state_dir/events)")?;
            match spool.end_dangling() {
                Ok(0) => {}
                Ok(n) => info!(events = n, "ended motion events a previous run left open"),
                Err(e) => warn!(error = %e, "could not read the event spool"),
            }
            let wake = Arc::new(tokio::sync::Notify::new());
            let (tap, thread) = crate::motion::spawn(
                settings.clone(),
                spool.clone(),
                wake.clone(),
                cancel.clone(),
            )
            .context("starting the motion detector")?;
            queue.set_tap(tap);
            motion_thread = Some(thread);
            Some(
                crate::event_upload::EventSender::new(
                    config.upload_config(token.clone())?,
                    spool,
                    wake,
                )
                .context("the event sender's HTTP client")?,
            )
        }
        None => None,
    };
    let stats = Arc::new(UplinkStats::default());
    let tracker = TaskTracker::new();
    info!(
        camera_id = config.camera_id,
        source = source.name(),
        width = config.source.width,
        height = config.source.height,
        fps = config.source.fps,
        recording = config.record.enabled,
        "agent starting"
    );
    let reporter = Arc::new(StatusReporter {
        state_dir: config.state_dir.clone(),
        camera_id: config.camera_id,
        source: source.name(),
        queue: queue.clone(),
        stats: stats.clone(),
        recorder: recorder
            .as_ref()
            .map(|r| (r.status.clone(), r.queue.clone())),
        warned: std::sync::atomic::AtomicBool::new(false),
    });

    let source_task = tracker.spawn({
        let (queue, cancel) = (queue.clone(), cancel.clone());
        let span = info_span!("source", kind = source.name());
        async move {
            let result = source.run(queue, cancel.clone()).await;
            if let Err(e) = &result {
                error!(error = %e, "source cannot run; stopping");
                cancel.cancel();
            }
            result
        }
        .instrument(span)
    });
    if let Some(sender) = event_sender {
        tracker.spawn(
            sender
                .run(cancel.clone())
                .instrument(info_span!("events", camera_id = config.camera_id)),
        );
    }
    if config.health.enabled {
        let probe = crate::health::Probe {
            sys_root: config.health.sys_root.clone(),
            proc_root: config.health.proc_root.clone(),
            disk: config.record.enabled.then(|| config.record.dir.clone()),
            try_vcgencmd: config.health.sys_root == Path::new("/sys"),
        };
        let reporter = crate::health::Reporter {
            url: config.health_url()?,
            token: token.clone(),
            interval: config.health.interval.0,
            probe,
            queue: queue.clone(),
            uploads: uploader.as_ref().map(|u| u.stats()),
            started: std::time::Instant::now(),
        };
        tracker.spawn(
            reporter
                .run(cancel.clone())
                .instrument(info_span!("health", camera_id = config.camera_id)),
        );
    }
    if let Some(uploader) = uploader {
        tracker.spawn(
            uploader
                .run(cancel.clone())
                .instrument(info_span!("upload", camera_id = config.camera_id)),
        );
    }
    tracker.spawn(
        uplink::run(
            UplinkSettings::from_config(&config, token),
            queue.clone(),
            stats.clone(),
            cancel.clone(),
        )
        .instrument(info_span!("uplink", camera_id = config.camera_id)),
    );
    tracker.spawn(systemd::run(queue.clone(), cancel.clone()).instrument(info_span!("systemd")));
    tracker.spawn(
        log_stats(queue, stats, config.stats_interval.0, cancel.clone())
            .instrument(info_span!("stats")),
    );
    tracker.spawn(
        write_status_periodically(reporter.clone(), cancel.clone())
            .instrument(info_span!("status")),
    );
    tracker.close();

    cancel.cancelled().await;
    info!("stopping");
    let stopped_in_time = tokio::time::timeout(SHUTDOWN_TIMEOUT, tracker.wait())
        .await
        .is_ok();
    // Capture has stopped (or is given up on): the recorder writes what is
    // queued and finishes its segment.
    if let Some(r) = recorder {
        stop_recorder(r).await;
    }
    // The detector ends an open event at its last moving frame (kept in the spool).
    if let Some(t) = motion_thread {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let r = reporter.clone();
    let _ = tokio::task::spawn_blocking(move || r.write()).await;
    if !stopped_in_time {
        warn!(timeout = ?SHUTDOWN_TIMEOUT, "some tasks did not stop in time; exiting anyway");
        return Ok(());
    }
    match source_task.await {
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(anyhow::anyhow!("source task failed: {e}")),
        Ok(Ok(())) => {
            info!("stopped");
            Ok(())
        }
    }
}

async fn stop_recorder(r: RecorderHandle) {
    match tokio::task::spawn_blocking(move || r.stop(RECORDER_STOP_TIMEOUT)).await {
        Ok(true) => {}
        Ok(false) => {
            warn!(timeout = ?RECORDER_STOP_TIMEOUT, "the recorder did not finish in time; its segment will be recovered at the next start")
        }
        Err(e) => error!(error = %e, "stopping the recorder failed"),
    }
}

/// Gathers `status.json` from the live and recording counters.
struct StatusReporter {
    state_dir: std::path::PathBuf,
    camera_id: u32,
    source: &'static str,
    queue: Arc<FrameQueue>,
    stats: Arc<UplinkStats>,
    recorder: Option<(
        Arc<crate::record::RecordStatus>,
        Arc<crate::record::RecordQueue>,
    )>,
    warned: std::sync::atomic::AtomicBool,
}

impl StatusReporter {
    fn status(&self) -> AgentStatus {
        let record = match &self.recorder {
            Some((status, queue)) => {
                let mut r = status.snapshot();
                r.frames_offered = queue.pushed();
                r.frames_dropped = queue.dropped();
                r
            }
            None => RecordSnapshot {
                state: "disabled".into(),
                ..Default::default()
            },
        };
        AgentStatus {
            pid: std::process::id(),
            updated_ms: source::wall_millis(),
            camera_id: self.camera_id,
            source: self.source.into(),
            frames_captured: self.queue.pushed(),
            frames_sent: self.stats.frames_sent.load(Ordering::Relaxed),
            hub_connected: self.stats.connected.load(Ordering::Relaxed),
            record,
        }
    }

    /// Blocking: write `status.json` (warn once if it cannot be written).
    fn write(&self) {
        if let Err(e) = write_status(&self.state_dir, &self.status()) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                warn!(state_dir = %self.state_dir.display(), error = %e, "cannot write status.json (agent status will not work)");
            }
        } else {
            self.warned.store(false, Ordering::Relaxed);
        }
    }
}

async fn write_status_periodically(reporter: Arc<StatusReporter>, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(STATUS_INTERVAL);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let r = reporter.clone();
        let _ = tokio::task::spawn_blocking(move || r.write()).await;
    }
}

/// First SIGTERM/SIGINT cancels; the second exits at once.
fn spawn_signal_handler(cancel: CancellationToken) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        info!("signal received: stopping cleanly (send another to exit at once)");
        cancel.cancel();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        warn!("second signal: exiting now");
        std::process::exit(130);
    });
    Ok(())
}

/// One line per interval: frames captured, sent and dropped since the last.
async fn log_stats(
    queue: Arc<FrameQueue>,
    stats: Arc<UplinkStats>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    let (mut captured, mut sent, mut dropped) = (0u64, 0u64, 0u64);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = (
            queue.pushed(),
            stats.frames_sent.load(Ordering::Relaxed),
            queue.dropped(),
        );
        let connected = stats.connected.load(Ordering::Relaxed);
        let dropped_now = now.2 - dropped;
        if dropped_now > 0 {
            warn!(
                captured = now.0 - captured,
                sent = now.1 - sent,
                dropped = dropped_now,
                dropped_total = now.2,
                connected,
                "frames dropped (queue full: hub unreachable or slow)"
            );
        } else {
            info!(
                captured = now.0 - captured,
                sent = now.1 - sent,
                connected,
                "stats"
            );
        }
        (captured, sent, dropped) = now;
    }
}

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
use crate::uplink::{UplinkSettings, UplinkStats};
use crate::{source, systemd, uplink};

/// How long tasks get to finish after cancellation.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

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
    let source = source::from_config(&config.source)?;
    let queue = Arc::new(FrameQueue::new(config.uplink.queue_frames));
    let stats = Arc::new(UplinkStats::default());
    let tracker = TaskTracker::new();
    info!(
        camera_id = config.camera_id,
        source = source.name(),
        width = config.source.width,
        height = config.source.height,
        fps = config.source.fps,
        "agent starting"
    );

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
    tracker.close();

    cancel.cancelled().await;
    info!("stopping");
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
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

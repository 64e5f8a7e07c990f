//! systemd integration: READY=1 after the first captured frame, WATCHDOG=1 only while capture makes progress.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every notification is a no-op.
//! The watchdog is fed from the frame counter, not from a timer: if capture
//! stalls for a whole check interval the pings stop and systemd restarts the
//! service.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::queue::FrameQueue;

/// Until the first frame, how often to look.
const READY_POLL: Duration = Duration::from_millis(100);

pub async fn run(queue: Arc<FrameQueue>, cancel: CancellationToken) {
    // READY once a frame exists.
    loop {
        if queue.pushed() > 0 {
            notify(&[NotifyState::Ready]);
            info!("first frame captured; notified systemd READY=1");
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => return stopping(),
            _ = tokio::time::sleep(READY_POLL) => {}
        }
    }
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        cancel.cancelled().await;
        return stopping();
    };
    // Check twice per watchdog period.
    let period = (timeout / 2).max(Duration::from_millis(100));
    debug!(?timeout, "systemd watchdog enabled");
    let mut last = queue.pushed();
    let mut stalled = false;
    let mut ticks = tokio::time::interval(period);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return stopping(),
            _ = ticks.tick() => {}
        }
        let now = queue.pushed();
        if now > last {
            notify(&[NotifyState::Watchdog]);
            if stalled {
                info!("capture resumed; feeding the watchdog again");
                stalled = false;
            }
        } else if !stalled {
            warn!(interval = ?period, "no frames captured in the last interval; not feeding the watchdog");
            stalled = true;
        }
        last = now;
    }
}

fn stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        debug!(error = %e, "sd_notify failed");
    }
}

//! Who wants a camera's live video now, for cameras that stream only on demand (battery
//! cameras): [`Demand`] is kept by each camera and observed in one place, the camera's
//! own live views ([`crate::camera::Camera::subscribe`] for the JPEG views, and
//! [`crate::camera::Camera::watch_video`] for the encoded ones); [`drive`] turns it into
//! the source's "session wanted" signal with the idle timeout. The recorder and the
//! snapshot decoder are not demand: they take what an awake camera sends.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a camera is wanted awake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeReason {
    /// A live view (page, MSE, HLS, MJPEG, snapshot, a seed API) asked for the video.
    Viewer,
    /// The camera reports motion or a PIR/AI alarm over its session ([`follow_alarms`]):
    /// it stays awake, and records, while the alarm lasts and the idle timeout after.
    Alarm,
}

impl WakeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WakeReason::Viewer => "viewer",
            WakeReason::Alarm => "alarm",
        }
    }
}

/// How often [`drive`] looks at the viewers (a viewer arriving is noticed at once).
const POLL: Duration = Duration::from_millis(250);

/// One camera's demand: viewers holding a [`Lease`], and the last moment anyone wanted
/// the video.
#[derive(Debug)]
pub struct Demand {
    leases: AtomicUsize,
    /// Of those, the leases a camera alarm holds ([`follow_alarms`]).
    alarm_leases: AtomicUsize,
    last: Mutex<Option<(Instant, WakeReason)>>,
    /// Bumped on every wake and every lease taken, so [`drive`] reacts at once.
    woken: watch::Sender<u64>,
}

impl Default for Demand {
    fn default() -> Self {
        Demand {
            leases: AtomicUsize::new(0),
            alarm_leases: AtomicUsize::new(0),
            last: Mutex::new(None),
            woken: watch::Sender::new(0),
        }
    }
}

impl Demand {
    fn set_last(&self, reason: WakeReason) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), reason));
    }

    /// Someone wants the video now: wakes the camera (if it sleeps) and keeps it awake for
    /// the idle timeout from now. One-shot requests (a snapshot, an HLS playlist or
    /// segment) call this each time.
    pub fn wake(&self, reason: WakeReason) {
        self.set_last(reason);
        self.woken.send_modify(|n| *n += 1);
    }

    /// A viewer that stays: the camera is wanted until the lease drops, and for the idle
    /// timeout after.
    pub fn lease(self: &Arc<Self>, reason: WakeReason) -> Lease {
        self.leases.fetch_add(1, Ordering::SeqCst);
        if reason == WakeReason::Alarm {
            self.alarm_leases.fetch_add(1, Ordering::SeqCst);
        }
        self.wake(reason);
        Lease {
            demand: Arc::clone(self),
            reason,
        }
    }

    /// Viewers holding a lease now.
    pub fn leases(&self) -> usize {
        self.leases.load(Ordering::SeqCst)
    }

    /// Why the camera is wanted while `viewers` (JPEG views subscribed and all leases)
    /// hold it: a viewer if any of them is one, else the camera's alarm.
    pub fn holder(&self, viewers: usize) -> WakeReason {
        if viewers > self.alarm_leases.load(Ordering::SeqCst) {
            WakeReason::Viewer
        } else {
            WakeReason::Alarm
        }
    }

    /// When the video was last wanted, and by what.
    pub fn last(&self) -> Option<(Instant, WakeReason)> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Held by a viewer while it watches (see [`Demand::lease`]).
#[derive(Debug)]
pub struct Lease {
    demand: Arc<Demand>,
    reason: WakeReason,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.demand.set_last(self.reason);
        if self.reason == WakeReason::Alarm {
            self.demand.alarm_leases.fetch_sub(1, Ordering::SeqCst);
        }
        self.demand.leases.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the camera is wanted at `now`: a viewer is there, or the last one left less
/// than `idle` ago.
pub fn wanted(viewers: usize, last: Option<Instant>, now: Instant, idle: Duration) -> bool {
    viewers > 0 || last.is_some_and(|t| now.saturating_duration_since(t) < idle)
}

/// Keeps `wanted_tx` true while `viewers()` is above zero or the camera was wanted less
/// than `idle` ago (false at first, until someone wants it), until `stop`.
pub async fn drive(
    name: String,
    demand: Arc<Demand>,
    viewers: impl Fn() -> usize + Send + 'static,
    idle: Duration,
    wanted_tx: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut woken = demand.woken.subscribe();
    let mut held_by = None;
    loop {
        let n = viewers();
        if n > 0 {
            // Still wanted (by a viewer, or by an alarm alone): the idle timeout counts
            // from when the last one leaves.
            demand.set_last(demand.holder(n));
        }
        let last = demand.last();
        let want = wanted(n, last.map(|(t, _)| t), Instant::now(), idle);
        let changed = wanted_tx.send_if_modified(|w| std::mem::replace(w, want) != want);
        // Who holds it now; a change while it stays awake is said (a viewer left and the
        // camera's alarm keeps it awake, or the other way round).
        let now_by = (n > 0).then(|| demand.holder(n));
        if let (Some(by), Some(before)) = (now_by, held_by)
            && by != before
            && !changed
        {
            tracing::info!(camera = %name, reason = by.as_str(), "keeping the camera awake");
        }
        held_by = now_by;
        if changed {
            match last {
                Some((_, reason)) if want => {
                    tracing::info!(camera = %name, reason = reason.as_str(), "waking the camera")
                }
                _ => tracing::info!(
                    camera = %name,
                    idle_secs = idle.as_secs_f64(),
                    "nobody watching: letting the camera sleep"
                ),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
            r = woken.changed() => {
                if r.is_err() {
                    return;
                }
            }
        }
    }
}

/// Keeps an on-demand camera awake while it reports motion or an alarm of its own (a
/// Reolink motion/PIR or AI alarm over the session a viewer opened): a [`Lease`] is held
/// from the first alarm that starts to the last that ends, so recording follows the
/// alarms and the idle timeout counts from their end. A camera asleep has no session and
/// so reports nothing; this never opens one.
pub async fn follow_alarms(
    name: String,
    demand: Arc<Demand>,
    events: tokio::sync::broadcast::Receiver<Arc<events::Event>>,
    stop: CancellationToken,
) {
    let mut active: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut lease: Option<Lease> = None;
    crate::event_feed::consume(events, name.clone(), "alarm wake", stop, |e| {
        let key = match &e.what {
            events::What::Motion { active: on } => Some(("motion".to_owned(), *on)),
            events::What::Alarm { label, active: on } => {
                Some((format!("alarm:{}", label.as_str()), *on))
            }
            // Session lost: what it reported is no longer known to last.
            events::What::Offline { .. } => {
                active.clear();
                lease = None;
                None
            }
            _ => None,
        };
        if let Some((key, on)) = key
            && e.origin == events::Origin::Camera
        {
            if on {
                active.insert(key);
            } else {
                active.remove(&key);
            }
            match (active.is_empty(), lease.is_some()) {
                (false, false) => {
                    tracing::info!(camera = %name, "the camera reports an alarm: keeping it awake");
                    lease = Some(demand.lease(WakeReason::Alarm));
                }
                (true, true) => lease = None,
                _ => {}
            }
        }
        std::future::ready(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_while_watched_and_for_the_idle_timeout_after() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(30);
        assert!(!wanted(0, None, t0, idle));
        assert!(wanted(1, None, t0, idle));
        assert!(wanted(0, Some(t0), t0 + Duration::from_secs(29), idle));
        assert!(!wanted(0, Some(t0), t0 + Duration::from_secs(30), idle));
    }

    #[test]
    fn a_lease_counts_until_dropped_and_marks_when_it_left() {
        let d = Arc::new(Demand::default());
        assert_eq!((d.leases(), d.last()), (0, None));
        let l = d.lease(WakeReason::Viewer);
        let first = d.last().unwrap().0;
        assert_eq!(d.leases(), 1);
        drop(l);
        assert_eq!(d.leases(), 0);
        assert!(d.last().unwrap().0 >= first);
    }

    #[test]
    fn an_alarm_alone_holds_the_camera_as_the_alarm() {
        let d = Arc::new(Demand::default());
        let viewer = d.lease(WakeReason::Viewer);
        let alarm = d.lease(WakeReason::Alarm);
        assert_eq!(d.holder(d.leases()), WakeReason::Viewer);
        // A JPEG view (not a lease) counts as a viewer too.
        drop(viewer);
        assert_eq!(d.holder(d.leases()), WakeReason::Alarm);
        assert_eq!(d.holder(d.leases() + 1), WakeReason::Viewer);
        drop(alarm);
        assert_eq!(d.last().unwrap().1, WakeReason::Alarm);
        assert_eq!(d.leases(), 0);
    }
}

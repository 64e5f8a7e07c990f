//! Each camera's source events ([`events::Event`]: motion, alarms, battery, online and
//! offline, refused passwords) beside its video feed: sources publish into the camera's
//! [`EventFeed`], the hub's consumers subscribe, each running [`consume`]: the log
//! (`crate::event_log`) and the event store (`crate::event_store`); MQTT and webhooks would
//! subscribe the same way.
//!
//! Overflow policy: a bounded `broadcast` channel of [`EVENT_CAPACITY`] per camera; a
//! consumer that falls behind is told how many events it missed and reads on from the
//! oldest still held (a publisher never waits). The latest [`RECENT`] events are also kept
//! for a consumer that starts later.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use events::Event;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Events held per consumer before it lags.
pub const EVENT_CAPACITY: usize = 256;
/// Events kept for [`EventFeed::recent`].
pub const RECENT: usize = 64;

/// One camera's event channel.
#[derive(Debug)]
pub struct EventFeed {
    tx: broadcast::Sender<Arc<Event>>,
    recent: Mutex<VecDeque<Arc<Event>>>,
    /// Events published since start, by [`events::What::key`].
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for EventFeed {
    fn default() -> Self {
        EventFeed {
            tx: broadcast::Sender::new(EVENT_CAPACITY),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            counts: Mutex::default(),
        }
    }
}

impl EventFeed {
    /// Hands `event` to every consumer. Never blocks.
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event.what.key())
            .or_default() += 1;
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(Arc::clone(&event));
        }
        let _ = self.tx.send(event);
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Events published since start, by kind ([`events::What::key`]).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The latest events, oldest first.
    pub fn recent(&self) -> Vec<Arc<Event>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }
}

/// The loop of a consumer of one camera's events: `handle` each event in order until
/// `stop` or the feed closes; a consumer that falls behind logs what it missed (as
/// `who`) and reads on.
pub async fn consume<F, Fut>(
    mut rx: broadcast::Receiver<Arc<Event>>,
    camera: String,
    who: &'static str,
    stop: CancellationToken,
    mut handle: F,
) where
    F: FnMut(Arc<Event>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = rx.recv() => e,
        };
        match event {
            Ok(e) => handle(e).await,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(camera = %camera, missed, consumer = who, "fell behind the camera's events");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

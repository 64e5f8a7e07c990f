//! Each camera's source events ([`events::Event`]: motion, alarms, battery, online and
//! offline, refused passwords) beside its video feed: sources publish into the camera's
//! [`EventFeed`], the hub's consumers subscribe. Today's consumer logs them
//! (`crate::event_log`); an event store, the timeline, MQTT and webhooks subscribe the same
//! way.
//!
//! Overflow policy: a bounded `broadcast` channel of [`EVENT_CAPACITY`] per camera; a
//! consumer that falls behind is told how many events it missed and reads on from the
//! oldest still held (a publisher never waits). The latest [`RECENT`] events are also kept
//! for a consumer that starts later.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use events::Event;
use tokio::sync::broadcast;

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

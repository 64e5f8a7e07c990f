//! The MQTT outbox: messages waiting for the broker. Bounded; when full, the oldest
//! message is dropped and counted (a state that changed since is sent again anyway, and
//! the latest snapshot matters more than an old one). Pushing never waits, so no camera,
//! recorder or viewer ever waits for the broker.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::counters::MqttStats;

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    /// QoS 0 (snapshots: the next one replaces it); others QoS 1.
    pub at_most_once: bool,
}

impl Message {
    pub fn new(topic: String, payload: impl Into<Bytes>, retain: bool) -> Message {
        Message {
            topic,
            payload: payload.into(),
            retain,
            at_most_once: false,
        }
    }

    /// A camera's latest picture: retained, QoS 0.
    pub fn snapshot(topic: String, jpeg: Bytes) -> Message {
        Message {
            topic,
            payload: jpeg,
            retain: true,
            at_most_once: true,
        }
    }
}

/// The queue between the hub's events and the MQTT connection.
#[derive(Debug)]
pub struct Outbox {
    queue: std::sync::Mutex<VecDeque<Message>>,
    capacity: usize,
    ready: Notify,
    stats: Arc<MqttStats>,
}

impl Outbox {
    pub fn new(capacity: usize, stats: Arc<MqttStats>) -> Outbox {
        Outbox {
            queue: std::sync::Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
            ready: Notify::new(),
            stats,
        }
    }

    /// Queues `m`, dropping the oldest message when full. Never waits.
    pub fn push(&self, m: Message) {
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.len() >= self.capacity {
                q.pop_front();
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(m);
            self.stats.queued.store(q.len() as u64, Ordering::Relaxed);
        }
        self.ready.notify_one();
    }

    /// The oldest message, waiting for one.
    pub async fn pop(&self) -> Message {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(m) = q.pop_front() {
                    self.stats.queued.store(q.len() as u64, Ordering::Relaxed);
                    return m;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_outbox_drops_the_oldest_and_counts() {
        let stats = Arc::new(MqttStats::default());
        let o = Outbox::new(3, stats.clone());
        for i in 0..5 {
            o.push(Message::new(format!("t/{i}"), "x", false));
        }
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(stats.queued.load(Ordering::Relaxed), 3);
        for i in 2..5 {
            assert_eq!(o.pop().await.topic, format!("t/{i}"));
        }
        assert_eq!(stats.queued.load(Ordering::Relaxed), 0);
    }
}

//! An outbox: what waits for a slow or absent receiver (the MQTT broker, a webhook).
//! Bounded; when full, the oldest item is dropped and counted (for MQTT a state that
//! changed since is sent again anyway, and the latest snapshot matters more than an old
//! one; for webhooks the newest events matter most). Pushing never waits, so no camera,
//! recorder or viewer ever waits for a receiver.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use crate::counters::QueueStats;

/// A bounded, drop-oldest queue with a waiting consumer.
#[derive(Debug)]
pub struct Outbox<T> {
    queue: std::sync::Mutex<VecDeque<T>>,
    capacity: usize,
    ready: Notify,
    stats: Arc<QueueStats>,
}

impl<T> Outbox<T> {
    pub fn new(capacity: usize, stats: Arc<QueueStats>) -> Outbox<T> {
        Outbox {
            queue: std::sync::Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
            ready: Notify::new(),
            stats,
        }
    }

    /// Queues `m`, dropping the oldest item when full. Never waits.
    pub fn push(&self, m: T) {
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

    /// The oldest item, waiting for one.
    pub async fn pop(&self) -> T {
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
        let stats = Arc::new(QueueStats::default());
        let o = Outbox::new(3, stats.clone());
        for i in 0..5 {
            o.push(format!("t/{i}"));
        }
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(stats.queued.load(Ordering::Relaxed), 3);
        for i in 2..5 {
            assert_eq!(o.pop().await, format!("t/{i}"));
        }
        assert_eq!(stats.queued.load(Ordering::Relaxed), 0);
    }
}

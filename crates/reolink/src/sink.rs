//! The bounded event channel towards the pipeline and its overflow policy: the network task
//! never waits for the consumer. When the channel is full a frame is dropped and every
//! following frame is dropped until the next key frame (a decoder cannot use P-frames whose
//! reference is missing). Track and Gap events are never dropped: they wait in a tiny
//! coalescing queue (the latest Track wins, Gap reasons are merged) and go out before any
//! later frame.

use std::collections::VecDeque;

use media::VideoEvent;
use tokio::sync::mpsc;

/// Capacity of the event channel.
pub const EVENT_CHANNEL_CAPACITY: usize = 64;

/// Result of offering an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Sent (or queued, for control events).
    Sent,
    /// Dropped by the overflow policy.
    Dropped,
    /// The receiver is gone: the source should stop.
    Closed,
}

/// The sending side with the overflow policy.
#[derive(Debug)]
pub struct EventSink {
    tx: mpsc::Sender<VideoEvent>,
    control: VecDeque<VideoEvent>,
    skip_to_key: bool,
    dropped: u64,
}

impl EventSink {
    /// Wraps a bounded sender.
    pub fn new(tx: mpsc::Sender<VideoEvent>) -> Self {
        EventSink {
            tx,
            control: VecDeque::new(),
            skip_to_key: false,
            dropped: 0,
        }
    }

    /// Frames dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    fn flush(&mut self) -> Offer {
        while let Some(ev) = self.control.pop_front() {
            match self.tx.try_send(ev) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    self.control.push_front(ev);
                    return Offer::Dropped;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Offer::Closed,
            }
        }
        Offer::Sent
    }

    /// Offers a Track or Gap: queued (coalesced) if the channel is full, never dropped.
    pub fn control(&mut self, ev: VideoEvent) -> Offer {
        match ev {
            VideoEvent::Track(t) => {
                self.control.retain(|e| !matches!(e, VideoEvent::Track(_)));
                self.control.push_back(VideoEvent::Track(t));
            }
            VideoEvent::Gap { reason } => {
                if let Some(VideoEvent::Gap { reason: r }) = self
                    .control
                    .iter_mut()
                    .find(|e| matches!(e, VideoEvent::Gap { .. }))
                {
                    if r.len() < 512 {
                        r.push_str("; ");
                        r.push_str(&reason);
                    }
                } else {
                    self.control.push_back(VideoEvent::Gap { reason });
                }
                // Frames after a gap start a new run at a key frame anyway.
                self.skip_to_key = true;
            }
            frame @ VideoEvent::Frame(_) => return self.frame(frame),
        }
        match self.flush() {
            Offer::Closed => Offer::Closed,
            _ => Offer::Sent,
        }
    }

    /// Offers a frame event under the drop-to-key-frame policy.
    pub fn frame(&mut self, ev: VideoEvent) -> Offer {
        let is_key = matches!(&ev, VideoEvent::Frame(f) if f.is_key);
        match self.flush() {
            Offer::Closed => return Offer::Closed,
            Offer::Dropped => {
                self.dropped += 1;
                self.skip_to_key = true;
                return Offer::Dropped;
            }
            Offer::Sent => {}
        }
        if self.skip_to_key && !is_key {
            self.dropped += 1;
            return Offer::Dropped;
        }
        match self.tx.try_send(ev) {
            Ok(()) => {
                self.skip_to_key = false;
                Offer::Sent
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped += 1;
                self.skip_to_key = true;
                Offer::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::{Frame, Time90k};

    fn frame(n: i64, key: bool) -> VideoEvent {
        VideoEvent::Frame(Frame {
            data: vec![0, 0, 0, 1, 0x65].into(),
            dts: Time90k(n),
            pts: Time90k(n),
            is_key: key,
        })
    }

    #[test]
    fn full_channel_drops_until_key_frame() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut s = EventSink::new(tx);
        assert_eq!(s.frame(frame(0, true)), Offer::Sent);
        assert_eq!(s.frame(frame(1, false)), Offer::Sent);
        assert_eq!(s.frame(frame(2, false)), Offer::Dropped);
        rx.try_recv().unwrap();
        rx.try_recv().unwrap();
        // Room again, but a P-frame after a drop is useless.
        assert_eq!(s.frame(frame(3, false)), Offer::Dropped);
        assert_eq!(s.frame(frame(4, true)), Offer::Sent);
        assert_eq!(s.frame(frame(5, false)), Offer::Sent);
        assert_eq!(s.dropped(), 2);
    }

    #[test]
    fn control_events_wait_and_coalesce() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut s = EventSink::new(tx);
        assert_eq!(s.frame(frame(0, true)), Offer::Sent);
        assert_eq!(
            s.control(VideoEvent::Gap { reason: "a".into() }),
            Offer::Sent
        );
        assert_eq!(
            s.control(VideoEvent::Gap { reason: "b".into() }),
            Offer::Sent
        );
        assert!(matches!(rx.try_recv(), Ok(VideoEvent::Frame(_))));
        assert_eq!(s.frame(frame(1, true)), Offer::Dropped, "gap goes first");
        match rx.try_recv() {
            Ok(VideoEvent::Gap { reason }) => assert_eq!(reason, "a; b"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.frame(frame(2, true)), Offer::Sent);
        drop(rx);
        assert_eq!(s.frame(frame(3, true)), Offer::Closed);
    }
}

//! The bounded queue from a camera session to the hub's pipeline, and its overflow policy.
//!
//! **Policy: skip to the next key frame.** The session never waits for the consumer while it
//! plays (a slow consumer must not stall the camera's TCP window and get the session killed).
//! When the channel is full, the frame is dropped and so is every following frame up to the
//! next key frame, since they could not be decoded; drops are counted. Control events
//! ([`VideoEvent::Track`], [`VideoEvent::Gap`]) are never dropped: they wait in a side slot of
//! at most two entries (one gap, then one track; a newer track replaces an unsent one) and go
//! out before the next frame. Between sessions, when nothing is playing, the reconnect loop
//! waits for room to deliver them ([`Outbox::drain`]).
//!
//! A [`Sink::Direct`] consumer takes every event in line, on the session's task (the hub's
//! video feed, which never blocks): nothing is queued, dropped or handed to another task.

use std::collections::VecDeque;
use std::sync::Arc;

use media::{Frame, TrackConfig, VideoEvent};
use tokio::sync::mpsc::{self, error::TrySendError};

/// The consumer dropped its receiver: the source stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// What happened to one offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Sent,
    /// The channel was full (or control events were still waiting): dropped, and the outbox
    /// now skips to the next key frame.
    Dropped,
    /// Not a key frame while waiting for one (start of a run, after a gap or a drop).
    Skipped,
}

/// Where a session's events go.
#[derive(Clone)]
pub enum Sink {
    /// A bounded channel read by another task; the overflow policy above applies.
    Channel(mpsc::Sender<VideoEvent>),
    /// A function called with each event on the session's task. It must not block: it runs
    /// between reads of the camera's socket.
    Direct(Arc<dyn Fn(VideoEvent) + Send + Sync>),
}

impl Sink {
    /// A [`Sink::Direct`] calling `f`.
    pub fn direct(f: impl Fn(VideoEvent) + Send + Sync + 'static) -> Sink {
        Sink::Direct(Arc::new(f))
    }

    fn try_send(&self, ev: VideoEvent) -> Result<(), TrySendError<VideoEvent>> {
        match self {
            Sink::Channel(tx) => tx.try_send(ev),
            Sink::Direct(f) => {
                f(ev);
                Ok(())
            }
        }
    }
}

impl From<mpsc::Sender<VideoEvent>> for Sink {
    fn from(tx: mpsc::Sender<VideoEvent>) -> Sink {
        Sink::Channel(tx)
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Channel(tx) => f.debug_tuple("Channel").field(tx).finish(),
            Sink::Direct(_) => f.write_str("Direct"),
        }
    }
}

/// Sends a session's events into a bounded channel without blocking, or straight to a
/// direct consumer; see the module docs.
#[derive(Debug)]
pub struct Outbox {
    tx: Sink,
    /// Unsent control events: at most `[Gap, Track]`.
    pending: VecDeque<VideoEvent>,
    need_key: bool,
    /// A track or frame reached the consumer since the last gap (else a gap says nothing).
    sent_since_gap: bool,
    dropped: u64,
    skipped: u64,
}

impl Outbox {
    pub fn new(tx: impl Into<Sink>) -> Outbox {
        Outbox {
            tx: tx.into(),
            pending: VecDeque::with_capacity(2),
            need_key: true,
            sent_since_gap: false,
            dropped: 0,
            skipped: 0,
        }
    }

    /// Announces the track of the frames that follow.
    pub fn track(&mut self, track: TrackConfig) -> Result<(), Closed> {
        self.pending.retain(|e| !matches!(e, VideoEvent::Track(_)));
        self.pending.push_back(VideoEvent::Track(track));
        self.flush()
    }

    /// Ends the current run: the consumer closes its segment; the next frame sent is a key
    /// frame. A gap with nothing delivered since the previous one is not sent.
    pub fn gap(&mut self, reason: impl Into<String>) -> Result<(), Closed> {
        self.need_key = true;
        // A track nobody received frames for is obsolete: the next session announces its own.
        self.pending.retain(|e| !matches!(e, VideoEvent::Track(_)));
        if self.sent_since_gap && self.pending.is_empty() {
            self.pending.push_back(VideoEvent::Gap {
                reason: reason.into(),
            });
        }
        self.sent_since_gap = false;
        self.flush()
    }

    /// Offers one frame without waiting.
    pub fn frame(&mut self, frame: Frame) -> Result<Offer, Closed> {
        if self.need_key && !frame.is_key {
            self.skipped += 1;
            return Ok(Offer::Skipped);
        }
        self.flush()?;
        if !self.pending.is_empty() {
            return Ok(self.drop_frame());
        }
        match self.tx.try_send(VideoEvent::Frame(frame)) {
            Ok(()) => {
                self.need_key = false;
                self.sent_since_gap = true;
                Ok(Offer::Sent)
            }
            Err(TrySendError::Full(_)) => Ok(self.drop_frame()),
            Err(TrySendError::Closed(_)) => Err(Closed),
        }
    }

    /// Makes the next frame sent a key frame (e.g. after RTP packet loss).
    pub fn skip_to_key(&mut self) {
        self.need_key = true;
    }

    /// Waits until every pending control event is delivered. Cancel-safe: an event leaves
    /// the side slot only once the channel has taken it.
    pub async fn drain(&mut self) -> Result<(), Closed> {
        let tx = match &self.tx {
            Sink::Channel(tx) => tx.clone(),
            Sink::Direct(_) => return self.flush(),
        };
        while !self.pending.is_empty() {
            let permit = tx.reserve().await.map_err(|_| Closed)?;
            if let Some(ev) = self.pending.pop_front() {
                let is_track = matches!(ev, VideoEvent::Track(_));
                permit.send(ev);
                self.sent_since_gap |= is_track;
            }
        }
        Ok(())
    }

    /// True when control events are waiting for room in the channel.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Frames dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Frames skipped while waiting for a key frame.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// True once the consumer is gone.
    pub fn is_closed(&self) -> bool {
        match &self.tx {
            Sink::Channel(tx) => tx.is_closed(),
            Sink::Direct(_) => false,
        }
    }

    fn drop_frame(&mut self) -> Offer {
        self.dropped += 1;
        self.need_key = true;
        Offer::Dropped
    }

    fn flush(&mut self) -> Result<(), Closed> {
        while let Some(ev) = self.pending.pop_front() {
            let is_track = matches!(ev, VideoEvent::Track(_));
            match self.tx.try_send(ev) {
                Ok(()) => self.sent_since_gap |= is_track,
                Err(TrySendError::Full(ev)) => {
                    self.pending.push_front(ev);
                    return Ok(());
                }
                Err(TrySendError::Closed(_)) => return Err(Closed),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use media::Time90k;

    /// A track told apart by its width (an opaque H.265 config: a Main-profile `hvcC`
    /// header with no parameter sets, which is all `TrackConfig::h265` reads).
    fn track(width: u16) -> TrackConfig {
        const HVCC: &[u8] = &[
            0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0xf0,
            0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x00,
        ];
        TrackConfig::h265(HVCC, 100 * width, 360).unwrap()
    }

    fn frame(n: i64, is_key: bool) -> Frame {
        Frame {
            data: Bytes::from_static(b"\x00\x00\x00\x02\x65\x88"),
            dts: Time90k(n * 3000),
            pts: Time90k(n * 3000),
            is_key,
        }
    }

    /// Drains the receiver into a compact description: `T` track, `G` gap, `K3`/`P3` frames.
    fn got(rx: &mut mpsc::Receiver<VideoEvent>) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            v.push(match ev {
                VideoEvent::Track(_) => "T".to_owned(),
                VideoEvent::Gap { .. } => "G".to_owned(),
                VideoEvent::Frame(f) => {
                    format!("{}{}", if f.is_key { "K" } else { "P" }, f.dts.0 / 3000)
                }
            });
        }
        v
    }

    #[test]
    fn starts_at_a_key_frame() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut o = Outbox::new(tx);
        o.track(track(1)).unwrap();
        assert_eq!(o.frame(frame(0, false)), Ok(Offer::Skipped));
        assert_eq!(o.frame(frame(1, true)), Ok(Offer::Sent));
        assert_eq!(o.frame(frame(2, false)), Ok(Offer::Sent));
        assert_eq!(got(&mut rx), ["T", "K1", "P2"]);
        assert_eq!((o.skipped(), o.dropped()), (1, 0));
    }

    #[test]
    fn full_channel_drops_until_the_next_key_frame() {
        let (tx, mut rx) = mpsc::channel(3);
        let mut o = Outbox::new(tx);
        o.track(track(1)).unwrap();
        assert_eq!(o.frame(frame(0, true)), Ok(Offer::Sent));
        assert_eq!(o.frame(frame(1, false)), Ok(Offer::Sent));
        assert_eq!(o.frame(frame(2, false)), Ok(Offer::Dropped)); // full
        assert_eq!(got(&mut rx), ["T", "K0", "P1"]);
        // Room again, but P3 depends on the dropped P2.
        assert_eq!(o.frame(frame(3, false)), Ok(Offer::Skipped));
        assert_eq!(o.frame(frame(4, true)), Ok(Offer::Sent));
        assert_eq!(got(&mut rx), ["K4"]);
        assert_eq!((o.dropped(), o.skipped()), (1, 1));
    }

    #[test]
    fn control_events_wait_and_coalesce() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut o = Outbox::new(tx);
        o.track(track(1)).unwrap();
        o.frame(frame(0, true)).unwrap();
        // Channel full: gap, track, track wait in the side slot as [G, T(3)].
        o.gap("camera rebooted").unwrap();
        o.track(track(2)).unwrap();
        o.track(track(3)).unwrap();
        assert!(o.has_pending());
        assert_eq!(o.frame(frame(1, true)), Ok(Offer::Dropped));
        assert_eq!(got(&mut rx), ["T", "K0"]);
        assert_eq!(o.frame(frame(2, true)), Ok(Offer::Dropped)); // G, T sent; no room left
        let mut evs = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            evs.push(ev);
        }
        assert!(
            matches!(&evs[..], [VideoEvent::Gap { reason }, VideoEvent::Track(t)]
            if reason == "camera rebooted" && *t == track(3))
        );
        assert_eq!(o.frame(frame(3, true)), Ok(Offer::Sent));
        assert_eq!(got(&mut rx), ["K3"]);
    }

    #[tokio::test]
    async fn a_direct_sink_takes_every_event_in_line() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::channel(1024);
        let copy = Arc::clone(&seen);
        let mut o = Outbox::new(Sink::direct(move |ev| {
            copy.lock().unwrap().push(());
            tx.try_send(ev).unwrap();
        }));
        o.track(track(1)).unwrap();
        assert_eq!(o.frame(frame(0, false)), Ok(Offer::Skipped));
        // Never full: a thousand frames in a row, none dropped, none waiting.
        for i in 1..=1000 {
            assert_eq!(o.frame(frame(i, i % 30 == 1)), Ok(Offer::Sent));
        }
        o.gap("stalled").unwrap();
        assert!(!o.has_pending() && !o.is_closed());
        o.drain().await.unwrap();
        let got = got(&mut rx);
        assert_eq!(got.len(), 1002);
        assert_eq!(
            (&got[..2], &got[1001]),
            (&["T".to_owned(), "K1".to_owned()][..], &"G".to_owned())
        );
        assert_eq!(seen.lock().unwrap().len(), 1002);
        assert_eq!((o.dropped(), o.skipped()), (0, 1));
    }

    #[test]
    fn gap_only_after_something_was_delivered() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut o = Outbox::new(tx);
        o.gap("connect failed").unwrap(); // nothing sent yet
        o.track(track(1)).unwrap();
        o.gap("stalled").unwrap(); // the track was delivered: gap
        o.gap("connect failed again").unwrap(); // nothing since: no second gap
        o.track(track(1)).unwrap();
        assert_eq!(o.frame(frame(0, false)), Ok(Offer::Skipped)); // key needed after a gap
        o.frame(frame(1, true)).unwrap();
        assert_eq!(got(&mut rx), ["T", "G", "T", "K1"]);
    }

    #[tokio::test]
    async fn drain_waits_for_room_and_detects_close() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut o = Outbox::new(tx);
        o.track(track(1)).unwrap();
        o.gap("x").unwrap(); // channel full: gap pending
        assert!(o.has_pending());
        let recv = tokio::spawn(async move {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
                if n == 2 {
                    break;
                }
            }
            n
        });
        o.drain().await.unwrap();
        assert!(!o.has_pending());
        assert_eq!(recv.await.unwrap(), 2);
        assert!(o.is_closed());
        assert_eq!(o.frame(frame(0, true)), Err(Closed));
    }
}

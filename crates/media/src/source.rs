//! What a camera source (RTSP, Reolink, an agent's encoder) hands to the
//! pipeline that records and shows it: track changes, encoded frames, and
//! gaps. Every source produces these events, so the recorder, the live
//! views and the snapshot decoder are written once.

use crate::codec::TrackConfig;
use crate::segment::Frame;

/// One event from a video source, in order.
#[derive(Debug, Clone)]
pub enum VideoEvent {
    /// The stream's parameters (codec, size, sample entry). Sent before the
    /// first frame and again whenever they change; a change starts a new
    /// segment at the next key frame.
    Track(TrackConfig),
    /// One encoded frame (AVCC for H.264/H.265), media time in 90 kHz
    /// ticks from the source's clock. `dts` strictly increases within one
    /// connection; after a [`VideoEvent::Gap`] it may restart anywhere.
    Frame(Frame),
    /// The source lost its camera (reconnect, timeout, camera reboot). What
    /// follows is a new run: the recorder closes the current segment, so a
    /// gap in the feed is a gap in the timeline, never stretched video.
    Gap { reason: String },
}

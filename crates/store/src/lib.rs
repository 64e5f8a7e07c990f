//! Segment files on disk for one camera: crash-safe writing ([`SegmentWriter`]), start-up
//! recovery of torn files ([`SegmentDir::recover_partials`]), listing
//! ([`SegmentDir::segments`]), retention without cron ([`retention::plan`],
//! [`SegmentDir::apply`]) and a recorder's sink that makes room on a full disk
//! ([`SegmentSink`]). Used by the agent's recorder and the hub's recordings.
//!
//! The API blocks on disk I/O (fsync takes milliseconds to seconds on an SD card): run it on
//! a dedicated thread fed by a bounded channel, never on the async runtime.
//!
//! # Design notes
//!
//! * **Ownership marker.** A recordings directory carries `.camera-recordings` (format
//!   version, random id, camera name), written at set-up. A directory without it is refused,
//!   so an unmounted disk's empty mount point is never filled instead of the disk, and
//!   [`SetUp::MustExist`] refuses to recreate a missing directory. The directory is
//!   `flock`ed while open, so two recorders cannot share it.
//! * **Crash-safe order.** Write `NAME.mp4.partial` (init, then whole fragments; fdatasync
//!   per [`SyncPolicy`]) → fsync → rename to `NAME.mp4` → fsync the directory. An index (the
//!   hub's SQLite) is updated only after that. Deleting goes the other way: segment, then
//!   its `.uploaded` sidecar, then a directory fsync. At start-up
//!   [`SegmentDir::recover_partials`] cuts each `.partial` to its last complete fragment
//!   (with [`media::recover::Scanner`]) and finishes or deletes it.
//! * **Retry-safe writes.** A failed write is truncated back, so after
//!   [`StoreError::NoSpace`] the [`SegmentSink`] asks the recorder to free space (the
//!   recorder's callback: the hub deletes index rows before their files) and writes the
//!   same bytes again.
//! * **Names are times.** `2026-11-21T07-31-50.123Z.mp4`: the UTC start to the ms, sortable,
//!   no colons ([`segment_name`], [`parse_segment_name`]). A finished file's mtime is set to
//!   the end of its media, so a listing knows each segment's duration without an index.
//! * **Time is injected.** Retention takes `now_ms` (from a [`Clock`]) and the free space
//!   (from an [`FsStats`]); [`retention::plan`] is a pure function.
//!
//! # A recorder loop
//!
//! ```
//! use media::{Duration90k, Frame, SegmentEvent, Segmenter, SegmenterConfig, Time90k, TrackConfig};
//! use store::{Clock, FsStats, RetentionPolicy, SegmentDir, SegmentSink, SetUp, SimClock, Statvfs};
//!
//! /// Applies one segmenter event to the disk.
//! fn on_event(
//!     sink: &mut SegmentSink,
//!     event: SegmentEvent,
//!     policy: &RetentionPolicy,
//!     clock: &dyn Clock,
//!     fs: &dyn FsStats,
//! ) -> store::Result<()> {
//!     match event {
//!         // A real recorder maps the first frame's capture time to UTC here.
//!         SegmentEvent::Start { init, .. } => drop(sink.start(clock.now_ms(), &init)?),
//!         SegmentEvent::Fragment(f) => drop(sink.write_fragment(&f)?),
//!         SegmentEvent::End(summary) => {
//!             if let Some(done) = sink.finish(&summary)? {
//!                 // now index `done` (hub), notify the uploader (agent)
//!                 assert_eq!(done.size_bytes, summary.file_bytes);
//!                 sink.dir().enforce(policy, clock.now_ms(), fs, None)?; // routine retention
//!             }
//!         }
//!     }
//!     Ok(())
//! }
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let dir = SegmentDir::open(tmp.path().join("front-door"), "front-door", SetUp::CreateIfMissing)?;
//! for report in dir.recover_partials()? {
//!     println!("recovered: {report:?}"); // a real recorder logs these
//! }
//! let clock = std::sync::Arc::new(SimClock::new(1_795_000_000_000));
//! let policy = RetentionPolicy { max_bytes: Some(10_000_000), ..RetentionPolicy::UNLIMITED };
//! policy.validate()?;
//! // On a full disk: apply the policy to this directory (a recorder with an index deletes
//! // the rows first); the segment being written is never deleted.
//! let room_clock = clock.clone();
//! let mut sink = SegmentSink::new(dir.clone(), move |dir: &SegmentDir, current: Option<&str>| {
//!     dir.enforce(&policy, room_clock.now_ms(), &Statvfs, current)
//!         .map(|r| r.bytes_freed)
//!         .unwrap_or(0)
//! });
//!
//! // A stand-in stream (see the media crate): 40 frames at 15 fps, a key frame every 10.
//! let sps = b"\x67\x42\xc0\x16\xd9\x00\xa0\x2f\xf9\x70\x11\x00\x00\x03\x00\x01\x00\x00\x03\x00\x1e\x0f\x16\x2e\x48";
//! let track = TrackConfig::h264(sps, b"\x68\xcb\x83\xcb\x20").unwrap();
//! let cfg = SegmenterConfig { target_duration: Duration90k::from_secs(1), ..Default::default() };
//! let mut segmenter = Segmenter::new(track, cfg);
//! let mut events = Vec::new();
//! for i in 0..40i64 {
//!     let is_key = i % 10 == 0;
//!     let data: &[u8] = if is_key { b"\0\0\0\x04\x65\x88\x84\x21" } else { b"\0\0\0\x04\x41\x9a\x02\x10" };
//!     let frame = Frame { data: data.to_vec().into(), dts: Time90k(i * 6000), pts: Time90k(i * 6000), is_key };
//!     segmenter.push(frame, &mut events).unwrap();
//!     for event in events.drain(..) {
//!         on_event(&mut sink, event, &policy, &*clock, &Statvfs)?;
//!     }
//!     clock.advance(std::time::Duration::from_millis(1000 / 15));
//! }
//! segmenter.finish(&mut events).unwrap();
//! for event in events.drain(..) {
//!     on_event(&mut sink, event, &policy, &*clock, &Statvfs)?;
//! }
//! let segments = dir.segments()?;
//! assert_eq!(segments.len(), 2);
//! assert_eq!(segments[0].duration_ms, Some(1333)); // 20 frames at 15 fps
//! # Ok::<(), store::StoreError>(())
//! ```

mod clock;
mod dir;
mod error;
mod handle;
mod name;
mod recover;
pub mod retention;
pub mod retime;
mod segment;
mod sink;
mod writer;

pub use clock::{Clock, FakeFsStats, FsStats, SimClock, Statvfs, SystemClock};
pub use dir::{ApplyReport, MAX_CAMERA_NAME_LEN, MAX_SEGMENT_DURATION_MS, SegmentDir, SetUp};
pub use error::{Result, StoreError};
pub use name::{
    MARKER, MAX_START_MS, MIN_START_MS, PARTIAL_EXT, RETIME_EXT, RETIMED_EXT, SEGMENT_EXT,
    UPLOADED_EXT, parse_segment_name, segment_name,
};
pub use recover::{RecoveryAction, RecoveryReport};
pub use retention::{
    Deletion, Forecast, Held, Keep, OldestPlan, Reason, RetentionPolicy, forecast, forecast_held,
    oldest, plan, plan_keeping, plan_oldest,
};
pub use retime::{
    PreparedRetime, RetimePass, RetimeReport, RetimeScope, RetimedCopy, write_retimed_copy,
};
pub use segment::SegmentInfo;
pub use sink::{MAX_ROOM_ATTEMPTS, MakeRoom, SegmentSink};
pub use writer::{FinishedSegment, SegmentWriter, SyncPolicy};

#[cfg(test)]
mod tests {
    /// The directory is shared between the recorder and uploader threads; a writer moves
    /// to the recorder's thread.
    #[test]
    fn thread_safety() {
        fn shared<T: Send + Sync>() {}
        fn sent<T: Send>() {}
        shared::<super::SegmentDir>();
        sent::<super::SegmentWriter>();
        shared::<super::SimClock>();
        shared::<super::FakeFsStats>();
        sent::<super::SegmentSink>();
    }
}

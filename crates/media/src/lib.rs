//! Media handling for the camera system, with no I/O: H.264 and H.265 bitstream helpers
//! ([`h264`], [`h265`]), track configuration ([`codec`]), a fragmented-MP4 writer ([`fmp4`]),
//! segment cutting ([`segment`]), crash recovery / probing of written files
//! ([`mod@recover`]), moving an old file's media time to start at 0 ([`retime`]) and
//! export of recorded segments as one file ([`export`]). Frames in, bytes out; the caller
//! owns files, sockets and clocks.
//!
//! Time is [`Time90k`] / [`Duration90k`] throughout (90 kHz, the MP4 timescale we write).
//!
//! # Annex B bytes in, segment files out
//!
//! ```
//! use media::h264::{AccessUnitAssembler, AnnexBSplitter};
//! use media::{Duration90k, Frame, SegmentEvent, Segmenter, SegmenterConfig, Time90k, TrackConfig};
//!
//! /// Records an H.264 Annex B stream at 15 fps into segments; returns the files' bytes.
//! fn record(reads: &[&[u8]], cfg: SegmenterConfig) -> Result<Vec<Vec<u8>>, media::Error> {
//!     let mut splitter = AnnexBSplitter::new();
//!     let mut assembler = AccessUnitAssembler::new();
//!     let mut segmenter: Option<Segmenter> = None;
//!     let mut events = Vec::new();
//!     let mut frame_no = 0;
//!     let mut on_access_unit = |au: media::h264::AccessUnit, events: &mut Vec<SegmentEvent>| {
//!         // Key frames carry SPS/PPS: the first starts the segmenter, a change cuts a segment.
//!         if let (Some(sps), Some(pps)) = (au.sps(), au.pps()) {
//!             let track = TrackConfig::h264(sps, pps)?;
//!             match &mut segmenter {
//!                 Some(s) => s.set_track(track),
//!                 None => segmenter = Some(Segmenter::new(track, cfg)),
//!             }
//!         }
//!         let Some(seg) = segmenter.as_mut() else { return Ok(()) }; // no SPS/PPS yet
//!         // A real recorder takes dts from capture timestamps; here 15 fps = 6000 ticks.
//!         let dts = Time90k(frame_no * 6000);
//!         frame_no += 1;
//!         seg.push(Frame::from_access_unit(&au, dts)?, events)
//!     };
//!     for read in reads {
//!         splitter.push(read); // e.g. each read from the encoder's pipe
//!         while let Some(nal) = splitter.pop()? {
//!             if let Some(au) = assembler.push(nal)? {
//!                 on_access_unit(au, &mut events)?;
//!             }
//!         }
//!     }
//!     if let Some(nal) = splitter.finish() {
//!         if let Some(au) = assembler.push(nal)? {
//!             on_access_unit(au, &mut events)?;
//!         }
//!     }
//!     if let Some(au) = assembler.finish() {
//!         on_access_unit(au, &mut events)?;
//!     }
//!     if let Some(seg) = segmenter.as_mut() {
//!         seg.finish(&mut events)?;
//!     }
//!     // A recorder does this as the events come: Start = create a file and write the init
//!     // segment, Fragment = append, End = fsync, rename into place, index `summary`.
//!     let mut files = Vec::new();
//!     for event in events {
//!         match event {
//!             SegmentEvent::Start { init, .. } => files.push(init),
//!             SegmentEvent::Fragment(f) => f.append_to(files.last_mut().unwrap()),
//!             SegmentEvent::End(summary) => assert_eq!(summary.file_bytes as usize, files.last().unwrap().len()),
//!         }
//!     }
//!     Ok(files)
//! }
//!
//! // A stand-in stream: SPS + PPS + IDR every 10 frames, P frames between.
//! let sps = b"\x67\x42\xc0\x16\xd9\x00\xa0\x2f\xf9\x70\x11\x00\x00\x03\x00\x01\x00\x00\x03\x00\x1e\x0f\x16\x2e\x48";
//! let mut stream = Vec::new();
//! for i in 0..40 {
//!     if i % 10 == 0 {
//!         for nal in [&sps[..], b"\x68\xcb\x83\xcb\x20", b"\x65\x88\x84\x21"] {
//!             stream.extend_from_slice(b"\x00\x00\x00\x01");
//!             stream.extend_from_slice(nal);
//!         }
//!     } else {
//!         stream.extend_from_slice(b"\x00\x00\x00\x01\x41\x9a\x02\x10");
//!     }
//! }
//! let cfg = SegmenterConfig { target_duration: Duration90k::from_secs(1), ..Default::default() };
//! let reads: Vec<&[u8]> = stream.chunks(100).collect();
//! let files = record(&reads, cfg)?;
//! assert_eq!(files.len(), 2); // cut at the first key frame after 1 s (frame 20)
//! for file in &files {
//!     let info = media::probe(file)?;
//!     assert_eq!((info.codec_string.as_str(), info.width, info.height), ("avc1.42C016", 640, 360));
//!     assert_eq!(info.recovery.samples, 20);
//! }
//! # Ok::<(), media::Error>(())
//! ```

mod bmff;
pub mod codec;
mod error;
pub mod export;
pub mod fmp4;
pub mod h264;
pub mod h265;
pub mod recover;
pub mod retime;
pub mod segment;
pub mod source;
pub mod time;

pub use codec::{TrackConfig, VideoCodec};
pub use error::Error;
pub use fmp4::{Fragment, FragmentPolicy, Fragmenter, Sample, init_segment};
pub use recover::{ProbeInfo, Recovery, probe, recover};
pub use segment::{Frame, SegmentEvent, SegmentSummary, Segmenter, SegmenterConfig};
pub use source::VideoEvent;
pub use time::{Duration90k, Time90k};

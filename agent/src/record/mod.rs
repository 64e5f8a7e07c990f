//! Recording: H.264 from the capture source into rotating, crash-safe fragmented-MP4
//! segments, next to (never in the way of) the live JPEG stream.
//!
//! - [`queue`]: the bounded queue between capture and the recorder thread, with its
//!   overflow policy ([`queue::Overflow::DropUntilKeyFrame`]).
//! - [`recorder`]: the recorder thread (segmenting, writing through the `store` crate,
//!   recovery at start-up, retention, ENOSPC handling).
//! - [`status`]: counters and `status.json` for `agent status`.
//! - [`bench`]: `agent bench-encode`, CPU cost per frame of each path.

pub mod bench;
pub mod queue;
pub mod recorder;
pub mod status;

pub use queue::{Overflow, Pushed, RecordItem, RecordQueue};
pub use recorder::{RecorderHandle, RecorderSettings};
pub use status::{AgentStatus, RecordSnapshot, RecordStatus};

//! Off-site copies of recordings in S3-compatible object storage (Garage, MinIO, Ceph,
//! a cloud bucket): the `[offsite]` configuration, where objects live in the bucket,
//! verified uploads that survive crashes, the upload bandwidth cap, ranged reads for
//! playback, listing, restore and check, the bucket's own retention, and optional
//! client-side encryption in chunks.
//!
//! # How the hub drives it
//!
//! * **A durable queue in the index.** When a segment is finished and indexed (or an
//!   agent's upload is), the hub inserts a `replication` row (camera, file name, key,
//!   state `pending`, attempts, next try, last error kind) in the same transaction. A
//!   task takes rows oldest first and calls [`Bucket::replicate_file`] with the
//!   index's SHA-256 and a [`SegmentRecord`]; only on `Ok` does it mark the row `done`
//!   (with the ETag). The multipart [`UploadJournal`] lives in the same database, so a
//!   kill -9 resumes the same upload at start-up. Events and thumbnails go the same
//!   way with [`Bucket::replicate_bytes`]; once a UTC day is complete for a camera, the
//!   hub writes its [`DayIndex`] ([`Bucket::write_day_index`]).
//! * **Errors become health.** [`ErrorKind::RetryLater`]: the row stays pending with
//!   exponential backoff (backlog and lag grow in the camera status, `/status`,
//!   `/metrics`). [`ErrorKind::AuthRefused`] and [`ErrorKind::QuotaReached`]: a health
//!   event naming the cause, replication paused and retried rarely; recording is not
//!   affected and nothing local is deleted because of it. [`ErrorKind::Local`]: the
//!   local file is gone or differs from the index; the row is dropped with a warning.
//! * **Local retention prefers replicated segments**, as the agent prefers uploaded
//!   ones; a segment is deleted locally before it is replicated only under disk
//!   pressure, counted and reported.
//! * **The segment reader falls back to the bucket.** When the local file of an
//!   indexed segment is gone and its row is `done`, the one segment reader opens the
//!   object ([`Bucket::head`], cached per segment) and serves byte ranges with
//!   [`Bucket::read_range`]: the recordings list, timeline, playback with Range and
//!   export work unchanged, slower.
//! * **`hub restore --from-offsite`** on an empty data directory calls
//!   [`Bucket::restore`] and inserts every [`SegmentRecord`] as an index row marked
//!   replicated with no local file.
//! * **`hub check --offsite`** builds [`Expected`] from the rows marked `done` and
//!   prints [`Bucket::check`]'s report (`--deep` downloads and hashes everything).
//! * **A read-only second hub** (`read_only = true`, same bucket and prefix) restores
//!   its index the same way, refreshes it periodically, and plays from the bucket; every
//!   writing call refuses with [`ErrorKind::Invalid`].
//! * **Bucket retention** runs periodically on the writing hub:
//!   [`Bucket::apply_retention`] with the events' spans.
//!
//! Blocking work (file reads, hashing, sealing, the journal) runs under
//! `spawn_blocking`; HTTP goes through one shared client whose request bodies are paced
//! by the bandwidth cap ([`http`]).

pub mod bucket;
pub mod config;
mod error;
pub mod http;
pub mod journal;
pub mod layout;
pub mod manifest;
pub mod ops;
pub mod retention;
mod source;
pub mod throttle;

/// The chunked encryption (its own crate: no I/O, fuzzed).
pub use chunkseal as crypto;

pub use bucket::{Bucket, Listing, Replicated, StoredObject};
pub use config::{OffsiteConfig, Rate};
pub use error::{Error, ErrorKind, Result};
pub use journal::{DirJournal, MultipartState, PartDone, UploadJournal};
pub use layout::{Layout, ObjectName};
pub use manifest::{DayIndex, SegmentRecord};
pub use ops::{CheckReport, Expected, Restored};
pub use retention::{EventSpan, Listed};

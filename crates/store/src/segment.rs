//! [`SegmentInfo`]: what a listing knows of one segment file, without opening it. The
//! directory produces listings; retention plans over them.

/// One segment file as listed by [`crate::SegmentDir::segments`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The finished name, `2026-11-21T07-31-50.123Z.mp4` (also for a partial file).
    pub name: String,
    /// UTC start time from the name, ms since the Unix epoch.
    pub start_ms: i64,
    /// Media duration of a finished segment (from its mtime, see the `dir` module docs);
    /// `None` for a partial file or an implausible mtime.
    pub duration_ms: Option<i64>,
    /// File size.
    pub size_bytes: u64,
    /// The uploader has marked it delivered ([`crate::SegmentDir::mark_uploaded`]).
    pub uploaded: bool,
    /// Still `.partial`: being written, or torn and not yet recovered. Retention never
    /// deletes these, but counts their bytes.
    pub partial: bool,
}

impl SegmentInfo {
    /// End of the media (start for a partial or unknown duration).
    pub fn end_ms(&self) -> i64 {
        self.start_ms.saturating_add(self.duration_ms.unwrap_or(0))
    }
}

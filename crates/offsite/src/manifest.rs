//! What a new hub needs to rebuild its index from the bucket: a [`SegmentRecord`] per
//! segment, carried in each segment object's metadata and gathered per camera and UTC
//! day into [`DayIndex`] objects (one fetch instead of one HEAD per segment).

use serde::{Deserialize, Serialize};

/// One segment as the hub's index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRecord {
    pub camera: String,
    /// The store's file name (its UTC start time).
    pub file_name: String,
    pub start_ms: i64,
    pub duration_ms: i64,
    /// Plaintext size.
    pub size_bytes: u64,
    /// SHA-256 (hex) of the plaintext.
    pub sha256: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
}

/// Index objects larger than this are refused when read (a day of 1 s segments is
/// about 20 MB of JSON; anything larger is not ours).
pub const MAX_DAY_INDEX_BYTES: usize = 64 << 20;
/// Metadata record values larger than this are refused (S3 allows 2 KiB of metadata).
pub const MAX_RECORD_META_BYTES: usize = 1536;

/// The segments of one camera on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayIndex {
    /// Format version (1).
    pub version: u32,
    pub camera: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub segments: Vec<SegmentRecord>,
}

impl SegmentRecord {
    /// The compact JSON written into object metadata (ASCII: names and hex only).
    pub fn to_meta(&self) -> Result<String, crate::Error> {
        let s = serde_json::to_string(self).expect("a SegmentRecord serialises");
        if s.len() > MAX_RECORD_META_BYTES || !s.is_ascii() {
            return Err(crate::Error::invalid(format!(
                "segment record of {} too large or not ASCII for object metadata",
                self.file_name
            )));
        }
        Ok(s)
    }

    pub fn from_meta(s: &str) -> Result<SegmentRecord, crate::Error> {
        if s.len() > MAX_RECORD_META_BYTES {
            return Err(crate::Error::corrupt("segment record metadata too large"));
        }
        serde_json::from_str(s)
            .map_err(|e| crate::Error::corrupt(format!("segment record metadata: {e}")))
    }
}

impl DayIndex {
    pub fn parse(bytes: &[u8]) -> Result<DayIndex, crate::Error> {
        if bytes.len() > MAX_DAY_INDEX_BYTES {
            return Err(crate::Error::corrupt("day index larger than 64 MiB"));
        }
        let d: DayIndex = serde_json::from_slice(bytes)
            .map_err(|e| crate::Error::corrupt(format!("day index: {e}")))?;
        if d.version != 1 {
            return Err(crate::Error::corrupt(format!(
                "day index version {} is not supported",
                d.version
            )));
        }
        Ok(d)
    }
}

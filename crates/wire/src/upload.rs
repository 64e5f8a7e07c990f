//! Segment upload, agent to hub (store and forward): the one definition of the URL, the
//! headers, what each status code means and the JSON bodies, used by the agent's uploader
//! and the hub's handler. README.md ("Segment upload") describes it for people.
//!
//! - `GET`/`HEAD` [`segment_path`]: how much of the segment the hub holds
//!   ([`OFFSET_HEADER`], body [`UploadStatus`]).
//! - `PUT` [`segment_path`] with [`SHA256_HEADER`] (the whole file's SHA-256) and either
//!   `Content-Length` (the whole file) or `Content-Range` ([`ContentRange`]) for a part;
//!   the answer's status has the meaning [`Answer`] gives it, and [`OFFSET_HEADER`] says
//!   what the hub holds.
//! - `Authorization: Bearer TOKEN` (the camera's agent token), never in the URL.
//!
//! Pure: strings and numbers, no I/O.

use serde::{Deserialize, Serialize};

/// The route, as the hub's router writes it.
pub const SEGMENT_ROUTE: &str = "/api/v1/agents/{camera_id}/segments/{name}";

/// The path of segment `name` (a store segment name) of camera `camera_id`.
pub fn segment_path(camera_id: u32, name: &str) -> String {
    format!("/api/v1/agents/{camera_id}/segments/{name}")
}

/// Request header carrying the whole file's SHA-256 (64 hex digits).
pub const SHA256_HEADER: &str = "x-content-sha256";
/// Request header (optional): how many segments the agent has waiting to upload, this
/// one included; the hub turns a long backlog into a health event.
pub const BACKLOG_HEADER: &str = "x-upload-backlog";
/// Response header: how many bytes of the segment the hub holds.
pub const OFFSET_HEADER: &str = "upload-offset";
/// The realm of the hub's `WWW-Authenticate` challenge on a 401.
pub const AUTH_REALM: &str = "camera hub agents";

/// The whole file's SHA-256 as the header carries it: 64 hex digits, lower-cased.
pub fn parse_sha256(header: &str) -> Option<String> {
    let s = header.trim().to_ascii_lowercase();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

/// `Content-Range: bytes START-END/TOTAL` (END inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl ContentRange {
    /// Bytes `start..end` (end exclusive, not empty) of a file of `total` bytes; `None`
    /// for an empty range or one past the end.
    pub fn of(start: u64, end: u64, total: u64) -> Option<ContentRange> {
        (start < end && end <= total).then(|| ContentRange {
            start,
            end: end - 1,
            total,
        })
    }

    /// The whole of a non-empty file.
    pub fn whole(total: u64) -> Option<ContentRange> {
        ContentRange::of(0, total, total)
    }

    /// Parses `bytes START-END/TOTAL`; `None` for anything else (including an empty or
    /// backwards range, or one past the total).
    pub fn parse(s: &str) -> Option<ContentRange> {
        let rest = s.trim().strip_prefix("bytes ")?;
        let (range, total) = rest.split_once('/')?;
        let (a, b) = range.split_once('-')?;
        let num = |t: &str| -> Option<u64> {
            (!t.is_empty() && t.len() <= 19 && t.bytes().all(|c| c.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
        };
        let (start, end, total) = (num(a)?, num(b)?, num(total)?);
        (start <= end && end < total).then_some(ContentRange { start, end, total })
    }

    /// Bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for ContentRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bytes {}-{}/{}", self.start, self.end, self.total)
    }
}

/// What a status code of the hub's answer to a `PUT` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 201: the last byte arrived, the SHA-256 matched, the file is a complete fMP4 and
    /// is now indexed.
    Stored,
    /// 200: a segment of that name with the same SHA-256 is stored already (re-sending
    /// is a no-op).
    AlreadyHad,
    /// 202: a part was stored; send the next from [`OFFSET_HEADER`].
    PartStored,
    /// 416: the part does not start where the hub is; resume at [`OFFSET_HEADER`].
    WrongOffset,
    /// 409: the name is stored with another SHA-256, another request is uploading it,
    /// or an unfinished upload of it has another hash or size (a `PUT` from byte 0
    /// replaces that one). A `GET` tells which.
    Conflict,
    /// 422: the SHA-256 did not match or the file is not a complete fMP4; the upload was
    /// discarded and nothing indexed.
    Rejected,
    /// 413: over the hub's `max_segment_size`, answered before the body is read.
    TooLarge,
    /// 400: a bad name or header, or a body shorter or longer than announced (what
    /// arrived is kept: resume from [`OFFSET_HEADER`]).
    BadRequest,
    /// 401: the token is missing or wrong.
    Unauthorized,
    /// 404: no such camera.
    NotFound,
    /// 507: the hub's disk is full.
    NoSpace,
}

impl Answer {
    const ALL: [Answer; 11] = [
        Answer::Stored,
        Answer::AlreadyHad,
        Answer::PartStored,
        Answer::WrongOffset,
        Answer::Conflict,
        Answer::Rejected,
        Answer::TooLarge,
        Answer::BadRequest,
        Answer::Unauthorized,
        Answer::NotFound,
        Answer::NoSpace,
    ];

    /// The HTTP status code.
    pub const fn status(self) -> u16 {
        match self {
            Answer::Stored => 201,
            Answer::AlreadyHad => 200,
            Answer::PartStored => 202,
            Answer::WrongOffset => 416,
            Answer::Conflict => 409,
            Answer::Rejected => 422,
            Answer::TooLarge => 413,
            Answer::BadRequest => 400,
            Answer::Unauthorized => 401,
            Answer::NotFound => 404,
            Answer::NoSpace => 507,
        }
    }

    /// The meaning of a status code; `None` for one the protocol does not give (e.g. a
    /// 500).
    pub fn of_status(status: u16) -> Option<Answer> {
        Answer::ALL.into_iter().find(|a| a.status() == status)
    }

    /// Whether the answer carries [`OFFSET_HEADER`].
    pub const fn has_offset(self) -> bool {
        matches!(
            self,
            Answer::Stored | Answer::AlreadyHad | Answer::PartStored | Answer::WrongOffset
        )
    }
}

/// How much of a segment the hub holds, in [`UploadStatus::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Held {
    /// Nothing.
    None,
    /// A part is staged (`received_bytes` of `total_bytes`, with `sha256`).
    Partial,
    /// Committed and indexed.
    Complete,
}

/// The body of the answer to a `GET` of [`segment_path`]. `S` is the hub's description of
/// a complete segment (the agent reads past it). Fields in alphabetical order, as the hub
/// has always sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus<S> {
    pub name: String,
    #[serde(default)]
    pub received_bytes: u64,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub segment: Option<S>,
    #[serde(default)]
    pub sha256: Option<String>,
    pub state: Held,
    #[serde(default)]
    pub total_bytes: Option<u64>,
}

fn none<S>() -> Option<S> {
    None
}

/// The body of a `PUT` answer that ends an upload: [`Answer::Stored`] or
/// [`Answer::AlreadyHad`], with the hub's description of the segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered<S> {
    pub segment: S,
    /// `stored` or `already have it`.
    pub status: String,
}

/// The body of a [`Answer::PartStored`] answer (also of a 400 for a short body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartReceived {
    pub received_bytes: u64,
    /// `partial`.
    pub status: String,
    pub total_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let r = ContentRange::parse("bytes 0-99/1000").unwrap();
        assert_eq!((r.start, r.end, r.total, r.len()), (0, 99, 1000, 100));
        assert_eq!(ContentRange::of(0, 100, 1000), Some(r));
        assert_eq!(r.to_string(), "bytes 0-99/1000");
        assert_eq!(ContentRange::whole(5).unwrap().to_string(), "bytes 0-4/5");
        assert_eq!(ContentRange::of(5, 5, 10), None);
        assert_eq!(ContentRange::of(5, 11, 10), None);
        assert_eq!(ContentRange::whole(0), None);
        for bad in [
            "",
            "bytes */1000",
            "bytes 5-4/1000",
            "bytes 0-1000/1000",
            "bytes 0-9/*",
            "bits 0-9/10",
            "bytes -1-9/10",
            "bytes 0-99999999999999999999/99999999999999999999",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_answer_has_its_own_status() {
        for a in Answer::ALL {
            assert_eq!(Answer::of_status(a.status()), Some(a));
        }
        assert_eq!(Answer::of_status(500), None);
        assert_eq!(segment_path(3, "x.mp4"), "/api/v1/agents/3/segments/x.mp4");
        assert_eq!(
            SEGMENT_ROUTE
                .replace("{camera_id}", "3")
                .replace("{name}", "x.mp4"),
            segment_path(3, "x.mp4")
        );
        assert_eq!(parse_sha256(&"AB".repeat(32)), Some("ab".repeat(32)));
        assert_eq!(parse_sha256("abc"), None);
    }

    #[test]
    fn status_bodies_read_back() {
        let s: UploadStatus<serde_json::Value> = UploadStatus {
            name: "n".into(),
            received_bytes: 0,
            segment: None,
            sha256: None,
            state: Held::None,
            total_bytes: None,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"name":"n","received_bytes":0,"sha256":null,"state":"none","total_bytes":null}"#
        );
        let back: UploadStatus<serde::de::IgnoredAny> = serde_json::from_str(
            r#"{"name":"n","state":"complete","received_bytes":5,"total_bytes":5,"sha256":"ab","segment":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!((back.state, back.received_bytes), (Held::Complete, 5));
    }
}

//! Recordings on the web: Pi-Cam's pages and URLs (`/recordings/index.html`,
//! `/playback.html?file=NAME`, `/recordings/NAME`), the timeline page, the JSON
//! API, downloads with HTTP Range, and export of a time range as one MP4.
//!
//! No URL reaches a file by path: a name must parse strictly
//! ([`index::parse_public_name`]) and be found in the index by exact match; the
//! file is then the row's camera directory joined with its validated store name.
//! Every route here is behind `Viewer`/`PageViewer`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::pages::{Section, html_escape, render};
use super::{Access, AppState, PageViewer, Route, Viewer};
use wire::upload::Answer;

use crate::recordings::{ErrorKind, RecError, Segment, SegmentFile, export, index};

const INDEX_HTML: &str = include_str!("../../assets/recordings-index.html");
const PLAYBACK_HTML: &str = include_str!("../../assets/recordings-playback.html");
const TIMELINE_HTML: &str = include_str!("../../assets/timeline.html");

pub fn routes() -> Vec<Route> {
    use Access::{Page, Public, Viewer as V};
    vec![
        Route::new("/recordings", Public)
            .get(|| async { Redirect::permanent("/recordings/index.html") }),
        Route::new("/recordings/index.html", Page).get(index_page),
        Route::new("/recordings/{file}", V).get(file),
        Route::new("/playback.html", Page)
            .get(playback)
            .query(&["file"]),
        Route::new("/timeline", Page).get(timeline_first),
        Route::new("/timeline/{camera}", Page).get(timeline),
        Route::new("/api/recordings", V)
            .get(list_json)
            .query(&["camera"]),
        Route::new("/api/recordings/days", V)
            .get(days_json)
            .query(&["camera"]),
        Route::new("/api/recordings/storage", V).get(storage_json),
        Route::new("/api/recordings/export", V)
            .get(export_mp4)
            .query(&["camera"]),
    ]
}

/// The one place recordings errors become HTTP statuses: the upload protocol's statuses
/// ([`wire::upload::Answer`]), 404 and 500. A fault of the hub is logged and its details
/// are not sent.
impl IntoResponse for RecError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let answer = match kind {
            ErrorKind::Invalid => Some(Answer::BadRequest),
            ErrorKind::NotFound => Some(Answer::NotFound),
            ErrorKind::Conflict => Some(Answer::Conflict),
            ErrorKind::WrongOffset { .. } => Some(Answer::WrongOffset),
            ErrorKind::TooLarge => Some(Answer::TooLarge),
            ErrorKind::Rejected => Some(Answer::Rejected),
            ErrorKind::NoSpace => Some(Answer::NoSpace),
            ErrorKind::Internal | ErrorKind::BadGateway | ErrorKind::GatewayTimeout => None,
        };
        let status = match kind {
            // The off-site store's messages name the object and the store's error code,
            // never a credential: the viewer is told what failed.
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            _ => answer
                .and_then(|a| StatusCode::from_u16(a.status()).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        };
        if matches!(kind, ErrorKind::BadGateway | ErrorKind::GatewayTimeout) {
            tracing::warn!(error = %self, "reading a recording from the off-site bucket failed");
        }
        let msg = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "recordings request failed");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut r = super::message(status, msg);
        if let ErrorKind::WrongOffset { expected } = kind {
            r.headers_mut()
                .insert(wire::upload::OFFSET_HEADER, HeaderValue::from(expected));
        }
        r
    }
}

/// One segment in the JSON API and the upload answers. Fields in alphabetical order: the
/// order the API has always sent them in.
#[derive(Debug, Serialize)]
pub struct SegmentJson {
    camera: String,
    codec: String,
    duration_ms: i64,
    end_ms: i64,
    file: String,
    height: u32,
    name: String,
    sha256: String,
    size_bytes: u64,
    /// `upload`, `recorder`, `found`, `imported` or `offsite`.
    source: &'static str,
    start_ms: i64,
    /// Where the segment is kept: `local`, `offsite`, `both` (or `unavailable`). Only in
    /// the list of recordings.
    #[serde(skip_serializing_if = "Option::is_none")]
    stored: Option<&'static str>,
    url: String,
    width: u32,
}

impl From<&Segment> for SegmentJson {
    fn from(s: &Segment) -> SegmentJson {
        let name = s.public_name();
        SegmentJson {
            camera: s.camera.clone(),
            codec: s.codec.clone(),
            duration_ms: s.duration_ms,
            end_ms: s.end_ms(),
            file: s.file_name.clone(),
            height: s.height,
            url: format!("/recordings/{name}"),
            name,
            sha256: s.sha256.clone(),
            size_bytes: s.size_bytes,
            source: s.source.as_str(),
            start_ms: s.start_ms,
            stored: None,
            width: s.width,
        }
    }
}

/// `GET /api/recordings`.
#[derive(Debug, Serialize)]
struct SegmentList {
    camera: String,
    segments: Vec<SegmentJson>,
}

/// `GET /api/recordings/days`.
#[derive(Debug, Serialize)]
struct DayList {
    camera: String,
    days: Vec<DayJson>,
}

#[derive(Debug, Serialize)]
struct DayJson {
    date: String,
    /// Segments starting that day.
    segments: i64,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RecError> + Send + 'static,
) -> Result<T, RecError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RecError::Join(e.to_string()))?
}

/// UTC day of a unix-ms time, `YYYY-MM-DD`.
fn day_of(ms: i64) -> String {
    store::segment_name(ms)
        .map(|n| n[..10].to_owned())
        .unwrap_or_default()
}

/// `GET /recordings/index.html`: every recording per camera and day, newest first.
async fn index_page(State(hub): State<AppState>, v: PageViewer) -> Response {
    let db = hub.recordings.db.clone();
    let all = match db.call(|c| index::all(c, None)).await {
        Ok(a) => a,
        Err(e) => return RecError::from(e).into_response(),
    };
    let mut body = String::new();
    let mut cams: Vec<&str> = hub.cameras.iter().map(|c| c.name.as_str()).collect();
    cams.sort();
    for cam in cams {
        body.push_str(&format!(
            "<section class=\"camera-recordings\" data-camera=\"{0}\"><h2>{0} <a class=\"timeline-link\" href=\"/timeline/{0}\">timeline</a></h2>\n",
            html_escape(cam)
        ));
        let mut day = String::new();
        let mut any = false;
        for s in all.iter().filter(|s| s.camera == cam) {
            let d = day_of(s.start_ms);
            if d != day {
                if any {
                    body.push_str("</ul>\n");
                }
                body.push_str(&format!(
                    "<h3>{}</h3>\n<ul class=\"segments\">\n",
                    html_escape(&d)
                ));
                day = d;
                any = true;
            }
            let name = html_escape(&s.public_name());
            body.push_str(&format!(
                "<li><p><a href=\"/playback.html?file={name}\">{name}</a> <span class=\"meta\">{}s · {} KiB · {}×{}</span></p></li>\n",
                s.duration_ms / 1000,
                s.size_bytes / 1024,
                s.width,
                s.height
            ));
        }
        if any {
            body.push_str("</ul>\n");
        } else {
            body.push_str("<p class=\"empty\">No recordings.</p>\n");
        }
        body.push_str("</section>\n");
    }
    render(INDEX_HTML, Section::Recordings, &v, &[("list", &body)])
}

#[derive(Debug, Deserialize)]
struct PlaybackQuery {
    file: Option<String>,
}

/// `GET /playback.html?file=NAME`: a `<video controls>` page for one recording.
async fn playback(
    State(hub): State<AppState>,
    v: PageViewer,
    Query(q): Query<PlaybackQuery>,
) -> Response {
    let Some(file) = q.file else {
        return RecError::NotFound("no file given".into()).into_response();
    };
    let rec = hub.recordings.clone();
    let f = file.clone();
    let seg = match blocking(move || rec.open_public(&f)).await {
        Ok((seg, _)) => seg,
        Err(e) => return e.into_response(),
    };
    let name = html_escape(&seg.public_name());
    render(
        PLAYBACK_HTML,
        Section::Recordings,
        &v,
        &[
            ("name", &name),
            ("camera", &html_escape(&seg.camera)),
            ("width", &seg.width.to_string()),
            ("height", &seg.height.to_string()),
        ],
    )
}

/// `GET /recordings/NAME`: the file, with `Range` support.
async fn file(
    State(hub): State<AppState>,
    _v: Viewer,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rec = hub.recordings.clone();
    match blocking(move || rec.open_public(&file)).await {
        Ok((seg, reader)) => serve_segment(reader, &headers, &seg.public_name()).await,
        Err(e) => e.into_response(),
    }
}

/// A body produced on a blocking thread (an export: planned and read in one go):
/// `produce` hands it pieces until it is done, or until `send` says the client has gone.
/// An error ends the body early (logged).
fn blocking_body(
    produce: impl FnOnce(&mut dyn FnMut(Bytes) -> bool) -> Result<(), RecError> + Send + 'static,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut send = |b: Bytes| tx.blocking_send(Ok(b)).is_ok();
        if let Err(e) = produce(&mut send) {
            tracing::warn!(error = %e, "recording read failed midway");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Reads bytes `at..end` of `reader` up to 64 KiB, on the blocking pool.
async fn read_piece(
    reader: std::sync::Arc<dyn SegmentFile>,
    at: u64,
    end: u64,
) -> Result<Bytes, RecError> {
    blocking(move || {
        let mut buf = vec![0u8; (end - at).min(64 * 1024) as usize];
        let got = reader.read_at(at, &mut buf)?;
        buf.truncate(got);
        Ok(Bytes::from(buf))
    })
    .await
}

/// A recording as `video/mp4`: 200 for the whole file, 206 for one byte range, 416 for a
/// range outside it. Read in 64 KiB pieces, each on the blocking pool. The first piece is
/// read before the answer starts, so a store that fails (the off-site bucket) gets its
/// own status rather than a body cut short.
async fn serve_segment(reader: Box<dyn SegmentFile>, headers: &HeaderMap, name: &str) -> Response {
    let len = reader.len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, len));
    let (status, start, end) = match range {
        None | Some(RangeReq::Ignore) => (StatusCode::OK, 0, len),
        Some(RangeReq::Bytes(s, e)) => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        Some(RangeReq::Unsatisfiable) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                "range not satisfiable\n",
            )
                .into_response();
        }
    };
    let remaining = end - start;
    // One blocking read per piece: a slow client holds no thread while it reads.
    let reader: std::sync::Arc<dyn SegmentFile> = reader.into();
    let first = if start < end {
        match read_piece(reader.clone(), start, end).await {
            Ok(b) => Some(b),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let next = start + first.as_ref().map_or(0, |b| b.len() as u64);
    let rest = futures_util::stream::unfold((reader, next), move |(reader, at)| async move {
        if at >= end {
            return None;
        }
        match read_piece(std::sync::Arc::clone(&reader), at, end).await {
            Ok(buf) if buf.is_empty() => None,
            Ok(buf) => {
                let next = at + buf.len() as u64;
                Some((Ok(buf), (reader, next)))
            }
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), (reader, end))),
        }
    });
    let pieces = futures_util::StreamExt::chain(
        futures_util::stream::iter(first.map(Ok::<_, std::io::Error>)),
        rest,
    );
    let body = Body::from_stream(pieces);
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(remaining));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    /// Inclusive byte range.
    Bytes(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we understand: send the whole file (RFC 9110 allows it).
    Ignore,
}

fn parse_range(h: &str, len: u64) -> RangeReq {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeReq::Ignore;
    };
    if spec.contains(',') {
        return RangeReq::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Ignore;
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => match num(b) {
            Some(0) => RangeReq::Unsatisfiable,
            Some(n) if len > 0 => RangeReq::Bytes(len.saturating_sub(n), len - 1),
            Some(_) => RangeReq::Unsatisfiable,
            None => RangeReq::Ignore,
        },
        (false, _) => {
            let Some(s) = num(a) else {
                return RangeReq::Ignore;
            };
            let e = if b.trim().is_empty() {
                Some(len.saturating_sub(1))
            } else {
                num(b)
            };
            match e {
                None => RangeReq::Ignore,
                Some(_) if s >= len => RangeReq::Unsatisfiable,
                Some(e) if e < s => RangeReq::Ignore,
                Some(e) => RangeReq::Bytes(s, e.min(len - 1)),
            }
        }
        (true, true) => RangeReq::Ignore,
    }
}

#[derive(Debug, Deserialize)]
struct TimelineQuery {
    date: Option<String>,
}

/// A strict `YYYY-MM-DD` (a real day), or `None`.
fn valid_date(d: &str) -> bool {
    d.len() == 10 && store::parse_segment_name(&format!("{d}T00-00-00.000Z.mp4")).is_some()
}

/// `GET /timeline`: the first camera's timeline (the live grid when there is
/// no camera).
async fn timeline_first(State(hub): State<AppState>, _v: PageViewer) -> Redirect {
    match hub.cameras.iter().next() {
        Some(c) => Redirect::to(&format!("/timeline/{}", super::pages::url_encode(&c.name))),
        None => Redirect::to("/live"),
    }
}

/// `GET /timeline/{camera}?date=YYYY-MM-DD`: the camera's footage on a
/// zoomable axis in the viewer's time zone. `date` is a day in that zone
/// (the page works it out; without one, today); `t=UNIX_MS` opens the page
/// playing from that moment.
async fn timeline(
    State(hub): State<AppState>,
    v: PageViewer,
    Path(camera): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Response {
    if !crate::config::valid_name(&camera) || hub.recordings.dir(&camera).is_none() {
        return RecError::NotFound("no such camera".into()).into_response();
    }
    let date = match q.date {
        Some(d) if valid_date(&d) => d,
        Some(_) => {
            return RecError::Invalid("date must be YYYY-MM-DD".into()).into_response();
        }
        None => String::new(),
    };
    render(
        TIMELINE_HTML,
        Section::Recordings,
        &v,
        &[
            ("camera", &html_escape(&camera)),
            ("date", &html_escape(&date)),
        ],
    )
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    camera: String,
    start: Option<i64>,
    end: Option<i64>,
}

fn known_camera(hub: &AppState, camera: &str) -> Result<(), RecError> {
    if crate::config::valid_name(camera) && hub.recordings.dir(camera).is_some() {
        Ok(())
    } else {
        Err(RecError::NotFound("no such camera".into()))
    }
}

/// `GET /api/recordings?camera=NAME&start=MS&end=MS`.
async fn list_json(
    State(hub): State<AppState>,
    _v: Viewer,
    Query(q): Query<RangeQuery>,
) -> Response {
    if let Err(e) = known_camera(&hub, &q.camera) {
        return e.into_response();
    }
    let (start, end) = (
        q.start.unwrap_or(i64::MIN / 2),
        q.end.unwrap_or(i64::MAX / 2),
    );
    let cam = q.camera.clone();
    match hub
        .recordings
        .db
        .call(move |c| {
            Ok((
                index::range(c, &cam, start, end)?,
                index::stored_range(c, &cam, start, end)?,
            ))
        })
        .await
    {
        Ok((segs, stored)) => axum::Json(SegmentList {
            camera: q.camera,
            segments: segs
                .iter()
                .map(|s| SegmentJson {
                    stored: Some(
                        stored
                            .get(&s.file_name)
                            .map_or("local", index::Stored::place),
                    ),
                    ..SegmentJson::from(s)
                })
                .collect(),
        })
        .into_response(),
        Err(e) => RecError::from(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CameraQuery {
    camera: String,
}

/// `GET /api/recordings/days?camera=NAME`.
async fn days_json(
    State(hub): State<AppState>,
    _v: Viewer,
    Query(q): Query<CameraQuery>,
) -> Response {
    if let Err(e) = known_camera(&hub, &q.camera) {
        return e.into_response();
    }
    let cam = q.camera.clone();
    match hub.recordings.db.call(move |c| index::days(c, &cam)).await {
        Ok(days) => axum::Json(DayList {
            camera: q.camera,
            days: days
                .into_iter()
                .map(|(date, segments)| DayJson { date, segments })
                .collect(),
        })
        .into_response(),
        Err(e) => RecError::from(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct ExportQuery {
    camera: String,
    start: i64,
    end: i64,
}

/// `GET /api/recordings/export?camera=NAME&start=MS&end=MS`: one MP4.
async fn export_mp4(
    State(hub): State<AppState>,
    _v: Viewer,
    Query(q): Query<ExportQuery>,
) -> Response {
    if let Err(e) = known_camera(&hub, &q.camera) {
        return e.into_response();
    }
    export_response(&hub, &q.camera, q.start, q.end).await
}

/// The footage of `camera` over `[start, end)` as one MP4 download (an export, or an
/// event's clip).
pub(super) async fn export_response(
    hub: &AppState,
    camera: &str,
    start: i64,
    end: i64,
) -> Response {
    let rec = hub.recordings.clone();
    let cam = camera.to_owned();
    let plan = match blocking(move || export::plan(&rec, &cam, start, end)).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let len = plan.len();
    let rec = hub.recordings.clone();
    let body = blocking_body(move |send| export::write(&rec, plan, send));
    let filename = format!("{camera}_{start}_{end}.mp4");
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `GET /api/recordings/storage`: what the recordings take and how long they last, over
/// all cameras under the global limits, and per camera under its own.
#[derive(Debug, Serialize)]
struct StorageJson {
    bytes_free: u64,
    #[serde(flatten)]
    all: ForecastJson,
    cameras: std::collections::BTreeMap<String, ForecastJson>,
}

#[derive(Debug, Serialize)]
struct ForecastJson {
    bytes_used: u64,
    /// Bytes recordings may take under the limits.
    capacity_bytes: u64,
    continuous: ContinuousJson,
    events: EventFootageJson,
}

#[derive(Debug, Serialize)]
struct ContinuousJson {
    /// Days of footage the storage holds at the current rate; null before a segment.
    days: Option<f64>,
    /// `age`, `size` or `free_space`: which limit decides.
    limited_by: &'static str,
    bytes_per_second: Option<f64>,
}

#[derive(Debug, Serialize)]
struct EventFootageJson {
    bytes: u64,
    /// Days of footage with events the storage holds; null before any.
    days: Option<f64>,
}

impl From<&crate::recordings::retention::StorageForecast> for ForecastJson {
    fn from(f: &crate::recordings::retention::StorageForecast) -> ForecastJson {
        let c = &f.continuous;
        ForecastJson {
            bytes_used: c.bytes_used,
            capacity_bytes: c.capacity_bytes,
            continuous: ContinuousJson {
                days: c.days_of_footage_possible.filter(|d| d.is_finite()),
                limited_by: match c.limited_by {
                    store::Reason::Age => "age",
                    store::Reason::Size => "size",
                    store::Reason::FreeSpace => "free_space",
                },
                bytes_per_second: c.bitrate_bytes_per_sec,
            },
            events: EventFootageJson {
                bytes: f.events.bytes,
                days: f.events.days_possible.filter(|d| d.is_finite()),
            },
        }
    }
}

async fn storage_json(State(hub): State<AppState>, _v: Viewer) -> Response {
    let rec = hub.recordings.clone();
    let answer = blocking(move || {
        let all = ForecastJson::from(&rec.forecast()?);
        let mut cameras = std::collections::BTreeMap::new();
        for name in rec.camera_names() {
            cameras.insert(
                name.to_owned(),
                ForecastJson::from(&rec.camera_forecast(name)?),
            );
        }
        Ok(StorageJson {
            bytes_free: rec.fs.free_bytes(rec.root()).unwrap_or(0),
            all,
            cameras,
        })
    })
    .await;
    match answer {
        Ok(j) => axum::Json(j).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's bytes: the field names, values and order the pages and agents read.
    #[test]
    fn segment_json_bytes() {
        let seg = Segment {
            camera: "porch".into(),
            file_name: "2026-11-21T07-31-50.123Z.mp4".into(),
            start_ms: 1_795_246_310_123,
            duration_ms: 60_000,
            size_bytes: 1234,
            sha256: "ab".repeat(32),
            codec: "avc1.42C01E".into(),
            width: 640,
            height: 480,
            source: crate::recordings::Source::Upload,
        };
        let text = serde_json::to_string(&SegmentJson::from(&seg)).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"camera":"porch","codec":"avc1.42C01E","duration_ms":60000,"end_ms":1795246370123,"file":"2026-11-21T07-31-50.123Z.mp4","height":480,"name":"porch_2026-11-21T07-31-50.123Z.mp4","sha256":"{}","size_bytes":1234,"source":"upload","start_ms":1795246310123,"url":"/recordings/porch_2026-11-21T07-31-50.123Z.mp4","width":640}}"#,
                "ab".repeat(32)
            )
        );
        let list = SegmentList {
            camera: "porch".into(),
            segments: vec![],
        };
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"camera":"porch","segments":[]}"#
        );
        let days = DayList {
            camera: "porch".into(),
            days: vec![DayJson {
                date: "2026-11-21".into(),
                segments: 3,
            }],
        };
        assert_eq!(
            serde_json::to_string(&days).unwrap(),
            r#"{"camera":"porch","days":[{"date":"2026-11-21","segments":3}]}"#
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), RangeReq::Bytes(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), RangeReq::Bytes(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), RangeReq::Bytes(900, 999));
        assert_eq!(
            parse_range("bytes=990-2000", 1000),
            RangeReq::Bytes(990, 999)
        );
        assert_eq!(parse_range("bytes=1000-", 1000), RangeReq::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), RangeReq::Ignore);
        assert_eq!(parse_range("items=0-1", 1000), RangeReq::Ignore);
        assert!(valid_date("2026-11-21"));
        assert!(!valid_date("2026-02-30"));
        assert!(!valid_date("../../etc"));
    }
}

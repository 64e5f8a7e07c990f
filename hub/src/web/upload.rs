//! Segment upload from agents (store and forward), the hub's side of [`wire::upload`]:
//! `PUT /api/v1/agents/{camera_id}/segments/{name}` and `GET`/`HEAD` of the same
//! URL for how much the hub holds. Authenticated with the camera's agent token in
//! `Authorization: Bearer TOKEN` (never in the URL); no cookies, so the
//! cross-site guard does not concern it. The protocol is documented in README.md.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use wire::upload::{
    Answer, ContentRange, Delivered, Held, OFFSET_HEADER, PartReceived, SEGMENT_ROUTE,
    SHA256_HEADER, UploadStatus,
};

use super::recordings::SegmentJson;
use super::{Access, AppState, Route};
use crate::recordings::RecError;
use crate::recordings::upload::{Begin, UploadState};

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(SEGMENT_ROUTE, Access::AgentToken)
            .get(status)
            .put(put_segment),
    ]
}

/// An answer of the protocol: its status, `Upload-Offset` and JSON body.
fn answer(a: Answer, offset: u64, body: impl Serialize) -> Response {
    let status = StatusCode::from_u16(a.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(OFFSET_HEADER, offset.to_string())],
        axum::Json(body),
    )
        .into_response()
}

/// Refusal of a request without the camera's agent token.
#[derive(Debug)]
pub(super) struct NoToken;

impl IntoResponse for NoToken {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                format!("Bearer realm=\"{}\"", wire::upload::AUTH_REALM),
            )],
            "a valid agent token is required\n",
        )
            .into_response()
    }
}

/// The camera name, if `headers` carry the right token for camera `id`.
pub(super) fn authorize(hub: &AppState, id: &str, headers: &HeaderMap) -> Result<String, NoToken> {
    let id: u32 = id.parse().map_err(|_| NoToken)?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(NoToken)?;
    if token.len() > 1024 {
        return Err(NoToken);
    }
    let cam = hub.cameras.by_id(id).ok_or(NoToken)?;
    if !cam.agent_token_ok(&hub.secret, token).ok_or(NoToken)? {
        tracing::warn!(camera = id, "request with a bad agent token refused");
        return Err(NoToken);
    }
    Ok(cam.name.clone())
}

/// A request for segment `name` of the camera whose agent token it carries: the path's
/// camera id, the `Authorization: Bearer` token and the segment name, checked.
struct AgentSegment {
    camera: String,
    name: String,
}

impl FromRequestParts<AppState> for AgentSegment {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        hub: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path((id, name)) = Path::<(String, String)>::from_request_parts(parts, hub)
            .await
            .map_err(IntoResponse::into_response)?;
        let camera = authorize(hub, &id, &parts.headers).map_err(IntoResponse::into_response)?;
        if store::parse_segment_name(&name).is_none() {
            return Err(RecError::Invalid(format!(
                "{name:?} is not a segment name (YYYY-MM-DDTHH-MM-SS.mmmZ.mp4)"
            ))
            .into_response());
        }
        Ok(AgentSegment { camera, name })
    }
}

/// `GET`/`HEAD`: how much of the segment the hub holds.
async fn status(
    State(hub): State<AppState>,
    AgentSegment { camera, name }: AgentSegment,
) -> Response {
    let rec = hub.recordings.clone();
    let n = name.clone();
    let state = match tokio::task::spawn_blocking(move || rec.upload_state(&camera, &n)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return RecError::Join(e.to_string()).into_response(),
    };
    let (offset, body) = match state {
        UploadState::Complete(seg) => (
            seg.size_bytes,
            UploadStatus {
                name,
                received_bytes: seg.size_bytes,
                sha256: Some(seg.sha256.clone()),
                state: Held::Complete,
                total_bytes: Some(seg.size_bytes),
                segment: Some(SegmentJson::from(&seg)),
            },
        ),
        UploadState::Partial {
            received,
            total,
            sha256,
        } => (
            received,
            UploadStatus {
                name,
                received_bytes: received,
                sha256: Some(sha256),
                state: Held::Partial,
                total_bytes: Some(total),
                segment: None,
            },
        ),
        UploadState::None => (
            0,
            UploadStatus {
                name,
                received_bytes: 0,
                sha256: None,
                state: Held::None,
                total_bytes: None,
                segment: None,
            },
        ),
    };
    let mut r = axum::Json(body).into_response();
    r.headers_mut()
        .insert(OFFSET_HEADER, HeaderValue::from(offset));
    r
}

/// `PUT`: the whole file, or the part `Content-Range` names.
async fn put_segment(
    State(hub): State<AppState>,
    AgentSegment { camera, name }: AgentSegment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(waiting) = headers
        .get(wire::upload::BACKLOG_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        let (h, cam) = (hub.clone(), camera.clone());
        let threshold = hub.cfg.recordings.backlog_warning;
        let done = tokio::task::spawn_blocking(move || {
            crate::health::footage::upload_backlog(&h.events, &cam, waiting, threshold)
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::warn!(camera, error = %e, "upload backlog event not stored");
        }
    }
    // The upload runs as a task of its own: an agent that goes away after its last byte
    // (hyper then drops this request) still has what it sent made durable and, when it
    // is the whole segment, committed; one that goes away earlier ends the body stream.
    let done = tokio::spawn(async move { receive(&hub, camera, name, &headers, body).await });
    match done.await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => RecError::Join(e.to_string()).into_response(),
    }
}

async fn receive(
    hub: &AppState,
    camera: String,
    name: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, RecError> {
    let sha256 = headers
        .get(SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(wire::upload::parse_sha256)
        .ok_or_else(|| RecError::Invalid("X-Content-SHA256 (64 hex digits) is required".into()))?;
    let content_length = match headers.get(header::CONTENT_LENGTH) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| RecError::Invalid("bad Content-Length".into()))?,
        ),
        None => None,
    };
    let range = match headers.get(header::CONTENT_RANGE) {
        Some(v) => {
            let r = v
                .to_str()
                .ok()
                .and_then(ContentRange::parse)
                .ok_or_else(|| {
                    RecError::Invalid("Content-Range must be `bytes START-END/TOTAL`".into())
                })?;
            if content_length.is_some_and(|l| l != r.len()) {
                return Err(RecError::Invalid(
                    "Content-Length does not match Content-Range".into(),
                ));
            }
            r
        }
        None => match content_length {
            Some(0) | None => {
                return Err(RecError::Invalid(
                    "a non-empty body with Content-Length (or Content-Range) is required".into(),
                ));
            }
            Some(len) => ContentRange::whole(len)
                .ok_or_else(|| RecError::Invalid("a non-empty body is required".into()))?,
        },
    };
    let rec = hub.recordings.clone();
    let (c, n, s) = (camera.clone(), name.clone(), sha256.clone());
    let begin = tokio::task::spawn_blocking(move || rec.begin_upload(&c, &n, &s, range))
        .await
        .map_err(|e| RecError::Join(e.to_string()))??;
    let (data, offset, claim) = match begin {
        Begin::AlreadyHave(seg) => {
            return Ok(answer(
                Answer::AlreadyHad,
                seg.size_bytes,
                Delivered {
                    segment: SegmentJson::from(&seg),
                    status: "already have it".into(),
                },
            ));
        }
        Begin::Write {
            data,
            offset,
            claim,
        } => (data, offset, claim),
        Begin::AllStaged { claim } => {
            tracing::info!(
                camera,
                segment = name,
                "committing an upload that was fully staged"
            );
            return commit(hub, camera, name, sha256, claim).await;
        }
    };
    // Stream the body to the staging file; never more than the range announced.
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .await
        .map_err(|e| RecError::io("open", &data, e))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| RecError::io("seek", &data, e))?;
    let want = range.len();
    let mut got: u64 = 0;
    let mut stream = body.into_data_stream();
    let mut broken = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                broken = Some(e.to_string());
                break;
            }
        };
        if got + chunk.len() as u64 > want {
            // Drop this request's bytes: the staged file is as it was before it.
            let _ = file.set_len(offset).await;
            return Err(RecError::Invalid(
                "the body is longer than Content-Length/Content-Range".into(),
            ));
        }
        // Flushed per chunk so that a write error belongs to this chunk: tokio reports a
        // failed background write only at the next operation.
        if let Err(e) = write_flushed(&mut file, &chunk).await {
            if e.kind() != std::io::ErrorKind::StorageFull {
                return Err(RecError::io("write", &data, e));
            }
            // A full disk: cut the file back to the chunks that were written whole, make
            // room (as the recorder does: retention, else the camera's oldest segment) and
            // write the chunk once more. Still full: 507; agents retry later from what
            // the hub holds.
            let at = offset + got;
            truncate_to(&mut file, at, &data).await?;
            let (rec, c) = (hub.recordings.clone(), camera.clone());
            let freed = tokio::task::spawn_blocking(move || rec.make_room(&c))
                .await
                .map_err(|e| RecError::Join(e.to_string()))??;
            tracing::warn!(
                camera,
                freed,
                "disk full while receiving an upload; made room"
            );
            if let Err(e) = write_flushed(&mut file, &chunk).await {
                truncate_to(&mut file, at, &data).await?;
                return Err(RecError::io("write", &data, e));
            }
        }
        got += chunk.len() as u64;
    }
    file.flush()
        .await
        .map_err(|e| RecError::io("write", &data, e))?;
    file.sync_data()
        .await
        .map_err(|e| RecError::io("fdatasync", &data, e))?;
    drop(file);
    let held = offset + got;
    if let Some(why) = broken {
        tracing::info!(camera, segment = name, held, "upload interrupted: {why}");
        return Err(RecError::Invalid(format!(
            "body interrupted after {held} bytes: {why}"
        )));
    }
    if held < range.total {
        let a = if got < want {
            Answer::BadRequest
        } else {
            Answer::PartStored
        };
        return Ok(answer(
            a,
            held,
            PartReceived {
                received_bytes: held,
                status: "partial".into(),
                total_bytes: range.total,
            },
        ));
    }
    commit(hub, camera, name, sha256, claim).await
}

async fn write_flushed(file: &mut tokio::fs::File, chunk: &[u8]) -> std::io::Result<()> {
    file.write_all(chunk).await?;
    file.flush().await
}

/// Cuts the staging file back to `len` (never longer than it is) and puts the
/// position there.
async fn truncate_to(
    file: &mut tokio::fs::File,
    len: u64,
    data: &std::path::Path,
) -> Result<(), RecError> {
    let now = file
        .metadata()
        .await
        .map_err(|e| RecError::io("stat", data, e))?
        .len();
    file.set_len(len.min(now))
        .await
        .map_err(|e| RecError::io("truncate", data, e))?;
    file.seek(std::io::SeekFrom::Start(len.min(now)))
        .await
        .map_err(|e| RecError::io("seek", data, e))?;
    Ok(())
}

/// Check and commit a fully received upload, then apply retention.
async fn commit(
    hub: &AppState,
    camera: String,
    name: String,
    sha256: String,
    claim: crate::recordings::UploadClaim,
) -> Result<Response, RecError> {
    let rec = hub.recordings.clone();
    let seg = tokio::task::spawn_blocking(move || {
        let seg = rec.finish_upload(&camera, &name, &sha256);
        drop(claim);
        if seg.is_ok()
            && let Err(e) = rec.enforce_retention()
        {
            tracing::warn!(error = %e, "retention after an upload failed");
        }
        seg
    })
    .await
    .map_err(|e| RecError::Join(e.to_string()))??;
    tracing::info!(
        camera = seg.camera,
        segment = seg.file_name,
        size_bytes = seg.size_bytes,
        "segment uploaded"
    );
    Ok(answer(
        Answer::Stored,
        seg.size_bytes,
        Delivered {
            segment: SegmentJson::from(&seg),
            status: "stored".into(),
        },
    ))
}

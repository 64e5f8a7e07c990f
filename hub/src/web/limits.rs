//! Bounds on what a client may make the hub hold while it receives: every request body
//! must keep arriving (a longest pause and a slowest average rate), is limited by route,
//! and counts against one memory budget shared with websocket messages ([`Budget`];
//! websockets take from it in [`super::ws`]).
//!
//! Routes and their body limits ([`body_policy`]):
//! - agent segment uploads: no limit here (the handler authenticates the agent token
//!   before reading, bounds the body by the announced range and streams it to disk);
//!   only the chunk being written counts against the budget;
//! - `/camera/update-image` (the seed API, whose form carries the token after the image):
//!   one frame, `max_frame_size` + 64 KiB, counted whole against the budget;
//! - every other route (login, logout, forms, JSON): [`SMALL_BODY`].
//!
//! A request past its limit gets 413, one too slow 408, one the budget cannot hold 503;
//! each closes its connection (the rest of the body is not read).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::AppState;

/// The body limit of every route that takes no upload: enough for the login form and
/// the small JSON bodies the pages send.
pub const SMALL_BODY: u64 = 16 * 1024;

/// Bytes being received (request bodies, websocket messages), all connections together.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Semaphore>);

impl Budget {
    pub fn new(bytes: u64) -> Budget {
        let n = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Budget(Arc::new(Semaphore::new(n)))
    }

    /// `n` bytes of the budget, held until the permit is dropped; `None` when spent.
    pub fn take(&self, n: u64) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        Arc::clone(&self.0).try_acquire_many_owned(n).ok()
    }

    /// Bytes left.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// How a route's request bodies are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    /// Most bytes a body may have (`None`: the handler bounds it).
    pub limit: Option<u64>,
    /// The handler keeps the whole body in memory (else it streams it chunk by chunk).
    pub buffered: bool,
}

/// The body bounds of a request to `path` (see the module documentation).
pub fn body_policy(method: &Method, path: &str, max_frame_size: u64) -> BodyPolicy {
    if method == Method::PUT && path.starts_with("/api/v1/agents/") {
        return BodyPolicy {
            limit: None,
            buffered: false,
        };
    }
    if method == Method::POST && path.eq_ignore_ascii_case("/camera/update-image") {
        return BodyPolicy {
            limit: Some(max_frame_size + 64 * 1024),
            buffered: true,
        };
    }
    BodyPolicy {
        limit: Some(SMALL_BODY),
        buffered: true,
    }
}

/// Why a body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    TooLarge,
    TooSlow,
    NoMemory,
}

impl Cut {
    fn response(self) -> Response {
        let (status, msg) = match self {
            Cut::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large for this route\n",
            ),
            Cut::TooSlow => (StatusCode::REQUEST_TIMEOUT, "request body too slow\n"),
            Cut::NoMemory => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the hub is receiving too much at once; try again later\n",
            ),
        };
        let mut r = (status, msg).into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    }
}

/// The middleware: bounds the request body of every route as [`body_policy`] says.
pub async fn body_guard(State(web): State<AppState>, req: Request, next: Next) -> Response {
    let c = &web.cfg.connections;
    let policy = body_policy(req.method(), req.uri().path(), web.cfg.max_frame_size.0);
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if let (Some(limit), Some(len)) = (policy.limit, announced)
        && len > limit
    {
        return Cut::TooLarge.response();
    }
    let cut = Arc::new(OnceLock::new());
    let (parts, body) = req.into_parts();
    let timeout = c.body_timeout.as_duration();
    let now = Instant::now();
    let guarded = Guarded {
        inner: body.into_data_stream(),
        policy,
        received: 0,
        held: None,
        budget: web.budget.clone(),
        timeout,
        min_rate: c.min_body_rate.0.max(1),
        start: now,
        sleep: Box::pin(tokio::time::sleep_until(now + timeout)),
        cut: Arc::clone(&cut),
    };
    let resp = next
        .run(Request::from_parts(parts, Body::from_stream(guarded)))
        .await;
    match cut.get() {
        Some(why) => {
            tracing::debug!(reason = ?why, "request body cut off");
            why.response()
        }
        None => resp,
    }
}

/// A request body under its route's bounds.
struct Guarded {
    inner: axum::body::BodyDataStream,
    policy: BodyPolicy,
    received: u64,
    /// The budget this body holds: everything so far if it is buffered, else the
    /// last chunk.
    held: Option<OwnedSemaphorePermit>,
    budget: Budget,
    timeout: Duration,
    /// Bytes per second.
    min_rate: u64,
    start: Instant,
    sleep: Pin<Box<Sleep>>,
    cut: Arc<OnceLock<Cut>>,
}

impl Guarded {
    fn fail(&mut self, why: Cut) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let _ = self.cut.set(why);
        self.held = None;
        Poll::Ready(Some(Err(std::io::Error::other(format!("{why:?}")))))
    }

    /// When the body must have sent more: a pause of at most `timeout`, and, after
    /// the first `timeout`, an average of `min_rate`.
    fn deadline(&self) -> Instant {
        let by_rate = self.start
            + self.timeout
            + Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        by_rate.min(Instant::now() + self.timeout)
    }
}

impl Stream for Guarded {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.cut.get().is_some() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let n = chunk.len() as u64;
                this.received = this.received.saturating_add(n);
                if this.policy.limit.is_some_and(|l| this.received > l) {
                    return this.fail(Cut::TooLarge);
                }
                if !this.policy.buffered {
                    this.held = None;
                }
                let Some(permit) = this.budget.take(n) else {
                    return this.fail(Cut::NoMemory);
                };
                match &mut this.held {
                    Some(h) => h.merge(permit),
                    None => this.held = Some(permit),
                }
                let d = this.deadline();
                this.sleep.as_mut().reset(d);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => {
                this.held = None;
                Poll::Ready(None)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => this.fail(Cut::TooSlow),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_and_the_seed_image_post_take_large_bodies() {
        let small = BodyPolicy {
            limit: Some(SMALL_BODY),
            buffered: true,
        };
        assert_eq!(body_policy(&Method::POST, "/login", 1 << 20), small);
        assert_eq!(body_policy(&Method::PUT, "/login", 1 << 20), small);
        assert_eq!(
            body_policy(&Method::POST, "/api/v1/agents/1", 1 << 20),
            small
        );
        assert_eq!(
            body_policy(&Method::PUT, "/api/v1/agents/1/segments/x.mp4", 1 << 20),
            BodyPolicy {
                limit: None,
                buffered: false
            }
        );
        assert_eq!(
            body_policy(&Method::POST, "/camera/update-image", 1 << 20).limit,
            Some((1 << 20) + 64 * 1024)
        );
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let b = Budget::new(100);
        let a = b.take(60).unwrap();
        assert!(b.take(41).is_none());
        let c = b.take(40).unwrap();
        assert_eq!(b.available(), 0);
        drop(a);
        drop(c);
        assert_eq!(b.available(), 100);
        assert!(b.take(u64::MAX).is_none());
    }
}

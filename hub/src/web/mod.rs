//! The hub's HTTP surface on one port: the route table, shared state, the
//! authentication extractors and the cross-site checks. Handlers live in the
//! submodules, grouped by the API family they keep compatible.

mod ingest;
mod live;
mod mjpeg;
mod pages;
mod proxy_api;
pub mod recordings;
mod seed_api;
pub mod upload;
pub mod video;
mod viewer_ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, session_from_cookie_header};
use crate::camera::Registry;
use crate::config::Config;
use crate::db::User;

/// Everything a request handler may need.
pub struct Hub {
    pub cfg: Config,
    pub cameras: Registry,
    pub auth: Auth,
    /// The secret agent tokens derive from.
    pub secret: Vec<u8>,
    /// Cancelled when the hub shuts down; long-lived responses end with it.
    pub shutdown: CancellationToken,
    /// True when served over TLS (cookies get `Secure`).
    pub tls: bool,
    /// Recorded segments: files, index, retention.
    pub recordings: Arc<crate::recordings::Recordings>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

pub type AppState = Arc<Hub>;

/// The route table: every URL the hub answers, in one place.
pub fn router(hub: AppState) -> Router {
    Router::new()
        // Pages and login (people).
        .route("/", get(pages::root))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/live", get(pages::live_grid))
        .route("/live/{name}", get(pages::live_camera))
        .route("/assets/{file}", get(pages::asset))
        // JSON API behind the pages.
        .route("/api/cameras", get(live::cameras_json))
        .route("/api/me", get(live::me_json))
        // Seed camera-server API and websockets.
        .route("/video-input-stream", get(ingest::upgrade))
        .route("/video-output-stream", get(viewer_ws::upgrade))
        .route("/camera/hello", get(seed_api::hello))
        .route("/camera/list", get(seed_api::list))
        .route("/camera/get-image", get(seed_api::get_image))
        .route("/camera/stream-image", get(seed_api::stream_image))
        .route("/camera/update-image", post(seed_api::update_image))
        // camera_proxy API.
        .route("/api/v1/cameras/{name}", get(proxy_api::snapshot))
        .route("/api/v1/cameras/{name}/stream", get(proxy_api::stream))
        // Pi-Cam live stream (the first camera).
        .route("/stream.mjpg", get(proxy_api::picam_stream))
        // Encoded live video: MSE websocket, HLS, camera status.
        .merge(video::routes())
        // Recordings: Pi-Cam pages, timeline, JSON API, export, agent uploads.
        .merge(recordings::routes())
        .layer(middleware::from_fn_with_state(
            hub.clone(),
            cross_site_guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            hub.cfg.max_frame_size.0 as usize + 64 * 1024,
        ))
        .with_state(hub)
}

/// The `Origin` of a request is ours when its host:port is the `Host`
/// header or it is listed in `allowed_origins`.
pub fn origin_allowed(hub: &Hub, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true; // not a browser, or a same-origin GET: nothing to check
    };
    if hub.cfg.allowed_origins.iter().any(|o| o == origin) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// Refuse state-changing requests from other sites (CSRF): a POST whose
/// `Origin` (or, lacking one, `Referer`) is not this hub gets 403.
async fn cross_site_guard(State(hub): State<AppState>, req: Request, next: Next) -> Response {
    let m = req.method();
    if m != Method::GET && m != Method::HEAD && m != Method::OPTIONS {
        let headers = req.headers();
        let ok = if headers.contains_key(header::ORIGIN) {
            origin_allowed(&hub, headers)
        } else if let Some(referer) = headers.get(header::REFERER).and_then(|v| v.to_str().ok()) {
            let origin: String = referer.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
            let mut h = headers.clone();
            if let Ok(v) = origin.parse() {
                h.insert(header::ORIGIN, v);
            }
            origin_allowed(&hub, &h)
        } else {
            true
        };
        if !ok {
            tracing::warn!(method = %m, path = %req.uri().path(), "cross-site request refused");
            return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
        }
    }
    next.run(req).await
}

/// The client's address, from the connection.
pub fn client_ip(parts: &Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

/// Who is viewing: a user (session cookie or HTTP Basic), or nobody when
/// anonymous viewing is switched on.
#[derive(Debug, Clone)]
pub struct Viewer(pub Option<User>);

async fn authenticate(parts: &Parts, hub: &Hub) -> Option<User> {
    if let Some(sid) = parts
        .headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_from_cookie_header)
        && let Some(u) = hub.auth.session_user(sid).await
    {
        return Some(u);
    }
    if let Some(h) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return hub.auth.basic(h, client_ip(parts)).await;
    }
    None
}

/// Rejection for API routes: 401 with a Basic challenge, so tools (VLC,
/// ffmpeg, Home Assistant) know to send credentials.
#[derive(Debug)]
pub struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"camera hub\", charset=\"UTF-8\"",
            )],
            "authentication required\n",
        )
            .into_response()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Unauthorized;
    async fn from_request_parts(
        parts: &mut Parts,
        hub: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match authenticate(parts, hub).await {
            Some(u) => Ok(Viewer(Some(u))),
            None if hub.cfg.allow_anonymous_viewing => Ok(Viewer(None)),
            None => Err(Unauthorized),
        }
    }
}

/// A logged-in person on a page; others are sent to the login page.
#[derive(Debug, Clone)]
pub struct PageViewer(pub Option<User>);

impl FromRequestParts<AppState> for PageViewer {
    type Rejection = Redirect;
    async fn from_request_parts(
        parts: &mut Parts,
        hub: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match authenticate(parts, hub).await {
            Some(u) => Ok(PageViewer(Some(u))),
            None if hub.cfg.allow_anonymous_viewing => Ok(PageViewer(None)),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(Redirect::to(&format!(
                    "/login?next={}",
                    pages::url_encode(next)
                )))
            }
        }
    }
}

/// A JSON `{"message": ...}` body, as the seed API's errors are.
pub fn message(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "message": msg.into() })),
    )
        .into_response()
}

/// How long a websocket peer may stay silent before it is dropped.
pub const WS_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new websocket peer has to send its hello.
pub const WS_HELLO_TIMEOUT: Duration = Duration::from_secs(10);

//! The hub's HTTP surface on one port: the route table, the web layer's state
//! ([`WebState`]: the hub plus what only viewers need), the authentication extractors and
//! the cross-site checks. Handlers live in the submodules, grouped by the API family they
//! keep compatible; their JSON types are theirs, separate from the domain types.

mod agent_events;
mod agent_status;
pub mod events;
mod ingest;
pub mod limits;
mod live;
mod metrics;
mod mjpeg;
pub mod offsite;
mod overview;
mod pages;
mod proxy_api;
pub mod recordings;
mod seed_api;
pub mod status;
pub mod upload;
pub mod video;
mod viewer_ws;
pub mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, Method, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;
use tokio_util::task::TaskTracker;

use crate::app::Hub;
use crate::auth::session_from_cookie_header;
use crate::db::User;

/// What the HTTP layer serves from: the hub, and the state only viewers need (the HLS
/// windows), kept here rather than in the cameras and feeds. Derefs to
/// the [`Hub`].
pub struct WebState {
    pub hub: Arc<Hub>,
    /// Where the MJPEG bodies learn of the shutdown.
    mjpeg_stop: crate::stop::StopSource,
    /// Each video camera's HLS window, by camera name.
    hls: HashMap<String, Arc<video::hls::HlsStore>>,
    /// The CORS policy for `cors_origins`.
    cors: tower_http::cors::CorsLayer,
    /// Memory for request bodies and websocket messages being received.
    pub budget: limits::Budget,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState").finish_non_exhaustive()
    }
}

impl std::ops::Deref for WebState {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}

impl WebState {
    /// The web layer of `hub`, with the HLS packager of every camera with video running
    /// on `tracker` until the hub shuts down.
    pub fn start(hub: Arc<Hub>, tracker: &TaskTracker) -> AppState {
        let mut hls = HashMap::new();
        for cam in hub.cameras.iter() {
            if let Some(feed) = &cam.video {
                let store = Arc::new(video::hls::HlsStore::default());
                tracker.spawn(video::hls::run(
                    Arc::clone(feed),
                    Arc::clone(&store),
                    cam.name.clone(),
                    hub.shutdown.clone(),
                ));
                hls.insert(cam.name.clone(), store);
            }
        }
        let cors = cors_layer(&hub.cfg.cors_origins);
        let budget = limits::Budget::new(hub.cfg.connections.memory_budget.0);
        Arc::new(WebState {
            mjpeg_stop: crate::stop::StopSource::new(hub.shutdown.clone()),
            hub,
            hls,
            cors,
            budget,
        })
    }
}

pub type AppState = Arc<WebState>;

/// Who may use a route. Tests read this from [`routes`] (every route without
/// credentials, every state-changing route from another site, every file route
/// with a traversal corpus), so a new route cannot escape them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the login page, static assets, redirects to other routes.
    Public,
    /// A logged-in person (session or Basic); others are redirected to `/login`.
    Page,
    /// A session or Basic credentials; others get 401 with a Basic challenge.
    Viewer,
    /// A camera's agent token: in the first websocket message, the form, or
    /// `Authorization: Bearer`. Without a valid one nothing is stored.
    AgentToken,
    /// The seed viewer websocket: a session, or an API token in its hello.
    ViewerToken,
    /// Prometheus: the `[metrics]` bearer token or a user's credentials; others get 401
    /// with a Basic challenge, even with anonymous viewing on.
    Metrics,
}

/// One entry of the route table: a path, its methods and who may use them.
pub struct Route {
    pub path: &'static str,
    pub methods: Vec<Method>,
    pub access: Access,
    /// The route upgrades to a websocket (its `Origin` is checked).
    pub websocket: bool,
    /// Query parameters that name a file, camera or segment.
    pub query: &'static [&'static str],
    handler: MethodRouter<AppState>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("methods", &self.methods)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl Route {
    pub(crate) fn new(path: &'static str, access: Access) -> Route {
        Route {
            path,
            methods: Vec::new(),
            access,
            websocket: false,
            query: &[],
            handler: MethodRouter::new(),
        }
    }

    pub(crate) fn get<H: Handler<T, AppState>, T: 'static>(mut self, h: H) -> Route {
        self.methods.push(Method::GET);
        self.handler = self.handler.get(h);
        self
    }

    pub(crate) fn post<H: Handler<T, AppState>, T: 'static>(mut self, h: H) -> Route {
        self.methods.push(Method::POST);
        self.handler = self.handler.post(h);
        self
    }

    pub(crate) fn put<H: Handler<T, AppState>, T: 'static>(mut self, h: H) -> Route {
        self.methods.push(Method::PUT);
        self.handler = self.handler.put(h);
        self
    }

    /// A websocket upgrade (`GET`).
    pub(crate) fn websocket<H: Handler<T, AppState>, T: 'static>(self, h: H) -> Route {
        let mut r = self.get(h);
        r.websocket = true;
        r
    }

    pub(crate) fn query(mut self, names: &'static [&'static str]) -> Route {
        self.query = names;
        self
    }
}

/// The route table: every URL the hub answers, in one place.
pub fn routes() -> Vec<Route> {
    use Access::*;
    let mut v = vec![
        // Pages and login (people).
        Route::new("/", Public).get(pages::root),
        // Pi-Cam's live page was /index.html: bookmarks of it lead to ours.
        Route::new("/index.html", Public).get(pages::root),
        Route::new("/login", Public)
            .get(pages::login_form)
            .post(pages::login_submit),
        Route::new("/logout", Public).post(pages::logout),
        Route::new("/live", Page).get(pages::live_grid),
        Route::new("/live/{name}", Page).get(pages::live_camera),
        Route::new("/events", Page).get(pages::events_page),
        Route::new("/status", Page).get(pages::status_page),
        Route::new("/account", Page).get(pages::account_page),
        Route::new("/account/sign-out-everywhere", Page).post(pages::sign_out_everywhere),
        Route::new("/assets/{file}", Public).get(pages::asset),
        // JSON API behind the pages.
        Route::new("/api/cameras", Viewer).get(live::cameras_json),
        Route::new("/api/me", Viewer).get(live::me_json),
        Route::new("/api/offsite", Viewer).get(offsite::offsite_json),
        // Seed camera-server API and websockets.
        Route::new("/video-input-stream", AgentToken).websocket(ingest::upgrade),
        Route::new("/video-output-stream", ViewerToken).websocket(viewer_ws::upgrade),
        Route::new("/camera/hello", Viewer).get(seed_api::hello),
        Route::new("/camera/list", Viewer).get(seed_api::list),
        Route::new("/camera/get-image", Viewer)
            .get(seed_api::get_image)
            .query(&["cameraId"]),
        Route::new("/camera/stream-image", Viewer)
            .get(seed_api::stream_image)
            .query(&["cameraId"]),
        Route::new("/camera/update-image", AgentToken).post(seed_api::update_image),
        // camera_proxy API.
        Route::new("/api/v1/cameras/{name}", Viewer).get(proxy_api::snapshot),
        Route::new("/api/v1/cameras/{name}/stream", Viewer).get(proxy_api::stream),
        // Pi-Cam live stream (the first camera).
        Route::new("/stream.mjpg", Viewer).get(proxy_api::picam_stream),
    ];
    // Encoded live video: MSE websocket, HLS, camera status.
    v.extend(video::routes());
    // Recordings: Pi-Cam pages, timeline, JSON API, export.
    v.extend(recordings::routes());
    // Events: list, thumbnails, clips, live push.
    v.extend(events::routes());
    // Agents' segment uploads and events.
    v.extend(upload::routes());
    v.extend(agent_events::routes());
    // Prometheus metrics.
    v.extend(metrics::routes());
    // Agents' health reports, and the status page's table.
    v.extend(agent_status::routes());
    v.extend(overview::routes());
    v
}

/// The router built from [`routes`], with the cross-site guard and the body bounds
/// ([`limits::body_guard`], which replaces axum's fixed body limit).
pub fn router(hub: AppState) -> Router {
    let mut r = Router::new();
    for route in routes() {
        r = r.route(route.path, route.handler);
    }
    r.layer(middleware::from_fn_with_state(
        hub.clone(),
        limits::body_guard,
    ))
    .layer(middleware::from_fn_with_state(
        hub.clone(),
        cross_site_guard,
    ))
    .layer(axum::extract::DefaultBodyLimit::disable())
    .layer(middleware::from_fn_with_state(hub.clone(), cors))
    .with_state(hub)
}

/// CORS for the origins in `cors_origins` (tower-http's `CorsLayer`): their preflights
/// are answered and their responses carry `Access-Control-Allow-Origin` and
/// `-Credentials`. A request from any other origin passes by untouched, so it gets no
/// CORS header at all (and a preflight from it no answer of CORS).
async fn cors(State(hub): State<AppState>, req: Request, next: Next) -> Response {
    use tower::{Layer, ServiceExt};
    let listed = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| hub.cfg.cors_origins.iter().any(|c| c == o));
    if !listed {
        return next.run(req).await;
    }
    match hub.cors.layer(next).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// The CORS policy of `cors_origins` (only applied to requests from them).
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};
    let origins: Vec<header::HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(ExposeHeaders::list([
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::ACCEPT_RANGES,
            header::HeaderName::from_static("upload-offset"),
        ]))
        .max_age(std::time::Duration::from_secs(600))
}

/// The `Origin` of a request is ours when it is the scheme this hub serves (`https`
/// under TLS, else `http`) with the `Host` header's host:port, or it is listed in
/// `allowed_origins` (a reverse proxy that serves the hub under its own name or over
/// TLS).
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
    let scheme = if hub.tls { "https://" } else { "http://" };
    let origin_host = origin
        .get(..scheme.len())
        .filter(|s| s.eq_ignore_ascii_case(scheme))
        .map(|_| &origin[scheme.len()..]);
    !host.is_empty() && origin_host.is_some_and(|o| o.eq_ignore_ascii_case(host))
}

/// Refuse state-changing requests from other sites (CSRF): a POST whose
/// `Origin` (or, lacking one, `Referer`) is not this hub gets 403.
async fn cross_site_guard(State(hub): State<AppState>, req: Request, next: Next) -> Response {
    let m = req.method();
    if m != Method::GET && m != Method::HEAD && m != Method::OPTIONS {
        let headers = req.headers();
        let ok = if let Some(origin) = headers.get(header::ORIGIN) {
            origin_allowed(&hub, headers)
                || origin
                    .to_str()
                    .is_ok_and(|o| hub.cfg.cors_origins.iter().any(|c| c == o))
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
    #[derive(serde::Serialize)]
    struct Message {
        message: String,
    }
    (
        status,
        axum::Json(Message {
            message: msg.into(),
        }),
    )
        .into_response()
}

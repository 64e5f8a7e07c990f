//! HTML pages: login, the live grid, one camera, and their static assets
//! (compiled into the binary).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AppState, PageViewer};
use crate::auth::{LoginError, SESSION_COOKIE, session_from_cookie_header};

/// Static files served under `/assets/`: (name, MIME type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/common.js"),
    ),
    (
        "events.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/events.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "timeline.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/timeline.js"),
    ),
    (
        "eventlist.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/eventlist.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
    ),
];

const LOGIN_HTML: &str = include_str!("../../assets/login.html");
const LIVE_HTML: &str = include_str!("../../assets/live.html");
const CAMERA_HTML: &str = include_str!("../../assets/camera.html");
const EVENTS_HTML: &str = include_str!("../../assets/events.html");
const STATUS_HTML: &str = include_str!("../../assets/status.html");

/// How much footage before an event's start the pages play and export, and
/// how much after its end an event clip holds (set in `event_store`, where retention
/// keeps the same footage).
pub const EVENT_PRE_ROLL_MS: i64 = crate::event_store::PRE_ROLL_MS;
pub const EVENT_POST_ROLL_MS: i64 = crate::event_store::POST_ROLL_MS;

/// The parts of the site the navigation bar links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Live,
    Recordings,
    Events,
    Status,
}

const NAV: &[(Section, &str, &str)] = &[
    (Section::Live, "/live", "Live"),
    (Section::Recordings, "/timeline", "Recordings"),
    (Section::Events, "/events", "Events"),
    (Section::Status, "/status", "Status"),
];

/// The header every signed-in page shows: the brand, one link per section
/// (the current one marked), the user and a sign-out button.
fn nav_html(current: Section, v: &PageViewer) -> String {
    let mut links = String::new();
    for (section, href, label) in NAV {
        let here = if *section == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        links.push_str(&format!("<a href=\"{href}\"{here}>{label}</a>"));
    }
    format!(
        "<header class=\"top\">\n  <a class=\"brand\" href=\"/live\">Camera hub</a>\n  \
         <nav aria-label=\"Main\">{links}</nav>\n  <div class=\"account\"><span class=\"user\">{}</span>\
         <form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form></div>\n</header>",
        user_label(v)
    )
}

/// Whether the route table serves `path`: the pages offer events only when
/// the hub has them, so they never request a URL it would answer with 404.
fn has_route(path: &str) -> bool {
    static PATHS: OnceLock<Vec<&'static str>> = OnceLock::new();
    PATHS
        .get_or_init(|| super::routes().iter().map(|r| r.path).collect())
        .contains(&path)
}

/// A short digest of every asset, appended to their URLs (`?v=`) so a new
/// build's pages never run an old build's cached scripts.
fn asset_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, _, body) in ASSETS {
            h.update(name.as_bytes());
            h.update(body.as_bytes());
        }
        hex::encode(&h.finalize()[..6])
    })
}

/// A page from its template: `{{head}}` becomes what every page's `<head>`
/// holds (charset, viewport, style sheet, the shared scripts), `{{page_data}}`
/// the `<body>` attributes every page's scripts read (whether the hub serves
/// the events API and its live push, the event pre- and post-roll), `{{nav}}`
/// the navigation bar with `section` marked, `{{v}}` the asset version, then
/// each of `vars` (values already escaped).
pub fn render(template: &str, section: Section, v: &PageViewer, vars: &[(&str, &str)]) -> Response {
    let version = asset_version();
    let flag = |p: &str| if has_route(p) { "1" } else { "0" };
    let head = format!(
        "<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<link rel=\"stylesheet\" href=\"/assets/style.css?v={version}\">\n\
         <script src=\"/assets/common.js?v={version}\" defer></script>\n<script src=\"/assets/events.js?v={version}\" defer></script>"
    );
    let page_data = format!(
        "data-events=\"{}\" data-event-stream=\"{}\" data-pre-roll-ms=\"{EVENT_PRE_ROLL_MS}\" data-post-roll-ms=\"{EVENT_POST_ROLL_MS}\"",
        flag("/api/events"),
        flag("/api/events/stream"),
    );
    let mut html = template
        .replace("{{head}}", &head)
        .replace("{{page_data}}", &page_data)
        .replace("{{nav}}", &nav_html(section, v))
        .replace("{{v}}", version);
    for (k, val) in vars {
        html = html.replace(&format!("{{{{{k}}}}}"), val);
    }
    page(html)
}

/// Escape text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode everything but unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only local paths are allowed as a post-login destination.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/live".to_owned(),
    }
}

pub fn page(html: String) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        Html(html),
    )
        .into_response()
}

pub async fn root() -> Redirect {
    Redirect::to("/live")
}

fn login_page(next: &str, error: Option<&str>) -> Response {
    let err = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", html_escape(e)))
        .unwrap_or_default();
    page(
        LOGIN_HTML
            .replace("{{v}}", asset_version())
            .replace("{{next}}", &html_escape(next))
            .replace("{{error}}", &err),
    )
}

pub async fn login_form(Query(q): Query<HashMap<String, String>>) -> Response {
    login_page(&safe_next(q.get("next").map(String::as_str)), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login_submit(
    State(hub): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    match hub.auth.login(&f.username, &f.password, peer.ip()).await {
        Ok(user) => match hub.auth.create_session(&user).await {
            Ok(sid) => {
                tracing::info!(user = %user.name, "logged in");
                let max_age = hub.auth.session_lifetime.as_secs();
                let secure = if hub.tls { "; Secure" } else { "" };
                let cookie = format!(
                    "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
                );
                let mut r = Redirect::to(&next).into_response();
                r.headers_mut().insert(
                    header::SET_COOKIE,
                    HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
                );
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "could not create a session");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not create a session\n",
                )
                    .into_response()
            }
        },
        Err(LoginError::BadCredentials) => {
            tracing::warn!(user = %f.username, client = %peer.ip(), "failed login");
            let mut r = login_page(&next, Some("Wrong user name or password."));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Err(LoginError::Throttled(wait)) => {
            tracing::warn!(user = %f.username, client = %peer.ip(), "login throttled");
            let mut r = login_page(
                &next,
                Some(&format!(
                    "Too many failed attempts. Try again in {} seconds.",
                    wait.as_secs().max(1)
                )),
            );
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&wait.as_secs().max(1).to_string()).expect("digits"),
            );
            r
        }
    }
}

pub async fn logout(State(hub): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(sid) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_from_cookie_header)
    {
        hub.auth.end_session(sid).await;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hub_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

/// The signed-in user's name for the header ("guest" with anonymous viewing).
pub fn user_label(v: &PageViewer) -> String {
    html_escape(v.0.as_ref().map(|u| u.name.as_str()).unwrap_or("guest"))
}

pub async fn live_grid(v: PageViewer) -> Response {
    render(LIVE_HTML, Section::Live, &v, &[])
}

pub async fn live_camera(
    State(hub): State<AppState>,
    v: PageViewer,
    Path(name): Path<String>,
) -> Response {
    let Some(cam) = hub.cameras.by_name(&name) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<p>No such camera. <a href=\"/live\">All cameras</a></p>"),
        )
            .into_response();
    };
    render(
        CAMERA_HTML,
        Section::Live,
        &v,
        &[
            ("id", &cam.id.to_string()),
            ("name", &html_escape(&cam.name)),
            ("description", &html_escape(&cam.description)),
        ],
    )
}

/// `GET /events`: events per camera and day, with filters (the page reads
/// `camera`, `date`, `kind`, `label` and `zone` from its URL itself).
pub async fn events_page(v: PageViewer) -> Response {
    render(EVENTS_HTML, Section::Events, &v, &[])
}

/// `GET /status`: every camera's health in one table.
pub async fn status_page(v: PageViewer) -> Response {
    render(STATUS_HTML, Section::Status, &v, &[])
}

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

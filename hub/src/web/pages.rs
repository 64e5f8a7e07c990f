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
const ACCOUNT_HTML: &str = include_str!("../../assets/account.html");

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
    /// The signed-in user's own page (reached from their name, not from the sections).
    Account,
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
         <nav aria-label=\"Main\">{links}</nav>\n  <div class=\"account\"><a class=\"user\" href=\"/account\">{}</a>\
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

/// Escape text for HTML element content and attribute values (`&`, `<`, `>`, `"`, `'`).
pub fn html_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
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

/// The post-login destination: `next` if it is a path on this hub, else `/live`.
/// A path starts with one `/` and holds only printable ASCII without `\\`: browsers
/// drop tabs and newlines from a URL (`/\t/evil.example` becomes `//evil.example`,
/// another site), read `\\` as `/`, and a header cannot carry control characters
/// or non-ASCII (percent-encoded ones are fine: they stay in the path).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
                && n.parse::<axum::http::uri::PathAndQuery>().is_ok() =>
        {
            n.to_owned()
        }
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
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match hub.auth.login(&f.username, &f.password, peer.ip()).await {
        Ok(user) => match hub.auth.create_session(&user, peer.ip(), agent).await {
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

/// A time in unix ms as the account page shows it (UTC).
fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// `GET /account`: the signed-in user's sessions, with "sign out everywhere".
pub async fn account_page(
    State(hub): State<AppState>,
    v: PageViewer,
    headers: HeaderMap,
) -> Response {
    let Some(user) = v.0.clone() else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let current = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_from_cookie_header)
        .map(crate::auth::sha256_hex);
    let sessions = match hub.auth.sessions(user.id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not list sessions");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not list sessions\n",
            )
                .into_response();
        }
    };
    let mut rows = String::new();
    for s in &sessions {
        let here = if current.as_deref() == Some(s.id_sha256.as_str()) {
            "this browser"
        } else {
            ""
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{here}</td></tr>\n",
            utc(s.created_ms),
            html_escape(&s.address),
            html_escape(&s.user_agent),
            utc(s.expires_ms),
        ));
    }
    if sessions.is_empty() {
        rows.push_str("<tr><td colspan=\"5\">No sessions (signed in with a password on each request).</td></tr>\n");
    }
    render(
        ACCOUNT_HTML,
        Section::Account,
        &v,
        &[("user", &html_escape(&user.name)), ("rows", &rows)],
    )
}

/// `POST /account/sign-out-everywhere`: ends every session of the signed-in user.
pub async fn sign_out_everywhere(State(hub): State<AppState>, v: PageViewer) -> Response {
    if let Some(user) = &v.0 {
        match hub.auth.end_all_sessions(user.id).await {
            Ok(n) => tracing::info!(user = %user.name, sessions = n, "signed out everywhere"),
            Err(e) => {
                tracing::error!(error = %e, "could not end sessions");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not end sessions\n",
                )
                    .into_response();
            }
        }
    }
    signed_out()
}

/// To the login page, with the session cookie cleared.
fn signed_out() -> Response {
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hub_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

pub async fn logout(State(hub): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(sid) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_from_cookie_header)
    {
        hub.auth.end_session(sid).await;
    }
    signed_out()
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_post_login_destinations() {
        for good in [
            "/live",
            "/timeline?camera=a&day=2026-01-02",
            "/live/cam%20one",
            "/",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "//evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\n/evil.example/",
            "/\\evil.example/",
            "\\/evil.example/",
            "https://evil.example/",
            "evil.example",
            "/ /evil",
            "/caf\u{e9}",
            "/\u{3000}/evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/live", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/live");
    }
}

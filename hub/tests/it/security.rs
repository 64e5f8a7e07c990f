//! The route table against requests without credentials, from other sites and
//! with path traversal: every route the hub answers comes from
//! `hub::web::routes()`, so a new route is covered the day it is added.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{PASSWORD, SECRET, TestHub, USER};
use axum::http::Method;
use futures_util::{SinkExt, StreamExt};
use hub::web::{Access, Route, routes};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "pattern"
kind = "demo"
width = 160
height = 120
fps = 5

[[camera]]
id = 2
name = "porch"
kind = "agent"
"#;

/// Methods tried on every route (those it does not list must not succeed).
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

/// A harmless value for each path parameter, so the request reaches its handler.
fn fill(path: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').unwrap() + i;
        out.push_str(&value(&rest[i + 1..j]));
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

fn ordinary(param: &str) -> String {
    match param {
        "name" | "camera" => "pattern".into(),
        "camera_id" => "2".into(),
        "file" => "app.js".into(),
        _ => "x".into(),
    }
}

fn url_of(h: &TestHub, r: &Route) -> String {
    let mut p = fill(r.path, ordinary);
    for (i, q) in r.query.iter().enumerate() {
        p.push(if i == 0 { '?' } else { '&' });
        p.push_str(&format!(
            "{q}={}",
            if *q == "cameraId" { "1" } else { "pattern" }
        ));
    }
    h.url(&p)
}

async fn login(h: &TestHub) -> String {
    let r = h
        .client()
        .post(h.url("/login"))
        .form(&[("username", USER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

fn check_cookies(r: &reqwest::Response, what: &str) {
    for c in r.headers().get_all("set-cookie") {
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly"), "{what}: {c}");
        assert!(c.contains("SameSite=Strict"), "{what}: {c}");
    }
}

#[tokio::test]
async fn only_public_routes_answer_without_credentials() {
    let h = TestHub::start(CONFIG).await;
    let c = h.client();
    let table = routes();
    // Adding a public route must be a decision, made here.
    let public: BTreeSet<&str> = table
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| r.path)
        .collect();
    assert_eq!(
        public,
        BTreeSet::from([
            "/",
            "/assets/{file}",
            "/index.html",
            "/login",
            "/logout",
            "/recordings"
        ]),
    );
    let mut checked = 0;
    for r in &table {
        let url = url_of(&h, r);
        for m in METHODS {
            let what = format!("{m} {}", r.path);
            let resp = c.request(m.clone(), &url).send().await.unwrap();
            check_cookies(&resp, &what);
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default();
            checked += 1;
            if !r.methods.contains(&m) {
                assert!(
                    status == 405 || status == 401 || status == 404,
                    "{what} is not routed, yet answered {status}"
                );
                continue;
            }
            match r.access {
                Access::Public => assert!(status < 500, "{what}: {status}"),
                Access::Page => {
                    assert_eq!(status, 303, "{what}");
                    assert!(location.starts_with("/login?next="), "{what}: {location}");
                }
                Access::Viewer | Access::Metrics => {
                    assert_eq!(status, 401, "{what}");
                    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
                    assert!(challenge.starts_with("Basic"), "{what}");
                }
                Access::AgentToken | Access::ViewerToken if r.websocket => {
                    // Not a websocket handshake: refused before any handler state.
                    assert!((400..500).contains(&status), "{what}: {status}");
                }
                Access::AgentToken => {
                    assert!(
                        status == 401 || status == 400,
                        "{what} without an agent token: {status}"
                    );
                }
                Access::ViewerToken => unreachable!("only websockets take viewer tokens"),
            }
        }
        if r.websocket {
            websocket_without_credentials(&h, r).await;
        }
    }
    assert!(checked >= table.len() * METHODS.len());
    // The public page really is public, and an asset is served.
    assert_eq!(c.get(h.url("/login")).send().await.unwrap().status(), 200);
    let r = c.get(h.url("/assets/app.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Nothing reached the demo camera's store through the agent routes.
    let r = c
        .post(h.url("/camera/update-image"))
        .multipart(
            reqwest::multipart::Form::new()
                .text("cameraId", "1")
                .text("token", "not a token")
                .part(
                    "image",
                    reqwest::multipart::Part::bytes(crate::common::jpeg(1)),
                ),
        )
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_client_error(),
        "update-image with a bad token"
    );
    h.stop().await;
}

/// A websocket route opened without credentials: viewer websockets answer 401,
/// token websockets close with 1008 on a bad token.
async fn websocket_without_credentials(h: &TestHub, r: &Route) {
    let req = fill(r.path, ordinary);
    let req = h.ws_url(&req).into_client_request().unwrap();
    let res = tokio_tungstenite::connect_async(req).await;
    match r.access {
        Access::Viewer => {
            let e = res.expect_err("a viewer websocket without credentials");
            assert!(e.to_string().contains("401"), "{}: {e}", r.path);
        }
        Access::AgentToken | Access::ViewerToken => {
            let (mut ws, _) = res.expect("token websockets open, then check the token");
            let hello = if r.access == Access::AgentToken {
                let mut m = 1u32.to_le_bytes().to_vec();
                m.extend_from_slice(&10u32.to_le_bytes());
                m.extend_from_slice(b"not-a-tok!");
                m
            } else {
                let mut b = bytes::BytesMut::new();
                wire::encode_viewer_hello(
                    &wire::ViewerHello {
                        camera_id: 1,
                        token: "not a token".into(),
                    },
                    &mut b,
                );
                b.to_vec()
            };
            ws.send(Message::binary(hello)).await.unwrap();
            let code = loop {
                match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
                    Ok(Some(Ok(Message::Close(Some(f))))) => break u16::from(f.code),
                    Ok(Some(Ok(Message::Binary(b)))) => {
                        panic!("{}: data without a token ({} bytes)", r.path, b.len())
                    }
                    Ok(Some(Ok(_))) => continue,
                    other => panic!("{}: no close frame: {other:?}", r.path),
                }
            };
            assert_eq!(code, 1008, "{}", r.path);
        }
        other => panic!("{}: unexpected websocket access {other:?}", r.path),
    }
}

#[tokio::test]
async fn state_changing_routes_and_websockets_refuse_other_sites() {
    let h = TestHub::start(CONFIG).await;
    let c = h.client();
    let mut session = login(&h).await;
    let own = format!("http://{}", h.addr);
    // Our host and port over another scheme is another origin (this hub is plain HTTP).
    let own_https = format!("https://{}", h.addr);
    let mut state_changing = 0;
    for r in routes() {
        let url = url_of(&h, &r);
        for m in r.methods.iter().filter(|m| **m != Method::GET) {
            state_changing += 1;
            let what = format!("{m} {}", r.path);
            for (header, value) in [
                ("origin", "http://evil.example"),
                ("origin", "null"),
                ("referer", "http://evil.example/page"),
                ("origin", "https://127.0.0.1.evil.example"),
                ("origin", own_https.as_str()),
                ("referer", &format!("{own_https}/live")),
            ] {
                let resp = c
                    .request(m.clone(), &url)
                    .header("cookie", &session)
                    .header(header, value)
                    .body("x")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 403, "{what} with {header}: {value}");
            }
            // Our own origin is not refused by the guard (the handler may still say no).
            let resp = c
                .request(m.clone(), &url)
                .header("cookie", &session)
                .header("origin", &own)
                .body("x")
                .send()
                .await
                .unwrap();
            assert_ne!(resp.status(), 403, "{what} from our own origin");
            // (`POST /logout` from our own origin really logs out.)
            session = login(&h).await;
        }
        if r.websocket {
            for (origin, refused) in [
                ("http://evil.example", true),
                (own_https.as_str(), true),
                (own.as_str(), false),
            ] {
                let mut req = h
                    .ws_url(&fill(r.path, ordinary))
                    .into_client_request()
                    .unwrap();
                req.headers_mut().insert("origin", origin.parse().unwrap());
                req.headers_mut().insert("cookie", session.parse().unwrap());
                let res = tokio_tungstenite::connect_async(req).await;
                if refused {
                    let e = res.expect_err("a websocket from another site");
                    assert!(e.to_string().contains("403"), "{}: {e}", r.path);
                } else {
                    assert!(res.is_ok(), "{} from our own origin: {res:?}", r.path);
                }
            }
        }
    }
    assert!(state_changing >= 4, "login, logout, update-image, upload");
    // The session still works: the refused requests did nothing to it.
    let r = c
        .get(h.url("/api/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["user"], USER);
    h.stop().await;
}

/// Payloads that try to leave a directory or name a file by path.
const TRAVERSAL: &[&str] = &[
    "..",
    "../secret",
    "../../secret",
    "../../../../../../etc/passwd",
    "..%2f..%2fsecret",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fsecret",
    "%2e%2e",
    "....%2f%2f....%2f%2fsecret",
    "..%5c..%5csecret",
    "..%255c..%255csecret",
    "..%252f..%252fsecret",
    "%2fetc%2fpasswd",
    "%2Fetc%2Fpasswd",
    "..%c0%af..%c0%afsecret",
    "secret%00.mp4",
    "data%2fhub.db",
    "..%2fdata%2fhub.db",
    "hub.db",
    "~%2f.ssh%2fid_rsa",
    ".",
    "%2e",
];

#[tokio::test]
async fn traversal_corpus_on_every_route_with_a_name_in_it() {
    let h = TestHub::start(CONFIG).await;
    let c = h.client();
    let token = wire::make_token(wire::TokenScheme::default(), SECRET.as_bytes(), 2);
    let table = routes();
    let mut tried = BTreeSet::new();
    for r in &table {
        let params: Vec<&str> = r
            .path
            .split('{')
            .skip(1)
            .map(|s| s.split('}').next().unwrap())
            .collect();
        if params.is_empty() && r.query.is_empty() {
            continue;
        }
        let mut targets: Vec<String> = Vec::new();
        for bad in TRAVERSAL {
            for p in &params {
                targets.push(fill(r.path, |q| {
                    if q == *p { (*bad).into() } else { ordinary(q) }
                }));
            }
            for q in r.query {
                targets.push(format!("{}?{q}={bad}", fill(r.path, ordinary)));
            }
        }
        for t in targets {
            for m in r
                .methods
                .iter()
                .filter(|m| !r.websocket || **m == Method::GET)
            {
                let mut req = c
                    .request(m.clone(), h.url(&t))
                    .basic_auth(USER, Some(PASSWORD));
                if r.access == Access::AgentToken {
                    req = c
                        .request(m.clone(), h.url(&t))
                        .bearer_auth(&token)
                        .header("x-content-sha256", "0".repeat(64))
                        .header("content-range", "bytes 0-0/1")
                        .body("x");
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let body = resp.bytes().await.unwrap();
                let text = String::from_utf8_lossy(&body);
                let what = format!("{m} {t}");
                assert!(status < 500, "{what}: {status} {text}");
                assert!(!text.contains(SECRET), "{what} leaked the hub secret");
                assert!(!text.contains("root:x:0:0"), "{what} leaked /etc/passwd");
                assert!(
                    !text.contains("SQLite format 3"),
                    "{what} leaked the database"
                );
                // A name that is not a name never reaches a file.
                if !t.contains('?') {
                    assert!(!(200..300).contains(&status), "{what}: {status}");
                }
                tried.insert(r.path);
            }
        }
    }
    for must in [
        "/assets/{file}",
        "/recordings/{file}",
        "/{camera}/hls/{file}",
        "/api/v1/agents/{camera_id}/segments/{name}",
        "/playback.html",
        "/api/recordings/export",
    ] {
        assert!(tried.contains(must), "{must} was not tried");
    }
    // Nothing was written outside the data directory, and no upload was staged.
    let uploads = h.dir.path().join("data/recordings/.uploads");
    let staged = walk(&uploads);
    assert!(
        staged.is_empty(),
        "staged by traversal attempts: {staged:?}"
    );
    h.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Signs in with `next` as given in the form (already decoded); where the hub sends us.
async fn login_with_next(h: &TestHub, next: &str) -> (u16, String) {
    let r = h
        .client()
        .post(h.url("/login"))
        .form(&[("username", USER), ("password", PASSWORD), ("next", next)])
        .send()
        .await
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), location)
}

#[tokio::test]
async fn after_login_only_a_local_path_is_followed() {
    let h = TestHub::start("").await;
    for (next, to) in [
        (
            "/timeline?camera=a&day=2026-01-02",
            "/timeline?camera=a&day=2026-01-02",
        ),
        ("/\t/evil.example/", "/live"),
        ("/\n/evil.example/", "/live"),
        ("/\r\nSet-Cookie: x=1", "/live"),
        ("//evil.example/", "/live"),
        ("/\\evil.example/", "/live"),
        ("https://evil.example/", "/live"),
        ("/caf\u{e9}", "/live"),
    ] {
        assert_eq!(
            login_with_next(&h, next).await,
            (303, to.to_owned()),
            "{next:?}"
        );
        // The form carries the same destination.
        let page = h
            .client()
            .get(h.url("/login"))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{next:?}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("value=\"{}\"", to.replace('&', "&amp;"))),
            "{next:?}: {html}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn chromium_stays_on_the_hub_after_login() {
    if let Some(why) = testkit::Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start("").await;
    let b = testkit::Browser::launch().await.expect("chromium starts");
    for next in [
        "/%09/evil.example/",
        "/%0A/evil.example/",
        "/%5Cevil.example/",
    ] {
        // Returns once the browser has left the login page.
        crate::common::browser_login(&b, &h, next).await;
        let url = b.current_url().await.unwrap();
        assert_eq!(url, h.url("/live"), "{next}");
        // Sign out for the next round.
        b.goto(&h.url("/account")).await.unwrap();
        b.click("#sign-out-everywhere").await.unwrap();
        b.wait_for("#login-form", Duration::from_secs(20))
            .await
            .unwrap();
    }
    b.close().await.unwrap();
    h.stop().await;
}

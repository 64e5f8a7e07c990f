//! The HTTP surface: authentication on every route, the seed and
//! camera_proxy API formats, the viewer websocket, and the cross-site
//! checks.

use std::time::Duration;

use crate::common::{PASSWORD, TestHub, USER, stamp_of};
use base64::Engine;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "pattern"
description = "demo pattern"
kind = "demo"
width = 160
height = 120
fps = 10
[[camera]]
id = 2
name = "idle"
kind = "agent"
fallback_image = "{dir}/fallback.jpg"
[[camera]]
id = 3
name = "bare"
kind = "agent"
"#;

async fn wait_for_first_frame(h: &TestHub) {
    let cam = h.hub.cameras.by_id(1).unwrap().clone();
    let mut rx = cam.subscribe();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|f| f.is_some()))
        .await
        .expect("demo camera produces a frame")
        .unwrap();
}

#[tokio::test]
async fn every_viewing_route_requires_credentials() {
    let h = TestHub::start(CONFIG).await;
    let c = h.client();
    for path in [
        "/api/cameras",
        "/api/me",
        "/camera/hello",
        "/camera/list",
        "/camera/get-image?cameraId=1",
        "/camera/stream-image?cameraId=1&updateDelay=100",
        "/api/v1/cameras/pattern",
        "/api/v1/cameras/pattern/stream",
        "/stream.mjpg",
    ] {
        let r = c.get(h.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic"),
            "{path}"
        );
        // Wrong credentials are no better.
        let r = c
            .get(h.url(path))
            .basic_auth(USER, Some("nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong password");
    }
    for path in ["/live", "/live/pattern"] {
        let r = c.get(h.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next=/live")
        );
    }
    // The login page and assets are public.
    assert_eq!(c.get(h.url("/login")).send().await.unwrap().status(), 200);
    assert_eq!(
        c.get(h.url("/assets/app.js"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(h.url("/assets/../Cargo.toml"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    h.stop().await;
}

#[tokio::test]
async fn login_sets_a_strict_httponly_session_and_refuses_other_sites() {
    let h = TestHub::start(CONFIG).await;
    let c = h.client();
    let form = [
        ("username", USER),
        ("password", PASSWORD),
        ("next", "/live/pattern"),
    ];
    // A form posted from another site is refused before the password is checked.
    let r = c
        .post(h.url("/login"))
        .header("origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(h.url("/login"))
        .header("origin", format!("http://{}", h.addr))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/live/pattern");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let r = c
        .get(h.url("/api/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["user"], USER);
    // An open redirect is not possible through `next`.
    let r = c
        .post(h.url("/login"))
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/live");
    // Logging out ends the session.
    let r = c
        .post(h.url("/logout"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(h.url("/api/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    h.stop().await;
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    let h = TestHub::start(CONFIG).await;
    let c = h.client();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = c
            .post(h.url("/login"))
            .form(&[("username", USER), ("password", "guess")])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert_eq!(&statuses[5..], &[429, 429]);
    // Even the right password waits out the lock.
    let r = c
        .post(h.url("/login"))
        .form(&[("username", USER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    h.stop().await;
}

/// A client whose connections come from the loopback address `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from(from))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_guesser_cannot_lock_the_real_user_out() {
    let h = TestHub::start(CONFIG).await;
    let attacker = client_from([127, 0, 0, 66]);
    let home = client_from([127, 0, 0, 2]);
    let login = |c: &reqwest::Client, user: &str, password: &str| {
        c.post(h.url("/login"))
            .form(&[("username", user), ("password", password)])
            .send()
    };
    // The guesser gets 5 tries at the user, then waits 30 s, then 60 s.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = login(&attacker, USER, &format!("guess {i}")).await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let wait: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((29..=30).contains(&wait), "{wait}");
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    // Meanwhile the real user signs in from home.
    let r = login(&home, USER, PASSWORD).await.unwrap();
    assert_eq!(r.status(), 303, "the real user is not locked out");
    // Trying other names from the same address: 20 failures in all, then the address
    // is locked for every name.
    let mut sprayed = Vec::new();
    for i in 0..17 {
        let r = login(&attacker, &format!("user{i}"), "guess")
            .await
            .unwrap();
        sprayed.push(r.status().as_u16());
    }
    assert_eq!(&sprayed[..15], &[401; 15]);
    assert_eq!(&sprayed[15..], &[429, 429]);
    let r = login(&home, USER, PASSWORD).await.unwrap();
    assert_eq!(r.status(), 303, "still not locked out");
    h.stop().await;
}

#[tokio::test]
async fn seed_api_formats() {
    let h = TestHub::start(CONFIG).await;
    wait_for_first_frame(&h).await;
    let r = h.get_auth("/camera/hello").send().await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message": "Hello World!"})
    );

    let list: serde_json::Value = h
        .get_auth("/camera/list")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cams = list.as_array().unwrap();
    assert_eq!(cams.len(), 3);
    assert_eq!(cams[0]["id"], 1);
    assert_eq!(cams[0]["name"], "pattern");
    assert_eq!(cams[0]["description"], "demo pattern");
    assert!(cams[0]["lastActive"].as_str().unwrap().ends_with('Z'));
    let preview = base64::engine::general_purpose::STANDARD
        .decode(cams[0]["preview"].as_str().unwrap())
        .unwrap();
    assert!(stamp_of(&preview).is_some(), "preview is the latest JPEG");
    assert_eq!(cams[1]["preview"], "");
    assert!(cams[0].get("token").is_none());

    let r = h
        .get_auth("/camera/get-image?cameraId=7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = h
        .get_auth("/camera/get-image?cameraId=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // SSE: `event: image-update` with a data URL of the JPEG.
    let r = h
        .get_auth("/camera/stream-image?cameraId=1&updateDelay=50")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = r.bytes_stream();
    let mut text = String::new();
    let mut frames = Vec::new();
    while frames.len() < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("SSE event within 10 s")
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.starts_with(':') {
                continue; // keep-alive comment
            }
            let mut lines = event.lines();
            assert_eq!(lines.next(), Some("event: image-update"));
            let data = lines
                .next()
                .unwrap()
                .strip_prefix("data: data:image/jpg;base64,")
                .unwrap();
            let jpeg = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            frames.push(stamp_of(&jpeg).unwrap().frame);
        }
    }
    assert!(frames[0] < frames[1] && frames[1] < frames[2], "{frames:?}");
    h.stop().await;
}

#[tokio::test]
async fn camera_proxy_api() {
    let h = TestHub::start(CONFIG).await;
    wait_for_first_frame(&h).await;
    let r = h.get_auth("/api/v1/cameras/pattern").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(stamp_of(&r.bytes().await.unwrap()).is_some());
    let r = h.get_auth("/api/v1/cameras/nosuch").send().await.unwrap();
    assert_eq!(r.status(), 404);

    let mut s = testkit::mjpeg::MjpegStream::connect(h.get_auth("/api/v1/cameras/pattern/stream"))
        .await
        .unwrap();
    assert_eq!(
        s.content_type(),
        "multipart/x-mixed-replace; boundary=frame"
    );
    let parts = s.take_parts(3).await.unwrap();
    let f: Vec<u32> = parts
        .iter()
        .map(|p| stamp_of(&p.body).unwrap().frame)
        .collect();
    assert!(f[0] < f[1] && f[1] < f[2], "{f:?}");

    let mut s = testkit::mjpeg::MjpegStream::connect(h.get_auth("/stream.mjpg"))
        .await
        .unwrap();
    assert_eq!(
        s.content_type(),
        "multipart/x-mixed-replace; boundary=FRAME"
    );
    s.take_parts(1).await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn snapshot_serves_the_fallback_image_when_no_frame_arrives() {
    let h = TestHub::start(CONFIG).await;
    std::fs::write(
        h.dir.path().join("fallback.jpg"),
        b"\xff\xd8fallback\xff\xd9",
    )
    .unwrap();
    let (a, b) = tokio::join!(
        h.get_auth("/api/v1/cameras/idle").send(),
        h.get_auth("/api/v1/cameras/bare").send()
    );
    let a = a.unwrap();
    assert_eq!(a.status(), 200);
    assert_eq!(a.headers()["content-type"], "image/jpeg");
    assert_eq!(&a.bytes().await.unwrap()[..], b"\xff\xd8fallback\xff\xd9");
    // No frame and no fallback: a clear 404.
    let b = b.unwrap();
    assert_eq!(b.status(), 404);
    assert!(
        b.text()
            .await
            .unwrap()
            .contains("No image from camera bare yet")
    );
    h.stop().await;
}

async fn viewer(
    h: &TestHub,
    origin: Option<&str>,
    hello: &wire::ViewerHello,
) -> Result<Vec<Message>, String> {
    let mut req = h
        .ws_url("/video-output-stream")
        .into_client_request()
        .unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = BytesMut::new();
    wire::encode_viewer_hello(hello, &mut buf);
    ws.send(Message::binary(buf.to_vec())).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(m))) => {
                let close = matches!(m, Message::Close(_));
                got.push(m);
                if close {
                    break;
                }
            }
            _ => break,
        }
    }
    Ok(got)
}

#[tokio::test]
async fn viewer_websocket_needs_an_api_token_and_our_origin() {
    let h = TestHub::start(CONFIG).await;
    wait_for_first_frame(&h).await;
    let good = wire::ViewerHello {
        camera_id: 1,
        token: h.api_token.clone(),
    };
    let msgs = viewer(&h, None, &good).await.unwrap();
    assert_eq!(msgs.len(), 3);
    for m in &msgs {
        let Message::Binary(b) = m else {
            panic!("expected a JPEG, got {m:?}")
        };
        assert!(stamp_of(b).is_some());
    }

    let bad = wire::ViewerHello {
        camera_id: 1,
        token: "fake token".into(),
    };
    let msgs = viewer(&h, None, &bad).await.unwrap();
    match &msgs[..] {
        [Message::Close(Some(f))] => {
            assert_eq!(u16::from(f.code), 1008);
            assert_eq!(f.reason.as_str(), "Invalid token");
        }
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    let unknown = wire::ViewerHello {
        camera_id: 9,
        token: h.api_token.clone(),
    };
    let msgs = viewer(&h, None, &unknown).await.unwrap();
    assert!(
        matches!(&msgs[..], [Message::Close(Some(f))] if u16::from(f.code) == 1008 && f.reason.as_str() == "No camera with id 9 exists")
    );
    let invalid = wire::ViewerHello {
        camera_id: 0,
        token: "x".into(),
    };
    let msgs = viewer(&h, None, &invalid).await.unwrap();
    assert!(matches!(&msgs[..], [Message::Close(Some(f))] if u16::from(f.code) == 1007));

    // Another site's page cannot open the websocket.
    let err = viewer(&h, Some("http://evil.example"), &good)
        .await
        .unwrap_err();
    assert!(err.contains("403"), "{err}");
    // Our own origin can.
    let own = format!("http://{}", h.addr);
    assert_eq!(viewer(&h, Some(&own), &good).await.unwrap().len(), 3);
    h.stop().await;
}

#[tokio::test]
async fn anonymous_viewing_is_an_explicit_switch() {
    let h = TestHub::start(&format!("allow_anonymous_viewing = true\n{CONFIG}")).await;
    wait_for_first_frame(&h).await;
    let r = h
        .client()
        .get(h.url("/api/v1/cameras/pattern"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = h.client().get(h.url("/live")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    h.stop().await;
}

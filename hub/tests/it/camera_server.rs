//! Moving in from the seed C# camera server: literal per-camera tokens (`token_file`)
//! over the real ingest websocket and the multipart upload, CORS for its React
//! frontend on another origin, and the empty data URL `/camera/stream-image` sends for
//! a camera without a frame yet.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{SECRET, TestHub, jpeg, stamp_of, write_secret};

/// A token as the seed kept it in its database: not derivable from the secret.
const LITERAL: &str = "8e6778b8d1c0a2f5-from-the-seed-database";

const CONFIG: &str = r#"
cors_origins = ["http://frontend.lan:3000"]
[[camera]]
id = 1
name = "kitchen"
kind = "agent"
token_scheme = "legacy-sha256"
token_file = "{dir}/kitchen.token"
[[camera]]
id = 2
name = "yard"
kind = "agent"
"#;

async fn start() -> TestHub {
    TestHub::start_prepared(CONFIG, |dir| {
        write_secret(&dir.join("kitchen.token"), &format!("{LITERAL}\n"));
    })
    .await
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to the ingest websocket and sends the seed client's hello.
async fn ingest(h: &TestHub, id: u32, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(h.ws_url("/video-input-stream"))
        .await
        .unwrap();
    let mut hello = bytes::BytesMut::new();
    wire::encode_hello(id, token, &mut hello);
    ws.send(Message::binary(hello.to_vec())).await.unwrap();
    ws
}

async fn send_frame(ws: &mut Ws, jpeg: &[u8]) {
    let mut m = bytes::BytesMut::new();
    wire::encode_frame(jpeg, &mut m);
    ws.send(Message::binary(m.to_vec())).await.unwrap();
}

/// The close code the hub sends, or `None` if it keeps the connection open for 1 s.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(1), ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("connection ended without a close frame: {other:?}"),
        }
    }
}

async fn frames_total(h: &TestHub, id: u32) -> u64 {
    h.hub
        .cameras
        .by_id(id)
        .unwrap()
        .frames_total
        .load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test]
async fn token_file_holds_the_literal_token() {
    let h = start().await;
    // The literal token is accepted and its frames arrive.
    let mut ws = ingest(&h, 1, LITERAL).await;
    send_frame(&mut ws, &jpeg(1)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while frames_total(&h, 1).await < 1 {
        assert!(tokio::time::Instant::now() < deadline, "frame not taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(close_code(&mut ws).await, None, "the connection stays open");
    ws.close(None).await.unwrap();

    // The token derived from the secret is not: only the file's token counts.
    let derived = wire::make_token(wire::TokenScheme::LegacySha256, SECRET.as_bytes(), 1);
    for bad in [
        derived.as_str(),
        "8e6778b8d1c0a2f5-from-the-seed-databasE",
        "8e6778b8",
    ] {
        let mut ws = ingest(&h, 1, bad).await;
        send_frame(&mut ws, &jpeg(2)).await;
        assert_eq!(close_code(&mut ws).await, Some(1008), "{bad}");
    }
    assert_eq!(
        frames_total(&h, 1).await,
        1,
        "nothing stored from refused peers"
    );

    // A camera without token_file keeps its derived token.
    let yard = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), 2);
    let mut ws = ingest(&h, 2, &yard).await;
    send_frame(&mut ws, &jpeg(3)).await;
    assert_eq!(close_code(&mut ws).await, None);

    // The seed's multipart upload takes the literal token too.
    let form = |token: &str| {
        reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(jpeg(9)).file_name("i.jpg"),
            )
            .text("cameraId", "1")
            .text("token", token.to_owned())
    };
    let r = h
        .client()
        .post(h.url("/camera/update-image"))
        .multipart(form(&derived))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = h
        .client()
        .post(h.url("/camera/update-image"))
        .multipart(form(LITERAL))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(frames_total(&h, 1).await, 2);
    h.stop().await;
}

#[tokio::test]
async fn a_token_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("t");
    std::fs::write(&token, LITERAL).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_secret(&dir.path().join("secret"), SECRET);
    let text = format!(
        "data_dir = {:?}\nsecret_file = {:?}\n[[camera]]\nid = 1\nname = \"a\"\nkind = \"agent\"\ntoken_file = {:?}\n",
        dir.path().join("data"),
        dir.path().join("secret"),
        token
    );
    let cfg = hub::config::Config::parse(&text, std::path::Path::new("t.toml")).unwrap();
    let e = hub::server::build(cfg.clone(), Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("camera[0]: token_file") && e.contains("chmod 600"),
        "{e}"
    );
    // `hub check-config` says the same before a start.
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, &text).unwrap();
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("--config")
            .arg(&config)
            .arg("check-config")
            .output()
            .unwrap()
    };
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("camera[0]: token_file"),
        "{err}"
    );
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(check().status.success());
    assert!(hub::server::build(cfg, Default::default()).is_ok());
}

/// Every `access-control-*` header of a response.
fn cors_headers(r: &reqwest::Response) -> Vec<(String, String)> {
    r.headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("access-control-"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn cors_for_listed_origins_only() {
    let h = start().await;
    let listed = "http://frontend.lan:3000";
    let preflight = |origin: &str| {
        h.client()
            .request(reqwest::Method::OPTIONS, h.url("/camera/list"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };

    // A listed origin: the preflight is answered, credentials allowed.
    let r = preflight(listed).await.unwrap();
    assert_eq!(r.status(), 200);
    let hd = r.headers();
    assert_eq!(hd["access-control-allow-origin"], listed);
    assert_eq!(hd["access-control-allow-credentials"], "true");
    assert!(
        hd["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert_eq!(hd["access-control-allow-headers"], "authorization");
    // The request itself, with credentials, as `fetch(url, {credentials: "include"})`.
    let r = h
        .get_auth("/camera/list")
        .header("origin", listed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], listed);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list[0]["name"], "kitchen");
    // Without credentials the 401 is readable by the page too.
    let r = h
        .client()
        .get(h.url("/camera/list"))
        .header("origin", listed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], listed);

    // Any other origin: nothing of CORS, neither on the preflight nor the request.
    for other in [
        "http://evil.example",
        "http://frontend.lan:3001",
        "https://frontend.lan:3000",
    ] {
        let r = preflight(other).await.unwrap();
        assert!(
            cors_headers(&r).is_empty(),
            "{other}: {:?}",
            cors_headers(&r)
        );
        assert_ne!(r.status(), 200, "{other}: the preflight is not answered");
        let r = h
            .get_auth("/camera/list")
            .header("origin", other)
            .send()
            .await
            .unwrap();
        assert!(
            cors_headers(&r).is_empty(),
            "{other}: {:?}",
            cors_headers(&r)
        );
    }

    // A POST from the listed origin passes the cross-site check; from others it does not.
    let post = |origin: &str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(jpeg(4)).file_name("i.jpg"),
            )
            .text("cameraId", "1")
            .text("token", LITERAL);
        h.client()
            .post(h.url("/camera/update-image"))
            .header("origin", origin)
            .multipart(form)
            .send()
    };
    let r = post(listed).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], listed);
    assert_eq!(post("http://evil.example").await.unwrap().status(), 403);
    h.stop().await;
}

/// Reads SSE events (without keep-alive comments) from `body` until `n` have arrived.
async fn sse_events(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    text: &mut String,
    n: usize,
) -> Vec<String> {
    let mut events = Vec::new();
    while events.len() < n {
        if let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if !event.starts_with(':') {
                events.push(event);
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an SSE event within 10 s")
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    events
}

#[tokio::test]
async fn stream_image_sends_the_empty_data_url_before_the_first_frame() {
    let h = start().await;
    let r = h
        .get_auth("/camera/stream-image?cameraId=2&updateDelay=50")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut text = String::new();
    let first = sse_events(&mut body, &mut text, 1).await;
    // What the seed sent for a camera without an image: its frontend takes data
    // this short (≤ 100 characters) as "Camera is offline".
    assert_eq!(
        first[0],
        "event: image-update\ndata: data:image/jpg;base64,\n\n"
    );

    // Then the first frame, as a full data URL.
    let token = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), 2);
    let mut ws = ingest(&h, 2, &token).await;
    send_frame(&mut ws, &jpeg(7)).await;
    let next = sse_events(&mut body, &mut text, 1).await;
    let data = next[0]
        .strip_prefix("event: image-update\ndata: data:image/jpg;base64,")
        .and_then(|d| d.strip_suffix("\n\n"))
        .unwrap();
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    assert_eq!(stamp_of(&jpeg).unwrap().frame, 7);
    ws.close(None).await.unwrap();
    h.stop().await;
}

/// The seed's React frontend, served from its own origin and unchanged: it fetches
/// `/camera/list` without credentials, and its viewer websocket sends the token
/// `"fake token"`. With `allow_anonymous_viewing`, `cors_origins` and `allowed_origins`
/// naming its origin, both work; another origin still gets neither.
#[tokio::test]
async fn the_react_frontend_works_with_anonymous_viewing_cors_and_allowed_origins() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let frontend = "https://camera.example.org";
    let config = format!(
        "allow_anonymous_viewing = true\ncors_origins = [\"{frontend}\"]\n\
         allowed_origins = [\"{frontend}\"]\n[[camera]]\nid = 1\nname = \"hall\"\nkind = \"agent\"\n"
    );
    let h = TestHub::start(&config).await;
    let token = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), 1);
    let mut agent = ingest(&h, 1, &token).await;

    // `fetch(base + "/camera/list")`: no credentials, another origin.
    let r = h
        .client()
        .get(h.url("/camera/list"))
        .header("origin", frontend)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], frontend);
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list[0]["name"], "hall");

    // The viewer websocket from the frontend's origin with its "fake token".
    let viewer = |origin: &'static str| {
        let mut req = h
            .ws_url("/video-output-stream")
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    let (mut ws, _) = viewer("https://camera.example.org").await.unwrap();
    let mut hello = bytes::BytesMut::new();
    wire::encode_viewer_hello(
        &wire::ViewerHello {
            camera_id: 1,
            token: "fake token".into(),
        },
        &mut hello,
    );
    ws.send(Message::binary(hello.to_vec())).await.unwrap();
    // The viewer gets each new frame as one binary message.
    let mut got = None;
    for i in 0..50 {
        send_frame(&mut agent, &jpeg(i)).await;
        if let Ok(Some(Ok(Message::Binary(b)))) =
            tokio::time::timeout(Duration::from_millis(200), ws.next()).await
        {
            got = Some(b);
            break;
        }
    }
    let frame = got.expect("a frame on the viewer websocket");
    assert!(stamp_of(&frame).is_some());

    // Another origin: no websocket, no CORS.
    assert!(viewer("https://evil.example").await.is_err());
    let r = h
        .client()
        .get(h.url("/camera/list"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(cors_headers(&r).is_empty());
    h.stop().await;
}

//! The seed camera-server ingest protocol, spoken by a test client written
//! to the seed's wire format: accepted frames appear at
//! `/camera/get-image`; bad ids, bad tokens and oversize frames are refused
//! with the right close codes, and nothing is stored after a refusal.

use std::time::Duration;

use crate::common::{SECRET, TestHub, jpeg, stamp_of};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wire::TokenScheme;

const CONFIG: &str = r#"
max_frame_size = "64KiB"
[[camera]]
id = 1
name = "seedcam"
kind = "agent"
token_scheme = "legacy-sha256"
[[camera]]
id = 2
name = "modern"
kind = "agent"
"#;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(h: &TestHub) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(h.ws_url("/video-input-stream"))
        .await
        .expect("websocket connects");
    ws
}

/// What the seed's Python client sends first: the id alone, then the token
/// length and token together.
async fn seed_hello(ws: &mut Ws, id: u32, token: &str) {
    ws.send(Message::binary(id.to_le_bytes().to_vec()))
        .await
        .unwrap();
    let mut m = (token.len() as u32).to_le_bytes().to_vec();
    m.extend_from_slice(token.as_bytes());
    ws.send(Message::binary(m)).await.unwrap();
}

async fn seed_frame(ws: &mut Ws, jpeg: &[u8]) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut m = (jpeg.len() as u32).to_le_bytes().to_vec();
    m.extend_from_slice(jpeg);
    ws.send(Message::binary(m)).await
}

/// Read until the server closes; return its close frame.
async fn close_frame(ws: &mut Ws) -> Option<CloseFrame> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => return f,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => return None,
            Err(_) => panic!("server did not close within 10 s"),
        }
    }
}

/// Waits (at most 10 s) until `cam` has taken `n` frames in all.
async fn wait_frames(cam: &hub::camera::Camera, n: u64, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cam.frames_total.load(std::sync::atomic::Ordering::Relaxed) < n {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn legacy_token(id: u32) -> String {
    wire::make_token(TokenScheme::LegacySha256, SECRET.as_bytes(), id)
}

#[tokio::test]
async fn seed_client_frames_appear_at_get_image() {
    let h = TestHub::start(CONFIG).await;
    // The seed's own test vector for camera 1 under its test secret.
    assert_eq!(
        legacy_token(1),
        "b5b9aea262709ebde6a9452a790216100c9724a830fec86f4cd242720c6add7e"
    );
    // Before any frame: no image yet.
    let r = h
        .get_auth("/camera/get-image?cameraId=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);

    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 1, &legacy_token(1)).await;
    for i in 0..5 {
        seed_frame(&mut ws, &jpeg(i)).await.unwrap();
    }
    // An empty frame is skipped, not stored and not fatal.
    seed_frame(&mut ws, &[]).await.unwrap();
    // Several frames in one websocket message, and a frame split over two.
    let mut packed = BytesMut::new();
    wire::encode_frame(&jpeg(5), &mut packed);
    wire::encode_frame(&jpeg(6), &mut packed);
    let (a, b) = packed.split_at(packed.len() / 3);
    ws.send(Message::binary(a.to_vec())).await.unwrap();
    ws.send(Message::binary(b.to_vec())).await.unwrap();

    let cam = h.hub.cameras.by_id(1).unwrap().clone();
    wait_frames(&cam, 7, "frames did not arrive").await;
    let r = h
        .get_auth("/camera/get-image?cameraId=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let body = r.bytes().await.unwrap();
    assert_eq!(
        stamp_of(&body).unwrap().frame,
        6,
        "the latest frame is served"
    );
    assert_eq!(
        cam.frames_total.load(std::sync::atomic::Ordering::Relaxed),
        7
    );

    // Case-insensitive parameter names, as ASP.NET binds them.
    let r = h
        .get_auth("/camera/get-image?cameraid=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    ws.close(None).await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn unknown_camera_is_refused_with_1008() {
    let h = TestHub::start(CONFIG).await;
    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 99, &legacy_token(99)).await;
    let f = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(f.code), 1008);
    assert_eq!(f.reason.as_str(), "No camera with id 99 exists");
    h.stop().await;
}

#[tokio::test]
async fn bad_token_closes_and_stores_nothing() {
    let h = TestHub::start(CONFIG).await;
    let mut ws = connect(&h).await;
    // A token for another camera, and the seed's behaviour of carrying on
    // sending frames without reading the close.
    seed_hello(&mut ws, 1, &legacy_token(2)).await;
    for i in 0..20 {
        if seed_frame(&mut ws, &jpeg(i)).await.is_err() {
            break;
        }
    }
    let f = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(f.code), 1008);
    assert_eq!(f.reason.as_str(), "Invalid token");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cam = h.hub.cameras.by_id(1).unwrap();
    assert_eq!(
        cam.frames_total.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let r = h
        .get_auth("/camera/get-image?cameraId=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "nothing was stored");

    // The scheme is per camera: camera 2 wants the HMAC token, not legacy.
    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 2, &legacy_token(2)).await;
    let f = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(f.code), 1008);
    let mut ws = connect(&h).await;
    let good = wire::make_token(TokenScheme::HmacSha256, SECRET.as_bytes(), 2);
    seed_hello(&mut ws, 2, &good).await;
    seed_frame(&mut ws, &jpeg(1)).await.unwrap();
    let cam2 = h.hub.cameras.by_id(2).unwrap().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cam2.frames_total.load(std::sync::atomic::Ordering::Relaxed) < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "hmac frame did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn oversize_frame_is_refused_with_1009_before_allocation() {
    let h = TestHub::start(CONFIG).await;
    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 1, &legacy_token(1)).await;
    seed_frame(&mut ws, &jpeg(0)).await.unwrap();
    // Announce 1 GiB; send only the prefix. The hub must refuse on the
    // length alone (it cannot wait for, or allocate, the body).
    ws.send(Message::binary((1u32 << 30).to_le_bytes().to_vec()))
        .await
        .unwrap();
    let f = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(f.code), 1009);
    let cam = h.hub.cameras.by_id(1).unwrap();
    assert_eq!(
        cam.frames_total.load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // Just over the configured 64 KiB maximum, sent whole.
    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 1, &legacy_token(1)).await;
    let mut big = vec![0u8; 64 * 1024 + 1];
    big[0] = 0xFF;
    big[1] = 0xD8;
    let _ = seed_frame(&mut ws, &big).await;
    let f = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(f.code), 1009);
    assert_eq!(
        cam.frames_total.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    h.stop().await;
}

/// One websocket message over the limit (`max_frame_size` + 64 KiB), before and after
/// the hello: the hub answers with a 1009 close frame, not a dropped connection.
#[tokio::test]
async fn oversize_websocket_message_is_closed_with_1009() {
    let h = TestHub::start(CONFIG).await;
    let cam = h.hub.cameras.by_id(1).unwrap().clone();
    let over = vec![0u8; 64 * 1024 + 64 * 1024 + 1];

    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 1, &legacy_token(1)).await;
    seed_frame(&mut ws, &jpeg(0)).await.unwrap();
    let _ = ws.send(Message::binary(over.clone())).await;
    let f = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(f.code), 1009, "{f:?}");
    assert!(f.reason.contains("over 131072 bytes"), "{f:?}");

    // Before any hello.
    let mut ws = connect(&h).await;
    let _ = ws.send(Message::binary(over)).await;
    let f = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(f.code), 1009, "{f:?}");

    // Several frames in one message of more than max_frame_size (but within the
    // message limit) are fine: the frame is what max_frame_size bounds.
    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 1, &legacy_token(1)).await;
    let mut packed = BytesMut::new();
    let mut n = 0;
    while packed.len() <= 64 * 1024 {
        wire::encode_frame(&jpeg(n), &mut packed);
        n += 1;
    }
    ws.send(Message::binary(packed.to_vec())).await.unwrap();
    wait_frames(&cam, u64::from(n) + 1, "packed frames did not arrive").await;
    ws.close(None).await.unwrap();
    h.stop().await;
}

/// Frames that are not JPEG pictures are skipped, counted, and shown in the camera's
/// status (`/api/cameras` and the status page's data); the connection stays open and
/// later JPEGs are taken.
#[tokio::test]
async fn frames_that_are_not_jpeg_are_counted_and_shown() {
    let h = TestHub::start(CONFIG).await;
    let mut ws = connect(&h).await;
    seed_hello(&mut ws, 1, &legacy_token(1)).await;
    let png = b"\x89PNG\r\n\x1a\n not a jpeg at all";
    seed_frame(&mut ws, png).await.unwrap();
    seed_frame(&mut ws, b"hello").await.unwrap();
    seed_frame(&mut ws, png).await.unwrap();
    seed_frame(&mut ws, &jpeg(3)).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let c = loop {
        let c = h.get_json("/api/cameras").await["cameras"][0].clone();
        if c["frames_total"] == 1 {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the JPEG did not arrive: {c}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(c["name"], "seedcam");
    assert_eq!(c["frames_rejected"], 3, "{c}");
    assert_eq!(
        c["last_rejected"].as_str().unwrap(),
        format!(
            "a {}-byte frame is not a JPEG (starts 89 50 4e 47)",
            png.len()
        ),
        "{c}"
    );
    // The other camera has none.
    let v = h.get_json("/api/cameras").await;
    assert_eq!(v["cameras"][1]["frames_rejected"], 0);
    assert!(v["cameras"][1].get("last_rejected").is_none());
    // The one camera's status says the same.
    let one = h.get_json("/api/v1/cameras/seedcam/status").await;
    assert_eq!(one["frames_rejected"], 3, "{one}");
    // The connection is still open and takes JPEGs.
    seed_frame(&mut ws, &jpeg(4)).await.unwrap();
    let cam = h.hub.cameras.by_id(1).unwrap().clone();
    wait_frames(&cam, 2, "the connection was dropped").await;
    ws.close(None).await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn multipart_update_image_checks_the_token() {
    let h = TestHub::start(CONFIG).await;
    let form = |token: &str, id: &str| {
        reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(jpeg(3))
                    .file_name("f.jpg")
                    .mime_str("image/jpeg")
                    .unwrap(),
            )
            .text("cameraId", id.to_owned())
            .text("token", token.to_owned())
    };
    let post = |f| {
        h.client()
            .post(h.url("/camera/update-image"))
            .multipart(f)
            .send()
    };
    let r = post(form("nope", "1")).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["message"],
        "Invalid token"
    );
    let r = post(form(&legacy_token(1), "0")).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(form(&legacy_token(1), "42")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        h.hub
            .cameras
            .by_id(1)
            .unwrap()
            .frames_total
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let r = post(form(&legacy_token(1), "1")).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = h
        .get_auth("/camera/get-image?cameraId=1")
        .send()
        .await
        .unwrap();
    assert_eq!(stamp_of(&r.bytes().await.unwrap()).unwrap().frame, 3);
    h.stop().await;
}

//! Moving in from camera_proxy: `GET /api/v1/cameras/{name}?thumbnail` fits the picture
//! into 800x474 with its aspect ratio kept, as camera_proxy's Pillow `thumbnail` did
//! (no letterbox, never enlarged). The import of its settings is in `reolink_import`.

use std::time::Duration;

use crate::common::TestHub;

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "wide"
kind = "demo"
width = 1280
height = 720
fps = 2
[[camera]]
id = 2
name = "four-three"
kind = "demo"
width = 640
height = 480
fps = 2
[[camera]]
id = 3
name = "small"
kind = "demo"
width = 320
height = 240
fps = 2
"#;

/// The size of a JPEG, decoded in full (so a broken file fails here).
fn decoded_size(jpeg: &[u8]) -> (usize, usize) {
    let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
    let rgb = d.decode().expect("a JPEG that decodes");
    let (w, h) = d.dimensions().unwrap();
    assert_eq!(rgb.len(), w * h * 3);
    (w, h)
}

async fn snapshot(h: &TestHub, path: &str) -> (usize, usize) {
    let r = h.get_auth(path).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], "image/jpeg", "{path}");
    decoded_size(&r.bytes().await.unwrap())
}

#[tokio::test]
async fn thumbnail_fits_800x474_keeping_the_aspect_ratio() {
    let h = TestHub::start(CONFIG).await;
    for id in 1..=3 {
        let cam = h.hub.cameras.by_id(id).unwrap().clone();
        let mut rx = cam.subscribe();
        tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|f| f.is_some()))
            .await
            .expect("a first frame")
            .unwrap();
    }
    for (name, full, thumb) in [
        ("wide", (1280, 720), (800, 450)),
        ("four-three", (640, 480), (632, 474)),
        ("small", (320, 240), (320, 240)),
    ] {
        assert_eq!(snapshot(&h, &format!("/api/v1/cameras/{name}")).await, full);
        // Any value (or none) asks for it, as camera_proxy read the parameter.
        for q in [
            "?thumbnail",
            "?thumbnail=1",
            "?thumbnail=false",
            "?x=1&thumbnail=",
        ] {
            assert_eq!(
                snapshot(&h, &format!("/api/v1/cameras/{name}{q}")).await,
                thumb,
                "{name}{q}"
            );
        }
    }
    // Not `thumbnail`: the full picture.
    assert_eq!(
        snapshot(&h, "/api/v1/cameras/wide?thumbnails=1").await,
        (1280, 720)
    );
    h.stop().await;
}

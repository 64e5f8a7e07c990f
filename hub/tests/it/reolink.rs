//! Reolink cameras on the hub against `reolink::sim::SimCamera` on loopback:
//! TCP and UDP, every encryption mode once; frames reach the video feed
//! (MSE websocket), the JPEG views get decoded key frames, the camera_proxy
//! endpoints work, and battery percentage and charging appear in
//! `/api/cameras`. (The battery camera here streams always; waking on demand is in
//! `battery`.)

use std::time::Duration;

use crate::common::TestHub;
use crate::rtsp_support::*;
use reolink::sim::{SimCamera, SimConfig, SimEncryption, SimTransport};

const SIM_PASSWORD: &str = "password";

async fn sim(
    transport: SimTransport,
    encryption: SimEncryption,
    battery: u8,
    charging: bool,
) -> reolink::sim::SimHandle {
    let mut c = SimConfig::new(transport);
    c.encryption = encryption;
    c.battery_percent = battery;
    c.charging = charging;
    c.battery_push_interval = Duration::from_secs(1);
    SimCamera::start(c).await.expect("simulator starts")
}

fn tcp_camera(id: u32, name: &str, port: u16, pw: &std::path::Path) -> String {
    format!(
        "[[camera]]\nid = {id}\nname = \"{name}\"\nkind = \"reolink\"\ntransport = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"admin\"\npassword_file = {:?}\nsnapshot_interval = \"1s\"\n",
        pw.display().to_string()
    )
}

fn udp_camera(id: u32, name: &str, port: u16, pw: &std::path::Path) -> String {
    format!(
        "[[camera]]\nid = {id}\nname = \"{name}\"\nkind = \"reolink\"\ntransport = \"udp\"\nuid = \"95270000SIMCAM01\"\nip = \"127.0.0.1\"\nport = {port}\nusername = \"admin\"\npassword_file = {:?}\nfallback_image = {:?}\nstream = \"always\"\n",
        pw.display().to_string(),
        pw.with_file_name("offline.jpg").display().to_string()
    )
}

fn streaming(c: &serde_json::Value) -> bool {
    c["video"]["source"]["state"] == "playing" && c["video"]["frames"].as_u64() > Some(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reolink_tcp_and_udp_cameras_bridge_video_jpeg_and_battery() {
    let tcp_none = sim(SimTransport::Tcp, SimEncryption::None, 90, false).await;
    let tcp_bc = sim(SimTransport::Tcp, SimEncryption::BcEncrypt, 80, false).await;
    let tcp_aes = sim(SimTransport::Tcp, SimEncryption::Aes, 70, false).await;
    let udp_full = sim(SimTransport::Udp, SimEncryption::FullAes, 42, true).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "reolink.password", SIM_PASSWORD);
    std::fs::write(dir.path().join("offline.jpg"), crate::common::jpeg(0)).unwrap();
    let config = [
        tcp_camera(1, "tcp-none", tcp_none.port(), &pw),
        tcp_camera(2, "tcp-bc", tcp_bc.port(), &pw),
        tcp_camera(3, "tcp-aes", tcp_aes.port(), &pw),
        udp_camera(4, "battery", udp_full.port(), &pw),
    ]
    .concat();
    let h = TestHub::start(&format!(
        "[recordings]\nsegment_duration = \"1s\"\n{config}"
    ))
    .await;

    for name in ["tcp-none", "tcp-bc", "tcp-aes", "battery"] {
        let c = wait_camera(&h, name, Duration::from_secs(30), streaming).await;
        assert_eq!(c["kind"], "reolink");
        assert_eq!(c["online"], true, "{c}");
        assert!(
            c["video"]["codec"].as_str().unwrap().starts_with("avc1."),
            "{c}"
        );
        // Live frames reach the feed: the MSE websocket starts at a key frame.
        let m = mse_read(&h, name, 5).await;
        assert!(
            m.mime.starts_with("video/mp4; codecs=\"avc1."),
            "{}",
            m.mime
        );
        assert!(fragment_is_key(&m.fragments[0]));
        // The JPEG path: snapshot decodes.
        let (w, hh, _) = snapshot(&h, name).await;
        assert_eq!(
            (u64::from(w), u64::from(hh)),
            (
                c["video"]["width"].as_u64().unwrap(),
                c["video"]["height"].as_u64().unwrap()
            )
        );
    }

    // Battery of the battery camera, and charging.
    let c = wait_camera(&h, "battery", Duration::from_secs(20), |c| {
        c["video"]["source"]["battery"].is_object()
    })
    .await;
    assert_eq!(c["video"]["source"]["battery"]["percent"], 42, "{c}");
    assert_eq!(c["video"]["source"]["battery"]["charging"], true, "{c}");
    udp_full.set_battery(41, false);
    wait_camera(&h, "battery", Duration::from_secs(20), |c| {
        c["video"]["source"]["battery"]["percent"] == 41
            && c["video"]["source"]["battery"]["charging"] == false
    })
    .await;
    let c = wait_camera(&h, "tcp-aes", Duration::from_secs(20), |c| {
        c["video"]["source"]["battery"].is_object()
    })
    .await;
    assert_eq!(c["video"]["source"]["battery"]["percent"], 70, "{c}");
    // The camera's own status endpoint says the same.
    let s: serde_json::Value = h
        .get_auth("/api/v1/cameras/battery/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["video"]["source"]["battery"]["percent"], 41, "{s}");

    // camera_proxy's MJPEG stream for a Reolink camera.
    let mut mj = testkit::mjpeg::MjpegStream::connect(h.get_auth("/api/v1/cameras/battery/stream"))
        .await
        .unwrap()
        .with_part_timeout(Duration::from_secs(10));
    let parts = mj.take_parts(2).await.unwrap();
    assert_eq!(&parts[1].body[..2], &[0xFF, 0xD8]);
    drop(mj);

    // Every camera is recorded into the same store as any other: indexed
    // segments that ffprobe reads as H.264.
    for name in ["tcp-none", "tcp-bc", "tcp-aes", "battery"] {
        let mut segs = Vec::new();
        for _ in 0..40 {
            let v: serde_json::Value = h
                .get_auth(&format!("/api/recordings?camera={name}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            segs = v["segments"].as_array().cloned().unwrap_or_default();
            if !segs.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let seg = segs
            .first()
            .unwrap_or_else(|| panic!("{name}: nothing recorded"));
        assert!(seg["codec"].as_str().unwrap().starts_with("avc1."), "{seg}");
        if let Some((codec, frames)) =
            crate::common::ffprobe_recording(&h, seg["url"].as_str().unwrap()).await
        {
            assert_eq!(codec, "h264", "{name}: {seg}");
            assert!(frames > 0, "{name}: no frames");
        }
    }

    h.stop().await;
    for s in [tcp_none, tcp_bc, tcp_aes, udp_full] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reolink_wrong_password_and_fallback_image() {
    let cam = sim(SimTransport::Udp, SimEncryption::Aes, 50, false).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "reolink.password", "wrong-password");
    let fallback = crate::common::jpeg(3);
    std::fs::write(dir.path().join("offline.jpg"), &fallback).unwrap();
    let h = TestHub::start(&udp_camera(1, "door", cam.port(), &pw)).await;
    let c = wait_camera(&h, "door", Duration::from_secs(30), |c| {
        c["video"]["source"]["state"] == "auth-failed"
    })
    .await;
    assert!(
        c["video"]["source"]["message"]
            .as_str()
            .unwrap()
            .contains("refused the user name or password"),
        "{c}"
    );
    // No picture: the camera_proxy snapshot serves the backup image.
    let r = h.get_auth("/api/v1/cameras/door").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), fallback);
    h.stop().await;
    cam.stop().await;
}

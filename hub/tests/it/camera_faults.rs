//! Cameras that misbehave mid-stream, through `testkit::FaultProxy` between the hub and
//! the camera stand-in: the connection stays open but no byte comes (a stall), random
//! bytes arrive in the middle of the stream (garbage), and, for Reolink, the camera
//! restarts. Each time the hub reports the fault on the camera's status, reconnects, and
//! records again; the recordings list shows the outage as a gap (not stretched video), and
//! every segment is a valid H.264 MP4 (ffprobe decodes every frame).

use std::time::{Duration, Instant};

use crate::common::TestHub;
use crate::rtsp_support::*;
use reolink::sim::{SimCamera, SimConfig, SimTransport};
use serde_json::Value;
use testkit::FaultProxy;

const SIM_PASSWORD: &str = "password";

fn playing(c: &Value) -> bool {
    c["video"]["source"]["state"] == "playing" && c["online"] == true
}

fn reconnects(c: &Value) -> u64 {
    c["video"]["source"]["reconnects"].as_u64().unwrap_or(0)
}

async fn segments(h: &TestHub, camera: &str) -> Vec<Value> {
    let v: Value = h
        .get_auth(&format!("/api/recordings?camera={camera}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["segments"].as_array().cloned().unwrap_or_default()
}

/// Gaps between consecutive segments, in ms, with the start time of the later one.
fn gaps(segs: &[Value]) -> Vec<(i64, i64)> {
    segs.windows(2)
        .map(|w| {
            let start = w[1]["start_ms"].as_i64().unwrap();
            (start - w[0]["end_ms"].as_i64().unwrap(), start)
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Injects one fault, waits for the hub to notice it (the camera leaves "playing" and
/// its status names the error), then ends the fault and waits until the camera plays
/// again and has recorded for a while. Returns (fault start ms, last error).
async fn fault_round(
    h: &TestHub,
    camera: &str,
    name: &str,
    detect_within: Duration,
    inject: impl AsyncFnOnce(),
    end: impl AsyncFnOnce(),
) -> (i64, String) {
    let before = wait_camera(h, camera, Duration::from_secs(60), playing).await;
    let started = Instant::now();
    let at = now_ms();
    inject().await;
    // The source itself must notice: "online" alone flips after 5 s without a frame.
    let down = wait_camera(h, camera, detect_within, |c| {
        c["video"]["source"]["state"] != "playing"
    })
    .await;
    let noticed = started.elapsed();
    eprintln!(
        "{camera}: {name} noticed after {noticed:?}: {}",
        down["video"]["source"]
    );
    end().await;
    let after = wait_camera(h, camera, Duration::from_secs(60), |c| {
        playing(c) && reconnects(c) > reconnects(&before)
    })
    .await;
    // The last error is kept after the reconnect, so the status tells what happened.
    let err = after["video"]["source"]["last_error"]
        .as_str()
        .or(down["video"]["source"]["last_error"].as_str())
        .unwrap_or("")
        .to_owned();
    eprintln!(
        "{camera}: {name} noticed after {noticed:?}, playing again after {:?}; last error: {err:?}",
        started.elapsed()
    );
    // Record again for a while after the recovery.
    tokio::time::sleep(Duration::from_secs(4)).await;
    (at, err)
}

/// The recordings of `camera` have a gap of at least `min_ms` starting after each fault,
/// and every segment decodes.
async fn check_recordings(h: &TestHub, camera: &str, faults: &[(&str, i64, i64)]) {
    let mut segs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // The segment in progress at the last fault's recovery is listed once it ends.
    while Instant::now() < deadline {
        segs = segments(h, camera).await;
        let g = gaps(&segs);
        if faults
            .iter()
            .all(|(_, at, min)| g.iter().any(|(ms, start)| start > at && ms >= min))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let g = gaps(&segs);
    eprintln!(
        "{camera}: {} segments, gaps over 200 ms: {:?}",
        segs.len(),
        g.iter().filter(|(ms, _)| *ms > 200).collect::<Vec<_>>()
    );
    for (name, at, min) in faults {
        assert!(
            g.iter().any(|(ms, start)| start > at && ms >= min),
            "{camera}: no gap of {min} ms or more after the {name}: {segs:#?}"
        );
    }
    let mut frames = 0;
    let mut warned = 0;
    for seg in &segs {
        let (n, decoder_messages) = ffprobe_strict(h, seg["url"].as_str().unwrap()).await;
        assert!(n > 0, "{seg}: no frames");
        frames += n;
        if !decoder_messages.is_empty() {
            warned += 1;
            eprintln!(
                "{camera}: {}: decoder says: {decoder_messages}",
                seg["file"]
            );
        }
    }
    eprintln!("{camera}: every segment decodes ({frames} frames); {warned} with decoder messages");
}

/// Frames of a recording (ffprobe decodes every one and exits 0) and what the decoder
/// said on the way (empty for a clean stream).
async fn ffprobe_strict(h: &TestHub, url: &str) -> (u64, String) {
    let bytes = h.get_auth(url).send().await.unwrap().bytes().await.unwrap();
    let f = h.dir.path().join("strict-probe.mp4");
    std::fs::write(&f, &bytes).unwrap();
    let p = testkit::ffprobe::run(&f, true, &[]).unwrap_or_else(|e| panic!("{url}: {e:#}"));
    assert_eq!(p.codec, "h264", "{url}");
    (p.frames, p.errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_camera_that_stalls_or_sends_garbage_is_reconnected_and_the_gap_recorded() {
    if !rtsp_server_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the RTSP test server"
        );
        return;
    }
    let server = RtspServer::start().await;
    let proxy = FaultProxy::start(([127, 0, 0, 1], server.port).into())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "tapo.password", RTSP_PASSWORD);
    let h = TestHub::start(&format!(
        "[recordings]\nsegment_duration = \"2s\"\n[[camera]]\nid = 1\nname = \"cam\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{RTSP_USER}\"\npassword_file = {:?}\npath = \"stream2\"\ntransport = \"tcp\"\n",
        proxy.port(),
        pw.display().to_string()
    ))
    .await;
    wait_camera(&h, "cam", Duration::from_secs(30), playing).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Stall: the TCP connection stays open, nothing arrives; the hub's read timeout
    // (10 s without a frame) ends the session. The camera stays hung 14 s in all.
    let (stall_at, err) = fault_round(
        &h,
        "cam",
        "stall",
        Duration::from_secs(20),
        async || proxy.stall(),
        async || {
            tokio::time::sleep(Duration::from_secs(4)).await;
            proxy.resume();
        },
    )
    .await;
    assert!(err.contains("stalled"), "the stall is reported: {err:?}");

    // Garbage in the middle of the interleaved RTP stream.
    let (garbage_at, err) = fault_round(
        &h,
        "cam",
        "garbage",
        Duration::from_secs(20),
        async || proxy.inject_garbage(64 * 1024),
        async || {},
    )
    .await;
    assert!(!err.is_empty(), "the garbage is reported");
    assert!(
        proxy
            .stats()
            .garbage_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );

    // The stall is at least 8 s of hole; the garbage at least a moment.
    check_recordings(
        &h,
        "cam",
        &[("stall", stall_at, 8000), ("garbage", garbage_at, 100)],
    )
    .await;
    h.stop().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reolink_camera_that_stalls_sends_garbage_or_restarts_is_reconnected_and_the_gap_recorded()
{
    let mut cfg = SimConfig::new(SimTransport::Tcp);
    cfg.password = SIM_PASSWORD.into();
    let sim = SimCamera::start(cfg.clone()).await.unwrap();
    let sim_port = sim.port();
    let proxy = FaultProxy::start(sim.addr()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "reolink.password", SIM_PASSWORD);
    let h = TestHub::start(&format!(
        "[recordings]\nsegment_duration = \"2s\"\n[[camera]]\nid = 1\nname = \"cam\"\nkind = \"reolink\"\ntransport = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\npassword_file = {:?}\n",
        proxy.port(),
        pw.display().to_string()
    ))
    .await;
    wait_camera(&h, "cam", Duration::from_secs(30), playing).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Stall: the hub gives up after its idle timeout (20 s without media).
    let (stall_at, err) = fault_round(
        &h,
        "cam",
        "stall",
        Duration::from_secs(30),
        async || proxy.stall(),
        async || proxy.resume(),
    )
    .await;
    assert!(!err.is_empty(), "the stall is reported");

    // Garbage: the Baichuan reader resynchronises on the next message header, or the
    // session fails and reconnects; either way video flows again.
    let before = wait_camera(&h, "cam", Duration::from_secs(30), playing).await;
    let garbage_at = now_ms();
    proxy.inject_garbage(64 * 1024);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let frames = |c: &Value| c["video"]["frames"].as_u64().unwrap_or(0);
    let after = wait_camera(&h, "cam", Duration::from_secs(60), |c| {
        playing(c) && frames(c) > frames(&before) + 45
    })
    .await;
    assert!(
        proxy
            .stats()
            .garbage_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    let reconnected = reconnects(&after) > reconnects(&before);
    eprintln!(
        "cam: after 64 KiB of garbage the session {} (last error {})",
        if reconnected {
            "failed and reconnected"
        } else {
            "resynchronised without reconnecting"
        },
        after["video"]["source"]["last_error"]
    );
    if !reconnected {
        assert!(
            after["video"]["source"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("garbage")),
            "a resynchronisation past garbage is reported: {after}"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Restart: the camera goes away for 3 s and comes back on the same port.
    let sim = std::sync::Mutex::new(Some(sim));
    let (restart_at, _) = fault_round(
        &h,
        "cam",
        "restart",
        Duration::from_secs(30),
        async || {
            let s = sim.lock().unwrap().take().unwrap();
            s.stop().await;
        },
        async || {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let mut again = cfg.clone();
            again.port = sim_port;
            *sim.lock().unwrap() = Some(SimCamera::start(again).await.unwrap());
        },
    )
    .await;

    let mut faults = vec![("stall", stall_at, 15_000), ("restart", restart_at, 2000)];
    if reconnected {
        faults.push(("garbage", garbage_at, 100));
    }
    check_recordings(&h, "cam", &faults).await;
    h.stop().await;
}

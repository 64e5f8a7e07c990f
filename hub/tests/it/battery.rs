//! Battery cameras woken on demand, against `reolink::sim::SimCamera` over UDP: no session
//! while nobody watches, woken by each kind of live view (MSE, snapshot, MJPEG, HLS, the
//! seed image API), released after the idle timeout, "sleeping" with battery and wake
//! count in `/api/cameras`, recording only while awake; the simulator's streaming time
//! over five minutes with one 20 s viewing; and cameras that stream always (TCP by
//! default, `stream = "always"` over UDP).

use std::time::Duration;

use futures_util::StreamExt;
use reolink::sim::{SimCamera, SimConfig, SimHandle, SimTransport};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestHub;
use crate::rtsp_support::{camera_json, mse_connect, mse_read, password_file, wait_camera};

async fn sim(transport: SimTransport, battery: u8) -> SimHandle {
    let mut c = SimConfig::new(transport);
    c.battery_percent = battery;
    c.battery_push_interval = Duration::from_secs(1);
    SimCamera::start(c).await.expect("simulator starts")
}

/// A hub with one Reolink camera `cam` (id 7) on the simulator; `keys` are the camera's
/// extra keys. The directory holds the camera's password file.
async fn hub_with(sim: &SimHandle, transport: &str, keys: &str) -> (TestHub, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "cam.password", "password");
    let target = if transport == "udp" {
        "uid = \"95270000SIMCAM01\"\nip = \"127.0.0.1\"".to_owned()
    } else {
        "host = \"127.0.0.1\"".to_owned()
    };
    let h = TestHub::start(&format!(
        "[recordings]\nsegment_duration = \"1s\"\n[[camera]]\nid = 7\nname = \"cam\"\n\
         kind = \"reolink\"\ntransport = \"{transport}\"\n{target}\nport = {}\n\
         password_file = {:?}\nsnapshot_interval = \"1s\"\n{keys}",
        sim.port(),
        pw.display().to_string()
    ))
    .await;
    (h, dir)
}

fn state(c: &serde_json::Value) -> &str {
    c["video"]["source"]["state"].as_str().unwrap_or("")
}

async fn recorded(h: &TestHub) -> usize {
    crate::recordings_support::segments(h, "cam").await.len()
}

/// Waits (at most `limit`) until the simulator has no session open; returns how long
/// that took.
async fn sessions_end(sim: &SimHandle, limit: Duration) -> Duration {
    let start = Instant::now();
    while sim.open_sessions() > 0 {
        assert!(
            start.elapsed() < limit,
            "the camera session still open after {limit:?}: {:?}",
            sim.stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// Nothing happens at the camera for `d`: no session, no stream, no new connection.
async fn stays_closed(sim: &SimHandle, d: Duration) {
    let (connections, streamed) = (sim.stats().connections, sim.streaming_time());
    let end = Instant::now() + d;
    while Instant::now() < end {
        assert_eq!(
            (sim.open_sessions(), sim.active_streams()),
            (0, 0),
            "a session while nobody watches"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sim.stats().connections, connections, "a new session");
    assert_eq!(sim.streaming_time(), streamed, "the camera streamed");
}

/// The idle timeout the short tests configure.
const IDLE: Duration = Duration::from_secs(3);
/// What the hub may take beyond the idle timeout to end the session (the contract).
const RELEASE_SLACK: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn battery_camera_sleeps_until_watched_and_after_the_idle_timeout() {
    let sim = sim(SimTransport::Udp, 64).await;
    let (h, _pw) = hub_with(&sim, "udp", "idle_timeout = \"3s\"\n").await;

    // Nobody watches: sleeping (not offline), no session at all, nothing recorded.
    let c = wait_camera(&h, "cam", Duration::from_secs(10), |c| {
        state(c) == "sleeping"
    })
    .await;
    assert_eq!(c["online"], false, "{c}");
    assert_eq!(c["video"]["source"]["wakes"], 0, "{c}");
    stays_closed(&sim, Duration::from_secs(4)).await;
    assert_eq!(sim.stats().discovery_requests, 0);
    assert_eq!(recorded(&h).await, 0);

    // A viewer (the camera page's MSE websocket): the camera wakes, the first frames
    // arrive (how long that takes is in BENCHMARKS.md: bench-wake).
    let m = mse_read(&h, "cam", 10).await;
    assert!(
        m.mime.starts_with("video/mp4; codecs=\"avc1."),
        "{}",
        m.mime
    );
    assert_eq!(m.fragments.len(), 10);
    let left = Instant::now();
    let c = camera_json(&h, "cam").await;
    assert_eq!(c["video"]["source"]["wakes"], 1, "{c}");
    assert_eq!(sim.stats().connections, 1);
    let c = wait_camera(&h, "cam", Duration::from_secs(10), |c| {
        c["video"]["source"]["battery"]["percent"] == 64
    })
    .await;
    assert_ne!(state(&c), "sleeping", "{c}");

    // The viewer left: the session ends within the idle timeout + 5 s, and the camera is
    // shown sleeping with its last battery reading and wake count.
    sessions_end(&sim, (IDLE + RELEASE_SLACK).saturating_sub(left.elapsed())).await;
    assert_eq!(sim.active_streams(), 0);
    let c = wait_camera(&h, "cam", Duration::from_secs(5), |c| {
        state(c) == "sleeping"
    })
    .await;
    assert_eq!(c["video"]["source"]["battery"]["percent"], 64, "{c}");
    assert_eq!(c["video"]["source"]["wakes"], 1, "{c}");
    assert_eq!(c["online"], false, "{c}");

    // It recorded while awake, and stays closed (longer than the simulator's own session
    // timers: keep-alive 2 s, silence 10 s).
    let segments = recorded(&h).await;
    assert!(segments > 0, "nothing recorded while awake");
    stays_closed(&sim, Duration::from_secs(12)).await;
    assert_eq!(recorded(&h).await, segments, "recorded while asleep");
    assert_eq!(camera_json(&h, "cam").await["video"]["source"]["wakes"], 1);

    h.stop().await;
    sim.stop().await;
}

/// Waits until the camera sleeps again with its session closed.
async fn back_asleep(h: &TestHub, sim: &SimHandle) {
    sessions_end(sim, IDLE + RELEASE_SLACK + Duration::from_secs(10)).await;
    wait_camera(h, "cam", Duration::from_secs(5), |c| state(c) == "sleeping").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_live_view_wakes_a_battery_camera() {
    let sim = sim(SimTransport::Udp, 50).await;
    let (h, _pw) = hub_with(&sim, "udp", "idle_timeout = \"3s\"\n").await;
    wait_camera(&h, "cam", Duration::from_secs(10), |c| {
        state(c) == "sleeping"
    })
    .await;
    let mut wakes = 0;
    let mut woke = async |what: &str| {
        wakes += 1;
        let c = camera_json(&h, "cam").await;
        assert_eq!(c["video"]["source"]["wakes"], wakes, "{what}: {c}");
        assert_eq!(sim.stats().connections, wakes, "{what}");
        back_asleep(&h, &sim).await;
    };

    // camera_proxy's snapshot: a picture taken after the wake.
    let r = h.get_auth("/api/v1/cameras/cam").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let jpeg = r.bytes().await.unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    woke("snapshot").await;

    // The seed server's image API.
    let r = h
        .get_auth("/camera/get-image?cameraId=7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);
    woke("seed get-image").await;

    // MJPEG (the live grid's tiles, VLC, Home Assistant).
    let mut mj = testkit::mjpeg::MjpegStream::connect(h.get_auth("/api/v1/cameras/cam/stream"))
        .await
        .unwrap()
        .with_part_timeout(Duration::from_secs(15));
    let parts = mj.take_parts(2).await.unwrap();
    assert_eq!(&parts[1].body[..2], &[0xFF, 0xD8]);
    drop(mj);
    woke("MJPEG").await;

    // HLS: the playlist waits for a segment from after the wake.
    let r = h.get_auth("/cam/stream.m3u8").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let playlist = r.text().await.unwrap();
    assert!(playlist.contains("#EXTINF"), "{playlist}");
    woke("HLS").await;

    // Watching `/api/cameras` (the live grid's status) wakes nothing.
    stays_closed(&sim, Duration::from_secs(2)).await;
    h.stop().await;
    sim.stop().await;
}

/// Keeps the camera page's MSE websocket open for `d` from the request, reading what it
/// sends; returns the fragments received.
async fn watch_for(h: &TestHub, d: Duration) -> usize {
    let end = Instant::now() + d;
    let mut ws = mse_connect(h, "cam").await;
    let mut binary = 0usize;
    while let Ok(msg) = tokio::time::timeout_at(end, ws.next()).await {
        match msg {
            Some(Ok(Message::Binary(_))) => binary += 1,
            Some(Ok(_)) => {}
            other => panic!("the live websocket ended: {other:?}"),
        }
    }
    let _ = ws.close(None).await;
    binary.saturating_sub(1) // the init segment
}

/// Five minutes of a battery camera with the default idle timeout (30 s) and one 20 s
/// viewing, in real time: the simulator streams for the viewing plus the idle timeout.
/// Mostly sleeps; exclusive so the machine's load does not stretch the times compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_minutes_with_one_20s_viewing_stream_20s_plus_the_idle_timeout() {
    let _whole_machine = testkit::exclusive();
    const TOTAL: Duration = Duration::from_secs(300);
    const VIEWING_AT: Duration = Duration::from_secs(60);
    const VIEWING: Duration = Duration::from_secs(20);
    const IDLE_DEFAULT: Duration = Duration::from_secs(30);
    let sim = sim(SimTransport::Udp, 77).await;
    let start = Instant::now();
    let (h, _pw) = hub_with(&sim, "udp", "").await;

    tokio::time::sleep_until(start + VIEWING_AT).await;
    assert_eq!(
        sim.streaming_time(),
        Duration::ZERO,
        "streamed before anyone watched"
    );
    assert_eq!(sim.stats().connections, 0);
    let fragments = watch_for(&h, VIEWING).await;
    let left = Instant::now();
    assert!(fragments > 0, "the viewer got no video");

    // Streaming until the viewer left plus the idle timeout; then nothing until the end.
    sessions_end(&sim, IDLE_DEFAULT + RELEASE_SLACK).await;
    let released = left.elapsed();
    tokio::time::sleep_until(start + TOTAL).await;
    let streamed = sim.streaming_time();
    let c = camera_json(&h, "cam").await;
    assert_eq!(state(&c), "sleeping", "{c}");
    assert_eq!(c["video"]["source"]["wakes"], 1, "{c}");
    assert!(c.get("awake_for").is_none(), "{c}");
    assert_eq!(sim.stats().connections, 1);
    assert_eq!((sim.open_sessions(), sim.active_streams()), (0, 0));

    // What the hub should do: stream while watched (20 s) and for the idle timeout after
    // (30 s). The camera's count differs by what lies between the request and the
    // stream's start (discovery, login and start-video over loopback: well under 1 s),
    // the demand check's poll (250 ms) and the logout's round trip at the end: a
    // tolerance of 2 s.
    let expected = VIEWING + IDLE_DEFAULT;
    let diff = streamed.abs_diff(expected);
    eprintln!(
        "battery: streamed {:.2} s of {:.0} s, expected {:.0} s (released {:.2} s after the viewer)",
        streamed.as_secs_f64(),
        TOTAL.as_secs_f64(),
        expected.as_secs_f64(),
        released.as_secs_f64()
    );
    assert!(
        diff <= Duration::from_secs(2),
        "streamed {streamed:?}, expected {expected:?} ± 2 s"
    );
    h.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wired_cameras_and_always_stream_without_viewers() {
    // A TCP (wired) camera with the default configuration.
    let tcp = sim(SimTransport::Tcp, 90).await;
    let (h, _pw) = hub_with(&tcp, "tcp", "").await;
    let c = wait_camera(&h, "cam", Duration::from_secs(20), |c| {
        state(c) == "playing"
    })
    .await;
    assert!(c["video"]["source"]["wakes"].is_null(), "{c}");
    let streamed = tcp.streaming_time();
    // Longer than an idle timeout of 3 s + 5 s: still the one session, streaming.
    tokio::time::sleep(IDLE + RELEASE_SLACK + Duration::from_secs(1)).await;
    assert_eq!((tcp.open_sessions(), tcp.active_streams()), (1, 1));
    assert_eq!(tcp.stats().connections, 1);
    assert!(tcp.streaming_time() > streamed);
    assert_eq!(state(&camera_json(&h, "cam").await), "playing");
    h.stop().await;
    tcp.stop().await;

    // A battery camera told to stream always.
    let udp = sim(SimTransport::Udp, 30).await;
    let (h, _pw) = hub_with(&udp, "udp", "stream = \"always\"\n").await;
    let c = wait_camera(&h, "cam", Duration::from_secs(20), |c| {
        state(c) == "playing"
    })
    .await;
    assert!(c["video"]["source"]["wakes"].is_null(), "{c}");
    tokio::time::sleep(IDLE + RELEASE_SLACK + Duration::from_secs(1)).await;
    assert_eq!((udp.open_sessions(), udp.active_streams()), (1, 1));
    assert_eq!(udp.stats().connections, 1);
    assert_eq!(state(&camera_json(&h, "cam").await), "playing");
    h.stop().await;
    udp.stop().await;
}

/// In Chromium: the status page shows a battery camera asleep (its badge, last battery
/// reading and wake count) without waking it; its camera page wakes it and plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_show_a_sleeping_camera_and_its_page_wakes_it() {
    // Real-time playback in Chromium: not beside the tests that load the machine.
    let _machine = testkit::exclusive();
    if let Some(why) = testkit::Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let sim = sim(SimTransport::Udp, 64).await;
    let (h, _pw) = hub_with(&sim, "udp", "idle_timeout = \"3s\"\n").await;
    wait_camera(&h, "cam", Duration::from_secs(10), |c| {
        state(c) == "sleeping"
    })
    .await;
    // One wake (a snapshot) so the hub has read the battery.
    let r = h.get_auth("/api/v1/cameras/cam").send().await.unwrap();
    assert_eq!(r.status(), 200);
    back_asleep(&h, &sim).await;

    let b = testkit::Browser::launch().await.expect("chromium starts");
    crate::common::browser_login(&b, &h, "/status").await;
    let source = b
        .wait_until(
            "const r = document.querySelector('tr[data-health=\"sleeping\"]'); \
             return r && r.querySelector('.source').textContent",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    let source = source.as_str().unwrap();
    assert!(source.contains("sleeping"), "{source}");
    assert!(source.contains("battery 64%"), "{source}");
    assert!(source.contains("woken 1×"), "{source}");
    let badge = b
        .text("tr[data-health=\"sleeping\"] .health")
        .await
        .unwrap();
    assert_eq!(badge, "sleeping");
    // The status page (it polls `/api/cameras`) does not wake the camera.
    stays_closed(&sim, Duration::from_secs(3)).await;

    // The camera's page plays its video: the camera wakes for it.
    b.goto(&h.url("/live/cam")).await.unwrap();
    b.wait_until(
        "const v = document.getElementById('video'); \
         return window.hubLive && window.hubLive.mode === 'mse' && v.currentTime > 0.5",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    b.wait_until(
        "return document.getElementById('state').dataset.health === 'online'",
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(camera_json(&h, "cam").await["video"]["source"]["wakes"], 2);
    assert_eq!(sim.open_sessions(), 1);
    // Leaving the page lets it sleep again.
    b.goto(&h.url("/status")).await.unwrap();
    back_asleep(&h, &sim).await;
    b.close().await.unwrap();
    h.stop().await;
    sim.stop().await;
}

/// The camera's own motion alarm, reported over the session a viewer opened, keeps a
/// battery camera awake (and recording) after the viewer left, for as long as it lasts;
/// when it ends, the camera sleeps after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_alarm_keeps_it_awake_and_recording_until_it_ends() {
    let sim = sim(SimTransport::Udp, 64).await;
    let (h, _pw) = hub_with(&sim, "udp", "idle_timeout = \"3s\"\n").await;
    wait_camera(&h, "cam", Duration::from_secs(10), |c| {
        state(c) == "sleeping"
    })
    .await;

    // A viewer wakes it; the camera then reports motion, and the viewer leaves.
    assert!(camera_json(&h, "cam").await.get("awake_for").is_none());
    let m = mse_read(&h, "cam", 5).await;
    assert_eq!(m.fragments.len(), 5);
    // The viewer just left: it is the one the camera is awake for (the idle timeout).
    assert_eq!(camera_json(&h, "cam").await["awake_for"], "viewer");
    sim.set_alarm(true, &[]);
    // The hub has the alarm: an open motion event from the camera.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let v = h.get_json("/api/events?camera=cam&kind=motion").await;
        let open = v["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["end_ms"].is_null()));
        if open {
            break;
        }
        assert!(Instant::now() < until, "no motion event: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Well past the idle timeout (+ the release slack), the session is still open and
    // the camera still records.
    let before = recorded(&h).await;
    tokio::time::sleep(IDLE + RELEASE_SLACK + Duration::from_secs(2)).await;
    assert_eq!(sim.open_sessions(), 1, "{:?}", sim.stats());
    // What holds it awake is the alarm, not a viewer.
    assert_eq!(camera_json(&h, "cam").await["awake_for"], "alarm");
    assert!(
        recorded(&h).await > before,
        "no recording while the alarm lasts"
    );

    // The alarm ends: asleep within the idle timeout + 5 s, and it stays so.
    sim.set_alarm(false, &[]);
    sessions_end(&sim, IDLE + RELEASE_SLACK).await;
    stays_closed(&sim, Duration::from_secs(4)).await;
    let c = camera_json(&h, "cam").await;
    assert_eq!(state(&c), "sleeping", "{c}");
    assert_eq!(c["video"]["source"]["wakes"], 1, "{c}");

    h.stop().await;
    sim.stop().await;
}

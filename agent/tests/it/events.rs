//! Motion events through the real binaries: the agent (in-process, test pattern showing a
//! scripted scene: a still room with sensor noise, an object crossing in 5 s) detects the
//! crossing and sends it to the hub (the `hub` binary); the hub serves it in
//! `/api/events` with a JPEG thumbnail of the moment. With the hub killed during the
//! event, the event waits in the agent's spool and arrives once when the hub is back.
//! With recording and upload on, the event is on the hub's timeline in headless Chromium
//! in a non-UTC zone, and clicking it plays from its start minus the pre-roll.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use testkit::hub::HubSetup;
use tokio_util::sync::CancellationToken;

const USER: &str = "viewer";
const PASSWORD: &str = "events-test-password-1";
/// The object's colour: nothing in the room is this red.
pub(super) const RED: [u8; 3] = [210, 30, 30];
/// Scene seconds the object enters and leaves.
const ENTER_S: f64 = 5.0;
const LEAVE_S: f64 = 10.0;

fn scene(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("scene.toml");
    std::fs::write(
        &path,
        format!(
            "width = 640\nheight = 480\nfps = 10\nduration_s = 120.0\nseed = 7\nnoise = 2.0\n\
             [[object]]\ncolor = [{}, {}, {}]\nsize = [0.15, 0.35]\n\
             path = [[{ENTER_S}, -0.075, 0.6], [{LEAVE_S}, 1.075, 0.6]]\n",
            RED[0], RED[1], RED[2]
        ),
    )
    .unwrap();
    path
}

fn agent_config(dir: &Path, hub: &HubSetup, token: &str) -> agent::config::Config {
    agent::config::Config::parse(&format!(
        "hub_url = \"{}\"\ncamera_id = 1\ntoken = \"{token}\"\nstate_dir = {:?}\n\
         [source]\nkind = \"testsrc\"\nwidth = 640\nheight = 480\nfps = 10\nscene = {:?}\n\
         [upload]\nbackoff_max = \"2s\"\n\
         [motion]\nmin_duration = \"1s\"\ncooldown = \"3s\"\n",
        hub.ingest_url(),
        dir.join("state").display().to_string(),
        scene(dir).display().to_string(),
    ))
    .unwrap()
}

pub(super) fn hub_setup(dir: &Path) -> (HubSetup, String) {
    let setup = HubSetup::new(
        dir,
        "data_dir = \"data\"\n[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n",
    )
    .unwrap();
    setup.add_user(USER, PASSWORD).unwrap();
    let token = setup.token(1).unwrap();
    (setup, token)
}

pub(super) async fn get(hub: &HubSetup, path: &str) -> (u16, Vec<u8>) {
    match testkit::http_client()
        .get(hub.url(path))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
    {
        Ok(r) => (
            r.status().as_u16(),
            r.bytes().await.unwrap_or_default().to_vec(),
        ),
        Err(_) => (0, Vec::new()),
    }
}

pub(super) async fn motion_events(hub: &HubSetup) -> Vec<Value> {
    let (status, body) = get(hub, "/api/events?camera=porch&kind=motion").await;
    if status != 200 {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["events"].as_array().unwrap().clone()
}

/// Polls the hub until `done` holds for its motion events (`secs` at most).
pub(super) async fn wait_events(
    hub: &HubSetup,
    secs: u64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..secs * 5 {
        let events = motion_events(hub).await;
        if done(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "motion events never as expected: {:?}",
        motion_events(hub).await
    );
}

/// Stops the in-process agent; it must stop cleanly within 20 s.
pub(super) async fn stop_agent(
    cancel: CancellationToken,
    run: tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the agent stops")
        .unwrap()
        .unwrap();
}

/// Pixels of `jpeg` that are clearly the object's red.
pub(super) fn red_pixels(jpeg: &[u8]) -> (usize, (usize, usize)) {
    let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
    let rgb = d.decode().unwrap();
    let dims = d.dimensions().unwrap();
    let red = rgb
        .chunks_exact(3)
        .filter(|p| p[0] > 150 && p[1] < 90 && p[2] < 90)
        .count();
    (red, dims)
}

/// The event's duration matches the script (5 s) within half a second, and its thumbnail
/// is a 320x240 JPEG showing the object.
async fn check_event(hub: &HubSetup, e: &Value) {
    let (start, end) = (
        e["start_ms"].as_i64().unwrap(),
        e["end_ms"].as_i64().unwrap(),
    );
    let span = (end - start) as f64 / 1000.0;
    assert!(
        (span - (LEAVE_S - ENTER_S)).abs() <= 0.5,
        "the event lasts {span} s; the object was in the picture for 5 s: {e}"
    );
    let score = e["score"].as_f64().unwrap();
    assert!(score > 0.0 && score <= 1.0, "{e}");
    let thumb = e["thumbnail"].as_str().expect("a thumbnail");
    assert_eq!(thumb, format!("/api/events/{}/thumbnail.jpg", e["id"]));
    let (status, jpeg) = get(hub, thumb).await;
    assert_eq!(status, 200);
    let (red, dims) = red_pixels(&jpeg);
    assert_eq!(dims, (320, 240));
    // The object is 0.15 x 0.35 of the picture: about 4,000 pixels at 320x240 when whole.
    assert!(
        red > 1000,
        "{red} red pixels: the thumbnail does not show the object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_motion_reaches_the_hub_with_a_thumbnail_of_the_moment() {
    // The still room alone has nothing of the object's colour.
    let room: testpattern::scene::Scene = toml::from_str(
        &std::fs::read_to_string(scene(tempfile::tempdir().unwrap().path())).unwrap(),
    )
    .unwrap();
    let empty = testpattern::encode_jpeg(&room.renderer().render(0, 1000), 90);
    assert_eq!(red_pixels(&empty).0, 0);

    let dir = tempfile::tempdir().unwrap();
    let (setup, token) = hub_setup(dir.path());
    let _hub = setup.start_async().await.unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(agent::cmds::run::run_with(
        agent_config(dir.path(), &setup, &token),
        cancel.clone(),
    ));
    let events = wait_events(&setup, 40, |e| e.len() == 1 && e[0]["end_ms"].is_i64()).await;
    check_event(&setup, &events[0]).await;
    // Nothing else happens in the scene: still exactly one event a while later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(motion_events(&setup).await.len(), 1);
    stop_agent(cancel, run).await;
    let spool: Vec<_> = std::fs::read_dir(dir.path().join("state/events"))
        .unwrap()
        .collect();
    assert!(spool.is_empty(), "the delivered event left the spool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_during_a_hub_outage_arrives_once_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (setup, token) = hub_setup(dir.path());
    let mut hub = setup.start_async().await.unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(agent::cmds::run::run_with(
        agent_config(dir.path(), &setup, &token),
        cancel.clone(),
    ));
    // The event starts (the hub has it open), then the hub is killed before it ends.
    let open = wait_events(&setup, 40, |e| e.len() == 1).await;
    assert_eq!(
        open[0]["end_ms"],
        Value::Null,
        "killed while the object is in view"
    );
    hub.kill().unwrap();
    // The event ends while the hub is down: it waits in the spool.
    let spool = dir.path().join("state/events");
    let mut waited = 0;
    loop {
        let ended = std::fs::read_dir(&spool).unwrap().flatten().any(|f| {
            std::fs::read(f.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["end_ms"].is_i64())
        });
        if ended {
            break;
        }
        waited += 1;
        assert!(waited < 150, "the event never ended in the spool");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _hub = setup.start_async().await.unwrap();
    let events = wait_events(&setup, 40, |e| e.len() == 1 && e[0]["end_ms"].is_i64()).await;
    assert_eq!(events[0]["id"], open[0]["id"], "the same event, ended");
    check_event(&setup, &events[0]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(motion_events(&setup).await.len(), 1, "once");
    stop_agent(cancel, run).await;
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
}

/// The object enters late enough that its event's pre-roll lies in recorded footage.
const LATE_ENTER_S: f64 = 12.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_is_on_the_timeline_in_the_viewers_zone_and_plays_from_its_pre_roll() {
    if let Some(why) = testkit::Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (setup, token) = hub_setup(dir.path());
    let _hub = setup.start_async().await.unwrap();
    // The agent records 4 s segments and uploads them, and detects motion.
    let scene_path = dir.path().join("scene.toml");
    std::fs::write(
        &scene_path,
        format!(
            "width = 640\nheight = 480\nfps = 10\nduration_s = 120.0\nseed = 7\nnoise = 2.0\n\
             [[object]]\ncolor = [{}, {}, {}]\nsize = [0.15, 0.35]\n\
             path = [[{LATE_ENTER_S}, -0.075, 0.6], [{}, 1.075, 0.6]]\n",
            RED[0],
            RED[1],
            RED[2],
            LATE_ENTER_S + 5.0
        ),
    )
    .unwrap();
    let cfg_path = dir.path().join("agent.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "hub_url = \"{}\"\ncamera_id = 1\ntoken = \"{token}\"\nstate_dir = {:?}\n\
             [source]\nkind = \"testsrc\"\nwidth = 640\nheight = 480\nfps = 10\nscene = {:?}\n\
             [record]\nenabled = true\ndir = {:?}\nsegment_duration = \"4s\"\ngop = 10\n\
             [upload]\nenabled = true\nbackoff_max = \"2s\"\n\
             [motion]\nmin_duration = \"1s\"\ncooldown = \"3s\"\n",
            setup.ingest_url(),
            dir.path().join("state").display().to_string(),
            scene_path.display().to_string(),
            dir.path().join("rec").display().to_string(),
        ),
    )
    .unwrap();
    agent::cmds::setup_recording::run(&cfg_path).unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(agent::cmds::run::run_with(
        agent::config::Config::load(&cfg_path).unwrap(),
        cancel.clone(),
    ));
    let events = wait_events(&setup, 60, |e| e.len() == 1 && e[0]["end_ms"].is_i64()).await;
    let event = events[0].clone();
    let (id, start) = (
        event["id"].as_i64().unwrap(),
        event["start_ms"].as_i64().unwrap(),
    );
    let play_from = start - 5_000;
    // Footage around the event reaches the hub.
    let mut segment = None;
    for _ in 0..150 {
        let (_, body) = get(&setup, "/api/recordings?camera=porch").await;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(segs) = v["segments"].as_array()
            && segs
                .iter()
                .any(|s| s["end_ms"].as_i64() > event["end_ms"].as_i64())
        {
            segment = segs
                .iter()
                .find(|s| {
                    s["start_ms"].as_i64().unwrap() <= play_from
                        && play_from < s["end_ms"].as_i64().unwrap()
                })
                .cloned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let segment = segment.expect("a recorded segment holds the event's pre-roll");
    stop_agent(cancel, run).await;

    // The timeline in Kolkata (UTC+5:30): the marker is on the day's axis.
    let b = testkit::Browser::launch_with(testkit::LaunchOptions {
        time_zone: Some("Asia/Kolkata".into()),
        phone: None,
    })
    .await
    .expect("chromium starts");
    b.goto(&setup.url("/login?next=/timeline/porch"))
        .await
        .unwrap();
    b.fill("#username", USER).await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.click("#login-button").await.unwrap();
    let wait = Duration::from_secs(20);
    b.wait_until("return window.timeline && window.timeline.ready", wait)
        .await
        .unwrap();
    let zone = b
        .eval("return document.getElementById('zone').textContent")
        .await
        .unwrap();
    assert!(
        zone.as_str().unwrap().starts_with("Asia/Calcutta")
            || zone.as_str().unwrap().starts_with("Asia/Kolkata"),
        "{zone}"
    );
    let marker = format!("#events-lane .event[data-id=\"{id}\"]");
    b.wait_until(
        &format!("return document.querySelector('{marker}') !== null"),
        wait,
    )
    .await
    .unwrap();
    // Zoom to the event's minute so the marker is wide enough to click.
    b.eval(&format!(
        "window.timeline.setView({}, 120000); return true",
        start - 60_000
    ))
    .await
    .unwrap();
    let rect = b
        .wait_until(
            &format!(
                "const r = document.querySelector('{marker}'); if (!r) return null;
                 const b = r.getBoundingClientRect(); const l = document.getElementById('events-lane').getBoundingClientRect();
                 return b.width >= 2 && b.left >= l.left && b.right <= l.right + 1 ? [b.left + b.width / 2, b.top + b.height / 2, b.width, l.width] : null"
            ),
            wait,
        )
        .await
        .unwrap();
    // The marker spans the event on the axis: its width is the event's share of the view.
    let span = (event["end_ms"].as_i64().unwrap() - start) as f64;
    let (w, lane) = (rect[2].as_f64().unwrap(), rect[3].as_f64().unwrap());
    assert!(
        (w - span / 120_000.0 * lane).abs() <= 2.0,
        "marker {w} px of {lane} for {span} ms"
    );
    b.eval(
        "window.__seeks = []; const v = document.getElementById('player');
         v.addEventListener('seeking', () => window.__seeks.push([v.dataset.name, v.currentTime])); return true",
    )
    .await
    .unwrap();
    b.click_at((rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap()))
        .await
        .unwrap();
    b.wait_until("return window.__seeks.length > 0", wait)
        .await
        .unwrap();
    let seeks = b.eval("return window.__seeks").await.unwrap();
    // The page plays from the event's start minus the pre-roll: that moment's offset into
    // the segment holding it.
    let want = (play_from - segment["start_ms"].as_i64().unwrap()) as f64 / 1000.0;
    assert_eq!(seeks[0][0], segment["name"], "{seeks}");
    assert!(
        (seeks[0][1].as_f64().unwrap() - want).abs() < 0.001,
        "{seeks} vs {want}"
    );
    let _ = b.close().await;
}

/// The agent binary with two named detection zones (the left and right halves of the
/// picture) against the hub: a person walking down the left half, then one down the
/// right half, are two events, each with its zone's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_process_names_each_events_detection_zone() {
    let dir = tempfile::tempdir().unwrap();
    let (setup, token) = hub_setup(dir.path());
    let _hub = setup.start_async().await.unwrap();
    let scene_path = dir.path().join("scene.toml");
    let walk = |x: f64, from: f64, to: f64| {
        format!(
            "[[object]]\ncolor = [{}, {}, {}]\nsize = [0.15, 0.3]\npath = [[{from}, {x}, -0.15], [{to}, {x}, 1.15]]\n",
            RED[0], RED[1], RED[2]
        )
    };
    std::fs::write(
        &scene_path,
        format!(
            "width = 640\nheight = 480\nfps = 10\nduration_s = 120.0\nseed = 5\nnoise = 2.0\n{}{}",
            walk(0.25, 3.0, 8.0),
            walk(0.75, 14.0, 19.0)
        ),
    )
    .unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "hub_url = \"{}\"\ncamera_id = 1\ntoken = \"{token}\"\nstate_dir = {:?}\n\
             [source]\nkind = \"testsrc\"\nwidth = 640\nheight = 480\nfps = 10\nscene = {:?}\n\
             [upload]\nbackoff_max = \"2s\"\n\
             [motion]\nmin_duration = \"1s\"\ncooldown = \"3s\"\n\
             [[motion.zone]]\nname = \"driveway\"\npoints = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]\n\
             [[motion.zone]]\nname = \"front door\"\npoints = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]\n",
            setup.ingest_url(),
            dir.path().join("state").display().to_string(),
            scene_path.display().to_string(),
        ),
    )
    .unwrap();
    let mut agent = testkit::process::spawn_logged(
        std::process::Command::new(testkit::process::bin_path("agent"))
            .arg("--config")
            .arg(&cfg),
        "agent",
    )
    .unwrap();
    let events = wait_events(&setup, 60, |e| {
        e.len() == 2 && e.iter().all(|e| e["end_ms"].is_i64())
    })
    .await;
    // Newest first.
    let zones: Vec<&str> = events.iter().map(|e| e["zone"].as_str().unwrap()).collect();
    assert_eq!(zones, ["front door", "driveway"], "{events:?}");
    let spans: Vec<f64> = events
        .iter()
        .map(|e| (e["end_ms"].as_i64().unwrap() - e["start_ms"].as_i64().unwrap()) as f64 / 1000.0)
        .collect();
    for span in &spans {
        assert!((span - 5.0).abs() <= 0.5, "each walk takes 5 s: {spans:?}");
    }
    let (status, body) = get(&setup, "/api/events?camera=porch&zone=driveway").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 1, "{v}");
    agent.signal(testkit::process::Signal::Term).unwrap();
    let status = agent
        .wait_timeout_async(Duration::from_secs(20))
        .await
        .unwrap();
    assert!(status.success(), "the agent stops cleanly: {status}");
}

//! A big recordings index does not stop live video: while the whole check (`hub check`'s
//! pass, every segment's head read) and retention passes run over 50,000 synthesized
//! one-minute segments, an agent's frames keep arriving and a live MJPEG viewer keeps
//! receiving them. The agent and the viewer run on a thread and runtime of their own, so
//! a stalled hub cannot stall them; frames are counted during each pass. The same is
//! shown for the start-up check, which compares files and rows after the hub listens.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{PASSWORD, TestHub, USER, jpeg};
use crate::recordings_support::{agent_token, one_segment};
use hub::recordings::{Segment, Source, check, index};

const SEGMENTS: i64 = 50_000;
/// Of them, the oldest this many are past `max_age`.
const DUE: i64 = 1_000;
const MIN_MS: i64 = 60_000;
/// The agent's frame interval.
const FRAME_MS: u64 = 50;

/// When each frame was sent and when the viewer received each.
#[derive(Default)]
struct Times {
    sent: Mutex<Vec<Instant>>,
    seen: Mutex<Vec<Instant>>,
}

fn count_in(v: &Mutex<Vec<Instant>>, a: Instant, b: Instant) -> usize {
    v.lock()
        .unwrap()
        .iter()
        .filter(|t| **t >= a && **t <= b)
        .count()
}

/// An agent sending a frame every [`FRAME_MS`] and a viewer of the camera's MJPEG stream,
/// on their own thread, until `stop`.
fn live_traffic(
    h: &TestHub,
    times: Arc<Times>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let ingest = h.ws_url("/video-input-stream");
    let viewer = h
        .client()
        .get(h.url("/api/v1/cameras/cam/stream"))
        .basic_auth(USER, Some(PASSWORD));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(ingest).await.unwrap();
            let token = agent_token(1);
            ws.send(Message::binary(1u32.to_le_bytes().to_vec()))
                .await
                .unwrap();
            let mut hello = (token.len() as u32).to_le_bytes().to_vec();
            hello.extend_from_slice(token.as_bytes());
            ws.send(Message::binary(hello)).await.unwrap();
            let (t2, s2) = (times.clone(), stop.clone());
            let watch = tokio::spawn(async move {
                let mut stream = testkit::mjpeg::MjpegStream::connect(viewer).await.unwrap();
                while !s2.load(Ordering::Relaxed) {
                    match stream.next_part().await {
                        Ok(Some(_)) => t2.seen.lock().unwrap().push(Instant::now()),
                        _ => break,
                    }
                }
            });
            let mut every = tokio::time::interval(Duration::from_millis(FRAME_MS));
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                every.tick().await;
                let frame = jpeg(i);
                let mut m = (frame.len() as u32).to_le_bytes().to_vec();
                m.extend_from_slice(&frame);
                ws.send(Message::binary(m)).await.unwrap();
                times.sent.lock().unwrap().push(Instant::now());
                i += 1;
            }
            watch.abort();
        });
    })
}

/// Waits until the viewer has seen its first frames.
async fn first_frames(times: &Times) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while times.seen.lock().unwrap().len() < 5 {
        assert!(
            Instant::now() < deadline,
            "no live frame reached the viewer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long passes run back to back while the live video is watched, so that a fast
/// machine shows as much as a slow one.
const WATCHED: Duration = Duration::from_secs(2);

/// Runs `pass` on a blocking thread, again and again until [`WATCHED`] has gone by;
/// checks that the live video went on meanwhile.
async fn live_during(
    what: &str,
    h: &TestHub,
    times: &Times,
    mut pass: impl FnMut() + Send + 'static,
) {
    let cam = h.hub.cameras.by_id(1).unwrap().clone();
    let taken = || cam.frames_total.load(Ordering::Relaxed);
    let (t0, taken0) = (Instant::now(), taken());
    let passes = tokio::task::spawn_blocking(move || {
        let mut n = 0;
        while n == 0 || t0.elapsed() < WATCHED {
            pass();
            n += 1;
        }
        n
    })
    .await
    .unwrap();
    let (t1, taken1) = (Instant::now(), taken());
    let sent = count_in(&times.sent, t0, t1);
    let seen = count_in(&times.seen, t0, t1);
    let scheduled = (t1 - t0).as_millis() as usize / FRAME_MS as usize;
    let accepted = (taken1 - taken0) as usize;
    eprintln!(
        "{what} ({passes} passes): {:?}, frames scheduled {scheduled}, sent {sent}, taken by the hub {accepted}, seen by the viewer {seen}",
        t1 - t0
    );
    assert!(
        sent * 2 >= scheduled,
        "{what}: the agent could send only {sent} of {scheduled} frames"
    );
    assert!(
        accepted * 2 >= scheduled,
        "{what}: the hub took {accepted} of {scheduled} frames"
    );
    assert!(
        seen * 2 >= scheduled,
        "{what}: the viewer saw {seen} of {scheduled} frames"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_video_flows_during_a_check_and_a_retention_pass_over_a_big_index() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end = now - now % MIN_MS - 3_600_000;
    let first = end - SEGMENTS * MIN_MS;
    // The oldest DUE segments end more than max_age ago.
    let max_age_s = ((SEGMENTS - DUE) * MIN_MS + 3_600_000) / 1000;
    let h = TestHub::start(&format!(
        "[recordings]\nretention_interval = \"86400s\"\n\
         [retention]\nmax_age = \"{max_age_s}s\"\n\
         [[camera]]\nid = 1\nname = \"cam\"\nkind = \"agent\"\n"
    ))
    .await;
    let rec = h.hub.recordings.clone();

    // The footage: hard links to one real segment, one row each.
    let file = one_segment(2);
    let template = h.dir.path().join("template.mp4");
    std::fs::write(&template, &file).unwrap();
    let dir = rec.dir("cam").unwrap().path().to_owned();
    let sha = crate::recordings_support::sha256_hex(&file);
    let segs: Vec<Segment> = (0..SEGMENTS)
        .map(|i| {
            let start_ms = first + i * MIN_MS;
            Segment {
                camera: "cam".into(),
                file_name: store::segment_name(start_ms).unwrap(),
                start_ms,
                duration_ms: MIN_MS,
                size_bytes: file.len() as u64,
                sha256: sha.clone(),
                codec: "avc1.42C00D".into(),
                width: 320,
                height: 240,
                source: Source::Recorder,
            }
        })
        .collect();
    for s in &segs {
        std::fs::hard_link(&template, dir.join(&s.file_name)).unwrap();
    }
    rec.db
        .call(move |c| {
            let tx = c.transaction()?;
            for s in &segs {
                index::insert(&tx, s, end)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
        .unwrap();

    let times = Arc::new(Times::default());
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = live_traffic(&h, times.clone(), stop.clone());
    // Live video flows before the passes.
    first_frames(&times).await;

    let r = rec.clone();
    let checked = Arc::new(Mutex::new(None));
    let c2 = checked.clone();
    live_during("the whole check", &h, &times, move || {
        *c2.lock().unwrap() = Some(check::run(&r).unwrap());
    })
    .await;
    let report = checked.lock().unwrap().take().unwrap();
    assert!(report.is_clean(), "{:?}", report.lines());

    let r = rec.clone();
    let deleted = Arc::new(Mutex::new(0));
    let d2 = deleted.clone();
    live_during("a retention pass", &h, &times, move || {
        *d2.lock().unwrap() += r.enforce_retention().unwrap().deleted.len();
    })
    .await;
    // The oldest DUE (give or take the minute the clock moved on) went, and only they.
    let deleted = *deleted.lock().unwrap() as i64;
    assert!((DUE..=DUE + 2).contains(&deleted), "deleted {deleted}");
    let left: i64 = rec
        .db
        .call(|c| Ok(c.query_row("SELECT count(*) FROM recording", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(left, SEGMENTS - deleted);

    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    h.stop().await;
}

/// Files without index rows when the hub starts (as after a lost database): the
/// start-up check indexes them (hashing and probing each) after the hub listens.
const ORPHANS: i64 = 3_000;

/// The start-up check's comparison of files and rows runs while the hub serves: during
/// it, the hub answers `/api/status` and an agent's frames reach a live viewer; at its
/// end every file has its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_serves_live_video_while_the_start_up_check_runs() {
    use hub::recordings::FileCheck;
    let file = one_segment(2);
    let first = 1_795_219_200_000i64;
    let h = TestHub::start_prepared(
        "[recordings]\nretention_interval = \"86400s\"\n\
         [[camera]]\nid = 1\nname = \"cam\"\nkind = \"agent\"\n",
        |dir| {
            let root = dir.join("data").join("recordings");
            std::fs::create_dir_all(&root).unwrap();
            let cam =
                store::SegmentDir::open(root.join("cam"), "cam", store::SetUp::CreateIfMissing)
                    .unwrap();
            let template = dir.join("template.mp4");
            std::fs::write(&template, &file).unwrap();
            for i in 0..ORPHANS {
                let name = store::segment_name(first + i * MIN_MS).unwrap();
                std::fs::hard_link(&template, cam.path().join(name)).unwrap();
            }
        },
    )
    .await;
    let rec = h.hub.recordings.clone();
    let times = Arc::new(Times::default());
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = live_traffic(&h, times.clone(), stop.clone());
    first_frames(&times).await;
    let t0 = Instant::now();
    assert_eq!(
        rec.file_check(),
        FileCheck::Running,
        "the check should still run when live video flows (raise ORPHANS if this machine is fast)"
    );
    let cam = h.hub.cameras.by_id(1).unwrap().clone();
    let taken0 = cam.frames_total.load(Ordering::Relaxed);
    // The hub answers requests meanwhile, one after another.
    let (mut answered, mut asked) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(600);
    while rec.file_check() != FileCheck::Done {
        assert!(Instant::now() < deadline, "the start-up check did not end");
        asked += 1;
        let r = h.get_auth("/api/status").send().await.unwrap();
        if r.status() == 200 {
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t1 = Instant::now();
    let taken = (cam.frames_total.load(Ordering::Relaxed) - taken0) as usize;
    let sent = count_in(&times.sent, t0, t1);
    let seen = count_in(&times.seen, t0, t1);
    let scheduled = (t1 - t0).as_millis() as usize / FRAME_MS as usize;
    eprintln!(
        "start-up check over {ORPHANS} files without rows: {:?} while live; status answered \
         {answered} of {asked}; frames scheduled {scheduled}, sent {sent}, taken {taken}, seen {seen}",
        t1 - t0
    );
    assert!(
        asked > 0 && answered == asked,
        "answered {answered} of {asked}"
    );
    assert!(scheduled > 0);
    assert!(sent * 2 >= scheduled, "sent {sent} of {scheduled}");
    assert!(
        taken * 2 >= scheduled,
        "the hub took {taken} of {scheduled}"
    );
    assert!(
        seen * 2 >= scheduled,
        "the viewer saw {seen} of {scheduled}"
    );
    let rows: i64 = rec
        .db
        .call(|c| Ok(c.query_row("SELECT count(*) FROM recording", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(rows, ORPHANS, "every file found has its row");

    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    h.stop().await;
}

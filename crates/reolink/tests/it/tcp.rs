//! The client against the simulated camera over TCP on loopback: every encryption mode,
//! battery state, a replayed real capture, bad credentials, a camera restart, a slow
//! consumer.

use std::time::Duration;

use crate::common::*;
use reolink::sim::{SimCamera, SimConfig, SimEncryption, SimMedia, SimTransport};
use reolink::{Battery, ConnState, EncryptionLevel, ReolinkSource};
use tokio_util::sync::CancellationToken;

const FRAMES: usize = 20;

async fn stream_with(enc: SimEncryption, expected: EncryptionLevel) {
    init_tracing();
    let mut sc = SimConfig::new(SimTransport::Tcp);
    sc.encryption = enc;
    sc.battery_percent = 64;
    sc.charging = true;
    let sim = SimCamera::start(sc).await.unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, mut status) =
        ReolinkSource::spawn(tcp_config(sim.port(), "password"), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(15), |s| {
        s.frames.len() >= FRAMES
    })
    .await;
    assert!(seen.order.starts_with("TF"), "{}", seen.order);
    assert_eq!((seen.tracks[0].width(), seen.tracks[0].height()), (128, 96));
    assert_eq!(seen.tracks[0].codec_string(), "avc1.42C01E");
    assert!(seen.frames[0].is_key);
    seen.assert_dts_strictly_increasing();
    // Generated media runs at 15 fps: 6000 ticks per frame, across the u32 µs wrap.
    let span = seen.frames[FRAMES - 1].dts.0 - seen.frames[0].dts.0;
    assert!(
        (span - 6000 * (FRAMES as i64 - 1)).abs() <= FRAMES as i64,
        "span {span}"
    );
    let st = wait_status(&mut status, Duration::from_secs(5), |s| s.battery.is_some()).await;
    assert_eq!(
        st.battery,
        Some(Battery {
            percent: 64,
            charging: true
        })
    );
    assert_eq!(st.state, ConnState::Streaming);
    assert_eq!(st.encryption, Some(expected));
    assert_eq!(
        st.device.as_ref().and_then(|d| d.resolution),
        Some((128, 96))
    );
    assert_eq!(st.reconnects, 0);
    cancel.cancel();
    let stats = sim.stats();
    assert_eq!((stats.logins_ok, stats.logins_failed), (1, 0));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_no_encryption() {
    stream_with(SimEncryption::None, EncryptionLevel::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_bcencrypt() {
    stream_with(SimEncryption::BcEncrypt, EncryptionLevel::BcEncrypt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_aes() {
    stream_with(SimEncryption::Aes, EncryptionLevel::Aes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_full_aes() {
    stream_with(SimEncryption::FullAes, EncryptionLevel::FullAes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_replays_real_capture() {
    init_tracing();
    let Some(files) = swann_files() else {
        println!("skipping: ../shared/fixtures/baichuan not found (no real capture to replay)");
        return;
    };
    let mut sc = SimConfig::new(SimTransport::Tcp);
    sc.media = SimMedia::Replay(files);
    sc.encryption = SimEncryption::FullAes;
    let sim = SimCamera::start(sc).await.unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, mut status) =
        ReolinkSource::spawn(tcp_config(sim.port(), "password"), cancel.clone());
    let mut seen = Seen::default();
    // The capture is I, P, P (+ 2 ADPCM): 7 frames = the loop has wrapped twice.
    collect_until(&mut rx, &mut seen, Duration::from_secs(15), |s| {
        s.frames.len() >= 7
    })
    .await;
    assert_eq!(seen.tracks.len(), 1);
    let t = &seen.tracks[0];
    assert!(
        t.codec_string().starts_with("avc1."),
        "{}",
        t.codec_string()
    );
    let keys: Vec<bool> = seen.frames.iter().map(|f| f.is_key).collect();
    assert_eq!(keys, [true, false, false, true, false, false, true]);
    seen.assert_dts_strictly_increasing();
    // Real capture steps are 62–63 ms: 5580–5670 ticks.
    let d = seen.frames[1].dts.0 - seen.frames[0].dts.0;
    assert!((5500..5700).contains(&d), "{d}");
    // Status is published right after each event is queued.
    let st = wait_status(&mut status, Duration::from_secs(5), |s| {
        s.audio_packets >= 2 && s.frames >= 7
    })
    .await;
    assert_eq!(st.dropped_frames, 0);
    cancel.cancel();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_wrong_password_is_reported_once_without_a_storm() {
    init_tracing();
    let sim = SimCamera::start(SimConfig::new(SimTransport::Tcp))
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let (_rx, mut status) = ReolinkSource::spawn(tcp_config(sim.port(), "wrong"), cancel.clone());
    let st = wait_status(&mut status, Duration::from_secs(5), |s| {
        s.state == ConnState::AuthFailed
    })
    .await;
    assert!(
        st.last_error
            .as_deref()
            .unwrap_or("")
            .contains("credentials"),
        "{st:?}"
    );
    // Count transitions into AuthFailed and login attempts over 3 s.
    let mut transitions = 1;
    let mut was_failed = true;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Ok(())) = tokio::time::timeout_at(deadline, status.changed()).await {
        let failed = status.borrow().state == ConnState::AuthFailed;
        if failed && !was_failed {
            transitions += 1;
        }
        was_failed = failed;
    }
    let stats = sim.stats();
    assert!(stats.login_attempts <= 2, "login storm: {stats:?}");
    assert_eq!(stats.logins_ok, 0);
    assert_eq!(transitions, 1);
    assert_eq!(status.borrow().state, ConnState::AuthFailed);
    assert!(status.borrow().login_attempts <= 2);
    cancel.cancel();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_camera_restart_gives_gap_then_resumes() {
    init_tracing();
    let sim = SimCamera::start(SimConfig::new(SimTransport::Tcp))
        .await
        .unwrap();
    let port = sim.port();
    let cancel = CancellationToken::new();
    let (mut rx, mut status) = ReolinkSource::spawn(tcp_config(port, "password"), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(10), |s| {
        s.frames.len() >= 5
    })
    .await;
    sim.stop().await;
    collect_until(&mut rx, &mut seen, Duration::from_secs(10), |s| {
        !s.gaps.is_empty()
    })
    .await;
    let mut sc = SimConfig::new(SimTransport::Tcp);
    sc.port = port;
    let sim = SimCamera::start(sc).await.unwrap();
    let before = seen.frames.len();
    collect_until(&mut rx, &mut seen, Duration::from_secs(15), |s| {
        s.frames.len() >= before + 5
    })
    .await;
    assert_eq!(seen.gaps.len(), 1, "{:?}", seen.gaps);
    let g = seen.order.find('G').unwrap();
    assert!(seen.order[g..].starts_with("GTF"), "{}", seen.order);
    assert!(seen.frames[before].is_key);
    seen.assert_dts_strictly_increasing();
    let st = wait_status(&mut status, Duration::from_secs(2), |s| {
        s.state == ConnState::Streaming
    })
    .await;
    assert!(st.reconnects >= 1);
    cancel.cancel();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_battery_push_updates_status() {
    init_tracing();
    let sim = SimCamera::start(SimConfig::new(SimTransport::Tcp))
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, mut status) =
        ReolinkSource::spawn(tcp_config(sim.port(), "password"), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(10), |s| {
        !s.frames.is_empty()
    })
    .await;
    wait_status(&mut status, Duration::from_secs(5), |s| {
        s.battery.is_some_and(|b| b.percent == 87)
    })
    .await;
    sim.set_battery(12, true);
    let st = wait_status(&mut status, Duration::from_secs(5), |s| {
        s.battery.is_some_and(|b| b.percent == 12)
    })
    .await;
    assert!(st.battery.unwrap().charging);
    assert!(sim.stats().battery_pushes >= 2);
    cancel.cancel();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_slow_consumer_drops_to_key_frames() {
    init_tracing();
    let mut sc = SimConfig::new(SimTransport::Tcp);
    sc.media = SimMedia::Generated { fps: 60, gop: 10 };
    let sim = SimCamera::start(sc).await.unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, mut status) =
        ReolinkSource::spawn(tcp_config(sim.port(), "password"), cancel.clone());
    // Nobody reads: 64 slots fill in ~1 s at 60 fps; the rest is dropped, nothing blocks.
    let st = wait_status(&mut status, Duration::from_secs(10), |s| {
        s.dropped_frames >= 30
    })
    .await;
    assert_eq!(st.state, ConnState::Streaming);
    let mut seen = Seen::default();
    while let Ok(ev) = rx.try_recv() {
        seen.push(ev);
    }
    let n0 = seen.frames.len();
    assert!(n0 <= 64, "{n0}");
    // Frames resume at a key frame after the drop.
    collect_until(&mut rx, &mut seen, Duration::from_secs(5), |s| {
        s.frames.len() >= n0 + 12
    })
    .await;
    assert!(
        seen.frames[n0].is_key,
        "first frame after the drop must be a key frame"
    );
    seen.assert_dts_strictly_increasing();
    cancel.cancel();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_falls_back_to_legacy_login_when_upgrade_is_reset() {
    init_tracing();
    let mut sc = SimConfig::new(SimTransport::Tcp);
    sc.reset_on_login_upgrade = true;
    let sim = SimCamera::start(sc).await.unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, _status) =
        ReolinkSource::spawn(tcp_config(sim.port(), "password"), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(10), |s| {
        s.frames.len() >= 3
    })
    .await;
    assert!(
        seen.gaps.is_empty(),
        "nothing was announced before the fallback"
    );
    let stats = sim.stats();
    assert_eq!(stats.upgrade_logins_reset, 1, "{stats:?}");
    assert_eq!(stats.legacy_logins, 1);
    assert_eq!(
        stats.legacy_login_mismatches, 0,
        "legacy hashes match the credentials"
    );
    assert_eq!(stats.logins_ok, 1);
    cancel.cancel();
    sim.stop().await;
}

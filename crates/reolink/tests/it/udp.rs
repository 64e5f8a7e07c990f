//! The client against the simulated battery camera over BcUdp on loopback: discovery by UID
//! and by IP (UID lookup), and a longer run with loss, reordering and duplication injected
//! in both directions, measuring resident memory.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use reolink::sim::{Faults, SimCamera, SimConfig, SimEncryption, SimTransport};
use reolink::{Battery, ConnState, ReolinkConfig, ReolinkSource, Transport};
use tokio_util::sync::CancellationToken;

fn udp_config(transport: Transport) -> ReolinkConfig {
    let mut c = ReolinkConfig::new("sim-udp", transport, "admin", "password");
    c.timing = fast_timing();
    c
}

fn by_uid(sim: SocketAddr) -> Transport {
    Transport::Udp {
        uid: Some("95270000SIMCAM01".into()),
        ip: None,
        local_port: 0,
        ports: vec![],
        // Stands in for the broadcast address.
        targets: vec![sim],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_by_uid_streams_and_reports_battery_and_signal() {
    init_tracing();
    let mut sc = SimConfig::new(SimTransport::Udp);
    sc.encryption = SimEncryption::FullAes;
    sc.battery_percent = 55;
    let sim = SimCamera::start(sc).await.unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, mut status) = ReolinkSource::spawn(udp_config(by_uid(sim.addr())), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(15), |s| {
        s.frames.len() >= 30
    })
    .await;
    assert!(seen.order.starts_with("TF"), "{}", seen.order);
    seen.assert_dts_strictly_increasing();
    let st = wait_status(&mut status, Duration::from_secs(5), |s| s.battery.is_some()).await;
    assert_eq!(
        st.battery,
        Some(Battery {
            percent: 55,
            charging: false
        })
    );
    assert_eq!(st.state, ConnState::Streaming);
    assert_eq!(st.device.and_then(|d| d.kind).as_deref(), Some("wifipc"));
    // The Wi-Fi signal, asked at login, then polled (every 2 s here) while the session
    // lasts.
    let st = wait_status(&mut status, Duration::from_secs(5), |s| {
        s.wifi_signal_dbm.is_some()
    })
    .await;
    assert_eq!(st.wifi_signal_dbm, Some(-55));
    sim.set_wifi_signal(Some(-72));
    let st = wait_status(&mut status, Duration::from_secs(5), |s| {
        s.wifi_signal_dbm != Some(-55)
    })
    .await;
    assert_eq!(st.wifi_signal_dbm, Some(-72));
    assert!(sim.stats().signal_requests >= 2, "{:?}", sim.stats());
    // The camera's msg 234 keep-alive (every 2 s) is answered.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stats = sim.stats();
    assert!(
        stats.keepalives_sent >= 1 && stats.keepalive_replies >= 1,
        "{stats:?}"
    );
    assert_eq!(
        stats.connections, 1,
        "one session despite C2D_C retransmits"
    );
    assert_eq!(stats.uid_lookups, 0);
    cancel.cancel();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_by_ip_learns_uid_and_streams() {
    init_tracing();
    let sim = SimCamera::start(SimConfig::new(SimTransport::Udp))
        .await
        .unwrap();
    let t = Transport::Udp {
        uid: None,
        ip: Some("127.0.0.1".parse().unwrap()),
        local_port: 0,
        ports: vec![sim.port()],
        targets: vec![],
    };
    let cancel = CancellationToken::new();
    let (mut rx, _status) = ReolinkSource::spawn(udp_config(t), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(15), |s| {
        s.frames.len() >= 30
    })
    .await;
    seen.assert_dts_strictly_increasing();
    assert!(sim.stats().uid_lookups >= 1);
    cancel.cancel();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_lossy_link_keeps_frames_in_order_with_bounded_memory() {
    init_tracing();
    let mut sc = SimConfig::new(SimTransport::Udp);
    sc.udp_faults = Faults {
        loss: 0.05,
        reorder: 0.05,
        duplicate: 0.05,
        seed: 0x5eed,
    };
    sc.encryption = SimEncryption::Aes;
    let sim = SimCamera::start(sc).await.unwrap();
    let cancel = CancellationToken::new();
    let (mut rx, status) = ReolinkSource::spawn(udp_config(by_uid(sim.addr())), cancel.clone());
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(20), |s| {
        s.frames.len() >= 15
    })
    .await;
    let rss_start = rss_bytes();
    let run = Duration::from_secs(20);
    let start = tokio::time::Instant::now();
    let mut keep = Seen::default();
    while start.elapsed() < run {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(ev)) => {
                seen.push(ev.clone());
                keep.push(ev);
                // Keep memory flat in the test itself: only the last frames are kept.
                if seen.frames.len() > 600 {
                    seen.frames.drain(..300);
                }
            }
            Ok(None) => panic!("channel closed"),
            Err(_) => panic!("no event for 5 s on the lossy link: {:?}", *status.borrow()),
        }
    }
    let rss_end = rss_bytes();
    let growth = rss_end as i64 - rss_start as i64;
    let stats = sim.stats();
    let st = status.borrow().clone();
    println!(
        "UDP lossy run {run:?}: {} frames, {} gaps, RSS {:.1} MiB → {:.1} MiB (growth {:+.2} MiB); sim {:?}; client {:?}",
        keep.frames.len(),
        keep.gaps.len(),
        rss_start as f64 / 1048576.0,
        rss_end as f64 / 1048576.0,
        growth as f64 / 1048576.0,
        stats,
        st
    );
    // 15 fps for 20 s with retransmissions: most frames arrive, in order.
    assert!(keep.frames.len() >= 200, "{} frames", keep.frames.len());
    keep.assert_dts_strictly_increasing();
    assert!(
        stats.faults_out.dropped > 0
            && stats.faults_out.reordered > 0
            && stats.faults_out.duplicated > 0
    );
    assert!(stats.faults_in.dropped > 0 && stats.faults_in.duplicated > 0);
    assert!(stats.retransmits > 0);
    assert!(stats.keepalive_replies >= 5, "{stats:?}");
    assert!(growth < 20 * 1024 * 1024, "RSS grew by {growth} bytes");
    // Every frame that crossed the lossy link is intact: it records and decodes.
    let first_key = keep.frames.iter().position(|f| f.is_key).unwrap();
    let frames = &keep.frames[first_key..];
    let file = record(&seen.tracks[0], frames);
    assert_eq!(
        media::probe(&file).unwrap().recovery.samples as usize,
        frames.len()
    );
    if let Some((n, codec, ..)) = ffprobe(&file) {
        assert_eq!((n as usize, codec.as_str()), (frames.len(), "h264"));
    }
    cancel.cancel();
    sim.stop().await;
}

/// `run_on_demand`: no session while unwanted; a session and video once wanted (a wake);
/// unwanted again: logout, a `Gap`, the camera's session and stream end, and its streaming
/// time stops growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_sessions_follow_the_wanted_signal() {
    use media::VideoEvent;
    use tokio::sync::{mpsc, watch};
    init_tracing();
    let sim = SimCamera::start(SimConfig::new(SimTransport::Udp))
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(reolink::sink::EVENT_CHANNEL_CAPACITY);
    let (status_tx, mut status) = watch::channel(reolink::ReolinkStatus::default());
    let (wanted_tx, wanted) = watch::channel(false);
    let task = tokio::spawn(reolink::source::run_on_demand(
        udp_config(by_uid(sim.addr())),
        cancel.clone(),
        tx,
        status_tx,
        wanted,
    ));
    wait_status(&mut status, Duration::from_secs(5), |s| {
        s.state == ConnState::Sleeping
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim.stats().discovery_requests,
        0,
        "asleep: no packet at all"
    );
    assert_eq!(sim.open_sessions(), 0);

    wanted_tx.send_replace(true);
    let mut seen = Seen::default();
    collect_until(&mut rx, &mut seen, Duration::from_secs(15), |s| {
        s.frames.len() >= 15
    })
    .await;
    assert_eq!(status.borrow().wakes, 1);
    assert_eq!((sim.open_sessions(), sim.active_streams()), (1, 1));

    wanted_tx.send_replace(false);
    let mut gap = None;
    while gap.is_none() {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(VideoEvent::Gap { reason })) => gap = Some(reason),
            Ok(Some(_)) => {}
            other => panic!("no gap when put to sleep: {other:?}"),
        }
    }
    assert_eq!(gap.as_deref(), Some(reolink::source::SLEEP_REASON));
    wait_status(&mut status, Duration::from_secs(5), |s| {
        s.state == ConnState::Sleeping
    })
    .await;
    // The camera saw the logout: its session and stream end at once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while sim.open_sessions() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "session still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.active_streams(), 0);
    let streamed = sim.streaming_time();
    assert!(streamed > Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.streaming_time(), streamed);
    assert_eq!(sim.stats().connections, 1);

    // Woken again: a second wake, a new session.
    wanted_tx.send_replace(true);
    wait_status(&mut status, Duration::from_secs(10), |s| {
        s.state == ConnState::Streaming && s.wakes == 2
    })
    .await;
    assert_eq!(sim.stats().connections, 2);
    cancel.cancel();
    task.await.unwrap();
    sim.stop().await;
}

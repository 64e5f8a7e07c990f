//! Home Assistant over MQTT against a real Mosquitto on loopback (password file, no
//! anonymous access; `testkit::Mosquitto`), read by a `rumqttc` subscriber: discovery
//! configs for every camera with unique ids, motion ON then OFF with snapshots only while
//! it lasts, labelled alarms, battery and Wi-Fi signal, all from a Reolink battery camera
//! (the simulator over UDP, its alarms set with `SimHandle::set_alarm`) bridged by the hub;
//! the hub's last will when the hub process is killed, and the hub going on (live frames,
//! no waiting) while the broker is away for a minute, then catching up.
//!
//! The broker-outage test scripts its many motion changes straight into the camera's event
//! feed (`Camera::events`, the call the sources make), as do the health problems here.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, TestHub, USER, write_secret};
use events::{Event, Origin, What};
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use testkit::Mosquitto;
use tokio::sync::mpsc;

/// One message the subscriber received.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    topic: String,
    payload: Vec<u8>,
    at: Instant,
}

/// A subscriber to everything on the broker.
pub(crate) struct Subscriber {
    rx: mpsc::UnboundedReceiver<Msg>,
    task: tokio::task::JoinHandle<()>,
    /// Every message so far, in order.
    seen: Vec<Msg>,
}

impl Subscriber {
    pub(crate) async fn connect(port: u16, id: &str) -> Subscriber {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_credentials(testkit::mosquitto::USER, testkit::mosquitto::PASSWORD);
        o.set_max_packet_size(16 << 20, 64 << 10);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut el) = AsyncClient::new(o, 16);
        client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match el.poll().await {
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                        let m = Msg {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            at: Instant::now(),
                        };
                        if tx.send(m).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Subscriber {
            rx,
            task,
            seen: Vec::new(),
        }
    }

    /// Waits up to `secs` for a message on `topic` whose payload is `payload`.
    pub(crate) async fn expect(&mut self, topic: &str, payload: &[u8], secs: u64) -> Msg {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let m = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => m,
                _ => panic!(
                    "no {topic} = {:?} within {secs} s; last there: {:?}",
                    String::from_utf8_lossy(payload),
                    self.last(topic)
                        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
                ),
            };
            self.seen.push(m.clone());
            if m.topic == topic && m.payload == payload {
                return m;
            }
        }
    }

    /// Waits up to `secs` until the last message on `topic` (seen already or arriving)
    /// is `payload`: a state, whatever came in between.
    pub(crate) async fn state(&mut self, topic: &str, payload: &[u8], secs: u64) {
        if self.last(topic).is_some_and(|m| m.payload == payload) {
            return;
        }
        self.expect(topic, payload, secs).await;
    }

    /// Reads for `d`, keeping what arrives.
    async fn drain(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(m);
        }
    }

    fn last(&self, topic: &str) -> Option<&Msg> {
        self.seen.iter().rev().find(|m| m.topic == topic)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn mqtt_section(dir: &Path, port: u16, extra: &str) -> String {
    let pw = dir.join("mqtt-password");
    write_secret(&pw, testkit::mosquitto::PASSWORD);
    format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"{}\"\npassword_file = {:?}\n\
         topic_prefix = \"hubtest\"\nclient_id = \"testhub\"\n{extra}\n",
        testkit::mosquitto::USER,
        pw.display().to_string()
    )
}

/// An agent's camera, a demo camera and a Reolink battery camera (`door`, the simulator
/// on `door_port`, streaming always so its alarms arrive without a viewer; JPEG pictures
/// every 100 ms for the snapshots).
fn cameras(door_port: u16, door_password: &Path) -> String {
    format!(
        r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"
[[camera]]
id = 2
name = "yard"
description = "Back yard"
kind = "demo"
[[camera]]
id = 3
name = "door"
kind = "reolink"
transport = "udp"
uid = "95270000SIMCAM01"
ip = "127.0.0.1"
port = {door_port}
password_file = {:?}
stream = "always"
snapshot_interval = "100ms"
"#,
        door_password.display().to_string()
    )
}

pub(crate) fn skip() -> bool {
    if !Mosquitto::available() {
        eprintln!("SKIP: mosquitto not installed (Debian package mosquitto)");
        return true;
    }
    false
}

fn publish(h: &TestHub, camera: &str, what: What) {
    let cam = h.hub.cameras.by_name(camera).unwrap();
    cam.events
        .publish(Event::new(hub::camera::now_ms(), Origin::Camera, what));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_states_and_snapshots_while_motion_lasts() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let mut sub = Subscriber::connect(broker.port, "test-sub").await;
    let mut door = reolink::sim::SimConfig::new(reolink::sim::SimTransport::Udp);
    door.battery_percent = 80;
    // A key frame every 2 frames at 15 fps: a new JPEG picture every 133 ms.
    door.media = reolink::sim::SimMedia::Generated { fps: 15, gop: 2 };
    let door = reolink::sim::SimCamera::start(door).await.unwrap();
    let door_pw = crate::rtsp_support::password_file(dir.path(), "door.password", "password");
    let config = format!(
        "{}{}",
        mqtt_section(dir.path(), broker.port, "snapshot_interval = \"250ms\""),
        cameras(door.port(), &door_pw)
    );
    let h = TestHub::start(&config).await;
    sub.expect("hubtest/status", b"online", 15).await;
    // The demo camera's source says it is online, and so does the Reolink camera once its
    // session is up, with its battery.
    sub.expect("hubtest/yard/online", b"ON", 15).await;
    sub.state("hubtest/door/online", b"ON", 30).await;
    sub.state("hubtest/door/battery", b"80", 10).await;
    // Its Wi-Fi signal, asked at login (msg 115), read from the source within 5 s; also in
    // the camera's API and in /metrics.
    sub.state("hubtest/door/signal", b"-55", 10).await;
    assert_eq!(
        crate::rtsp_support::camera_json(&h, "door").await["video"]["source"]["wifi_signal_dbm"],
        -55
    );
    assert_eq!(
        crate::metrics::metric_present(&h, "camera_wifi_signal_dbm{camera=\"door\"}").await,
        -55.0
    );
    crate::rtsp_support::wait_camera(&h, "door", Duration::from_secs(30), |c| {
        c["last_frame_ms"].is_i64()
    })
    .await;
    crate::rtsp_support::wait_alarm_subscription(&door).await;

    // Discovery: a snapshot camera, motion, online and problem sensors for the health
    // checks that apply (all five for an agent's Pi; recording, offline and disk for others);
    // person/vehicle/animal and battery for the labelling battery camera. Retained, so a
    // subscriber that comes later sees them too.
    let mut late = Subscriber::connect(broker.port, "late-sub").await;
    late.drain(Duration::from_secs(2)).await;
    let configs: HashMap<String, serde_json::Value> = late
        .seen
        .iter()
        .filter(|m| m.topic.starts_with("homeassistant/") && m.topic.ends_with("/config"))
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", m.topic));
            (m.topic.clone(), v)
        })
        .collect();
    let mut expected: Vec<String> = Vec::new();
    let all = [
        "health_under_voltage",
        "health_throttled",
        "health_recording_stopped",
        "health_offline",
        "health_disk_low",
    ];
    let others = [
        "health_recording_stopped",
        "health_offline",
        "health_disk_low",
    ];
    let door_parts = [
        "camera", "motion", "person", "vehicle", "animal", "online", "battery", "signal",
    ];
    for (cam, parts) in [
        (
            "porch",
            [&["camera", "motion", "online"][..], &all[..]].concat(),
        ),
        (
            "yard",
            [&["camera", "motion", "online"][..], &others[..]].concat(),
        ),
        ("door", [&door_parts[..], &others[..]].concat()),
    ] {
        for p in parts {
            let component = match p {
                "camera" => "camera",
                "battery" | "signal" => "sensor",
                _ => "binary_sensor",
            };
            expected.push(format!(
                "homeassistant/{component}/testhub/{cam}_{p}/config"
            ));
        }
    }
    let mut got: Vec<String> = configs.keys().cloned().collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    let mut ids = std::collections::HashSet::new();
    for (topic, v) in &configs {
        let id = v["unique_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{topic}: no unique_id"));
        assert!(ids.insert(id.to_owned()), "{topic}: unique_id {id} twice");
        assert_eq!(v["availability"][0]["topic"], "hubtest/status", "{topic}");
        let state = v["state_topic"].as_str().or(v["topic"].as_str()).unwrap();
        let cam = v["device"]["identifiers"][0].as_str().unwrap();
        assert!(
            state.starts_with(&format!("hubtest/{}/", cam.trim_start_matches("testhub_"))),
            "{topic}: {state}"
        );
    }
    assert_eq!(
        configs["homeassistant/camera/testhub/yard_camera/config"]["device"]["name"],
        "Back yard"
    );
    assert_eq!(
        configs["homeassistant/binary_sensor/testhub/yard_motion/config"]["device_class"],
        "motion"
    );
    // Motion is off to begin with.
    assert_eq!(late.last("hubtest/door/motion").unwrap().payload, b"OFF");
    assert!(
        late.last("hubtest/door/snapshot").is_none(),
        "no snapshot without motion"
    );
    drop(late);

    // The camera reports motion for 1.5 s. Nothing on the way from its msg 33 push to the
    // broker waits on a timer (the source's status channel, the bridge, the event feed, the
    // MQTT outbox), so ON and OFF arrive within a second of the camera's reports on an
    // idle machine; 3 s allows for a loaded one. Snapshots every 250 ms while it lasts,
    // none after.
    door.set_alarm(true, &[]);
    let on = sub.expect("hubtest/door/motion", b"ON", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    door.set_alarm(false, &[]);
    let off = sub.expect("hubtest/door/motion", b"OFF", 3).await;
    sub.drain(Duration::from_secs(1)).await;
    let snaps: Vec<&Msg> = sub
        .seen
        .iter()
        .filter(|m| m.topic == "hubtest/door/snapshot")
        .collect();
    for s in &snaps {
        assert!(s.payload.starts_with(&[0xFF, 0xD8]), "a snapshot is a JPEG");
    }
    assert!(
        snaps
            .iter()
            .all(|s| s.at >= on.at - Duration::from_millis(300)
                && s.at <= off.at + Duration::from_millis(300)),
        "snapshots only while motion lasts"
    );
    // 1.5 s at one per 250 ms: the first at the start, then about 6 (the camera's key
    // frames come every 133 ms, each decoded, so each tick has a new picture).
    assert!((5..=8).contains(&snaps.len()), "{} snapshots", snaps.len());
    let ev = sub.last("hubtest/door/event").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&ev.payload).unwrap();
    assert_eq!(v["kind"], "motion");
    assert_eq!(v["active"], false);

    // A person seen: motion and the person sensor ON, then both OFF; the other labels stay
    // OFF.
    door.set_alarm(true, &["people"]);
    sub.expect("hubtest/door/person", b"ON", 3).await;
    assert_eq!(sub.last("hubtest/door/motion").unwrap().payload, b"ON");
    door.set_alarm(false, &[]);
    sub.expect("hubtest/door/person", b"OFF", 3).await;
    sub.drain(Duration::from_millis(500)).await;
    assert_eq!(sub.last("hubtest/door/motion").unwrap().payload, b"OFF");
    assert!(
        sub.seen
            .iter()
            .filter(|m| m.topic == "hubtest/door/vehicle" || m.topic == "hubtest/door/animal")
            .all(|m| m.payload == b"OFF"),
        "only the person sensor went on"
    );
    // A new battery reading (the camera pushes it at once).
    door.set_battery(77, false);
    sub.expect("hubtest/door/battery", b"77", 5).await;
    // A health event (the health checks publish them on the same feed).
    publish(
        &h,
        "door",
        What::health("offline", true, "Camera offline for more than 5 min"),
    );
    sub.expect("hubtest/door/health_offline", b"ON", 5).await;

    // A clean shutdown says offline.
    h.stop().await;
    sub.expect("hubtest/status", b"offline", 10).await;
    door.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_will_when_the_hub_process_is_killed() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let mut sub = Subscriber::connect(broker.port, "will-sub").await;
    let setup = testkit::hub::HubSetup::new(
        dir.path(),
        &format!(
            "data_dir = \"data\"\n{}[[camera]]\nid = 2\nname = \"yard\"\nkind = \"demo\"\n",
            mqtt_section(dir.path(), broker.port, "keep_alive = \"5s\"")
        ),
    )
    .unwrap();
    let mut hub = setup.start_async().await.unwrap();
    sub.expect("hubtest/status", b"online", 15).await;
    hub.kill().unwrap(); // SIGKILL: no goodbye, the broker sends the will
    sub.expect("hubtest/status", b"offline", 15).await;
    let _hub = setup.start_async().await.unwrap();
    sub.expect("hubtest/status", b"online", 15).await;
    sub.expect("hubtest/yard/online", b"ON", 15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_goes_on_while_the_broker_is_away_for_a_minute() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path()).await.unwrap();
    let config = format!(
        "{}\n[[camera]]\nid = 2\nname = \"yard\"\nkind = \"demo\"\n",
        mqtt_section(dir.path(), broker.port, "queue = 8")
    );
    let h = TestHub::start(&config).await;
    let mut sub = Subscriber::connect(broker.port, "outage-sub").await;
    sub.expect("hubtest/yard/online", b"ON", 15).await;
    let mut mjpeg = testkit::mjpeg::MjpegStream::connect(
        testkit::http_client()
            .get(h.url("/api/v1/cameras/yard/stream"))
            .basic_auth(USER, Some(PASSWORD)),
    )
    .await
    .unwrap()
    .with_part_timeout(Duration::from_secs(2));

    broker.stop();
    drop(sub);
    // A minute without a broker: motion comes and goes every second (far more than the
    // 8-message queue holds) while the live stream keeps delivering frames every second.
    let start = Instant::now();
    let mut second = 0u32;
    let mut frames = 0usize;
    while start.elapsed() < Duration::from_secs(60) {
        publish(
            &h,
            "yard",
            What::Motion {
                active: second.is_multiple_of(2),
            },
        );
        let until = start + Duration::from_secs(u64::from(second) + 1);
        let mut this_second = 0;
        while Instant::now() < until {
            mjpeg
                .next_part()
                .await
                .unwrap()
                .expect("the live stream goes on");
            this_second += 1;
        }
        assert!(this_second >= 1, "no live frame in second {second}");
        frames += this_second;
        second += 1;
    }
    // The demo camera sends 10 fps; allow for a loaded machine, not for a stall.
    assert!(
        frames >= 300,
        "{frames} live frames in 60 s without a broker"
    );
    assert_eq!(
        crate::metrics::metric_present(&h, "mqtt_connected").await,
        0.0
    );
    assert!(crate::metrics::metric_present(&h, "mqtt_dropped_messages_total").await > 0.0);
    // The last event of the outage: motion ON.
    publish(&h, "yard", What::Motion { active: true });

    broker.restart().await.unwrap();
    let mut sub = Subscriber::connect(broker.port, "outage-sub-2").await;
    // The hub reconnects (backoff at most 30 s) and publishes everything again, with the
    // states as they are now.
    sub.expect("hubtest/status", b"online", 45).await;
    sub.expect("hubtest/yard/motion", b"ON", 10).await;
    sub.drain(Duration::from_millis(500)).await;
    assert!(
        sub.seen
            .iter()
            .any(|m| m.topic == "homeassistant/binary_sensor/testhub/yard_motion/config"),
        "discovery sent again"
    );
    assert_eq!(
        crate::metrics::metric_present(&h, "mqtt_connected").await,
        1.0
    );
    assert_eq!(
        crate::metrics::metric_present(&h, "mqtt_connects_total").await,
        2.0
    );
    h.stop().await;
}

/// Makes a CA and a certificate for 127.0.0.1 signed by it (openssl); returns
/// (ca.pem, server cert, server key).
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=test broker CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "1",
        "-extfile",
        "ext",
    ]);
    (dir.join("ca.pem"), dir.join("srv.pem"), dir.join("srv.key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_broker_verifies_its_certificate() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let broker = Mosquitto::start_with_tls(dir.path(), &cert, &key)
        .await
        .unwrap();
    let tls_port = broker.tls_port.unwrap();
    let mut sub = Subscriber::connect(broker.port, "tls-sub").await;

    // A CA bundle that does not hold the broker's CA: no connection.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = certificates(other.path());
    let h = TestHub::start(&format!(
        "{}[mqtt.tls]\nca_file = {:?}\n",
        mqtt_section(dir.path(), tls_port, ""),
        other_ca.display().to_string()
    ))
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        crate::metrics::metric_present(&h, "mqtt_connected").await,
        0.0
    );
    h.stop().await;
    sub.drain(Duration::from_millis(200)).await;
    assert!(
        sub.last("hubtest/status").is_none(),
        "nothing published without trust"
    );

    // The broker's CA: connected over TLS, online.
    let h = TestHub::start(&format!(
        "{}[mqtt.tls]\nca_file = {:?}\n[[camera]]\nid = 2\nname = \"yard\"\nkind = \"demo\"\n",
        mqtt_section(dir.path(), tls_port, ""),
        ca.display().to_string()
    ))
    .await;
    sub.expect("hubtest/status", b"online", 15).await;
    sub.expect("hubtest/yard/online", b"ON", 15).await;
    assert_eq!(
        crate::metrics::metric_present(&h, "mqtt_connected").await,
        1.0
    );
    h.stop().await;
}

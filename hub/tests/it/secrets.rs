//! Camera passwords and the hub secret never leave their files: a hub process
//! bridging an RTSP camera (GStreamer test server), a Reolink camera
//! (simulator) and a camera with a wrong password runs at debug log level
//! while a client drives the pages, APIs, HLS and MSE; neither password nor
//! secret appears in its log, in any response (headers, bodies, URLs), or in
//! any file it wrote that others may read. A config file holding a password
//! inline is refused while group or others can read it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::common::{PASSWORD, USER};
use crate::rtsp_support::{
    RTSP_PASSWORD, RTSP_USER, RtspServer, password_file, rtsp_server_available,
};
use futures_util::StreamExt;
use reolink::sim::{SimCamera, SimConfig, SimEncryption, SimTransport};
use testkit::hub::HubSetup;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const REOLINK_PASSWORD: &str = "Reo-pw-5Qx81zT";
const WRONG_PASSWORD: &str = "Wrong-pw-Kd93";
const INLINE_PASSWORD: &str = "Inline-pw-77Hv";
const HUB_SECRET: &str = "hub-secret-Vm28sQ0pLr7bX4nC1ZyT";

fn secrets() -> [&'static str; 5] {
    [
        RTSP_PASSWORD,
        REOLINK_PASSWORD,
        WRONG_PASSWORD,
        INLINE_PASSWORD,
        HUB_SECRET,
    ]
}

fn leaks(haystack: &[u8]) -> Vec<&'static str> {
    secrets()
        .into_iter()
        .filter(|s| haystack.windows(s.len()).any(|w| w == s.as_bytes()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_the_hub_secret_stay_in_their_files() {
    if !rtsp_server_available() {
        return;
    }
    let rtsp = RtspServer::start().await;
    let mut sc = SimConfig::new(SimTransport::Tcp);
    sc.password = REOLINK_PASSWORD.into();
    sc.encryption = SimEncryption::Aes;
    let sim = SimCamera::start(sc).await.expect("simulator starts");

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hub.secret");
    crate::common::write_secret(&secret, HUB_SECRET);
    let rtsp_pw = password_file(dir.path(), "tapo.password", RTSP_PASSWORD);
    let reolink_pw = password_file(dir.path(), "door.password", REOLINK_PASSWORD);
    let wrong_pw = password_file(dir.path(), "wrong.password", WRONG_PASSWORD);
    let setup = HubSetup::new(
        dir.path(),
        &format!(
            "data_dir = \"data\"\nsecret_file = {secret:?}\n\
             [recordings]\nsegment_duration = \"1s\"\n\
             [[camera]]\nid = 1\nname = \"tapo\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {rp}\n\
             username = \"{RTSP_USER}\"\npassword_file = {rtsp_pw:?}\npath = \"stream1\"\n\
             [[camera]]\nid = 2\nname = \"wrong\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {rp}\n\
             username = \"{RTSP_USER}\"\npassword_file = {wrong_pw:?}\npath = \"stream2\"\n\
             [[camera]]\nid = 3\nname = \"door\"\nkind = \"reolink\"\ntransport = \"tcp\"\n\
             host = \"127.0.0.1\"\nport = {sp}\nusername = \"admin\"\npassword_file = {reolink_pw:?}\n\
             [[camera]]\nid = 4\nname = \"inline\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {rp}\n\
             username = \"{RTSP_USER}\"\npassword = \"{INLINE_PASSWORD}\"\npath = \"stream2\"\n",
            rp = rtsp.port,
            sp = sim.port(),
        ),
    )
    .unwrap();
    let (config, port) = (setup.config.clone(), setup.port);
    let hub_cmd = || {
        let mut c = setup.command();
        c.env("RUST_LOG", "debug");
        c
    };

    // With a password inline, a config others can read is refused.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = hub_cmd().output().unwrap();
    assert!(!out.status.success(), "started with a readable config");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("readable by group or others"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(leaks(&out.stderr).is_empty() && leaks(&out.stdout).is_empty());
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();

    setup.add_user(USER, PASSWORD).unwrap();
    let token = hub_cmd().args(["token", "1"]).output().unwrap();
    assert!(leaks(&token.stdout).is_empty() && leaks(&token.stderr).is_empty());

    let hub = setup.spawn(&mut hub_cmd()).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut seen: Vec<u8> = Vec::new();
    let mut record =
        |what: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]| {
            seen.extend_from_slice(format!("== {what} {status}\n").as_bytes());
            for (k, v) in headers {
                seen.extend_from_slice(k.as_str().as_bytes());
                seen.extend_from_slice(b": ");
                seen.extend_from_slice(v.as_bytes());
                seen.push(b'\n');
            }
            seen.extend_from_slice(body);
        };

    let r = client
        .post(format!("{base}/login"))
        .form(&[("username", USER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let session = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (s, hd) = (r.status().as_u16(), r.headers().clone());
    record("login", s, &hd, &r.bytes().await.unwrap());

    // Wait until the bridges have done what they will: two cameras playing,
    // the wrong password refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list: serde_json::Value = client
            .get(format!("{base}/api/cameras"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let state = |n: &str| {
            list["cameras"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == n)
                .map(|c| {
                    c["video"]["source"]["state"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned()
                })
                .unwrap_or_default()
        };
        if state("tapo") == "playing"
            && state("door") == "playing"
            && state("wrong") == "auth-failed"
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cameras did not settle: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let a recording segment or two be written.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut paths = vec![
        "/".to_owned(),
        "/login".into(),
        "/live".into(),
        "/api/cameras".into(),
        "/api/me".into(),
        "/camera/list".into(),
        "/camera/get-image?cameraId=1".into(),
        "/stream.mjpg".into(),
        "/recordings/index.html".into(),
        "/api/recordings?camera=tapo".into(),
        "/api/recordings/days?camera=tapo".into(),
        "/playback.html".into(),
        "/assets/app.js".into(),
        "/login?next=/live/tapo".into(),
        "/live/nonexistent".into(),
        "/api/v1/cameras/nonexistent".into(),
    ];
    for cam in ["tapo", "wrong", "door", "inline"] {
        for p in [
            format!("/live/{cam}"),
            format!("/api/v1/cameras/{cam}"),
            format!("/api/v1/cameras/{cam}/status"),
            format!("/{cam}/stream.m3u8"),
            format!("/timeline/{cam}"),
        ] {
            paths.push(p);
        }
    }
    let mut hls_files = Vec::new();
    for p in &paths {
        let r = client
            .get(format!("{base}{p}"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        let (s, hd) = (r.status().as_u16(), r.headers().clone());
        // Endless streams: the head and a bounded part of the body.
        let mut body = Vec::new();
        let mut stream = r.bytes_stream();
        while body.len() < 256 * 1024 {
            match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
                Ok(Some(Ok(b))) => body.extend_from_slice(&b),
                _ => break,
            }
        }
        if p.ends_with(".m3u8") {
            for line in String::from_utf8_lossy(&body).lines() {
                if !line.starts_with('#') && !line.is_empty() {
                    let cam = p.trim_start_matches('/').split('/').next().unwrap();
                    hls_files.push(format!("/{cam}/hls/{line}"));
                }
            }
        }
        record(p, s, &hd, &body);
    }
    assert!(!hls_files.is_empty(), "an HLS playlist lists files");
    for p in hls_files.iter().take(6) {
        let r = client
            .get(format!("{base}{p}"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        let (s, hd) = (r.status().as_u16(), r.headers().clone());
        record(p, s, &hd, &r.bytes().await.unwrap());
    }
    // The MSE websocket's first messages (MIME type, init segment, fragments).
    for cam in ["tapo", "door"] {
        let mut req = format!("ws://127.0.0.1:{port}/api/v1/cameras/{cam}/live.mp4.ws")
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("cookie", session.parse().unwrap());
        let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        for (k, v) in resp.headers() {
            seen.extend_from_slice(format!("{k}: {v:?}\n").as_bytes());
        }
        for _ in 0..4 {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(m))) => seen.extend_from_slice(&m.into_data()),
                _ => break,
            }
        }
    }
    // Export of whatever was recorded, and the segment files themselves.
    let list: serde_json::Value = client
        .get(format!("{base}/api/recordings?camera=tapo"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    seen.extend_from_slice(list.to_string().as_bytes());

    let found = leaks(&seen);
    assert!(found.is_empty(), "responses carry {found:?}");
    // The error a wrong password gives is there, and clear, without the password.
    let seen_text = String::from_utf8_lossy(&seen);
    assert!(
        seen_text.contains("auth-failed"),
        "the wrong password is reported"
    );

    // The log, at debug level.
    let log = hub.log();
    assert!(log.contains("DEBUG"), "debug logging is on");
    let found = leaks(log.as_bytes());
    assert!(found.is_empty(), "the log carries {found:?}");

    // Files the hub wrote: those others may read hold no secret.
    let mut files = 0;
    for f in walk(&dir.path().join("data")) {
        // (Segments still being written are renamed under our feet.)
        let (Ok(meta), Ok(bytes)) = (std::fs::metadata(&f), std::fs::read(&f)) else {
            continue;
        };
        let readable_by_others = meta.permissions().mode() & 0o077 != 0;
        let found = leaks(&bytes);
        files += 1;
        assert!(
            !readable_by_others || found.is_empty(),
            "{} (mode {:o}) holds {found:?}",
            f.display(),
            meta.permissions().mode() & 0o777
        );
    }
    assert!(files > 1, "the hub wrote its database and recordings");
    drop(hub);
    sim.stop().await;
    drop(rtsp);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

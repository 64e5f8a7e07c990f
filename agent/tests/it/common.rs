//! Helpers shared by the recording tests: ffprobe, a tiny HTTP file server, segment listing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What ffprobe says about one file.
#[derive(Debug, Clone)]
pub struct Probed {
    pub frames: u64,
    /// Stream duration minus start time.
    pub seconds: f64,
    /// `format.start_time`: where the file's media time starts (0 for every segment).
    pub start_time: f64,
    /// `format.duration` as ffprobe reports it (the end of the media time).
    pub duration: f64,
    pub width: u64,
    pub height: u64,
}

pub fn have_ffprobe() -> bool {
    testkit::ffprobe::available()
}

/// ffprobe's reading of `path` (`testkit::ffprobe::probe`); any error output,
/// a missing video stream or a codec other than H.264 is a failure.
pub fn ffprobe(path: &Path) -> Result<Probed, String> {
    let p = testkit::ffprobe::probe(path).map_err(|e| format!("{e:#}"))?;
    if p.codec != "h264" {
        return Err(format!("codec {}", p.codec));
    }
    Ok(Probed {
        frames: p.frames,
        seconds: p.span(),
        start_time: p.start_time,
        duration: p.format_duration,
        width: p.width,
        height: p.height,
    })
}

pub use testkit::mp4_files as segments;

/// Serves `file` at `/video.mp4` and a page with a muted autoplaying
/// `<video>` at `/`, from a thread; answers Range requests. Returns the base URL.
pub fn serve_video(file: PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let file = file.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut range = None;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(r) = l
                            .to_ascii_lowercase()
                            .strip_prefix("range: bytes=")
                            .map(str::to_owned)
                        {
                            range = Some(r);
                        }
                    }
                    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let (ctype, body) = if path == "/video.mp4" {
                        ("video/mp4", std::fs::read(&file).unwrap_or_default())
                    } else {
                        (
                            "text/html",
                            b"<!doctype html><video id=v src=/video.mp4 muted autoplay playsinline></video>".to_vec(),
                        )
                    };
                    let total = body.len();
                    let (status, start, end) = match range.as_deref().and_then(|r| {
                        let (a, b) = r.split_once('-')?;
                        let a: usize = a.parse().ok()?;
                        let b: usize = if b.is_empty() {
                            total.checked_sub(1)?
                        } else {
                            b.parse().ok()?
                        };
                        (a <= b && b < total).then_some((a, b))
                    }) {
                        Some((a, b)) => ("206 Partial Content", a, b + 1),
                        None => ("200 OK", 0, total),
                    };
                    let mut head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
                        end - start
                    );
                    if status.starts_with("206") {
                        head.push_str(&format!(
                            "Content-Range: bytes {start}-{}/{total}\r\n",
                            end - 1
                        ));
                    }
                    head.push_str("\r\n");
                    if stream.write_all(head.as_bytes()).is_err()
                        || stream.write_all(&body[start..end]).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Plays the file in headless Chromium: true once `currentTime` has advanced
/// by more than 1 s and `videoWidth` > 0. `Ok(None)` if Chromium is missing.
pub async fn plays_in_chromium(file: &Path) -> anyhow::Result<Option<(f64, f64)>> {
    if let Some(reason) = testkit::Browser::available() {
        eprintln!("skipping the browser check: {reason}");
        return Ok(None);
    }
    let base = serve_video(file.to_owned());
    let browser = testkit::Browser::launch().await?;
    let result = async {
        browser.goto(&format!("{base}/")).await?;
        browser
            .wait_until(
                "const v = document.getElementById('v'); return v && v.readyState >= 2 && v.videoWidth > 0;",
                Duration::from_secs(20),
            )
            .await?;
        let t0 = browser
            .eval("return document.getElementById('v').currentTime;")
            .await?
            .as_f64()
            .unwrap_or(0.0);
        browser
            .wait_until(
                &format!("const v = document.getElementById('v'); if (v.paused) v.play(); return v.currentTime > {t0} + 1.0 && v.currentTime > 1.0;"),
                Duration::from_secs(20),
            )
            .await?;
        let v = browser
            .eval("const v = document.getElementById('v'); return [v.currentTime, v.videoWidth];")
            .await?;
        Ok::<_, anyhow::Error>((v[0].as_f64().unwrap_or(0.0), v[1].as_f64().unwrap_or(0.0)))
    }
    .await;
    let _ = browser.close().await;
    result.map(Some)
}

/// Writes an agent config for a test pattern recording into `dir`.
pub fn config_text(state_dir: &Path, rec_dir: &Path, extra_record: &str, source: &str) -> String {
    format!(
        r#"
hub_url = "ws://127.0.0.1:1/video-input-stream"
camera_id = 5
token = "t"
stats_interval = "60s"
state_dir = {state:?}
[source]
{source}
[uplink]
backoff_initial = "5s"
backoff_max = "10s"
[record]
enabled = true
dir = {rec:?}
{extra_record}
"#,
        state = state_dir.to_str().unwrap(),
        rec = rec_dir.to_str().unwrap(),
    )
}

//! In-process hub for integration tests: a real server on 127.0.0.1:0 with
//! a temporary data directory and one user.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hub::app::Hub;
use hub::config::Config;
use tokio_util::sync::CancellationToken;

pub const USER: &str = "tester";
pub const PASSWORD: &str = "correct horse battery";
/// The seed test suite's secret, so the legacy token vectors apply.
pub const SECRET: &str = "NOTsoSECRETsecretUsedFORtESTS1234908";

pub struct TestHub {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub api_token: String,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub dir: tempfile::TempDir,
}

impl TestHub {
    /// Start a hub whose config is `extra` appended to a base that sets the
    /// data directory and secret; `{dir}` in `extra` is the test's
    /// temporary directory.
    pub async fn start(extra: &str) -> TestHub {
        TestHub::start_prepared(extra, |_| {}).await
    }

    /// [`TestHub::start`], after `prepare` has put files in the test's directory (token
    /// files, recordings to import) that the configuration names.
    pub async fn start_prepared(extra: &str, prepare: impl FnOnce(&Path)) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let extra = extra.replace("{dir}", &dir.path().display().to_string());
        write_secret(&dir.path().join("secret"), SECRET);
        let text = format!(
            "data_dir = {:?}\nsecret_file = {:?}\n{extra}",
            dir.path().join("data").display().to_string(),
            dir.path().join("secret").display().to_string()
        );
        let cfg = Config::parse(&text, Path::new("test.toml")).unwrap();
        let shutdown = CancellationToken::new();
        let hub = hub::server::build(cfg, shutdown.clone()).unwrap();
        let api_token = hub::auth::set_user(&hub.auth.db, USER, PASSWORD).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(hub::server::run(hub.clone(), listener));
        TestHub {
            addr,
            hub,
            api_token,
            shutdown,
            task,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// An HTTP client with no credentials that does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap()
    }

    pub fn get_auth(&self, path: &str) -> reqwest::RequestBuilder {
        self.client()
            .get(self.url(path))
            .basic_auth(USER, Some(PASSWORD))
    }

    /// GET `path` with Basic auth, as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get_auth(path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `path` read with Basic auth: its text.
    pub async fn text(&self, path: &str) -> String {
        self.get_auth(path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
    }
}

/// Signs `b` in through the login form, which then goes on to `next`, and returns once
/// the browser has left the login page. A click only queues the form's POST: a caller
/// that navigated at once could cancel it (no session cookie), or have its own page
/// replaced when the POST's redirect lands afterwards.
pub async fn browser_login(b: &testkit::Browser, h: &TestHub, next: &str) {
    b.goto(&h.url(&format!("/login?next={next}")))
        .await
        .unwrap();
    b.fill("#username", USER).await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.click("#login-button").await.unwrap();
    let login = h.url("/login");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let url = b.current_url().await.unwrap();
        if !url.starts_with(&login) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still at {url} 20 s after signing in for {next}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub fn write_secret(path: &Path, secret: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, secret).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A small valid JPEG made by the test pattern.
pub fn jpeg(frame: u32) -> Vec<u8> {
    let p = testpattern::Pattern::new(160, 120);
    testpattern::encode_jpeg(&p.render(testpattern::Stamp { frame, millis: 0 }), 70)
}

/// Decode a JPEG and read its test-pattern stamp.
pub fn stamp_of(jpeg: &[u8]) -> Option<testpattern::Stamp> {
    let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
    let rgb = d.decode().ok()?;
    let (w, h) = d.dimensions()?;
    testpattern::read_stamp(&rgb, w as u32, h as u32)
}

/// Download a recording with Basic auth and ask ffprobe for its video codec
/// and frame count; `None` when ffprobe is not installed. Panics with
/// ffprobe's complaint if the file is not valid.
pub async fn ffprobe_recording(h: &TestHub, url: &str) -> Option<(String, u64)> {
    if !testkit::ffprobe::available() {
        return None;
    }
    let bytes = h.get_auth(url).send().await.unwrap().bytes().await.unwrap();
    let f = h.dir.path().join("probe.mp4");
    std::fs::write(&f, &bytes).unwrap();
    let p = testkit::ffprobe::run(&f, true, &[]).unwrap_or_else(|e| panic!("{url}: {e:#}"));
    Some((p.codec, p.frames))
}

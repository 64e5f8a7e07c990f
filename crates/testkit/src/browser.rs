//! Headless Chromium driven over WebDriver (chromedriver + fantoccini, plain
//! HTTP on 127.0.0.1), with every wait bounded, and [`png_diff`] to compare
//! screenshots.
//!
//! A [`Browser`] owns its chromedriver process group and a fresh profile
//! directory; dropping it kills chromedriver, chromium and chromium's helpers.
//! [`LaunchOptions`] set Chromium's time zone (`TZ`) and can emulate a phone;
//! [`Browser::console_errors`] reads what the page logged as errors, and the
//! input helpers ([`Browser::press`], [`Browser::drag`], ...) go through
//! WebDriver actions, so pages get real pointer and key events.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::actions::{
    InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction,
    TouchActions,
};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::process::{self, ChildGuard, Signal};

/// The Chromium binary (Debian's package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The chromedriver binary (Debian's package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Default bound of every browser operation and wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on chromedriver start-up plus session creation (chromium launch).
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Chromium flags: headless as root, and quiet on a closed network (without
/// the background-networking flags chromium keeps trying to reach Google).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--window-size=1280,800",
    // Dates and numbers formatted the same on every machine.
    "--lang=en-US",
];

/// How to launch the browser: [`Browser::launch_with`].
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Chromium's time zone (`TZ`, an IANA name such as
    /// `"America/New_York"`); `None` keeps the test's own.
    pub time_zone: Option<String>,
    /// Emulate a phone with this CSS viewport (width, height), e.g. (390,
    /// 844): touch, a mobile user agent, and pages laid out at device width.
    /// Mouse input then reaches pages as touch too.
    pub phone: Option<(u32, u32)>,
}

/// The phone user agent [`LaunchOptions::phone`] sends (an Android Chrome).
const PHONE_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36";

/// chromedriver's `POST /session/{id}/se/log`: the browser console since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> std::result::Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// A headless Chromium session. Methods take `&self`; wrap in an `Arc` or
/// use [`Browser::client`] for anything not covered.
pub struct Browser {
    /// `None` once closed.
    client: Option<Client>,
    driver: ChildGuard,
    profile: tempfile::TempDir,
    timeout: Duration,
}

impl Browser {
    /// `None` if the browser can be launched here, else why not, so a test
    /// can print the reason and skip:
    ///
    /// ```no_run
    /// # async fn t() -> anyhow::Result<()> {
    /// if let Some(reason) = testkit::Browser::available() {
    ///     eprintln!("skipping: {reason}");
    ///     return Ok(());
    /// }
    /// let browser = testkit::Browser::launch().await?;
    /// # Ok(()) }
    /// ```
    pub fn available() -> Option<&'static str> {
        if !Path::new(CHROMIUM).is_file() {
            return Some("chromium not installed at /usr/bin/chromium (apt-get install chromium)");
        }
        if !Path::new(CHROMEDRIVER).is_file() {
            return Some(
                "chromedriver not installed at /usr/bin/chromedriver (apt-get install chromium-driver)",
            );
        }
        None
    }

    /// Starts chromedriver on a free port and opens a session with a fresh
    /// profile. Retries twice, in case another process took the port.
    pub async fn launch() -> Result<Browser> {
        Self::launch_with(LaunchOptions::default()).await
    }

    /// [`Browser::launch`] with a time zone and/or a phone's screen.
    pub async fn launch_with(opts: LaunchOptions) -> Result<Browser> {
        if let Some(reason) = Self::available() {
            bail!("cannot launch the browser: {reason}");
        }
        let mut last = None;
        for _ in 0..3 {
            match Self::launch_once(&opts).await {
                Ok(browser) => return Ok(browser),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("three attempts were made"))
    }

    async fn launch_once(opts: &LaunchOptions) -> Result<Browser> {
        let profile = tempfile::Builder::new()
            .prefix("testkit-chromium-")
            .tempdir()
            .context("creating the chromium profile directory")?;
        let port = process::free_port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            // Keep chromium's crash database and caches out of $HOME.
            .env("XDG_CONFIG_HOME", profile.path().join("xdg-config"))
            .env("XDG_CACHE_HOME", profile.path().join("xdg-cache"));
        if let Some(tz) = &opts.time_zone {
            cmd.env("TZ", tz); // chromium inherits chromedriver's environment
        }
        let driver = process::spawn_logged_group(&mut cmd, "chromedriver")?;
        // Its own announcement, not just an answer on the port: that could
        // come from whoever took the port first.
        driver
            .wait_for_log_async(&format!("on port {port}"), Duration::from_secs(10))
            .await?;
        let url = format!("http://127.0.0.1:{port}");
        process::wait_for_http(&format!("{url}/status"), Duration::from_secs(10)).await?;

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let ms = DEFAULT_TIMEOUT.as_millis() as u64;
        let mut chrome = json!({ "binary": CHROMIUM, "args": args });
        if let Some((width, height)) = opts.phone {
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true, "mobile": true },
                "userAgent": PHONE_USER_AGENT,
            });
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": chrome,
            "goog:loggingPrefs": { "browser": "ALL" },
            "timeouts": { "pageLoad": ms, "script": ms, "implicit": 0 },
        });
        let Value::Object(caps) = caps else {
            unreachable!("json! of an object literal is an object")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let client = match tokio::time::timeout(LAUNCH_TIMEOUT, builder.connect(&url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                return Err(anyhow!(e).context(format!(
                    "creating a WebDriver session; chromedriver log:\n{}",
                    driver.log()
                )));
            }
            Err(_) => bail!("no WebDriver session within {LAUNCH_TIMEOUT:?}"),
        };
        Ok(Browser {
            client: Some(client),
            driver,
            profile,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The fantoccini client, for anything the helpers do not cover (bound
    /// your own waits).
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the browser is open until close()")
    }

    /// Changes the bound of every later operation (default [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// chromedriver's output so far.
    pub fn driver_log(&self) -> String {
        self.driver.log()
    }

    /// The fresh profile directory (`--user-data-dir`).
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    async fn bounded<T, E>(
        &self,
        what: impl Display,
        fut: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<T>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.with_context(|| what.to_string()),
            Err(_) => bail!("{what}: no answer within {:?}", self.timeout),
        }
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.bounded(format_args!("goto {url}"), self.client().goto(url))
            .await
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> Result<String> {
        let url = self
            .bounded("current_url", self.client().current_url())
            .await?;
        Ok(url.to_string())
    }

    /// Waits at most `timeout` for an element matching `css`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let wait = self
            .client()
            .wait()
            .at_most(timeout)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css));
        match tokio::time::timeout(timeout + Duration::from_secs(5), wait).await {
            Ok(r) => r.with_context(|| format!("waiting {timeout:?} for {css:?}")),
            Err(_) => bail!("waiting {timeout:?} for {css:?}: WebDriver did not answer"),
        }
    }

    /// Replaces the value of the input matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.wait_for(css, self.timeout).await?;
        self.bounded(format_args!("clear {css:?}"), el.clear())
            .await?;
        self.bounded(format_args!("type into {css:?}"), el.send_keys(text))
            .await
    }

    /// Clicks the element matching `css` (waiting for it to exist).
    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.wait_for(css, self.timeout).await?;
        self.bounded(format_args!("click {css:?}"), el.click())
            .await
    }

    /// The rendered text of the element matching `css` (waiting for it to exist).
    pub async fn text(&self, css: &str) -> Result<String> {
        let el = self.wait_for(css, self.timeout).await?;
        self.bounded(format_args!("text of {css:?}"), el.text())
            .await
    }

    /// Waits at most `timeout` until the text of `css` contains `needle`;
    /// returns the whole text.
    pub async fn wait_for_text(
        &self,
        css: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match self.client().find(Locator::Css(css)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if last.contains(needle) {
                return Ok(last);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "text of {css:?} did not contain {needle:?} within {timeout:?}; last: {last:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `js` as a function body (use `return` to return a value) and
    /// returns its JSON result.
    pub async fn eval(&self, js: &str) -> Result<Value> {
        self.eval_with(js, Vec::new()).await
    }

    /// [`Browser::eval`] with `arguments[0..]` set to `args`.
    pub async fn eval_with(&self, js: &str, args: Vec<Value>) -> Result<Value> {
        self.bounded(format_args!("eval {js:?}"), self.client().execute(js, args))
            .await
    }

    /// Runs `js` as an async function body: it must call the callback
    /// `arguments[arguments.length - 1]` with its result (bounded by the
    /// session's script timeout).
    pub async fn eval_async(&self, js: &str) -> Result<Value> {
        self.bounded(
            format_args!("eval_async {js:?}"),
            self.client().execute_async(js, Vec::new()),
        )
        .await
    }

    /// Evaluates `js` (a function body with `return`) every 50 ms until its
    /// result is truthy; returns it. Fails at `timeout` with the last result.
    pub async fn wait_until(&self, js: &str, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = self.eval(js).await?;
            if truthy(&last) {
                return Ok(last);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{js:?} not truthy within {timeout:?}; last: {last}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What pages logged as errors since the last call (console errors,
    /// uncaught exceptions, failed requests), one line each.
    pub async fn console_errors(&self) -> Result<Vec<String>> {
        let log = self
            .bounded(
                "reading the browser log",
                self.client().issue_cmd(BrowserLog),
            )
            .await?;
        Ok(log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    async fn perform(
        &self,
        what: &str,
        actions: impl Into<fantoccini::actions::Actions>,
    ) -> Result<()> {
        self.bounded(what, self.client().perform_actions(actions))
            .await?;
        self.bounded(
            format_args!("{what}: releasing"),
            self.client().release_actions(),
        )
        .await
    }

    /// Presses `keys` together (a chord, e.g. `[Key::Shift, Key::Right]`)
    /// and releases them, through WebDriver key actions: the page gets real
    /// `keydown`/`keyup` events wherever the focus is.
    pub async fn press(&self, keys: &[char]) -> Result<()> {
        let mut seq = KeyActions::new("keyboard".into());
        for k in keys {
            seq = seq.then(KeyAction::Down { value: *k });
        }
        for k in keys.iter().rev() {
            seq = seq.then(KeyAction::Up { value: *k });
        }
        self.perform(&format!("pressing {keys:?}"), seq).await
    }

    /// Moves the mouse to viewport point `at` (CSS pixels) without pressing.
    pub async fn hover(&self, at: (f64, f64)) -> Result<()> {
        let seq = MouseActions::new("mouse".into()).then(PointerAction::MoveTo {
            duration: None,
            x: at.0.round(),
            y: at.1.round(),
        });
        self.perform(&format!("hovering at {at:?}"), seq).await
    }

    /// A left click at viewport point `at` (CSS pixels, rounded to whole ones).
    pub async fn click_at(&self, at: (f64, f64)) -> Result<()> {
        let seq = pointer_path(MouseActions::new("mouse".into()), &[at]);
        self.perform(&format!("clicking at {at:?}"), seq).await
    }

    /// Presses the left button at viewport point `from`, moves to `to` in
    /// `steps` even moves, and releases there (CSS pixels, rounded).
    pub async fn drag(&self, from: (f64, f64), to: (f64, f64), steps: u32) -> Result<()> {
        let seq = pointer_path(MouseActions::new("mouse".into()), &path(from, to, steps));
        self.perform(&format!("dragging {from:?} -> {to:?}"), seq)
            .await
    }

    /// A finger tap at viewport point `at` (touch pointer events).
    pub async fn tap(&self, at: (f64, f64)) -> Result<()> {
        let seq = pointer_path(TouchActions::new("finger".into()), &[at]);
        self.perform(&format!("tapping at {at:?}"), seq).await
    }

    /// A finger put down at `from`, moved to `to` in `steps` even moves and
    /// lifted there (touch pointer events).
    pub async fn swipe(&self, from: (f64, f64), to: (f64, f64), steps: u32) -> Result<()> {
        let seq = pointer_path(TouchActions::new("finger".into()), &path(from, to, steps));
        self.perform(&format!("swiping {from:?} -> {to:?}"), seq)
            .await
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>> {
        self.bounded("screenshot", self.client().screenshot()).await
    }

    /// Ends the WebDriver session (chromedriver then stops chromium) and
    /// kills whatever is left. Dropping the browser kills without asking.
    pub async fn close(mut self) -> Result<()> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        let closed = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        // Give chromedriver a moment to reap chromium before the kill.
        let _ = self.driver.signal(Signal::Term);
        let _ = self.driver.wait_timeout_async(Duration::from_secs(2)).await;
        drop(self);
        match closed {
            Ok(r) => r.context("closing the WebDriver session"),
            Err(_) => bail!("closing the WebDriver session: no answer within 10s"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Dropping the client only queues a session delete; kill instead.
        drop(self.client.take());
        let mut victims = descendants(self.driver.pid());
        victims.extend(processes_mentioning(self.profile.path()));
        let _ = self.driver.kill(); // its whole process group
        for pid in victims {
            let _ = process::signal_pid(pid, Signal::Kill);
        }
        // `profile` is removed after this, once nothing writes to it.
    }
}

/// `from`, then `steps` even steps to `to`.
fn path(from: (f64, f64), to: (f64, f64), steps: u32) -> Vec<(f64, f64)> {
    let steps = steps.max(1);
    let mut out = vec![from];
    for i in 1..=steps {
        let f = f64::from(i) / f64::from(steps);
        out.push((from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f));
    }
    out
}

/// A pointer (mouse or finger) put down at the first point, moved through
/// the others (30 ms each) and lifted at the last; points rounded to whole
/// CSS pixels.
fn pointer_path<S: InputSource<Action = PointerAction>>(src: S, points: &[(f64, f64)]) -> S {
    let at = |(x, y): (f64, f64), duration| PointerAction::MoveTo {
        duration,
        x: x.round(),
        y: y.round(),
    };
    let mut seq = src.then(at(points[0], None)).then(PointerAction::Down {
        button: MOUSE_BUTTON_LEFT,
    });
    for p in &points[1..] {
        seq = seq.then(at(*p, Some(Duration::from_millis(30))));
    }
    seq.then(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    })
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Every live process and its parent, from /proc.
fn process_table() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parens.
            let mut fields = stat.rsplit_once(") ")?.1.split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?.parse().ok()?;
            (state != "Z" && state != "X").then_some((pid, ppid))
        })
        .collect()
}

/// All live descendants of `root`.
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid) in process_table() {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            out.push(c);
            stack.push(c);
        }
    }
    out
}

/// Live processes whose command line mentions `path` (our profile directory
/// is unique, so these are our chromium's).
fn processes_mentioning(path: &Path) -> Vec<u32> {
    let needle = path.as_os_str().as_encoded_bytes();
    if needle.is_empty() {
        return Vec::new();
    }
    process_table()
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Decodes a PNG to 8-bit RGBA: `(width, height, pixels)`.
pub fn decode_png_rgba(png_bytes: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().context("reading PNG header")?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| anyhow!("PNG too large"))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).context("decoding PNG")?;
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Indexed => bail!("indexed PNG was not expanded"),
    };
    Ok((info.width, info.height, rgba))
}

/// The fraction (0.0 to 1.0) of pixels that differ between two PNGs, compared
/// as 8-bit RGBA; 1.0 if their sizes differ.
///
/// # Panics
/// If either input is not a valid PNG.
pub fn png_diff(a: &[u8], b: &[u8]) -> f64 {
    let (wa, ha, pa) = decode_png_rgba(a).expect("png_diff: first image is not a valid PNG");
    let (wb, hb, pb) = decode_png_rgba(b).expect("png_diff: second image is not a valid PNG");
    if (wa, ha) != (wb, hb) {
        return 1.0;
    }
    let total = u64::from(wa) * u64::from(ha);
    if total == 0 {
        return 0.0;
    }
    let differing = pa
        .chunks_exact(4)
        .zip(pb.chunks_exact(4))
        .filter(|(x, y)| x != y)
        .count();
    differing as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(w: u32, h: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(data).unwrap();
        out
    }

    #[test]
    fn png_diff_counts_differing_pixels() {
        let a: Vec<u8> = (0..4 * 4 * 3).map(|i| i as u8).collect();
        let mut b = a.clone();
        b[0] ^= 1; // pixel 0
        b[3 * 5 + 2] ^= 1; // pixel 5
        let (pa, pb) = (
            encode(4, 4, png::ColorType::Rgb, &a),
            encode(4, 4, png::ColorType::Rgb, &b),
        );
        assert_eq!(png_diff(&pa, &pa), 0.0);
        assert_eq!(png_diff(&pa, &pb), 2.0 / 16.0);
        let other_size = encode(2, 8, png::ColorType::Rgb, &a);
        assert_eq!(png_diff(&pa, &other_size), 1.0);
        // Gray and RGB of the same pixels compare equal.
        let gray = encode(2, 1, png::ColorType::Grayscale, &[7, 9]);
        let rgb = encode(2, 1, png::ColorType::Rgba, &[7, 7, 7, 255, 9, 9, 9, 255]);
        assert_eq!(png_diff(&gray, &rgb), 0.0);
    }

    #[test]
    fn truthiness() {
        let cases = [
            (json!(null), false),
            (json!(0), false),
            (json!(0.5), true),
            (json!(""), false),
            (json!("x"), true),
            (json!([]), true),
            (json!(false), false),
        ];
        for (v, want) in cases {
            assert_eq!(truthy(&v), want, "{v}");
        }
    }

    #[test]
    fn descendants_of_this_process() {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg("sleep 30")
            .spawn()
            .unwrap();
        let found = descendants(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&child.id()), "{found:?}");
    }
}

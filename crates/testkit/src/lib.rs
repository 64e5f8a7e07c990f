//! Dev-only test kit shared by the workspace's integration tests.
//!
//! Everything here runs on 127.0.0.1 and every wait is bounded in time, so a
//! broken build fails a test instead of hanging it.
//!
//! - [`process`]: find workspace binaries, run them with captured logs,
//!   signal them, wait for a log line or an HTTP port.
//! - [`mjpeg`]: read a `multipart/x-mixed-replace` stream of JPEG parts.
//! - [`browser`]: drive headless Chromium through chromedriver, and compare
//!   screenshots with [`png_diff`].
//! - [`faultproxy`]: a TCP proxy that stalls, injects garbage or cuts on request.
//! - [`garage`]: a real single-node Garage (S3) with a bucket and key, stoppable.
//! - [`hub`]: the hub binary as a process: config file, user, token, start.
//! - [`h264`]: real H.264 from openh264, cut into fMP4 segments by `media`.
//! - [`ffprobe`]: ffprobe/ffmpeg as the judge of recorded files.
//! - [`mosquitto`]: a real Mosquitto broker on loopback with a password file, stoppable.
//!
//! This crate may print: a [`process::ChildGuard`] dropped while its test
//! panics writes the child's log to stderr, where the test harness shows it.

pub mod browser;
pub mod faultproxy;
pub mod ffprobe;
pub mod garage;
pub mod h264;
pub mod hub;
pub mod mjpeg;
pub mod mosquitto;
pub mod process;

pub use browser::{Browser, LaunchOptions, png_diff};
/// Key codes for [`Browser::press`] (`Key::Right.into()` is a `char`).
pub use fantoccini::key::Key;
pub use faultproxy::FaultProxy;
pub use garage::Garage;
pub use mosquitto::Mosquitto;
pub use process::{ChildGuard, Signal};

/// Re-exported so tests build requests (basic auth, cookies) with the same
/// reqwest as [`mjpeg::MjpegStream::connect`] without a dependency of their own.
pub use reqwest;

/// Re-exported for [`Browser::client`] users.
pub use fantoccini;

use std::time::Duration;

/// Connect timeout of [`http_client`].
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for loopback tests: plain HTTP, never a proxy (whatever the
/// environment says), a connect timeout, and no overall timeout so endless
/// streams such as MJPEG can be read (bound each read instead).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(HTTP_CONNECT_TIMEOUT)
        .build()
        .expect("building a plain-HTTP reqwest client cannot fail")
}

/// Held by a test that needs the machine to itself within its test binary;
/// released on drop. See [`exclusive`].
#[derive(Debug)]
pub struct Exclusive(());

static EXCLUSIVE: (std::sync::Mutex<bool>, std::sync::Condvar) =
    (std::sync::Mutex::new(false), std::sync::Condvar::new());

/// Waits until no other test of this binary holds the exclusive slot, then
/// takes it. The harness runs a binary's tests in parallel threads; the few
/// that load the whole machine for a bounded time (a qemu guest, systemd in a
/// container, thousands of sockets) take this so they run one at a time,
/// while every other test still runs beside them. A blocking wait: call it
/// at the start of a test (in an async test it blocks only that test).
pub fn exclusive() -> Exclusive {
    let (lock, freed) = &EXCLUSIVE;
    let mut taken = lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while *taken {
        taken = freed
            .wait(taken)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    *taken = true;
    Exclusive(())
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        let (lock, freed) = &EXCLUSIVE;
        *lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        freed.notify_one();
    }
}

/// Finished segments (`*.mp4`) in `dir`, oldest first (their names sort by time);
/// empty if `dir` does not exist.
pub fn mp4_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    /// Tests move these into spawned tasks and threads.
    #[test]
    fn handles_are_send() {
        fn send<T: Send>() {}
        send::<crate::Browser>();
        send::<crate::ChildGuard>();
        send::<crate::Garage>();
        send::<crate::mjpeg::MjpegStream>();
        send::<crate::mjpeg::PartParser>();
    }
}

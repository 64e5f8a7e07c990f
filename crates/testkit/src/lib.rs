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
//!
//! This crate may print: a [`process::ChildGuard`] dropped while its test
//! panics writes the child's log to stderr, where the test harness shows it.

pub mod browser;
pub mod faultproxy;
pub mod garage;
pub mod mjpeg;
pub mod process;

pub use browser::{Browser, LaunchOptions, png_diff};
/// Key codes for [`Browser::press`] (`Key::Right.into()` is a `char`).
pub use fantoccini::key::Key;
pub use faultproxy::FaultProxy;
pub use garage::Garage;
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

//! MJPEG viewers (the project's own `testkit::mjpeg` reader): each holds one live stream
//! open for the whole run and counts its frames; a stream that fails or ends is counted
//! and reopened after a second.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use testkit::mjpeg::MjpegStream;
use tokio::task::JoinSet;

/// How long a viewer waits for one frame before it counts the stream as failed.
const PART_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct ViewerStats {
    /// Frames received by all viewers.
    pub frames: AtomicU64,
    /// Streams opened (the first of each viewer included).
    pub connects: AtomicU64,
    /// Streams that failed or ended while the run went on.
    pub failures: AtomicU64,
    /// The last few failure messages.
    pub last_errors: Mutex<Vec<String>>,
    /// Frames per viewer.
    pub per_viewer: Mutex<Vec<u64>>,
}

/// Viewers of the hub at `base` (`http://127.0.0.1:PORT`), spread round-robin over
/// `cameras`; stopped when the returned set is dropped or aborted.
pub fn start(
    base: &str,
    user: &str,
    password: &str,
    cameras: &[String],
    n: usize,
    stats: Arc<ViewerStats>,
) -> JoinSet<()> {
    let client = testkit::http_client();
    *stats.per_viewer.lock().unwrap_or_else(|e| e.into_inner()) = vec![0; n];
    let mut set = JoinSet::new();
    for i in 0..n {
        let url = format!(
            "{base}/api/v1/cameras/{}/stream",
            cameras[i % cameras.len()]
        );
        let (client, stats) = (client.clone(), stats.clone());
        let (user, password) = (user.to_owned(), password.to_owned());
        set.spawn(async move {
            loop {
                let req = client.get(&url).basic_auth(&user, Some(&password));
                stats.connects.fetch_add(1, Ordering::Relaxed);
                let err = match MjpegStream::connect(req).await {
                    Ok(s) => read_all(s.with_part_timeout(PART_TIMEOUT), &stats, i).await,
                    Err(e) => format!("{url}: {e:#}"),
                };
                stats.failures.fetch_add(1, Ordering::Relaxed);
                {
                    let mut last = stats.last_errors.lock().unwrap_or_else(|e| e.into_inner());
                    if last.len() >= 5 {
                        last.remove(0);
                    }
                    last.push(err);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    set
}

/// Reads parts until the stream fails or ends; returns why.
async fn read_all(mut s: MjpegStream, stats: &ViewerStats, i: usize) -> String {
    let mut local = 0u64;
    let why = loop {
        match s.next_part().await {
            Ok(Some(_)) => {
                local += 1;
                if local.is_multiple_of(16) {
                    flush(stats, i, &mut local);
                }
            }
            Ok(None) => break "stream ended".to_owned(),
            Err(e) => break format!("{e:#}"),
        }
    };
    flush(stats, i, &mut local);
    why
}

fn flush(stats: &ViewerStats, i: usize, local: &mut u64) {
    stats.frames.fetch_add(*local, Ordering::Relaxed);
    stats.per_viewer.lock().unwrap_or_else(|e| e.into_inner())[i] += *local;
    *local = 0;
}

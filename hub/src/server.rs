//! Assemble a running hub from its configuration: database, secret, camera
//! registry, sources, and the web server on a listener the caller supplies
//! (so tests bind `127.0.0.1:0`). Stops when the shutdown token is cancelled.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::Hub;
use crate::auth::Auth;
use crate::camera::Registry;
use crate::config::Config;
use crate::db::Db;
use crate::web;

/// How long open connections get to finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub fn db_path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("hub.db")
}

pub fn secret_path(cfg: &Config) -> PathBuf {
    cfg.secret_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("secret"))
}

/// Create the data directory (mode 0700) if needed.
pub fn ensure_data_dir(cfg: &Config) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !cfg.data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.data_dir)
            .with_context(|| format!("creating data_dir {}", cfg.data_dir.display()))?;
    }
    Ok(())
}

/// Read the hub secret, creating a random one (mode 0600) if the file does
/// not exist. Refuses a secret file that group or others can read.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match read_secret(path)? {
        Some(secret) => Ok(secret),
        None => {
            let secret = crate::auth::random_hex(32);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("secret_file {}: cannot create", path.display()))?;
            writeln!(f, "{secret}")?;
            f.sync_all()?;
            tracing::info!(path = %path.display(), "created a new hub secret");
            Ok(secret.into_bytes())
        }
    }
}

/// The hub secret in `path`, checked (private, at least 16 characters); `None` if there
/// is no such file yet.
fn read_secret(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "secret_file {}: readable by group or others (mode {:o}); run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("secret_file {}: cannot read", path.display()))?;
            let secret = text.trim();
            if secret.len() < 16 {
                bail!(
                    "secret_file {}: the secret must be at least 16 characters",
                    path.display()
                );
            }
            Ok(Some(secret.as_bytes().to_vec()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("secret_file {}", path.display())),
    }
}

/// The checks of the files a configuration names, each problem naming its key and
/// file: the hub secret (private, long enough; a missing one is created by `serve`),
/// the TLS certificate and key, and every bridged camera's `password_file` (private,
/// readable). `serve` runs them at start-up (it refuses to start on the first two and
/// runs without a camera whose password it cannot read); `check-config` runs the same
/// and fails on any.
pub fn check_files(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = read_secret(&secret_path(cfg)) {
        problems.push(format!("{e:#}"));
    }
    if let Some(t) = &cfg.tls
        && let Err(e) = crate::listener::tls_acceptor(&t.cert, &t.key)
    {
        problems.push(format!("{e:#}"));
    }
    // Reads each agent camera's token_file, as the start below does.
    if let Err(e) = Registry::new(&cfg.cameras) {
        problems.push(e.to_string());
    }
    for (i, c) in cfg.cameras.iter().enumerate() {
        if let Some(file) = c.source.password_file()
            && let Err(e) = crate::sources::read_password(Some(file), None)
        {
            problems.push(format!("camera[{i}] ({}): {e}", c.name));
        }
    }
    if let Some(o) = &cfg.offsite {
        problems.extend(crate::offsite::check_files(o));
    }
    problems
}

/// Open the database and secret and build the shared state.
pub fn build(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<Arc<Hub>> {
    ensure_data_dir(&cfg)?;
    let secret = load_or_create_secret(&secret_path(&cfg))?;
    let db =
        Db::open(&db_path(&cfg)).with_context(|| format!("opening {}", db_path(&cfg).display()))?;
    let cameras = Registry::new(&cfg.cameras).map_err(anyhow::Error::msg)?;
    let cfg_tls = cfg.tls.is_some();
    let mut recordings = crate::recordings::Recordings::open(&cfg, db.clone())
        .context("opening the recordings directories")?;
    let report =
        crate::recordings::check::run_at_start(&recordings).context("checking the recordings")?;
    if !report.is_clean() {
        tracing::warn!(
            actions = report.lines().len(),
            "start-up check repaired the recordings index"
        );
    }
    let events = Arc::new(crate::event_store::EventStore::new(db.clone()));
    let auth = Auth::new(db.clone(), cfg.session_lifetime.as_duration());
    let metrics_token = match &cfg.metrics.token_file {
        None => None,
        Some(p) => {
            let token = crate::config::read_secret_file("metrics.token_file", p)
                .map_err(anyhow::Error::msg)?;
            if token.trim().len() < 16 {
                bail!(
                    "metrics.token_file {}: the token must be at least 16 characters",
                    p.display()
                );
            }
            Some(token.trim().to_owned())
        }
    };
    let webhooks = crate::webhooks::stats_for(&cfg.webhooks)?;
    let offsite = match &cfg.offsite {
        None => None,
        Some(o) => Some(crate::offsite::open_bucket(o, db.clone())?),
    };
    if let Some(bucket) = &offsite {
        let runtime = tokio::runtime::Handle::try_current()
            .context("the hub is built inside its runtime (reads from the bucket run on it)")?;
        recordings.set_offsite(Box::new(crate::offsite::read::OffsiteReader::new(
            bucket.clone(),
            runtime,
        )));
    }
    Ok(Arc::new(Hub {
        cfg,
        cameras,
        auth,
        secret,
        shutdown,
        tls: cfg_tls,
        recordings: Arc::new(recordings),
        events,
        metrics_token,
        connections: Arc::default(),
        mqtt: Arc::default(),
        webhooks,
        offsite,
        replication: Arc::default(),
    }))
}

pub use crate::listener::{fd_limit, raise_fd_limit};

/// Run the hub on `listener` until `shutdown` is cancelled.
pub async fn run(hub: Arc<Hub>, listener: TcpListener) -> anyhow::Result<()> {
    let tracker = TaskTracker::new();
    // First: a configuration it cannot use stops the hub before anything else starts.
    crate::mqtt::spawn(&hub, &tracker, &hub.shutdown)?;
    crate::webhooks::spawn(&hub, &tracker, &hub.shutdown)?;
    crate::sources::spawn_all(&hub.cfg.cameras, &hub.cameras, &tracker, &hub.shutdown);
    crate::recordings::spawn_all(&hub.recordings, &hub.cameras, &tracker, &hub.shutdown);
    crate::event_log::spawn(&hub.cameras, &tracker, &hub.shutdown);
    crate::event_store::spawn(&hub.events, &hub.cameras, &tracker, &hub.shutdown);
    crate::health::footage::spawn(&hub, &tracker, &hub.shutdown);
    crate::health::monitor::spawn(hub.clone(), &tracker, &hub.shutdown);
    crate::offsite::restore::spawn_refresh(&hub, &tracker, &hub.shutdown);
    crate::offsite::replicate::spawn(&hub, &tracker, &hub.shutdown);
    let app = web::router(web::WebState::start(hub.clone(), &tracker));
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        cameras = hub.cfg.cameras.len(),
        tls = hub.cfg.tls.is_some(),
        "hub listening"
    );
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    if let Some(period) = sd_notify::watchdog_enabled() {
        tracker.spawn(watchdog(hub.clone(), addr, period));
    }
    let tls = match &hub.cfg.tls {
        None => None,
        Some(t) => Some(crate::listener::tls_acceptor(&t.cert, &t.key)?),
    };
    let limits = hub.cfg.connections.limits();
    let server = tokio::spawn(crate::listener::serve(
        listener,
        app,
        tls,
        limits,
        hub.shutdown.clone(),
        SHUTDOWN_GRACE,
        Arc::clone(&hub.connections),
    ));
    spawn_check_after_start(&hub, &tracker);
    hub.shutdown.cancelled().await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("shutting down");
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        let _ = server.await;
        tracker.wait().await;
    })
    .await
    .is_err()
    {
        tracing::warn!("some connections did not finish in time; closing them");
    }
    Ok(())
}

/// The start-up check's files-against-rows comparison and thumbnail check, on one
/// blocking thread while the hub serves (see [`crate::recordings::check`]).
fn spawn_check_after_start(hub: &Arc<Hub>, tracker: &TaskTracker) {
    let rec = hub.recordings.clone();
    let stop = hub.shutdown.clone();
    tracker.spawn(async move {
        let done = tokio::task::spawn_blocking(move || {
            crate::recordings::check::run_after_start(&rec, &|| stop.is_cancelled())
        })
        .await;
        match done {
            Ok(Ok(report)) if !report.is_clean() => tracing::warn!(
                actions = report.lines().len(),
                "start-up check of files against rows done; it repaired the recordings index"
            ),
            Ok(Ok(_)) => tracing::info!("start-up check of files against rows done; they agree"),
            Ok(Err(e)) => tracing::error!(error = %e, "start-up check of the recordings failed"),
            Err(e) => tracing::error!(error = %e, "start-up check task failed"),
        }
    });
}

/// Feed systemd's watchdog from real work, not a timer: each half period,
/// the hub answers a request through its own listener and router (plain
/// HTTP; under TLS a TCP accept), and the database answers a query. If
/// either is stuck, the watchdog goes unfed and systemd restarts the hub.
async fn watchdog(hub: Arc<Hub>, addr: SocketAddr, period: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tick = tokio::time::interval(period / 2);
    let limit = period / 4;
    let probe_addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    loop {
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let http = async {
            let mut s = tokio::net::TcpStream::connect(probe_addr).await.ok()?;
            if hub.cfg.tls.is_some() {
                return Some(());
            }
            s.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .ok()?;
            let mut head = [0u8; 12];
            s.read_exact(&mut head).await.ok()?;
            head.starts_with(b"HTTP/1.1 200").then_some(())
        };
        let db = hub.auth.db.call(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(crate::db::DbError::from)
        });
        let healthy =
            tokio::time::timeout(limit, async { http.await.is_some() && db.await.is_ok() })
                .await
                .unwrap_or(false);
        if healthy {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::warn!("self-check failed; not feeding the systemd watchdog");
        }
    }
}

/// Cancel `token` on the first SIGTERM or SIGINT; exit at once on a second.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("signal received; stopping (send again to exit at once)");
        token.cancel();
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::warn!("second signal; exiting now");
        std::process::exit(130);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_is_created_private_and_refused_when_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        let s1 = load_or_create_secret(&p).unwrap();
        assert_eq!(s1.len(), 64);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            load_or_create_secret(&p).unwrap(),
            s1,
            "the same secret on every start"
        );

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create_secret(&p).unwrap_err().to_string();
        assert!(e.contains("readable by group or others"), "{e}");
        assert!(e.contains("chmod 600"), "{e}");

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&p, "short").unwrap();
        let e = load_or_create_secret(&p).unwrap_err().to_string();
        assert!(e.contains("at least 16"), "{e}");
    }
}

//! The hub's one listening port: accepts TCP connections under a cap, bounds
//! every phase in which it waits on the peer, and serves HTTP/1.1 (with
//! upgrades, for websockets) through hyper, optionally inside TLS.
//!
//! - At most `max_connections` connections are open at once, websockets
//!   included (the count travels with the socket through an upgrade), and at
//!   most `max_per_address` from one client address. Past either, a new
//!   connection is accepted and closed at once, so the kernel's backlog never
//!   fills with peers that will wait forever and one address cannot take
//!   every slot.
//! - A connection must deliver a whole request head within `header_timeout`
//!   of opening, and of finishing its previous response (hyper's header read
//!   timeout, which also ends idle keep-alive connections).
//! - Under TLS the handshake must finish within `handshake_timeout`.
//! - Request bodies must keep arriving (`body_timeout`, `min_body_rate`) and
//!   are bounded by route ([`crate::web::limits`]); websockets that do not
//!   finish their hello by an absolute deadline are ended by their handlers
//!   ([`crate::web::ws::HELLO_TIMEOUT`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::stop::StopSource;

/// The bounds on connections (`[connections]` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_per_address: usize,
}

/// Open connections by client address; an entry lives while its count is above 0.
#[derive(Debug, Default)]
struct PerAddress(std::sync::Mutex<HashMap<IpAddr, usize>>);

impl PerAddress {
    /// Counts one more connection from `ip`, unless it has `max` already.
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: Arc::clone(self),
            ip,
        })
    }
}

/// One connection's place in [`PerAddress`], given back when the socket closes.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Connections by state, for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Open now (every state; websockets included).
    pub open: AtomicU64,
    /// Of those, in their TLS handshake.
    pub tls_handshake: AtomicU64,
    /// Closed at once because a cap (all connections, or one address's) was reached, since start.
    pub refused: AtomicU64,
}

/// Serve `app` on `listener` until `shutdown`; then give open connections
/// `grace` to finish their current request. Keeps `stats` up to date.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    shutdown: CancellationToken,
    grace: Duration,
    stats: Arc<ConnStats>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let conns = TaskTracker::new();
    let stop = StopSource::new(shutdown.clone());
    let refused = &stats.refused;
    let refused_address = AtomicU64::new(0);
    let mut last_warning: Option<Instant> = None;
    let mut last_address_warning: Option<Instant> = None;
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up in the
                    // backlog: pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(tcp);
            let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
            if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_warning = Some(Instant::now());
                tracing::warn!(
                    max_connections = limits.max_connections,
                    refused_so_far = n,
                    "connection limit reached; closing new connections"
                );
            }
            continue;
        };
        let Some(address_slot) = per_address.enter(peer.ip(), limits.max_per_address) else {
            drop(tcp);
            // In the total the metrics show, and counted apart for this warning.
            refused.fetch_add(1, Ordering::Relaxed);
            let n = refused_address.fetch_add(1, Ordering::Relaxed) + 1;
            if last_address_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_address_warning = Some(Instant::now());
                tracing::warn!(
                    address = %peer.ip(),
                    max_per_address = limits.max_per_address,
                    refused_so_far = n,
                    "connection limit per address reached; closing its new connections"
                );
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let io = Counted {
            io: tcp,
            _slot: permit,
            _address: address_slot,
            stats: Arc::clone(&stats),
        };
        let app = app.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        let stats = Arc::clone(&stats);
        conns.spawn(async move {
            match tls {
                None => connection(io, peer, app, limits, stop, grace).await,
                Some(acceptor) => {
                    stats.tls_handshake.fetch_add(1, Ordering::Relaxed);
                    let hs =
                        tokio::time::timeout(limits.handshake_timeout, acceptor.accept(io)).await;
                    stats.tls_handshake.fetch_sub(1, Ordering::Relaxed);
                    match hs {
                        Ok(Ok(s)) => connection(s, peer, app, limits, stop, grace).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    conns.close();
    conns.wait().await;
}

/// One HTTP/1.1 connection, upgrades included.
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    stop: StopSource,
    grace: Duration,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    // Polled at every response chunk: the shutdown check must cost nothing until it fires.
    let mut stop = stop.signal();
    let served = std::future::poll_fn(|cx| {
        if stop.poll_stopped(cx).is_ready() {
            return Poll::Ready(None);
        }
        conn.as_mut().poll(cx).map(Some)
    })
    .await;
    let result = match served {
        Some(r) => r,
        None => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(grace, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// A socket that holds one of the connection slots for as long as it is open.
struct Counted {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
    _address: AddressSlot,
    stats: Arc<ConnStats>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The TLS server configuration from a PEM certificate chain and key.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context as _;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls: cannot read the certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls: cannot read the private key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("tls: the certificate and key do not make a server configuration")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Raise the open-files soft limit to the hard limit: each viewer and agent
/// is a socket, and the usual soft limit of 1024 caps a hub well below what
/// it can serve.
pub fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        let raised = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "could not raise the open-files limit");
        }
    }
}

/// The open-files soft limit (`None` for unlimited).
pub fn fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

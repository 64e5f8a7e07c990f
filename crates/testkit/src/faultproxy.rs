//! A fault-injecting TCP proxy on 127.0.0.1, put between a client under test and a
//! server (a camera stand-in): it forwards both directions, and on request stalls every
//! connection (sockets stay open, no byte passes), injects random bytes into the
//! server-to-client direction, or cuts every connection.
//!
//! ```no_run
//! # async fn demo(camera: std::net::SocketAddr) -> anyhow::Result<()> {
//! let proxy = testkit::FaultProxy::start(camera).await?;
//! // point the client at proxy.addr(), then:
//! proxy.stall();
//! proxy.resume();
//! proxy.inject_garbage(4096);
//! proxy.cut();
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Bytes read per forwarded chunk.
const CHUNK: usize = 16 * 1024;
/// The most garbage injected at once.
pub const MAX_GARBAGE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, Default)]
struct Control {
    stalled: bool,
    /// Bumped by each [`FaultProxy::inject_garbage`].
    garbage_gen: u64,
    garbage_len: usize,
    /// Bumped by each [`FaultProxy::cut`]; a connection opened before ends.
    cut_gen: u64,
}

/// Counters of a [`FaultProxy`].
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub connections: AtomicU64,
    /// Bytes forwarded from the server to clients.
    pub bytes_down: AtomicU64,
    /// Random bytes injected towards clients.
    pub garbage_bytes: AtomicU64,
    /// Connections ended by [`FaultProxy::cut`].
    pub cut: AtomicU64,
}

/// The proxy; it stops (closing every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    control: watch::Sender<Control>,
    stats: Arc<ProxyStats>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("control", &*self.control.borrow())
            .finish()
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (any port) and forwards each connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let (control, _) = watch::channel(Control::default());
        let stats = Arc::new(ProxyStats::default());
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            control.clone(),
            stats.clone(),
        ));
        Ok(FaultProxy {
            addr,
            control,
            stats,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// From now on no byte passes in either direction, on open connections and on new
    /// ones (which are still accepted), until [`FaultProxy::resume`].
    pub fn stall(&self) {
        self.control.send_modify(|c| c.stalled = true);
    }

    /// Forwards again (what was read before the stall is delivered first).
    pub fn resume(&self) {
        self.control.send_modify(|c| c.stalled = false);
    }

    /// Each open connection gets `len` random bytes (at most [`MAX_GARBAGE`]) towards
    /// the client, in front of the next chunk from the server, then forwarding goes on.
    pub fn inject_garbage(&self, len: usize) {
        self.control.send_modify(|c| {
            c.garbage_gen += 1;
            c.garbage_len = len.min(MAX_GARBAGE);
        });
    }

    /// Closes every open connection (new ones are accepted).
    pub fn cut(&self) {
        self.control.send_modify(|c| c.cut_gen += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    control: watch::Sender<Control>,
    stats: Arc<ProxyStats>,
) {
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        while conns.try_join_next().is_some() {}
        stats.connections.fetch_add(1, Ordering::Relaxed);
        seed = seed.wrapping_add(0x2545_F491_4F6C_DD1D);
        let (rx, stats) = (control.subscribe(), stats.clone());
        conns.spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let cut_at = rx.borrow().cut_gen;
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let up = pump(cr, sw, rx.clone(), None, stats.clone());
            let down = pump(sr, cw, rx.clone(), Some(seed), stats.clone());
            let mut cut_rx = rx;
            let cut = async {
                loop {
                    if cut_rx.borrow_and_update().cut_gen != cut_at {
                        return;
                    }
                    if cut_rx.changed().await.is_err() {
                        return;
                    }
                }
            };
            // Either direction ending (or a cut) ends the connection: both sockets close.
            tokio::select! {
                _ = up => {}
                _ = down => {}
                () = cut => { stats.cut.fetch_add(1, Ordering::Relaxed); }
            }
        });
    }
}

/// Copies `from` to `to`, honouring stalls; towards the client (`garbage_seed` set) it
/// also injects garbage when asked.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut control: watch::Receiver<Control>,
    garbage_seed: Option<u64>,
    stats: Arc<ProxyStats>,
) {
    let mut buf = vec![0u8; CHUNK];
    let mut garbage_seen = control.borrow().garbage_gen;
    let mut rng = garbage_seed.unwrap_or(1) | 1;
    loop {
        if !wait_unstalled(&mut control).await {
            return;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = control.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        // Read before a stall began: deliver it after the stall.
        if !wait_unstalled(&mut control).await {
            return;
        }
        let c = *control.borrow();
        if garbage_seed.is_some() && c.garbage_gen != garbage_seen {
            garbage_seen = c.garbage_gen;
            let junk: Vec<u8> = (0..c.garbage_len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng >> 24) as u8
                })
                .collect();
            if to.write_all(&junk).await.is_err() {
                return;
            }
            stats
                .garbage_bytes
                .fetch_add(junk.len() as u64, Ordering::Relaxed);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        if garbage_seed.is_some() {
            stats.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Waits while stalled; false if the proxy is gone.
async fn wait_unstalled(control: &mut watch::Receiver<Control>) -> bool {
    while control.borrow_and_update().stalled {
        if control.changed().await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An echo server on loopback.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn read_some(s: &mut TcpStream, want: usize, limit: Duration) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(limit, async {
            while got.len() < want {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        got
    }

    #[tokio::test]
    async fn forwards_stalls_injects_and_cuts() {
        let p = FaultProxy::start(echo().await).await.unwrap();
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        assert_eq!(read_some(&mut s, 5, Duration::from_secs(5)).await, b"hello");

        // Stalled: nothing comes back, the socket stays open; after resume it does.
        p.stall();
        s.write_all(b"later").await.unwrap();
        assert!(
            read_some(&mut s, 5, Duration::from_millis(300))
                .await
                .is_empty()
        );
        p.resume();
        assert_eq!(read_some(&mut s, 5, Duration::from_secs(5)).await, b"later");

        // Garbage goes in front of the next chunk towards the client.
        p.inject_garbage(100);
        s.write_all(b"after").await.unwrap();
        let got = read_some(&mut s, 105, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 105);
        assert_eq!(&got[100..], b"after");
        assert!(got[..100].iter().any(|b| *b != 0));
        assert_eq!(p.stats().garbage_bytes.load(Ordering::Relaxed), 100);

        // Cut: the connection ends; a new one works.
        p.cut();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "the cut connection is closed");
        let mut s2 = TcpStream::connect(p.addr()).await.unwrap();
        s2.write_all(b"again").await.unwrap();
        assert_eq!(
            read_some(&mut s2, 5, Duration::from_secs(5)).await,
            b"again"
        );
        assert_eq!(p.stats().connections.load(Ordering::Relaxed), 2);
        assert_eq!(p.stats().cut.load(Ordering::Relaxed), 1);
    }
}

//! The two byte transports a [`baichuan::session::Session`] runs over: a TCP stream, and the
//! BcUdp session (discovery, handshake, DATA/ACK reliability driven by
//! [`baichuan::udp::UdpClient`] with a 10 ms timer). Both give an ordered byte stream;
//! `recv` is cancel-safe so the source loop can `select!` on it.

use std::net::SocketAddr;
use std::time::Duration;

use baichuan::udp::{
    CloseReason, DiscoveryPacket, P2p, UdpClient, UdpClientConfig, UdpEvent, UdpPacket, UdpState,
};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, MissedTickBehavior};

use crate::error::SourceError;

/// Bytes read from TCP per call at most.
const TCP_READ_CHUNK: usize = 64 * 1024;
/// Longest a single write may take.
const TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to ask for the UID with `C2D_S` before giving up.
const UID_LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// An ordered byte transport to the camera.
#[derive(Debug)]
pub enum Conn {
    /// TCP.
    Tcp(TcpConn),
    /// BcUdp.
    Udp(Box<UdpConn>),
}

impl Conn {
    /// Sends BC bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), SourceError> {
        match self {
            Conn::Tcp(t) => t.send(bytes).await,
            Conn::Udp(u) => u.send(bytes).await,
        }
    }

    /// Receives the next bytes into `buf`. Cancel-safe.
    pub async fn recv(&mut self, buf: &mut BytesMut) -> Result<(), SourceError> {
        match self {
            Conn::Tcp(t) => t.recv(buf).await,
            Conn::Udp(u) => u.recv(buf).await,
        }
    }

    /// Best-effort orderly close (UDP: `C2D_DISC`).
    pub async fn close(&mut self) {
        match self {
            Conn::Tcp(t) => {
                let _ = t.stream.shutdown().await;
            }
            Conn::Udp(u) => u.close().await,
        }
    }
}

/// TCP transport.
#[derive(Debug)]
pub struct TcpConn {
    stream: TcpStream,
}

impl TcpConn {
    /// Connects with a timeout.
    pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, SourceError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| SourceError::Timeout("TCP connect"))?
            .map_err(SourceError::Connect)?;
        let _ = stream.set_nodelay(true);
        Ok(TcpConn { stream })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SourceError> {
        // A camera that stops reading must not wedge the task (pings and timers run between
        // writes), so a write that cannot complete in time ends the connection.
        tokio::time::timeout(TCP_WRITE_TIMEOUT, self.stream.write_all(bytes))
            .await
            .map_err(|_| SourceError::Timeout("TCP write"))?
            .map_err(SourceError::Io)
    }

    async fn recv(&mut self, buf: &mut BytesMut) -> Result<(), SourceError> {
        buf.reserve(TCP_READ_CHUNK);
        let n = self.stream.read_buf(buf).await.map_err(SourceError::Io)?;
        if n == 0 {
            return Err(SourceError::Closed);
        }
        Ok(())
    }
}

/// BcUdp transport: one socket, the [`UdpClient`] state machine and its timers.
#[derive(Debug)]
pub struct UdpConn {
    sock: UdpSocket,
    client: UdpClient,
    epoch: Instant,
    tick: tokio::time::Interval,
    rx: BytesMut,
    dgram: Vec<u8>,
}

fn ms_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

fn close_error(r: CloseReason) -> SourceError {
    match r {
        CloseReason::DiscoveryTimeout => SourceError::Timeout("UDP discovery"),
        CloseReason::Refused(rsp) => {
            SourceError::Udp(format!("camera refused session (rsp {rsp})"))
        }
        CloseReason::CameraDisconnected => SourceError::Udp("camera sent D2C_DISC".into()),
        CloseReason::Silence => SourceError::Timeout("UDP silence"),
        CloseReason::Local => SourceError::Closed,
    }
}

impl UdpConn {
    /// Binds, (optionally) learns the UID, discovers the camera and completes the handshake.
    pub async fn connect(
        uid: Option<&str>,
        local_port: u16,
        targets: Vec<SocketAddr>,
        rng: &mut fastrand::Rng,
    ) -> Result<Self, SourceError> {
        let sock = UdpSocket::bind(("0.0.0.0", local_port))
            .await
            .map_err(SourceError::Connect)?;
        let _ = sock.set_broadcast(true);
        let port = sock.local_addr().map_err(SourceError::Connect)?.port();
        let tid = rng.u32(1000..1_001_000);
        let uid = match uid {
            Some(u) => u.to_owned(),
            None => lookup_uid(&sock, port, tid, &targets).await?,
        };
        let epoch = Instant::now();
        let cfg = UdpClientConfig {
            uid,
            client_port: port,
            cid: rng.i32(1..=i32::MAX),
            tid,
            discovery_targets: targets,
        };
        let mut tick = tokio::time::interval(Duration::from_millis(baichuan::udp::ACK_INTERVAL_MS));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut conn = UdpConn {
            sock,
            client: UdpClient::new(cfg, 0),
            epoch,
            tick,
            rx: BytesMut::new(),
            dgram: vec![0u8; baichuan::udp::MAX_DATAGRAM_LEN],
        };
        loop {
            match conn.client.state() {
                UdpState::Connected { camera, did } => {
                    tracing::debug!(%camera, did, "UDP session up");
                    return Ok(conn);
                }
                UdpState::Closed(r) => return Err(close_error(r)),
                UdpState::Discovering { .. } => conn.step().await?,
            }
        }
    }

    /// One wait: a datagram or a timer tick.
    async fn step(&mut self) -> Result<(), SourceError> {
        let out = tokio::select! {
            r = self.sock.recv_from(&mut self.dgram) => {
                let (n, from) = r.map_err(SourceError::Io)?;
                let now = ms_since(self.epoch);
                match self.client.on_datagram(from, &self.dgram[..n], now) {
                    Ok(o) => {
                        for ev in o.events {
                            match ev {
                                UdpEvent::Data(b) => self.rx.extend_from_slice(&b),
                                UdpEvent::Connected { .. } | UdpEvent::Closed(_) => {}
                            }
                        }
                        o.send
                    }
                    Err(e) => {
                        tracing::trace!(error = %e, "bad datagram");
                        Vec::new()
                    }
                }
            }
            _ = self.tick.tick() => self.client.poll(ms_since(self.epoch)),
        };
        for o in out {
            // A failed send is a lost datagram; the reliability layer retransmits.
            let _ = self.sock.send_to(&o.datagram, o.to).await;
        }
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SourceError> {
        let out = self
            .client
            .send(bytes, ms_since(self.epoch))
            .map_err(|e| SourceError::Udp(e.to_string()))?;
        for o in out {
            let _ = self.sock.send_to(&o.datagram, o.to).await;
        }
        Ok(())
    }

    async fn recv(&mut self, buf: &mut BytesMut) -> Result<(), SourceError> {
        loop {
            if !self.rx.is_empty() {
                buf.extend_from_slice(&self.rx.split());
                return Ok(());
            }
            if let UdpState::Closed(r) = self.client.state() {
                return Err(close_error(r));
            }
            self.step().await?;
        }
    }

    async fn close(&mut self) {
        for o in self.client.close() {
            let _ = self.sock.send_to(&o.datagram, o.to).await;
        }
    }
}

/// Asks the targets for the camera's UID (`C2D_S`) until a reply carrying a `<uid>` arrives.
async fn lookup_uid(
    sock: &UdpSocket,
    port: u16,
    tid: u32,
    targets: &[SocketAddr],
) -> Result<String, SourceError> {
    let req = UdpPacket::Discovery(DiscoveryPacket {
        tid,
        msg: P2p::C2dS { port },
    })
    .to_bytes();
    let deadline = Instant::now() + UID_LOOKUP_TIMEOUT;
    let mut buf = vec![0u8; baichuan::udp::MAX_DATAGRAM_LEN];
    let mut resend =
        tokio::time::interval(Duration::from_millis(baichuan::udp::DISCOVERY_RESEND_MS));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return Err(SourceError::Timeout("UDP UID lookup (C2D_S)"));
            }
            _ = resend.tick() => {
                for t in targets {
                    let _ = sock.send_to(&req, t).await;
                }
            }
            r = sock.recv_from(&mut buf) => {
                let (n, _) = r.map_err(SourceError::Io)?;
                if let Ok(UdpPacket::Discovery(d)) = UdpPacket::decode(&buf[..n])
                    && let P2p::Other(e) = &d.msg
                    && let Some(uid) = e.text_of("uid").filter(|u| !u.is_empty())
                {
                    return Ok(uid.to_owned());
                }
            }
        }
    }
}

//! The simulator's BcUdp driver: a discovery socket on 127.0.0.1 answering `C2D_S` (UID
//! lookup) and `C2D_C` (connect by UID), and one task per session on its own socket running
//! the reliability layer (reassembly, ACKs, retransmission), heartbeats, the msg 234
//! keep-alive and a [`CameraConn`], behind seeded fault injection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baichuan::udp::{
    DiscoveryPacket, MAX_DATAGRAM_LEN, P2p, Reassembler, Sender, Timer, UdpPacket,
};
use baichuan::xml::Element;
use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Shared;
use super::camera::CameraConn;
use super::faults::{FaultCounts, FaultLink};

/// Camera-side DATA retransmit interval (real cameras: ~1 s; shorter keeps lossy tests fast).
const CAMERA_RETRANSMIT_MS: u64 = 250;
/// An unanswered msg 234 for this long ends the session (spec §8.6).
const KEEPALIVE_DEADLINE: Duration = Duration::from_millis(8_500);
/// Silence from the client for this long ends the session.
const SILENCE: Duration = Duration::from_secs(10);

struct SessionRef {
    sock: Arc<UdpSocket>,
    did: i32,
    done: CancellationToken,
}

pub(super) async fn start(
    shared: Arc<Shared>,
    stop: CancellationToken,
    tracker: TaskTracker,
) -> std::io::Result<SocketAddr> {
    let sock = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], shared.cfg.port))).await?;
    let addr = sock.local_addr()?;
    let t2 = tracker.clone();
    tracker.spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
        let mut sessions: HashMap<(SocketAddr, i32), SessionRef> = HashMap::new();
        let mut next_did = 80i32;
        loop {
            let (n, from) = tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    Err(_) => continue,
                },
                _ = stop.cancelled() => break,
            };
            let Ok(UdpPacket::Discovery(d)) = UdpPacket::decode(&buf[..n]) else {
                continue;
            };
            match d.msg {
                P2p::C2dS { .. } => {
                    shared.stat(|s| s.uid_lookups += 1);
                    let reply = Element::new("D2C_S_R")
                        .leaf("uid", &shared.cfg.uid)
                        .leaf("rsp", 0);
                    let p = UdpPacket::Discovery(DiscoveryPacket {
                        tid: d.tid,
                        msg: P2p::Other(reply),
                    });
                    let _ = sock.send_to(&p.to_bytes(), from).await;
                }
                P2p::C2dC { uid, cid, .. } => {
                    shared.stat(|s| s.discovery_requests += 1);
                    if uid != shared.cfg.uid {
                        continue;
                    }
                    sessions.retain(|_, s| !s.done.is_cancelled());
                    let key = (from, cid);
                    if let std::collections::hash_map::Entry::Vacant(slot) = sessions.entry(key) {
                        let Ok(s) = UdpSocket::bind("127.0.0.1:0").await else {
                            continue;
                        };
                        let s = Arc::new(s);
                        let did = next_did;
                        next_did += 1;
                        let done = stop.child_token();
                        shared.stat(|st| st.connections += 1);
                        t2.spawn(session(
                            s.clone(),
                            from,
                            cid,
                            did,
                            shared.clone(),
                            done.clone(),
                        ));
                        slot.insert(SessionRef { sock: s, did, done });
                    }
                    let s = &sessions[&key];
                    // A retransmitted C2D_C is answered with the same session, not a new one.
                    let reply = UdpPacket::Discovery(DiscoveryPacket {
                        tid: d.tid,
                        msg: P2p::D2cCR {
                            timer: Some(Timer {
                                def: 3000,
                                hb: 10_000,
                                hbt: 60_000,
                            }),
                            rsp: 0,
                            cid,
                            did: s.did,
                        },
                    });
                    let _ = s.sock.send_to(&reply.to_bytes(), from).await;
                }
                _ => {}
            }
        }
        for s in sessions.values() {
            s.done.cancel();
        }
    });
    Ok(addr)
}

struct Link {
    sock: Arc<UdpSocket>,
    peer: SocketAddr,
    faults: FaultLink,
    batch: Vec<Bytes>,
}

impl Link {
    async fn send(&mut self, d: Bytes) {
        self.faults.pass(d, &mut self.batch);
        self.drain().await;
    }

    async fn drain(&mut self) {
        for d in self.batch.drain(..) {
            let _ = self.sock.send_to(&d, self.peer).await;
        }
    }
}

fn ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

async fn session(
    sock: Arc<UdpSocket>,
    peer: SocketAddr,
    cid: i32,
    did: i32,
    shared: Arc<Shared>,
    done: CancellationToken,
) {
    let _open = shared.session_opened();
    let f = shared.cfg.udp_faults;
    let mut link = Link {
        sock: sock.clone(),
        peer,
        faults: FaultLink::new(f, f.seed ^ u64::from(did as u32)),
        batch: Vec::new(),
    };
    let mut faults_in = FaultLink::new(f, f.seed.wrapping_add(1) ^ u64::from(did as u32));
    let epoch = Instant::now();
    let mut reasm = Reassembler::new();
    let mut sender = Sender::new(cid).with_retransmit_ms(CAMERA_RETRANSMIT_MS);
    let mut cam = CameraConn::new(shared.clone(), u64::from(did as u32));
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut keepalive = tokio::time::interval(shared.cfg.keepalive_interval);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut push = tokio::time::interval(shared.cfg.battery_push_interval);
    push.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut battery_rx = shared.battery.subscribe();
    let mut alarm_rx = shared.alarm.subscribe();
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let mut inb = BytesMut::new();
    let mut out = BytesMut::new();
    let mut incoming = Vec::new();
    let mut ack_dirty = false;
    let mut last_rx = Instant::now();
    let mut last_hb = Instant::now();
    let mut reported = (FaultCounts::default(), FaultCounts::default());
    let disc = |tid| {
        UdpPacket::Discovery(DiscoveryPacket {
            tid,
            msg: P2p::D2cDisc { cid, did },
        })
        .to_bytes()
    };
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                if from != peer {
                    continue;
                }
                faults_in.pass(Bytes::copy_from_slice(&buf[..n]), &mut incoming);
            }
            _ = tick.tick() => {
                faults_in.flush(&mut incoming);
                let now = Instant::now();
                cam.send_media(now, &mut out);
                if ack_dirty && let Some(a) = reasm.ack(cid) {
                    link.send(UdpPacket::Ack(a).to_bytes()).await;
                    ack_dirty = false;
                }
                let due = sender.due(ms(epoch));
                if !due.is_empty() {
                    shared.stat(|s| s.retransmits += due.len() as u64);
                }
                for p in due {
                    link.send(UdpPacket::Data(p).to_bytes()).await;
                }
                if last_hb.elapsed() >= Duration::from_secs(1) {
                    last_hb = now;
                    let hb = UdpPacket::Discovery(DiscoveryPacket { tid: 0, msg: P2p::D2cHb { cid, did } });
                    link.send(hb.to_bytes()).await;
                }
                report_faults(&shared, &mut reported, link.faults.counts, faults_in.counts);
                let mut held = Vec::new();
                link.faults.flush(&mut held);
                link.batch.extend(held);
                link.drain().await;
                if cam.keepalive_outstanding().is_some_and(|t| t.elapsed() > KEEPALIVE_DEADLINE)
                    || last_rx.elapsed() > SILENCE
                {
                    shared.stat(|s| s.sessions_dropped += 1);
                    let _ = sock.send_to(&disc(0), peer).await;
                    break;
                }
            }
            _ = keepalive.tick() => cam.send_keepalive(&mut out),
            _ = push.tick() => cam.push_battery(&mut out),
            r = battery_rx.changed() => {
                if r.is_ok() {
                    cam.push_battery(&mut out);
                }
            }
            r = alarm_rx.changed() => {
                if r.is_ok() {
                    cam.push_alarm(&mut out);
                }
            }
            _ = done.cancelled() => break,
        }
        for d in incoming.drain(..) {
            match UdpPacket::decode(&d) {
                Ok(UdpPacket::Data(p)) if p.connection_id == did => {
                    last_rx = Instant::now();
                    reasm.on_data(p.packet_id, p.payload, &mut inb);
                    ack_dirty = true;
                }
                Ok(UdpPacket::Ack(a)) if a.connection_id == did => {
                    last_rx = Instant::now();
                    sender.on_ack(&a);
                }
                Ok(UdpPacket::Discovery(p)) => match p.msg {
                    P2p::C2dHb { .. } => last_rx = Instant::now(),
                    P2p::C2dDisc { did: d, .. } if d == did => {
                        done.cancel();
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        if !inb.is_empty() {
            cam.on_bytes(&mut inb, &mut out);
        }
        if !out.is_empty() {
            match sender.send(&out, ms(epoch)) {
                Ok(pkts) => {
                    for p in pkts {
                        link.send(UdpPacket::Data(p).to_bytes()).await;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "sim: send window full, media dropped"),
            }
            out.clear();
        }
        if cam.is_closed() || done.is_cancelled() {
            break;
        }
    }
    done.cancel();
}

/// Adds this session's new fault counts to the shared stats.
fn report_faults(
    shared: &Shared,
    reported: &mut (FaultCounts, FaultCounts),
    out: FaultCounts,
    inc: FaultCounts,
) {
    if (out, inc) == *reported {
        return;
    }
    let add = |total: &mut FaultCounts, now: FaultCounts, before: FaultCounts| {
        total.dropped += now.dropped - before.dropped;
        total.reordered += now.reordered - before.reordered;
        total.duplicated += now.duplicated - before.duplicated;
    };
    shared.stat(|s| {
        add(&mut s.faults_out, out, reported.0);
        add(&mut s.faults_in, inc, reported.1);
    });
    *reported = (out, inc);
}

//! The simulator's TCP driver: a listener on 127.0.0.1 and one task per connection feeding a
//! [`CameraConn`].

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Shared;
use super::camera::CameraConn;

pub(super) fn start(
    shared: Arc<Shared>,
    stop: CancellationToken,
    tracker: TaskTracker,
) -> std::io::Result<SocketAddr> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(SocketAddr::from(([127, 0, 0, 1], shared.cfg.port)))?;
    let listener = sock.listen(64)?;
    let addr = listener.local_addr()?;
    let t2 = tracker.clone();
    tracker.spawn(async move {
        let mut n = 0u64;
        loop {
            tokio::select! {
                r = listener.accept() => {
                    let Ok((s, _)) = r else { continue };
                    n += 1;
                    shared.stat(|s| s.connections += 1);
                    t2.spawn(serve(s, shared.clone(), stop.clone(), n));
                }
                _ = stop.cancelled() => break,
            }
        }
    });
    Ok(addr)
}

async fn serve(mut s: TcpStream, shared: Arc<Shared>, stop: CancellationToken, n: u64) {
    let _ = s.set_nodelay(true);
    let _open = shared.session_opened();
    let mut cam = CameraConn::new(shared.clone(), n);
    let mut battery_rx = shared.battery.subscribe();
    let mut alarm_rx = shared.alarm.subscribe();
    let mut push = tokio::time::interval(shared.cfg.battery_push_interval);
    push.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut inb = BytesMut::with_capacity(8192);
    let mut out = BytesMut::new();
    loop {
        let due = cam.media_due();
        tokio::select! {
            r = s.read_buf(&mut inb) => {
                match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => cam.on_bytes(&mut inb, &mut out),
                }
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                cam.send_media(Instant::now(), &mut out);
            }
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
            _ = stop.cancelled() => break,
        }
        if !out.is_empty() {
            let w = tokio::select! {
                r = s.write_all(&out) => r,
                _ = stop.cancelled() => break,
            };
            if w.is_err() {
                break;
            }
            out.clear();
        }
        if cam.is_closed() {
            break;
        }
    }
}

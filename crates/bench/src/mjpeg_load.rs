//! The MJPEG load client of `bench-fanout`: thousands of viewers on one
//! thread with one epoll set, so that the client is not what limits the
//! fan-out it measures.
//!
//! Two kinds of viewer share the loop:
//! - **Parsing viewers** (a sample spread over the connection order: every
//!   k-th viewer) read with `recv` into one 256 KiB buffer, undo chunked
//!   coding, split multipart parts by their `Content-Length`, and read each
//!   JPEG's stamp (sequence number and send time): they give frames
//!   delivered, added latency, and the wire bytes per frame.
//! - **Counting viewers** (all others) call `recv(MSG_TRUNC)` with a 1 MiB
//!   length: on TCP the kernel discards what is queued without copying it to
//!   the process and returns how much it was. Their frames are their wire
//!   bytes divided by the parsing viewers' wire bytes per frame (every
//!   viewer is sent the same parts, so the quotient is the same).
//!
//! Reads are level-triggered and one per readiness event, as large as the
//! socket has queued. A viewer whose stream ends connects again after
//! 500 ms, as a page would.

use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// The tag of the JPEG comment segment that carries a frame's stamp.
pub const COM_TAG: &[u8; 8] = b"BENCHSEQ";

/// Insert `FFFE len "BENCHSEQ" seq(8) sent_ns(8)` after SOI.
pub fn stamp(jpeg: &[u8], seq: u64, sent_ns: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + 30);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE, 0, 26]);
    out.extend_from_slice(COM_TAG);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&sent_ns.to_be_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The `(seq, sent_ns)` stamp at the start of `jpeg`, if it has one.
pub fn read_stamp(jpeg: &[u8]) -> Option<(u64, u64)> {
    if jpeg.len() < 30 || jpeg[2..4] != [0xFF, 0xFE] || &jpeg[6..14] != COM_TAG {
        return None;
    }
    let seq = u64::from_be_bytes(jpeg[14..22].try_into().ok()?);
    let ns = u64::from_be_bytes(jpeg[22..30].try_into().ok()?);
    Some((seq, ns))
}

/// Nanoseconds since the first call. The pusher and every viewer live in
/// one process, so one monotonic origin serves both ends.
pub fn mono_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What the load client is told to do.
pub struct Load {
    pub addr: SocketAddrV4,
    /// The whole HTTP request each viewer sends.
    pub request: Vec<u8>,
    pub viewers: usize,
    /// How many of them parse every byte (at most; all when fewer viewers).
    pub parsing: usize,
}

/// Flags the driver sets while the client runs.
#[derive(Default)]
pub struct Control {
    /// Count what arrives (the measured window).
    pub recording: AtomicBool,
    /// Close every viewer and return.
    pub stop: AtomicBool,
    /// Parts seen by any parsing viewer, from the start: frames are flowing.
    pub parts_seen: AtomicU64,
}

/// What the viewers got during the recorded window.
#[derive(Debug, Default)]
pub struct Totals {
    pub parsing_viewers: usize,
    pub counting_viewers: usize,
    /// Parts the parsing viewers completed.
    pub parts: u64,
    /// Wire bytes (chunk framing, part heads, JPEGs) the parsing viewers read.
    pub parsing_bytes: u64,
    /// JPEG bytes of those parts.
    pub jpeg_bytes: u64,
    /// Wire bytes the counting viewers discarded.
    pub counting_bytes: u64,
    /// Added latency of each stamped part a parsing viewer completed, µs.
    pub latencies_us: Vec<u32>,
    /// Connections that ended and were opened again.
    pub reconnects: u64,
    /// CPU time of the client's thread over the window, in clock ticks.
    pub cpu_ticks: u64,
}

impl Totals {
    /// Wire bytes per part, as the parsing viewers saw them.
    pub fn wire_bytes_per_part(&self) -> Option<f64> {
        (self.parts > 0).then(|| self.parsing_bytes as f64 / self.parts as f64)
    }

    /// Frames delivered to all viewers: counted for the parsing ones,
    /// derived from bytes for the counting ones.
    pub fn frames(&self) -> f64 {
        let counted = self.wire_bytes_per_part().map_or(0.0, |per| {
            if self.counting_bytes == 0 {
                0.0
            } else {
                self.counting_bytes as f64 / per
            }
        });
        self.parts as f64 + counted
    }
}

/// Run the viewers on the calling thread until `control.stop`.
pub fn run(load: &Load, control: &Arc<Control>) -> anyhow::Result<Totals> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let every = load.viewers.div_ceil(load.parsing.max(1)).max(1);
    let mut viewers: Vec<Viewer> = (0..load.viewers)
        .map(|i| Viewer::new(i % every == 0))
        .collect();
    let mut totals = Totals {
        parsing_viewers: viewers.iter().filter(|v| v.parse.is_some()).count(),
        ..Totals::default()
    };
    totals.counting_viewers = load.viewers - totals.parsing_viewers;
    let mut buf = vec![0u8; 256 * 1024];
    // Never written: MSG_TRUNC reads discard up to its length.
    let mut sink = vec![0u8; 1 << 20];
    let mut events = Vec::with_capacity(1024);
    let mut next_connect = 0usize;
    let mut last_batch = Instant::now() - Duration::from_secs(1);
    // (when, index) of viewers waiting to connect again.
    let mut retry: std::collections::VecDeque<(Instant, usize)> = Default::default();
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 5_000_000,
    };
    let mut was_recording = false;
    let mut cpu_at_start = 0;
    while !control.stop.load(Ordering::Relaxed) {
        let recording = control.recording.load(Ordering::Relaxed);
        if recording != was_recording {
            let now = crate::thread_cpu_ticks()?;
            if recording {
                cpu_at_start = now;
            } else {
                totals.cpu_ticks = now - cpu_at_start;
            }
            was_recording = recording;
        }
        // Connect 50 viewers every 10 ms: servers with a small accept
        // backlog refuse a burst of thousands; real viewers arrive spread out.
        if next_connect < viewers.len() && last_batch.elapsed() >= Duration::from_millis(10) {
            last_batch = Instant::now();
            for i in next_connect..(next_connect + 50).min(viewers.len()) {
                if viewers[i].connect(&ep, i, load.addr).is_err() {
                    retry.push_back((Instant::now() + Duration::from_millis(500), i));
                }
            }
            next_connect = (next_connect + 50).min(viewers.len());
        }
        while retry.front().is_some_and(|(t, _)| *t <= Instant::now()) {
            let Some((_, i)) = retry.pop_front() else {
                break;
            };
            totals.reconnects += 1;
            if viewers[i].connect(&ep, i, load.addr).is_err() {
                retry.push_back((Instant::now() + Duration::from_millis(500), i));
            }
        }
        events.clear();
        match epoll::wait(
            &ep,
            rustix::buffer::spare_capacity(&mut events),
            Some(&timeout),
        ) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        for ev in &events {
            let (flags, data) = (ev.flags, ev.data);
            let i = data.u64() as usize;
            let v = &mut viewers[i];
            let outcome = v.on_ready(&ep, i, flags, load, &mut buf, &mut sink, control, recording);
            match outcome {
                Ok(Step::Read(n)) if recording => match &mut v.parse {
                    Some(p) => {
                        totals.parsing_bytes += n as u64;
                        totals.parts += p.recorded_parts;
                        totals.jpeg_bytes += p.recorded_jpeg_bytes;
                        totals.latencies_us.append(&mut p.latencies_us);
                        p.recorded_parts = 0;
                        p.recorded_jpeg_bytes = 0;
                    }
                    None => totals.counting_bytes += n as u64,
                },
                Ok(_) => {
                    if let Some(p) = &mut v.parse {
                        p.latencies_us.clear();
                        p.recorded_parts = 0;
                        p.recorded_jpeg_bytes = 0;
                    }
                }
                Err(_) => {
                    v.close();
                    retry.push_back((Instant::now() + Duration::from_millis(500), i));
                }
            }
        }
    }
    if was_recording {
        totals.cpu_ticks = crate::thread_cpu_ticks()? - cpu_at_start;
    }
    Ok(totals)
}

enum Step {
    /// Bytes read (or discarded) from the socket.
    Read(usize),
    /// Connected and sent the request, or nothing to do.
    Idle,
}

struct Viewer {
    fd: Option<OwnedFd>,
    connecting: bool,
    /// The parser of a parsing viewer; `None` for a counting one.
    parse: Option<Box<Parser>>,
}

impl Viewer {
    fn new(parse: bool) -> Self {
        Viewer {
            fd: None,
            connecting: false,
            parse: parse.then(Box::default),
        }
    }

    fn connect(&mut self, ep: &OwnedFd, i: usize, addr: SocketAddrV4) -> anyhow::Result<()> {
        let fd = rustix::net::socket_with(
            AddressFamily::INET,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) | Err(Errno::INPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        epoll::add(
            ep,
            &fd,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN | epoll::EventFlags::OUT | epoll::EventFlags::RDHUP,
        )?;
        if let Some(p) = &mut self.parse {
            **p = Parser::default();
        }
        self.fd = Some(fd);
        self.connecting = true;
        Ok(())
    }

    fn close(&mut self) {
        // Closing the descriptor removes it from the epoll set.
        self.fd = None;
        self.connecting = false;
    }

    #[allow(clippy::too_many_arguments)]
    fn on_ready(
        &mut self,
        ep: &OwnedFd,
        i: usize,
        flags: epoll::EventFlags,
        load: &Load,
        buf: &mut [u8],
        sink: &mut [u8],
        control: &Control,
        recording: bool,
    ) -> anyhow::Result<Step> {
        let Some(fd) = &self.fd else {
            return Ok(Step::Idle);
        };
        if self.connecting {
            if !flags.intersects(epoll::EventFlags::OUT | epoll::EventFlags::ERR) {
                return Ok(Step::Idle);
            }
            rustix::net::sockopt::socket_error(fd)??;
            // A few hundred bytes into an empty send buffer: sent whole.
            let sent = rustix::net::send(fd, &load.request, SendFlags::NOSIGNAL)?;
            if sent != load.request.len() {
                bail!("request sent in part");
            }
            self.connecting = false;
            // Level-triggered: stop asking for writability.
            epoll::modify(
                ep,
                fd,
                epoll::EventData::new_u64(i as u64),
                epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
            )?;
            return Ok(Step::Idle);
        }
        if !flags
            .intersects(epoll::EventFlags::IN | epoll::EventFlags::ERR | epoll::EventFlags::HUP)
        {
            return Ok(Step::Idle);
        }
        let n = match &mut self.parse {
            Some(p) => {
                let (n, _) = match rustix::net::recv(fd, &mut *buf, RecvFlags::DONTWAIT) {
                    Err(Errno::AGAIN) => return Ok(Step::Idle),
                    r => r?,
                };
                if n == 0 {
                    bail!("stream ended");
                }
                p.feed(&buf[..n], control, recording)?;
                n
            }
            None => {
                let (_, n) =
                    match rustix::net::recv(fd, &mut *sink, RecvFlags::DONTWAIT | RecvFlags::TRUNC)
                    {
                        Err(Errno::AGAIN) => return Ok(Step::Idle),
                        r => r?,
                    };
                if n == 0 {
                    bail!("stream ended");
                }
                n
            }
        };
        Ok(Step::Read(n))
    }
}

/// A parsing viewer's state: the response head, then chunked coding (if
/// used), then multipart parts.
#[derive(Default)]
struct Parser {
    head_done: bool,
    head: Vec<u8>,
    chunks: Option<Dechunk>,
    parts: Parts,
    recorded_parts: u64,
    recorded_jpeg_bytes: u64,
    latencies_us: Vec<u32>,
}

impl Parser {
    fn feed(&mut self, data: &[u8], control: &Control, recording: bool) -> anyhow::Result<()> {
        if !self.head_done {
            self.head.extend_from_slice(data);
            let Some(at) = find(&self.head, b"\r\n\r\n") else {
                if self.head.len() > 16 * 1024 {
                    bail!("no response head in 16 KiB");
                }
                return Ok(());
            };
            let head = String::from_utf8_lossy(&self.head[..at]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") && !head.starts_with("http/1.0 200") {
                bail!("response {}", head.lines().next().unwrap_or(""));
            }
            if head.contains("\ntransfer-encoding: chunked") {
                self.chunks = Some(Dechunk::default());
            }
            self.head_done = true;
            let rest = std::mem::take(&mut self.head).split_off(at + 4);
            return self.feed_body(&rest, control, recording);
        }
        self.feed_body(data, control, recording)
    }

    fn feed_body(&mut self, data: &[u8], control: &Control, recording: bool) -> anyhow::Result<()> {
        let Self {
            chunks,
            parts,
            recorded_parts,
            recorded_jpeg_bytes,
            latencies_us,
            ..
        } = self;
        let mut on_part = |stamp: &[u8], len: usize| {
            let now = mono_ns();
            control.parts_seen.fetch_add(1, Ordering::Relaxed);
            if recording {
                *recorded_parts += 1;
                *recorded_jpeg_bytes += len as u64;
                // Only stamped parts (not re-encoded on the way) give a latency.
                if let Some((_, sent)) = read_stamp(stamp) {
                    latencies_us
                        .push(((now.saturating_sub(sent)) / 1000).min(u64::from(u32::MAX)) as u32);
                }
            }
        };
        match chunks {
            Some(d) => d.feed(data, |body| parts.feed(body, &mut on_part)),
            None => parts.feed(data, &mut on_part),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Undoes HTTP/1.1 chunked transfer coding as bytes arrive.
#[derive(Default)]
struct Dechunk {
    /// Bytes of the current chunk-size line.
    line: Vec<u8>,
    /// Data bytes left in the current chunk.
    left: usize,
    /// CRLF bytes left after the current chunk's data.
    crlf: u8,
}

impl Dechunk {
    fn feed(
        &mut self,
        mut data: &[u8],
        mut body: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        while !data.is_empty() {
            if self.left > 0 {
                let take = self.left.min(data.len());
                body(&data[..take])?;
                self.left -= take;
                data = &data[take..];
                if self.left == 0 {
                    self.crlf = 2;
                }
            } else if self.crlf > 0 {
                self.crlf -= 1;
                data = &data[1..];
            } else {
                self.line.push(data[0]);
                data = &data[1..];
                if self.line.ends_with(b"\r\n") {
                    let s = std::str::from_utf8(&self.line[..self.line.len() - 2])?;
                    let size = s.split(';').next().unwrap_or("").trim();
                    self.left = usize::from_str_radix(size, 16)?;
                    self.line.clear();
                    if self.left == 0 {
                        bail!("last chunk");
                    }
                } else if self.line.len() > 64 {
                    bail!("no chunk size in 64 bytes");
                }
            }
        }
        Ok(())
    }
}

/// Splits a multipart body into parts as bytes arrive, by each part's
/// Content-Length, without keeping the JPEGs: only the first bytes of each
/// body (where the stamp is) are copied.
#[derive(Default)]
struct Parts {
    head: Vec<u8>,
    body_len: usize,
    body_left: usize,
    stamp: [u8; 30],
    stamp_len: usize,
}

impl Parts {
    fn feed(
        &mut self,
        mut data: &[u8],
        on_part: &mut impl FnMut(&[u8], usize),
    ) -> anyhow::Result<()> {
        while !data.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(data.len());
                let k = (self.stamp.len() - self.stamp_len).min(take);
                self.stamp[self.stamp_len..self.stamp_len + k].copy_from_slice(&data[..k]);
                self.stamp_len += k;
                self.body_left -= take;
                data = &data[take..];
                if self.body_left == 0 {
                    on_part(&self.stamp[..self.stamp_len], self.body_len);
                    self.stamp_len = 0;
                }
                continue;
            }
            // Part head (after the previous body's CRLF): up to the blank line.
            self.head.push(data[0]);
            data = &data[1..];
            if self.head.ends_with(b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.head);
                let len = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                });
                self.head.clear();
                if let Some(len) = len.filter(|&l| l > 0) {
                    self.body_len = len;
                    self.body_left = len;
                }
            } else if self.head.len() > 4096 {
                bail!("no part head in 4 KiB");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` behind a response head, `step` bytes at a time; returns
    /// the parts' stamps' sequence numbers and JPEG bytes.
    fn split_all(body: &[u8], chunked: bool, step: usize) -> (Vec<u32>, u64, u64) {
        let mut p = Parser::default();
        let control = Control::default();
        let mut wire = if chunked {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
        } else {
            b"HTTP/1.1 200 OK\r\n\r\n".to_vec()
        };
        if chunked {
            for piece in body.chunks(7) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
        } else {
            wire.extend_from_slice(body);
        }
        for piece in wire.chunks(step) {
            p.feed(piece, &control, true).unwrap();
        }
        (p.latencies_us, p.recorded_parts, p.recorded_jpeg_bytes)
    }

    fn body() -> Vec<u8> {
        let mut b = Vec::new();
        for seq in 0..3u64 {
            let jpeg = stamp(b"\xff\xd8picture\xff\xd9", seq, 1);
            b.extend_from_slice(
                format!(
                    "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    jpeg.len()
                )
                .as_bytes(),
            );
            b.extend_from_slice(&jpeg);
            b.extend_from_slice(b"\r\n");
        }
        b
    }

    #[test]
    fn parts_are_split_in_any_read_size_with_and_without_chunked_coding() {
        for chunked in [false, true] {
            for step in [1, 5, 64, 4096] {
                let (lat, parts, jpeg) = split_all(&body(), chunked, step);
                // Each JPEG: 11 bytes and the 28-byte stamp segment.
                assert_eq!((lat.len(), parts, jpeg), (3, 3, 3 * 39), "{chunked} {step}");
            }
        }
    }

    #[test]
    fn stamp_round_trips() {
        let j = stamp(b"\xff\xd8rest", 7, 99);
        assert_eq!(read_stamp(&j), Some((7, 99)));
        assert_eq!(read_stamp(b"\xff\xd8rest"), None);
    }
}

//! `rtsp-floor`: the least work a recorder of RTSP cameras can do, as a baseline for
//! `bench-rtsp`. It opens one RTSP session per camera over TCP, one after another (no
//! authentication: the bench starts its camera server without it for this bridge),
//! sets up the first video track only (the hub records video only) and appends every
//! byte it reads, RTSP framing included, to one file per camera, 64 KiB at a time, from
//! a thread per camera blocking in `read`.
//! Nothing is parsed, no MP4 is made, nothing is synced. `--sha256` also hashes every
//! byte it writes, as the hub does for each segment's index row.
//!
//! `--epoll` serves every camera from one thread waiting in `epoll_wait` instead.
//!
//! Usage: `rtsp-floor PORT CAMERAS DIR [--sha256] [--epoll]`; runs until killed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// Reads one RTSP response (status line, headers, body of `Content-Length` bytes);
/// returns the headers and body, and keeps what followed in `buf`.
fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<(String, Vec<u8>)> {
    let mut chunk = [0u8; 4096];
    let end = loop {
        // Interleaved packets may come before the response: skip them.
        while buf.first() == Some(&b'$') && buf.len() >= 4 {
            let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() < len {
                break;
            }
            buf.drain(..len);
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            bail!("RTSP headers longer than 64 KiB");
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("the camera server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    if !head.starts_with("RTSP/1.0 200") {
        bail!("RTSP error: {}", head.lines().next().unwrap_or(""));
    }
    let len: usize = header(&head, "content-length").map_or(Ok(0), str::parse)?;
    if len > 1 << 20 {
        bail!("RTSP body of {len} bytes");
    }
    buf.drain(..end);
    while buf.len() < len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("the camera server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..len).collect();
    Ok((head, body))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// An RTSP session playing the first video track over TCP: its socket, and the bytes
/// read after the PLAY response.
fn play(port: u16) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let url = format!("rtsp://127.0.0.1:{port}/stream1");
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let mut buf = Vec::new();
    write!(
        s,
        "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
    )?;
    let (head, sdp) = response(&mut s, &mut buf)?;
    let base = header(&head, "content-base").unwrap_or(&url).to_owned();
    let sdp = String::from_utf8_lossy(&sdp);
    let control = sdp
        .split("\nm=")
        .skip(1)
        .find(|m| m.starts_with("video"))
        .and_then(|m| m.lines().find_map(|l| l.trim().strip_prefix("a=control:")))
        .context("no video track with a control URL in the SDP")?;
    let track = if control.starts_with("rtsp://") {
        control.to_owned()
    } else {
        format!("{}/{control}", base.trim_end_matches('/'))
    };
    write!(
        s,
        "SETUP {track} RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
    )?;
    let (head, _) = response(&mut s, &mut buf)?;
    let session = header(&head, "session")
        .and_then(|v| v.split(';').next())
        .context("no Session header")?
        .to_owned();
    write!(
        s,
        "PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\nRange: npt=0-\r\n\r\n"
    )?;
    response(&mut s, &mut buf)?;
    Ok((s, buf))
}

/// Where a camera's bytes go: appended to its file, and hashed if asked.
struct Sink {
    out: std::fs::File,
    hash: Option<Sha256>,
}

impl Sink {
    fn new(file: &Path, sha: bool) -> anyhow::Result<Self> {
        let out = std::fs::File::create(file)?;
        Ok(Self {
            out,
            hash: sha.then(Sha256::new),
        })
    }

    fn take(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.out.write_all(bytes)?;
        if let Some(h) = &mut self.hash {
            h.update(bytes);
        }
        Ok(())
    }
}

/// A thread per camera, blocking in `read`.
fn camera(mut s: TcpStream, mut sink: Sink) -> anyhow::Result<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("the camera server closed the connection");
        }
        sink.take(&chunk[..n])?;
    }
}

/// One thread for every camera, waiting in `epoll_wait` and reading each ready socket
/// until it would block.
fn epoll_loop(cams: Vec<(TcpStream, Sink)>) -> anyhow::Result<()> {
    use rustix::event::epoll;
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    for (i, (s, _)) in cams.iter().enumerate() {
        s.set_nonblocking(true)?;
        epoll::add(
            &ep,
            s,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )?;
    }
    let mut cams = cams;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut events = Vec::with_capacity(256);
    loop {
        events.clear();
        match epoll::wait(&ep, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        for ev in &events {
            let (s, sink) = &mut cams[ev.data.u64() as usize];
            loop {
                match s.read(&mut chunk) {
                    Ok(0) => bail!("the camera server closed the connection"),
                    Ok(k) => sink.take(&chunk[..k])?,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, n, dir, rest @ ..] = args.as_slice() else {
        bail!("usage: rtsp-floor PORT CAMERAS DIR [--sha256] [--epoll]");
    };
    let port: u16 = port.parse().context("PORT")?;
    let n: usize = n.parse().context("CAMERAS")?;
    if let Some(a) = rest
        .iter()
        .find(|a| !matches!(a.as_str(), "--sha256" | "--epoll"))
    {
        bail!("unknown option {a:?} (options: --sha256, --epoll)");
    }
    let sha = rest.iter().any(|a| a == "--sha256");
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    // The sessions are opened one after another: the GStreamer test server can abort
    // when many PLAY at once.
    let mut cams = Vec::new();
    for i in 1..=n {
        let (s, buf) = play(port)?;
        let mut sink = Sink::new(&dir.join(format!("{i}.rtp")), sha)?;
        sink.take(&buf)?;
        cams.push((s, sink));
    }
    if rest.iter().any(|a| a == "--epoll") {
        return epoll_loop(cams);
    }
    let threads: Vec<_> = cams
        .into_iter()
        .map(|(s, sink)| std::thread::spawn(move || camera(s, sink)))
        .collect();
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            eprintln!("rtsp-floor: {e:#}");
        }
    }
    Ok(())
}

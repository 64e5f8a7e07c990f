//! Reader of `multipart/x-mixed-replace` MJPEG streams, as served for live
//! view: a sans-I/O [`PartParser`] (bytes in, JPEG parts out) and a thin async
//! [`MjpegStream`] over an HTTP response body.
//!
//! Each part must look like
//! `--BOUNDARY\r\nContent-Type: image/jpeg\r\nContent-Length: N\r\n\r\n<N bytes>\r\n`;
//! other headers are allowed, CRLFs before a boundary are skipped, and
//! `--BOUNDARY--` ends the stream.

use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// Largest accepted part body.
pub const MAX_PART_BYTES: usize = 16 << 20;
/// Largest accepted header block of one part.
pub const MAX_HEADER_BYTES: usize = 16 << 10;
/// Largest accepted boundary line (boundary plus transport padding).
pub const MAX_BOUNDARY_LINE_BYTES: usize = 1024;
/// Default bound on the wait for each part in [`MjpegStream::next_part`].
pub const DEFAULT_PART_TIMEOUT: Duration = Duration::from_secs(10);

/// One part of the stream: its headers in order and its body (a JPEG).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Part {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The boundary parameter of a `multipart/x-mixed-replace` Content-Type
/// (quotes removed), or `None` if the type is different or has none.
pub fn boundary_from_content_type(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media_type = params.next()?.trim();
    if !media_type.eq_ignore_ascii_case("multipart/x-mixed-replace") {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

#[derive(Debug)]
enum State {
    /// Before `--BOUNDARY` (leading CRLFs allowed).
    Boundary,
    /// After the boundary line, before the blank line.
    Headers,
    /// Waiting for `len` bytes of body and a CRLF.
    Body {
        headers: Vec<(String, String)>,
        len: usize,
    },
    /// After the close delimiter `--BOUNDARY--`.
    Done,
}

/// Sans-I/O parser: [`push`](Self::push) bytes as they arrive, then call
/// [`next_part`](Self::next_part) until it returns `Ok(None)`.
/// Errors are final: the stream is malformed.
#[derive(Debug)]
pub struct PartParser {
    /// `--` followed by the boundary.
    delimiter: Vec<u8>,
    buf: BytesMut,
    state: State,
}

impl PartParser {
    /// A parser for parts separated by `--boundary`.
    pub fn new(boundary: &str) -> Self {
        let mut delimiter = b"--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        PartParser {
            delimiter,
            buf: BytesMut::new(),
            state: State::Boundary,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True once the close delimiter has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// True if the input so far ends between two parts (the stream may end
    /// here without losing data).
    pub fn at_part_boundary(&self) -> bool {
        match self.state {
            State::Done => true,
            State::Boundary => self.buf.iter().all(|b| matches!(b, b'\r' | b'\n')),
            _ => false,
        }
    }

    /// The next complete part, or `None` if more bytes are needed (or the
    /// stream is done).
    pub fn next_part(&mut self) -> Result<Option<Part>> {
        loop {
            match &mut self.state {
                State::Done => return Ok(None),
                State::Boundary => {
                    let skip = self
                        .buf
                        .iter()
                        .take_while(|b| matches!(b, b'\r' | b'\n'))
                        .count();
                    self.buf.advance(skip);
                    let n = self.buf.len().min(self.delimiter.len());
                    if self.buf[..n] != self.delimiter[..n] {
                        bail!(
                            "expected boundary {:?}, got {:?}",
                            String::from_utf8_lossy(&self.delimiter),
                            String::from_utf8_lossy(&self.buf[..self.buf.len().min(64)])
                        );
                    }
                    let Some(eol) = find(&self.buf, b"\r\n") else {
                        if self.buf.len() > MAX_BOUNDARY_LINE_BYTES {
                            bail!("boundary line longer than {MAX_BOUNDARY_LINE_BYTES} bytes");
                        }
                        return Ok(None);
                    };
                    let line = self.buf.split_to(eol + 2);
                    let rest = &line[self.delimiter.len()..eol];
                    let rest_trimmed = trim_lwsp(rest);
                    if rest_trimmed == b"--" {
                        self.state = State::Done;
                        self.buf.clear();
                        return Ok(None);
                    }
                    if !rest_trimmed.is_empty() {
                        bail!(
                            "unexpected text after boundary: {:?}",
                            String::from_utf8_lossy(rest)
                        );
                    }
                    self.state = State::Headers;
                }
                State::Headers => {
                    // The header block ends at the first empty line; it may
                    // be empty itself (the boundary line's CRLF then a CRLF).
                    let end = if self.buf.starts_with(b"\r\n") {
                        Some(0)
                    } else {
                        find(&self.buf, b"\r\n\r\n").map(|i| i + 2)
                    };
                    let Some(end) = end else {
                        if self.buf.len() > MAX_HEADER_BYTES {
                            bail!("part headers longer than {MAX_HEADER_BYTES} bytes");
                        }
                        return Ok(None);
                    };
                    if end > MAX_HEADER_BYTES {
                        bail!("part headers longer than {MAX_HEADER_BYTES} bytes");
                    }
                    let block = self.buf.split_to(end + 2);
                    let headers = parse_headers(&block[..end])?;
                    let len = check_headers(&headers)?;
                    self.state = State::Body { headers, len };
                }
                State::Body { headers, len } => {
                    let len = *len;
                    if self.buf.len() < len + 2 {
                        self.buf.reserve(len + 2 - self.buf.len());
                        return Ok(None);
                    }
                    if &self.buf[len..len + 2] != b"\r\n" {
                        bail!(
                            "no CRLF after {len}-byte body (Content-Length wrong?): got {:?}",
                            String::from_utf8_lossy(&self.buf[len..len + 2])
                        );
                    }
                    let body = self.buf.split_to(len).freeze();
                    self.buf.advance(2);
                    if !body.starts_with(&[0xFF, 0xD8]) {
                        bail!("part body is not a JPEG (no SOI marker)");
                    }
                    let headers = std::mem::take(headers);
                    self.state = State::Boundary;
                    return Ok(Some(Part { headers, body }));
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_lwsp(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parses `Name: value\r\n` lines (the block ends with its last CRLF).
fn parse_headers(block: &[u8]) -> Result<Vec<(String, String)>> {
    let text = std::str::from_utf8(block).context("part headers are not UTF-8")?;
    text.split_terminator("\r\n")
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| anyhow!("malformed part header line {line:?}"))?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                bail!("malformed part header name in {line:?}");
            }
            Ok((name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// Checks Content-Type and returns Content-Length.
fn check_headers(headers: &[(String, String)]) -> Result<usize> {
    let get = |name: &str| {
        let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            bail!("duplicate {name} header in part");
        }
        first.ok_or_else(|| anyhow!("part has no {name} header"))
    };
    let content_type = get("Content-Type")?;
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("image/jpeg") {
        bail!("part Content-Type is {content_type:?}, not image/jpeg");
    }
    let length = get("Content-Length")?;
    let len: usize = length
        .parse()
        .map_err(|_| anyhow!("bad part Content-Length {length:?}"))?;
    if len > MAX_PART_BYTES {
        bail!("part Content-Length {len} exceeds {MAX_PART_BYTES}");
    }
    Ok(len)
}

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// Async reader of JPEG parts from an HTTP response body.
pub struct MjpegStream {
    body: BodyStream,
    parser: PartParser,
    part_timeout: Duration,
    content_type: String,
    body_ended: bool,
}

impl MjpegStream {
    /// Sends `request` (build it with [`crate::http_client`]; add
    /// `.basic_auth(..)` or a `Cookie` header as needed), waits at most
    /// [`DEFAULT_PART_TIMEOUT`] for the response head, and checks for status
    /// 200 and a `multipart/x-mixed-replace` Content-Type with a boundary.
    pub async fn connect(request: reqwest::RequestBuilder) -> Result<Self> {
        let response = tokio::time::timeout(DEFAULT_PART_TIMEOUT, request.send())
            .await
            .map_err(|_| anyhow!("no response head within {DEFAULT_PART_TIMEOUT:?}"))?
            .context("sending the MJPEG request")?;
        Self::from_response(response)
    }

    /// Wraps a response already received; see [`MjpegStream::connect`].
    pub fn from_response(response: reqwest::Response) -> Result<Self> {
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            bail!("{}: status {status}, expected 200", response.url());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .ok_or_else(|| anyhow!("{}: no Content-Type", response.url()))?
            .to_str()
            .context("Content-Type is not ASCII")?
            .to_owned();
        let boundary = boundary_from_content_type(&content_type).ok_or_else(|| {
            anyhow!(
                "Content-Type {content_type:?} is not multipart/x-mixed-replace with a boundary"
            )
        })?;
        let body = response
            .bytes_stream()
            .map(|r| r.map_err(anyhow::Error::from));
        let mut stream = Self::from_stream(body, &boundary);
        stream.content_type = content_type;
        Ok(stream)
    }

    /// Reads parts separated by `boundary` from any stream of byte chunks.
    pub fn from_stream<S, E>(body: S, boundary: &str) -> Self
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<anyhow::Error>,
    {
        MjpegStream {
            body: Box::pin(body.map(|r| r.map_err(Into::into))),
            parser: PartParser::new(boundary),
            part_timeout: DEFAULT_PART_TIMEOUT,
            content_type: String::new(),
            body_ended: false,
        }
    }

    /// Bounds the wait for each part (default [`DEFAULT_PART_TIMEOUT`]).
    pub fn with_part_timeout(mut self, timeout: Duration) -> Self {
        self.part_timeout = timeout;
        self
    }

    /// The response's Content-Type (empty for [`MjpegStream::from_stream`]).
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The next part; `None` once the stream has ended cleanly (close
    /// delimiter, or end of body between parts). Fails if no part arrives
    /// within the part timeout, on malformed input, or if the body ends
    /// inside a part.
    pub async fn next_part(&mut self) -> Result<Option<Part>> {
        let timeout = self.part_timeout;
        tokio::time::timeout(timeout, self.next_part_unbounded())
            .await
            .map_err(|_| anyhow!("no MJPEG part within {timeout:?}"))?
    }

    /// Reads `n` parts, failing if the stream ends first.
    pub async fn take_parts(&mut self, n: usize) -> Result<Vec<Part>> {
        let mut parts = Vec::with_capacity(n);
        while parts.len() < n {
            let part = self
                .next_part()
                .await?
                .ok_or_else(|| anyhow!("stream ended after {} of {n} parts", parts.len()))?;
            parts.push(part);
        }
        Ok(parts)
    }

    async fn next_part_unbounded(&mut self) -> Result<Option<Part>> {
        loop {
            if let Some(part) = self.parser.next_part()? {
                return Ok(Some(part));
            }
            if self.parser.is_done() || self.body_ended {
                return Ok(None);
            }
            match self.body.next().await {
                Some(chunk) => self.parser.push(&chunk.context("reading the MJPEG body")?),
                None => {
                    self.body_ended = true;
                    if !self.parser.at_part_boundary() {
                        bail!("MJPEG body ended inside a part");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(n: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
        v.extend((0..len).map(|i| (i as u8).wrapping_mul(n)));
        // Bytes that look like a boundary inside a body must not confuse us.
        v.extend_from_slice(b"\r\n--frame\r\n");
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    fn part_bytes(boundary: &str, body: &[u8], extra: &str) -> Vec<u8> {
        let mut v = format!(
            "--{boundary}\r\nContent-Type: image/jpeg\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        v.extend_from_slice(body);
        v.extend_from_slice(b"\r\n");
        v
    }

    /// Feeds `input` split at `split` (and the whole at once when
    /// `split` is 0) and returns the parts or the first error.
    fn parse_split(boundary: &str, input: &[u8], split: usize) -> Result<(Vec<Part>, bool)> {
        let mut p = PartParser::new(boundary);
        let mut parts = Vec::new();
        for chunk in [&input[..split], &input[split..]] {
            p.push(chunk);
            while let Some(part) = p.next_part()? {
                parts.push(part);
            }
        }
        Ok((parts, p.at_part_boundary()))
    }

    /// Checks `input` parses to `bodies` at every split position, and byte by byte.
    fn check(boundary: &str, input: &[u8], bodies: &[Vec<u8>]) {
        for split in 0..=input.len() {
            let (parts, clean) = parse_split(boundary, input, split)
                .unwrap_or_else(|e| panic!("split at {split}: {e:#}"));
            let got: Vec<&[u8]> = parts.iter().map(|p| &p.body[..]).collect();
            let want: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
            assert_eq!(got, want, "split at {split}");
            assert!(clean, "split at {split}: should end between parts");
        }
        let mut p = PartParser::new(boundary);
        let mut n = 0;
        for b in input {
            p.push(std::slice::from_ref(b));
            while p.next_part().unwrap().is_some() {
                n += 1;
            }
        }
        assert_eq!(n, bodies.len());
    }

    /// Checks `input` fails at every split position with an error containing `msg`.
    fn check_err(boundary: &str, input: &[u8], msg: &str) {
        for split in 0..=input.len() {
            let err = parse_split(boundary, input, split).expect_err(&format!("split at {split}"));
            assert!(
                format!("{err:#}").contains(msg),
                "split at {split}: {err:#}"
            );
        }
    }

    #[test]
    fn parses_parts_at_every_split() {
        let bodies = vec![jpeg(1, 10), jpeg(3, 0), jpeg(7, 40)];
        let mut input = Vec::new();
        for (i, b) in bodies.iter().enumerate() {
            let extra = if i == 1 { "X-Timestamp: 12\r\n" } else { "" };
            input.extend(part_bytes("frame", b, extra));
        }
        check("frame", &input, &bodies);
    }

    #[test]
    fn tolerates_leading_crlf_close_delimiter_and_case() {
        let bodies = vec![jpeg(2, 5), jpeg(5, 6)];
        let mut input = b"\r\n".to_vec();
        input.extend(part_bytes("FRAME", &bodies[0], ""));
        input.extend_from_slice(b"\r\n");
        input.extend(
            format!(
                "--FRAME  \r\ncontent-type: IMAGE/JPEG\r\ncontent-length:{}\r\n\r\n",
                bodies[1].len()
            )
            .as_bytes(),
        );
        input.extend_from_slice(&bodies[1]);
        input.extend_from_slice(b"\r\n--FRAME--\r\n");
        check("FRAME", &input, &bodies);
        let mut p = PartParser::new("FRAME");
        p.push(&input);
        while p.next_part().unwrap().is_some() {}
        assert!(p.is_done());
        let part = parse_split("FRAME", &input, 0).unwrap().0.remove(1);
        assert_eq!(part.header("Content-Type"), Some("IMAGE/JPEG"));
    }

    #[test]
    fn rejects_malformed_parts() {
        let body = jpeg(1, 8);
        check_err(
            "frame",
            &part_bytes("other", &body, ""),
            "expected boundary",
        );
        check_err("frame", b"garbage\r\n", "expected boundary");
        let png = [
            b"--frame\r\nContent-Type: image/png\r\nContent-Length: 10\r\n\r\n".as_slice(),
            &body,
            b"\r\n",
        ]
        .concat();
        check_err("frame", &png, "not image/jpeg");
        let no_length = [
            b"--frame\r\nContent-Type: image/jpeg\r\n\r\n".as_slice(),
            &body,
            b"\r\n",
        ]
        .concat();
        check_err("frame", &no_length, "no Content-Length");
        let short = [
            format!(
                "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                body.len() - 1
            )
            .as_bytes(),
            &body,
            b"\r\n",
        ]
        .concat();
        check_err("frame", &short, "no CRLF after");
        let too_big = format!(
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            MAX_PART_BYTES + 1
        );
        check_err("frame", too_big.as_bytes(), "exceeds");
        let not_jpeg = part_bytes("frame", b"GIF89a", "");
        check_err("frame", &not_jpeg, "not a JPEG");
        check_err("frame", b"--frame\r\nno colon here\r\n\r\n", "malformed");
        check_err("frame", b"--framex\r\n", "after boundary");
    }

    #[test]
    fn huge_headers_are_rejected_without_a_blank_line() {
        let mut p = PartParser::new("frame");
        p.push(b"--frame\r\n");
        let line = format!("X-Pad: {}\r\n", "a".repeat(100));
        let mut err = None;
        for _ in 0..(MAX_HEADER_BYTES / line.len() + 2) {
            p.push(line.as_bytes());
            if let Err(e) = p.next_part() {
                err = Some(e);
                break;
            }
        }
        assert!(format!("{:#}", err.expect("an error")).contains("headers longer"));
    }

    #[test]
    fn boundary_parameter() {
        let cases = [
            ("multipart/x-mixed-replace; boundary=frame", Some("frame")),
            (
                "multipart/x-mixed-replace;boundary=\"FRAME\"",
                Some("FRAME"),
            ),
            (
                "Multipart/X-Mixed-Replace; charset=x; Boundary=b1",
                Some("b1"),
            ),
            ("multipart/x-mixed-replace", None),
            ("image/jpeg; boundary=frame", None),
        ];
        for (ct, want) in cases {
            assert_eq!(boundary_from_content_type(ct).as_deref(), want, "{ct}");
        }
    }

    #[tokio::test]
    async fn stream_reports_truncation_and_clean_end() {
        let body = jpeg(1, 3);
        let whole = part_bytes("frame", &body, "");
        let chunks: Vec<std::result::Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::copy_from_slice(&whole)),
            Ok(Bytes::copy_from_slice(&whole[..10])),
        ];
        let mut s = MjpegStream::from_stream(futures_util::stream::iter(chunks), "frame");
        assert_eq!(s.next_part().await.unwrap().unwrap().body, body);
        let err = s.next_part().await.unwrap_err();
        assert!(
            format!("{err:#}").contains("ended inside a part"),
            "{err:#}"
        );

        let chunks: Vec<std::result::Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::copy_from_slice(&whole))];
        let mut s = MjpegStream::from_stream(futures_util::stream::iter(chunks), "frame");
        assert_eq!(s.take_parts(1).await.unwrap().len(), 1);
        assert!(s.next_part().await.unwrap().is_none());

        let mut s = MjpegStream::from_stream(
            futures_util::stream::pending::<std::result::Result<Bytes, std::io::Error>>(),
            "frame",
        )
        .with_part_timeout(Duration::from_millis(50));
        let err = s.next_part().await.unwrap_err();
        assert!(
            format!("{err:#}").contains("no MJPEG part within"),
            "{err:#}"
        );
    }
}

//! Client-side encryption of objects in fixed-size chunks (the off-site copies' optional
//! encryption), so a byte range of the
//! plaintext is served by fetching and decrypting only the chunks that cover it.
//! Pure functions: no I/O (the caller reads files, fetches ranges and draws the random
//! nonce prefix).
//!
//! # Format (version 1)
//!
//! ```text
//! header (32 bytes): "CSOE" | version 1 | algorithm 1 (XChaCha20-Poly1305) |
//!                    log2(chunk size) | 0 | nonce prefix (16 random bytes) | key id (8)
//! chunk i:           ciphertext of plaintext[i*C .. min((i+1)*C, len)] | 16-byte tag
//! ```
//!
//! * Every chunk but the last holds exactly `C` plaintext bytes; the last holds 0 to `C`
//!   (an empty object is one empty chunk, so it cannot be cut down to its header).
//! * Nonce of chunk `i`: nonce prefix ‖ `i` as 8 bytes big-endian. The prefix is drawn
//!   at random per object (192-bit nonces: no practical collision across objects).
//! * Associated data of chunk `i`: the header ‖ length-prefixed object identity (its
//!   key without the hub's prefix) ‖ `i` ‖ a last-chunk flag. So chunks cannot be
//!   reordered, dropped from the end, or swapped between objects (or moved to another
//!   key) without failing authentication.
//! * Key id: the first 8 bytes of SHA-256("camera-system offsite key id" ‖ key), so a
//!   wrong key is reported as such instead of as corruption.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// Length of the object header.
pub const HEADER_LEN: usize = 32;
/// Length of each chunk's authentication tag.
pub const TAG_LEN: usize = 16;
/// Default plaintext bytes per chunk (64 KiB): a range read fetches at most one chunk
/// more than it needs at each end; the overhead is 16 bytes per 64 KiB (0.02 %).
pub const DEFAULT_CHUNK_LOG2: u8 = 16;
/// Smallest and largest chunk sizes a header may declare (4 KiB to 1 MiB): bounds the
/// memory a hostile header can ask the decryptor for.
pub const MIN_CHUNK_LOG2: u8 = 12;
pub const MAX_CHUNK_LOG2: u8 = 20;

const MAGIC: &[u8; 4] = b"CSOE";
const VERSION: u8 = 1;
const ALG_XCHACHA20POLY1305: u8 = 1;
/// Object identities longer than this are refused (S3 keys are at most 1024 bytes).
pub const MAX_OBJECT_ID_LEN: usize = 1024;

/// What can go wrong decrypting (or setting up encryption).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("not an encrypted object (bad magic)")]
    BadMagic,
    #[error("encrypted object format version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("encryption algorithm {0} is not supported")]
    UnsupportedAlgorithm(u8),
    #[error("chunk size 2^{0} is outside 2^12..2^20")]
    BadChunkSize(u8),
    #[error("header is {0} bytes, expected 32")]
    ShortHeader(usize),
    #[error("the object was encrypted with another key")]
    WrongKey,
    #[error("chunk {0} failed authentication (corrupt, reordered or from another object)")]
    Inauthentic(u64),
    #[error("encrypted length {0} is not a valid object length")]
    BadLength(u64),
    #[error("range {start}..{end} is outside the object's {len} bytes")]
    BadRange { start: u64, end: u64, len: u64 },
    #[error("chunk {index} is {got} bytes, expected {expected}")]
    BadChunkLength {
        index: u64,
        got: usize,
        expected: usize,
    },
    #[error("object identity is longer than 1024 bytes")]
    IdTooLong,
}

/// A 256-bit encryption key. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(id {})", hex::encode(self.id()))
    }
}

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    /// Parses 64 hex digits (what `openssl rand -hex 32` writes).
    pub fn from_hex(text: &str) -> Result<Key, String> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(text, &mut k).map_err(|_| {
            "must hold 64 hex digits (make one with `openssl rand -hex 32`)".to_owned()
        })?;
        Ok(Key(k))
    }

    /// The key's public identifier, written in each object's header.
    pub fn id(&self) -> [u8; 8] {
        let mut h = Sha256::new();
        h.update(b"camera-system offsite key id");
        h.update(self.0);
        let d = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

/// The parsed object header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub chunk_log2: u8,
    pub nonce_prefix: [u8; 16],
    pub key_id: [u8; 8],
}

impl Header {
    pub fn new(key: &Key, nonce_prefix: [u8; 16]) -> Header {
        Header {
            chunk_log2: DEFAULT_CHUNK_LOG2,
            nonce_prefix,
            key_id: key.id(),
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4] = VERSION;
        b[5] = ALG_XCHACHA20POLY1305;
        b[6] = self.chunk_log2;
        b[7] = 0;
        b[8..24].copy_from_slice(&self.nonce_prefix);
        b[24..32].copy_from_slice(&self.key_id);
        b
    }

    /// Parses the first [`HEADER_LEN`] bytes of an object; `bytes` may be longer.
    pub fn parse(bytes: &[u8]) -> Result<Header, CryptoError> {
        if bytes.len() < HEADER_LEN {
            return Err(CryptoError::ShortHeader(bytes.len()));
        }
        if &bytes[..4] != MAGIC {
            return Err(CryptoError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(CryptoError::UnsupportedVersion(bytes[4]));
        }
        if bytes[5] != ALG_XCHACHA20POLY1305 {
            return Err(CryptoError::UnsupportedAlgorithm(bytes[5]));
        }
        let chunk_log2 = bytes[6];
        if !(MIN_CHUNK_LOG2..=MAX_CHUNK_LOG2).contains(&chunk_log2) {
            return Err(CryptoError::BadChunkSize(chunk_log2));
        }
        let mut nonce_prefix = [0u8; 16];
        nonce_prefix.copy_from_slice(&bytes[8..24]);
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&bytes[24..32]);
        Ok(Header {
            chunk_log2,
            nonce_prefix,
            key_id,
        })
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_len(&self) -> u64 {
        1 << self.chunk_log2
    }

    fn sealed_chunk_len(&self) -> u64 {
        self.chunk_len() + TAG_LEN as u64
    }

    /// Chunks in an object of `plain_len` plaintext bytes (at least one).
    pub fn chunk_count(&self, plain_len: u64) -> u64 {
        plain_len.div_ceil(self.chunk_len()).max(1)
    }

    /// The stored length of `plain_len` plaintext bytes.
    pub fn sealed_len(&self, plain_len: u64) -> u64 {
        HEADER_LEN as u64 + plain_len + self.chunk_count(plain_len) * TAG_LEN as u64
    }

    /// The plaintext length of a stored object of `sealed_len` bytes.
    pub fn plain_len(&self, sealed_len: u64) -> Result<u64, CryptoError> {
        let body = sealed_len
            .checked_sub(HEADER_LEN as u64)
            .ok_or(CryptoError::BadLength(sealed_len))?;
        let full = body / self.sealed_chunk_len();
        let rest = body % self.sealed_chunk_len();
        let plain = match rest {
            0 if full > 0 => full * self.chunk_len(),
            r if r >= TAG_LEN as u64 => full * self.chunk_len() + (r - TAG_LEN as u64),
            _ => return Err(CryptoError::BadLength(sealed_len)),
        };
        // An exact multiple of the chunk size never ends in an empty chunk: round-trips only.
        if self.sealed_len(plain) != sealed_len {
            return Err(CryptoError::BadLength(sealed_len));
        }
        Ok(plain)
    }

    /// The stored byte range of chunk `index` in an object of `plain_len` bytes.
    pub fn chunk_range(&self, index: u64, plain_len: u64) -> std::ops::Range<u64> {
        let start = HEADER_LEN as u64 + index * self.sealed_chunk_len();
        let plain_in_chunk = plain_len
            .saturating_sub(index * self.chunk_len())
            .min(self.chunk_len());
        start..start + plain_in_chunk + TAG_LEN as u64
    }

    /// What to fetch to serve plaintext `range` of an object of `plain_len` bytes: the
    /// stored byte range covering it and the index of its first chunk.
    pub fn covering(
        &self,
        range: std::ops::Range<u64>,
        plain_len: u64,
    ) -> Result<Covering, CryptoError> {
        if range.start > range.end || range.end > plain_len || range.start == range.end {
            return Err(CryptoError::BadRange {
                start: range.start,
                end: range.end,
                len: plain_len,
            });
        }
        let first = range.start / self.chunk_len();
        let last = (range.end - 1) / self.chunk_len();
        Ok(Covering {
            sealed: self.chunk_range(first, plain_len).start..self.chunk_range(last, plain_len).end,
            first_chunk: first,
            skip: (range.start - first * self.chunk_len()) as usize,
            len: (range.end - range.start) as usize,
        })
    }
}

/// The stored bytes that cover a plaintext range (see [`Header::covering`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covering {
    /// Stored byte range to fetch.
    pub sealed: std::ops::Range<u64>,
    /// Index of the first chunk in it.
    pub first_chunk: u64,
    /// Plaintext bytes to drop from the first chunk.
    pub skip: usize,
    /// Plaintext bytes wanted.
    pub len: usize,
}

fn nonce(header: &Header, index: u64) -> XNonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(&header.nonce_prefix);
    n[16..].copy_from_slice(&index.to_be_bytes());
    n.into()
}

fn aad(header: &Header, object_id: &str, index: u64, last: bool) -> Vec<u8> {
    let mut a = Vec::with_capacity(HEADER_LEN + 2 + object_id.len() + 9);
    a.extend_from_slice(&header.encode());
    a.extend_from_slice(&(object_id.len() as u16).to_be_bytes());
    a.extend_from_slice(object_id.as_bytes());
    a.extend_from_slice(&index.to_be_bytes());
    a.push(u8::from(last));
    a
}

/// Encrypts the chunks of one object.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    header: Header,
    object_id: String,
    plain_len: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("object_id", &self.object_id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Encryption of an object named `object_id` with `plain_len` plaintext bytes;
    /// `nonce_prefix` must be fresh random bytes for each new object (and the same to
    /// reproduce the same ciphertext, as a resumed upload must).
    pub fn new(
        key: &Key,
        object_id: &str,
        nonce_prefix: [u8; 16],
        plain_len: u64,
    ) -> Result<Sealer, CryptoError> {
        if object_id.len() > MAX_OBJECT_ID_LEN {
            return Err(CryptoError::IdTooLong);
        }
        Ok(Sealer {
            cipher: key.cipher(),
            header: Header::new(key, nonce_prefix),
            object_id: object_id.to_owned(),
            plain_len,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Stored length of the whole object.
    pub fn sealed_len(&self) -> u64 {
        self.header.sealed_len(self.plain_len)
    }

    /// The plaintext range chunk `index` holds.
    pub fn plain_range(&self, index: u64) -> std::ops::Range<u64> {
        let start = index * self.header.chunk_len();
        start..(start + self.header.chunk_len()).min(self.plain_len)
    }

    /// Encrypts chunk `index`, whose plaintext is `plain` (exactly [`Sealer::plain_range`]).
    pub fn seal_chunk(&self, index: u64, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let want = self.plain_range(index);
        if index >= self.header.chunk_count(self.plain_len)
            || plain.len() as u64 != want.end.saturating_sub(want.start)
        {
            return Err(CryptoError::BadChunkLength {
                index,
                got: plain.len(),
                expected: want.end.saturating_sub(want.start) as usize,
            });
        }
        let last = index + 1 == self.header.chunk_count(self.plain_len);
        let mut buf = Vec::with_capacity(plain.len() + TAG_LEN);
        buf.extend_from_slice(plain);
        self.cipher
            .encrypt_in_place(
                &nonce(&self.header, index),
                &aad(&self.header, &self.object_id, index, last),
                &mut buf,
            )
            .map_err(|_| CryptoError::BadChunkLength {
                index,
                got: plain.len(),
                expected: plain.len(),
            })?;
        Ok(buf)
    }

    /// The chunks covering stored byte range `sealed` (for a multipart part or a
    /// resumed one): their indices and, for each, its plaintext range.
    pub fn chunks_for(&self, sealed: std::ops::Range<u64>) -> std::ops::Range<u64> {
        let body =
            |off: u64| off.saturating_sub(HEADER_LEN as u64) / self.header.sealed_chunk_len();
        let n = self.header.chunk_count(self.plain_len);
        if sealed.end <= HEADER_LEN as u64 {
            return 0..0;
        }
        body(sealed.start).min(n)..(body(sealed.end - 1) + 1).min(n)
    }
}

/// Decrypts chunks of one object.
pub struct Opener {
    cipher: XChaCha20Poly1305,
    header: Header,
    object_id: String,
    plain_len: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("object_id", &self.object_id)
            .field("plain_len", &self.plain_len)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// Decryption of object `object_id` whose stored bytes start with `header_bytes` and
    /// are `sealed_len` long in all.
    pub fn new(
        key: &Key,
        object_id: &str,
        header_bytes: &[u8],
        sealed_len: u64,
    ) -> Result<Opener, CryptoError> {
        if object_id.len() > MAX_OBJECT_ID_LEN {
            return Err(CryptoError::IdTooLong);
        }
        let header = Header::parse(header_bytes)?;
        if header.key_id != key.id() {
            return Err(CryptoError::WrongKey);
        }
        let plain_len = header.plain_len(sealed_len)?;
        Ok(Opener {
            cipher: key.cipher(),
            header,
            object_id: object_id.to_owned(),
            plain_len,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    /// Decrypts consecutive chunks starting at `first_chunk` from `sealed` (exactly the
    /// bytes of those chunks, e.g. [`Covering::sealed`]).
    pub fn open_chunks(&self, first_chunk: u64, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let count = self.header.chunk_count(self.plain_len);
        let mut out = Vec::with_capacity(sealed.len());
        let mut rest = sealed;
        let mut index = first_chunk;
        while !rest.is_empty() || index == first_chunk {
            if index >= count {
                return Err(CryptoError::BadChunkLength {
                    index,
                    got: rest.len(),
                    expected: 0,
                });
            }
            let r = self.header.chunk_range(index, self.plain_len);
            let len = (r.end - r.start) as usize;
            if rest.len() < len {
                return Err(CryptoError::BadChunkLength {
                    index,
                    got: rest.len(),
                    expected: len,
                });
            }
            let (chunk, tail) = rest.split_at(len);
            let mut buf = chunk.to_vec();
            let last = index + 1 == count;
            self.cipher
                .decrypt_in_place(
                    &nonce(&self.header, index),
                    &aad(&self.header, &self.object_id, index, last),
                    &mut buf,
                )
                .map_err(|_| CryptoError::Inauthentic(index))?;
            out.extend_from_slice(&buf);
            rest = tail;
            index += 1;
        }
        Ok(out)
    }

    /// Decrypts the plaintext range a [`Covering`] was made for from its fetched bytes.
    pub fn open_range(&self, covering: &Covering, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut plain = self.open_chunks(covering.first_chunk, sealed)?;
        if covering.skip + covering.len > plain.len() {
            return Err(CryptoError::BadChunkLength {
                index: covering.first_chunk,
                got: plain.len(),
                expected: covering.skip + covering.len,
            });
        }
        plain.truncate(covering.skip + covering.len);
        plain.drain(..covering.skip);
        Ok(plain)
    }
}

/// Encrypts a whole object in memory (tests, small objects such as event JSON).
pub fn seal_all(
    key: &Key,
    object_id: &str,
    nonce_prefix: [u8; 16],
    plain: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let s = Sealer::new(key, object_id, nonce_prefix, plain.len() as u64)?;
    let mut out = Vec::with_capacity(s.sealed_len() as usize);
    out.extend_from_slice(&s.header.encode());
    for i in 0..s.header.chunk_count(plain.len() as u64) {
        let r = s.plain_range(i);
        out.extend_from_slice(&s.seal_chunk(i, &plain[r.start as usize..r.end as usize])?);
    }
    Ok(out)
}

/// Decrypts a whole stored object in memory.
pub fn open_all(key: &Key, object_id: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let o = Opener::new(key, object_id, sealed, sealed.len() as u64)?;
    o.open_chunks(0, &sealed[HEADER_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    const C: usize = 1 << DEFAULT_CHUNK_LOG2;

    #[test]
    fn round_trips_at_chunk_edges() {
        for n in [0, 1, C - 1, C, C + 1, 3 * C, 3 * C + 17] {
            let plain = data(n);
            let sealed = seal_all(&key(1), "cam/x.mp4", [9; 16], &plain).unwrap();
            let h = Header::parse(&sealed).unwrap();
            assert_eq!(sealed.len() as u64, h.sealed_len(n as u64), "n={n}");
            assert_eq!(h.plain_len(sealed.len() as u64), Ok(n as u64), "n={n}");
            assert_eq!(
                open_all(&key(1), "cam/x.mp4", &sealed).unwrap(),
                plain,
                "n={n}"
            );
        }
    }

    #[test]
    fn ciphertext_does_not_contain_the_plaintext() {
        let plain = b"ftypisom moov mdat the same 32 bytes again and again ".repeat(5000);
        let sealed = seal_all(&key(1), "a", [0; 16], &plain).unwrap();
        assert!(!sealed.windows(16).any(|w| plain[..16] == *w));
        assert!(!sealed.windows(8).any(|w| w == b"ftypisom"));
    }

    #[test]
    fn ranges_decrypt_to_the_same_bytes() {
        let n = 5 * C + 1234;
        let plain = data(n);
        let sealed = seal_all(&key(2), "r", [3; 16], &plain).unwrap();
        let o = Opener::new(&key(2), "r", &sealed, sealed.len() as u64).unwrap();
        for (a, b) in [
            (0, 1),
            (0, n),
            (C - 1, C + 1),
            (C, 2 * C),
            (n - 1, n),
            (12345, 200_000),
            (3 * C + 5, 3 * C + 6),
        ] {
            let cov = o.header().covering(a as u64..b as u64, n as u64).unwrap();
            let part = &sealed[cov.sealed.start as usize..cov.sealed.end as usize];
            assert_eq!(o.open_range(&cov, part).unwrap(), plain[a..b], "{a}..{b}");
            // Only the covering chunks are fetched.
            let chunks = (cov.sealed.end - cov.sealed.start).div_ceil((C + TAG_LEN) as u64);
            assert!(
                chunks <= ((b - a) / C + 2) as u64,
                "{a}..{b}: {chunks} chunks"
            );
        }
        assert!(o.header().covering(5..5, n as u64).is_err());
        assert!(o.header().covering(0..n as u64 + 1, n as u64).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let plain = data(3 * C);
        let sealed = seal_all(&key(1), "obj-a", [1; 16], &plain).unwrap();
        // A flipped bit in chunk 1.
        let mut t = sealed.clone();
        t[HEADER_LEN + C + TAG_LEN + 10] ^= 1;
        assert_eq!(
            open_all(&key(1), "obj-a", &t),
            Err(CryptoError::Inauthentic(1))
        );
        // Two chunks swapped.
        let mut t = sealed.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + C + TAG_LEN);
        let first = t[a..b].to_vec();
        t.copy_within(b..b + C + TAG_LEN, a);
        t[b..b + C + TAG_LEN].copy_from_slice(&first);
        assert_eq!(
            open_all(&key(1), "obj-a", &t),
            Err(CryptoError::Inauthentic(0))
        );
        // The same bytes under another object's name.
        assert_eq!(
            open_all(&key(1), "obj-b", &sealed),
            Err(CryptoError::Inauthentic(0))
        );
        // Cut after a whole chunk: the new last chunk was not sealed as last.
        let cut = &sealed[..HEADER_LEN + 2 * (C + TAG_LEN)];
        assert_eq!(
            open_all(&key(1), "obj-a", cut),
            Err(CryptoError::Inauthentic(1))
        );
        // A chunk of object B spliced into object A (same key, same position).
        let other = seal_all(&key(1), "obj-b", [2; 16], &plain).unwrap();
        let mut t = sealed.clone();
        t[HEADER_LEN..HEADER_LEN + C + TAG_LEN]
            .copy_from_slice(&other[HEADER_LEN..HEADER_LEN + C + TAG_LEN]);
        assert_eq!(
            open_all(&key(1), "obj-a", &t),
            Err(CryptoError::Inauthentic(0))
        );
        // Another key.
        assert_eq!(
            open_all(&key(7), "obj-a", &sealed),
            Err(CryptoError::WrongKey)
        );
    }

    #[test]
    fn headers_are_checked() {
        let h = Header::new(&key(1), [5; 16]).encode();
        assert_eq!(Header::parse(&h[..31]), Err(CryptoError::ShortHeader(31)));
        let mut b = h;
        b[0] = b'X';
        assert_eq!(Header::parse(&b), Err(CryptoError::BadMagic));
        let mut b = h;
        b[4] = 2;
        assert_eq!(Header::parse(&b), Err(CryptoError::UnsupportedVersion(2)));
        let mut b = h;
        b[5] = 9;
        assert_eq!(Header::parse(&b), Err(CryptoError::UnsupportedAlgorithm(9)));
        let mut b = h;
        b[6] = 40;
        assert_eq!(Header::parse(&b), Err(CryptoError::BadChunkSize(40)));
        let parsed = Header::parse(&h).unwrap();
        assert_eq!(parsed.encode(), h);
        // Lengths that no plaintext length produces.
        assert!(parsed.plain_len(0).is_err());
        assert!(parsed.plain_len(HEADER_LEN as u64 + 15).is_err());
        assert!(
            parsed
                .plain_len(HEADER_LEN as u64 + (C + TAG_LEN) as u64 + 3)
                .is_err()
        );
        assert_eq!(parsed.plain_len(HEADER_LEN as u64 + 16), Ok(0));
    }

    #[test]
    fn chunks_for_a_stored_range() {
        let n = 4 * C as u64 + 10;
        let s = Sealer::new(&key(1), "x", [0; 16], n).unwrap();
        assert_eq!(s.chunks_for(0..HEADER_LEN as u64), 0..0);
        assert_eq!(s.chunks_for(0..s.sealed_len()), 0..5);
        let c1 = s.header().chunk_range(1, n);
        assert_eq!(s.chunks_for(c1.start..c1.end), 1..2);
        assert_eq!(s.chunks_for(c1.start + 1..c1.end + 1), 1..3);
    }

    #[test]
    fn key_hex() {
        assert!(Key::from_hex(&"ab".repeat(32)).is_ok());
        assert!(Key::from_hex(&"ab".repeat(31)).is_err());
        assert!(Key::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{:?}", key(3)).contains("0303"));
    }
}

//! The bytes an upload sends: a local file (read by range with `pread`) or bytes in
//! memory, sealed chunk by chunk when encryption is on. Any stored range can be
//! produced on its own, so a resumed multipart upload re-creates exactly the parts it
//! still needs. Blocking: callers run these under `spawn_blocking`.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::Bytes;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::{Error, ErrorKind};
use chunkseal::{HEADER_LEN, Sealer};

/// Read buffer of the hashing pass.
const HASH_BUF: usize = 1 << 20;

/// Plaintext to upload.
#[derive(Debug, Clone)]
pub(crate) enum Plain {
    File { path: PathBuf, len: u64 },
    Bytes(Bytes),
}

impl Plain {
    pub(crate) fn open(path: PathBuf) -> Result<Plain, Error> {
        let len = std::fs::metadata(&path)
            .map_err(|e| Error::local(path.display(), e))?
            .len();
        Ok(Plain::File { path, len })
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Plain::File { len, .. } => *len,
            Plain::Bytes(b) => b.len() as u64,
        }
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<u8>, Error> {
        match self {
            Plain::Bytes(b) => Ok(b[range.start as usize..range.end as usize].to_vec()),
            Plain::File { path, .. } => {
                let f = std::fs::File::open(path).map_err(|e| Error::local(path.display(), e))?;
                let mut buf = vec![0u8; (range.end - range.start) as usize];
                f.read_exact_at(&mut buf, range.start).map_err(|e| {
                    Error::new(
                        ErrorKind::Local,
                        format!(
                            "{}: {e} (did it shrink while being copied?)",
                            path.display()
                        ),
                    )
                })?;
                Ok(buf)
            }
        }
    }

    /// SHA-256 (hex) of the whole plaintext; the file must still be `len` long.
    pub(crate) fn sha256(&self) -> Result<String, Error> {
        let mut h = Sha256::new();
        match self {
            Plain::Bytes(b) => h.update(b),
            Plain::File { path, len } => {
                use std::io::Read;
                let mut f =
                    std::fs::File::open(path).map_err(|e| Error::local(path.display(), e))?;
                let mut buf = vec![0u8; HASH_BUF];
                let mut total = 0u64;
                loop {
                    let n = f
                        .read(&mut buf)
                        .map_err(|e| Error::local(path.display(), e))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    total += n as u64;
                }
                if total != *len {
                    return Err(Error::new(
                        ErrorKind::Local,
                        format!("{} changed size while being hashed", path.display()),
                    ));
                }
            }
        }
        Ok(hex::encode(h.finalize()))
    }
}

/// What is stored: the plaintext as it is, or sealed.
#[derive(Debug)]
pub(crate) struct Body {
    pub(crate) plain: Plain,
    pub(crate) sealer: Option<Sealer>,
}

impl Body {
    pub(crate) fn stored_len(&self) -> u64 {
        match &self.sealer {
            Some(s) => s.sealed_len(),
            None => self.plain.len(),
        }
    }

    /// Stored bytes `range` and their MD5 (what the store's ETag will be for a part).
    pub(crate) fn read_stored(&self, range: Range<u64>) -> Result<(Bytes, [u8; 16]), Error> {
        let bytes = match &self.sealer {
            None => self.plain.read(range)?,
            Some(s) => {
                let chunks = s.chunks_for(range.clone());
                let first_off = if chunks.is_empty() {
                    HEADER_LEN as u64
                } else {
                    s.header().chunk_range(chunks.start, self.plain.len()).start
                };
                let mut sealed = Vec::with_capacity((range.end - range.start) as usize + 64);
                let base = if range.start < HEADER_LEN as u64 {
                    sealed.extend_from_slice(&s.header().encode());
                    0
                } else {
                    first_off
                };
                for i in chunks {
                    let pr = s.plain_range(i);
                    let plain = self.plain.read(pr)?;
                    sealed.extend_from_slice(
                        &s.seal_chunk(i, &plain)
                            .map_err(|e| Error::new(ErrorKind::Local, e.to_string()))?,
                    );
                }
                let from = (range.start - base) as usize;
                let to = (range.end - base) as usize;
                if to > sealed.len() {
                    return Err(Error::invalid(format!(
                        "stored range {range:?} past the object's end"
                    )));
                }
                sealed.truncate(to);
                sealed.drain(..from);
                sealed
            }
        };
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        Ok((Bytes::from(bytes), md5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chunkseal::{Key, seal_all};

    /// Any stored range of a sealed body equals the same range of the whole sealed object.
    #[test]
    fn stored_ranges_match_the_whole() {
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let key = Key::from_bytes([4; 32]);
        let whole = seal_all(&key, "id", [1; 16], &plain).unwrap();
        let body = Body {
            plain: Plain::Bytes(Bytes::from(plain.clone())),
            sealer: Some(Sealer::new(&key, "id", [1; 16], plain.len() as u64).unwrap()),
        };
        assert_eq!(body.stored_len(), whole.len() as u64);
        for (a, b) in [
            (0, 10),
            (0, 32),
            (5, 100),
            (32, 70_000),
            (65_000, 200_001),
            (0, whole.len()),
            (whole.len() - 1, whole.len()),
        ] {
            let (got, md5) = body.read_stored(a as u64..b as u64).unwrap();
            assert_eq!(&got[..], &whole[a..b], "{a}..{b}");
            assert_eq!(md5, <[u8; 16]>::from(Md5::digest(&whole[a..b])));
        }
    }
}

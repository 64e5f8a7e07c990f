//! Block means of a baseline JPEG's luma straight from its DC coefficients, without decoding anything else.
//!
//! The mean of an 8x8 block is `DC * Q[0] / 8 + 128`, so the 1/8-scale luma
//! picture needs only the DC coefficients of the Y component. The entropy
//! coded data still has to be walked (every coefficient's Huffman code and
//! bits), but AC values are skipped, not computed, nothing is dequantised
//! or transformed and chroma blocks are only skipped over. This is the
//! common case (MJPEG webcams, `rpicam-vid --codec mjpeg`, the agent's own
//! encoder: baseline, interleaved, Huffman tables in the stream).
//! Everything else (progressive, a stream without Huffman tables, a
//! non-interleaved scan, 12-bit) returns `Ok(None)` and the caller uses
//! `jpeg-decoder`'s DCT scaling instead.
//!
//! The input is untrusted: every length is checked, a bad code is an
//! error, data ending early reads as zeros (like other decoders), and the
//! work is bounded by the frame size given in the header (itself bounded
//! by the caller).

use crate::Error;

/// Luma block means of a JPEG: one per 8x8 block, x 16.
#[derive(Debug, Clone)]
pub struct DcPlane {
    pub width: u32,
    pub height: u32,
    /// Blocks across and down (`ceil(width / 8)`, `ceil(height / 8)`).
    pub cols: usize,
    pub rows: usize,
    pub means: Vec<u16>,
}

fn err(what: &str) -> Error {
    Error::Jpeg(what.to_string())
}

#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
}

/// A Huffman table: a 9-bit lookup for short codes, canonical decoding
/// for the rest.
#[derive(Clone)]
struct Huffman {
    /// `(length << 8) | symbol` for codes of up to `LOOKUP` bits; 0 = longer.
    lookup: Vec<u16>,
    /// Per length 1..=16: largest code (+1) and offset into `symbols`.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
}

const LOOKUP: u32 = 9;

impl Huffman {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Huffman, Error> {
        let mut lookup = vec![0u16; 1 << LOOKUP];
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut code: u32 = 0;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            offset[len as usize] = k as i32 - code as i32;
            for _ in 0..n {
                if code >= (1 << len) {
                    return Err(err("bad Huffman table"));
                }
                let sym = *symbols
                    .get(k)
                    .ok_or_else(|| err("Huffman table too short"))?;
                if len <= LOOKUP {
                    let shift = LOOKUP - len;
                    let first = (code << shift) as usize;
                    for e in &mut lookup[first..first + (1 << shift)] {
                        *e = ((len as u16) << 8) | u16::from(sym);
                    }
                }
                code += 1;
                k += 1;
            }
            max_code[len as usize] = code as i32;
            code <<= 1;
        }
        Ok(Huffman {
            lookup,
            max_code,
            offset,
            symbols: symbols.to_vec(),
        })
    }
}

/// Reads entropy-coded bits, removing stuffed zero bytes, stopping at a
/// marker (after which it yields zeros).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
    marker: Option<u8>,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            pos: 0,
            acc: 0,
            n: 0,
            marker: None,
        }
    }

    fn fill(&mut self) {
        while self.n <= 56 {
            let mut byte = 0u8;
            if self.marker.is_none() && self.pos < self.data.len() {
                byte = self.data[self.pos];
                if byte == 0xff {
                    let next = self.data.get(self.pos + 1).copied().unwrap_or(0xd9);
                    if next == 0 {
                        self.pos += 2;
                    } else {
                        self.marker = Some(next);
                        byte = 0;
                    }
                } else {
                    self.pos += 1;
                }
            }
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    fn peek(&mut self, bits: u32) -> u32 {
        if self.n < bits {
            self.fill();
        }
        (self.acc >> (64 - bits)) as u32
    }

    fn skip(&mut self, bits: u32) {
        if self.n < bits {
            self.fill();
        }
        self.acc <<= bits;
        self.n -= bits;
    }

    fn get(&mut self, bits: u32) -> u32 {
        if bits == 0 {
            return 0;
        }
        let v = self.peek(bits);
        self.skip(bits);
        v
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, Error> {
        let e = h.lookup[self.peek(LOOKUP) as usize];
        if e != 0 {
            self.skip(u32::from(e >> 8));
            return Ok(e as u8);
        }
        for len in LOOKUP + 1..=16 {
            let code = self.peek(len) as i32;
            if code < h.max_code[len as usize] {
                self.skip(len);
                let idx = (h.offset[len as usize] + code) as usize;
                return h
                    .symbols
                    .get(idx)
                    .copied()
                    .ok_or_else(|| err("bad Huffman code"));
            }
        }
        Err(err("bad Huffman code"))
    }

    /// Drop to the next byte boundary and expect a restart marker there.
    fn restart(&mut self) -> Result<(), Error> {
        // Whatever was read ahead past the marker is zeros; the marker's
        // position in the data is where reading resumes.
        match self.marker {
            Some(m) if (0xd0..=0xd7).contains(&m) => {
                self.pos += 2;
            }
            _ => {
                // No marker hit yet: skip to it.
                while self.pos + 1 < self.data.len()
                    && !(self.data[self.pos] == 0xff
                        && (0xd0..=0xd7).contains(&self.data[self.pos + 1]))
                {
                    self.pos += 1;
                }
                if self.pos + 1 >= self.data.len() {
                    return Err(err("restart marker missing"));
                }
                self.pos += 2;
            }
        }
        self.marker = None;
        self.acc = 0;
        self.n = 0;
        Ok(())
    }
}

fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

fn be16(d: &[u8], at: usize) -> Result<usize, Error> {
    match d.get(at..at + 2) {
        Some(b) => Ok(usize::from(u16::from_be_bytes([b[0], b[1]]))),
        None => Err(err("truncated")),
    }
}

/// DC block means of a baseline JPEG, `Ok(None)` if it is of a kind this
/// path does not handle. `max_dim` bounds the frame size.
pub fn dc_means(data: &[u8], max_dim: u32) -> Result<Option<DcPlane>, Error> {
    if data.get(..2) != Some(&[0xff, 0xd8]) {
        return Err(err("no SOI marker"));
    }
    let mut pos = 2;
    let mut quant = [None::<u16>; 4];
    let mut dc_tables: [Option<Huffman>; 4] = Default::default();
    let mut ac_tables: [Option<Huffman>; 4] = Default::default();
    let mut frame: Option<(u32, u32, Vec<Component>)> = None;
    let mut restart_interval = 0usize;
    loop {
        // Find the next marker (fill bytes allowed).
        if data.get(pos) != Some(&0xff) {
            return Err(err("marker expected"));
        }
        while data.get(pos) == Some(&0xff) {
            pos += 1;
        }
        let marker = *data.get(pos).ok_or_else(|| err("truncated"))?;
        pos += 1;
        match marker {
            0xd8 | 0xd9 | 0x01 | 0xd0..=0xd7 => {
                return Err(err("unexpected marker before the scan"));
            }
            _ => {}
        }
        let len = be16(data, pos)?;
        if len < 2 || pos + len > data.len() {
            return Err(err("segment length out of bounds"));
        }
        let seg = &data[pos + 2..pos + len];
        pos += len;
        match marker {
            0xc0 | 0xc1 => {
                let (&p, rest) = seg.split_first().ok_or_else(|| err("short SOF"))?;
                if p != 8 {
                    return Ok(None);
                }
                let height = be16(rest, 0)? as u32;
                let width = be16(rest, 2)? as u32;
                let n = usize::from(*rest.get(4).ok_or_else(|| err("short SOF"))?);
                if width == 0 || height == 0 || width > max_dim || height > max_dim {
                    return Err(Error::BadPicture(format!(
                        "JPEG size {width}x{height} is outside 1..={max_dim}"
                    )));
                }
                if n != 1 && n != 3 {
                    return Ok(None);
                }
                let mut comps = Vec::with_capacity(n);
                for c in 0..n {
                    let b = rest
                        .get(5 + 3 * c..8 + 3 * c)
                        .ok_or_else(|| err("short SOF"))?;
                    let (h, v) = (usize::from(b[1] >> 4), usize::from(b[1] & 15));
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) || b[2] > 3 {
                        return Err(err("bad component in SOF"));
                    }
                    comps.push(Component {
                        id: b[0],
                        h,
                        v,
                        tq: usize::from(b[2]),
                    });
                }
                frame = Some((width, height, comps));
            }
            // Progressive, lossless, arithmetic, hierarchical: not here.
            0xc2 | 0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf => return Ok(None),
            0xc4 => {
                let mut s = seg;
                while !s.is_empty() {
                    let tc_th = s[0];
                    let counts: [u8; 16] = s
                        .get(1..17)
                        .ok_or_else(|| err("short DHT"))?
                        .try_into()
                        .map_err(|_| err("short DHT"))?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let symbols = s.get(17..17 + total).ok_or_else(|| err("short DHT"))?;
                    let id = usize::from(tc_th & 15);
                    if id > 3 {
                        return Err(err("bad DHT id"));
                    }
                    let table = Some(Huffman::new(&counts, symbols)?);
                    match tc_th >> 4 {
                        0 => dc_tables[id] = table,
                        1 => ac_tables[id] = table,
                        _ => return Err(err("bad DHT class")),
                    }
                    s = &s[17 + total..];
                }
            }
            0xdb => {
                let mut s = seg;
                while let Some(&pq_tq) = s.first() {
                    let id = usize::from(pq_tq & 15);
                    let wide = pq_tq >> 4 == 1;
                    let size = if wide { 128 } else { 64 };
                    let table = s.get(1..1 + size).ok_or_else(|| err("short DQT"))?;
                    if id > 3 {
                        return Err(err("bad DQT id"));
                    }
                    quant[id] = Some(if wide {
                        u16::from_be_bytes([table[0], table[1]])
                    } else {
                        u16::from(table[0])
                    });
                    s = &s[1 + size..];
                }
            }
            0xdd => restart_interval = be16(seg, 0)?,
            0xda => {
                let Some((width, height, comps)) = frame else {
                    return Err(err("scan before frame header"));
                };
                return decode_scan(
                    seg,
                    &data[pos..],
                    width,
                    height,
                    &comps,
                    &quant,
                    &dc_tables,
                    &ac_tables,
                    restart_interval,
                );
            }
            _ => {} // APPn, COM and the like
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    header: &[u8],
    entropy: &[u8],
    width: u32,
    height: u32,
    comps: &[Component],
    quant: &[Option<u16>; 4],
    dc_tables: &[Option<Huffman>; 4],
    ac_tables: &[Option<Huffman>; 4],
    restart_interval: usize,
) -> Result<Option<DcPlane>, Error> {
    let n = usize::from(*header.first().ok_or_else(|| err("short SOS"))?);
    if n != comps.len() {
        return Ok(None); // non-interleaved scans
    }
    // Per scan component, in scan order: (component, dc table, ac table).
    let mut order = Vec::with_capacity(n);
    for i in 0..n {
        let b = header
            .get(1 + 2 * i..3 + 2 * i)
            .ok_or_else(|| err("short SOS"))?;
        let c = comps
            .iter()
            .position(|c| c.id == b[0])
            .ok_or_else(|| err("scan names an unknown component"))?;
        let (td, ta) = (usize::from(b[1] >> 4), usize::from(b[1] & 15));
        let (Some(Some(dc)), Some(Some(ac))) = (dc_tables.get(td), ac_tables.get(ta)) else {
            return Ok(None); // e.g. MJPEG without Huffman tables
        };
        order.push((c, dc, ac));
    }
    let q0 = i32::from(quant[comps[0].tq].ok_or_else(|| err("no quantisation table for Y"))?);
    let (hmax, vmax) = (
        comps.iter().map(|c| c.h).max().unwrap_or(1),
        comps.iter().map(|c| c.v).max().unwrap_or(1),
    );
    let (cols, rows) = (width.div_ceil(8) as usize, height.div_ceil(8) as usize);
    let (mcux, mcuy) = (
        (width as usize).div_ceil(8 * hmax),
        (height as usize).div_ceil(8 * vmax),
    );
    let single = n == 1;
    let (mcux, mcuy) = if single { (cols, rows) } else { (mcux, mcuy) };
    let mut means = vec![0u16; cols * rows];
    let mut pred = [0i32; 4];
    let mut bits = Bits::new(entropy);
    let mut done = 0usize;
    for my in 0..mcuy {
        for mx in 0..mcux {
            if restart_interval > 0 && done > 0 && done.is_multiple_of(restart_interval) {
                bits.restart()?;
                pred = [0; 4];
            }
            done += 1;
            for &(c, dc, ac) in &order {
                let comp = comps[c];
                let (bh, bv) = if single { (1, 1) } else { (comp.h, comp.v) };
                for v in 0..bv {
                    for h in 0..bh {
                        let s = u32::from(bits.decode(dc)?);
                        if s > 11 {
                            return Err(err("bad DC size"));
                        }
                        pred[c] = pred[c].saturating_add(extend(bits.get(s), s));
                        let mut k = 1;
                        while k < 64 {
                            let rs = bits.decode(ac)?;
                            let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
                            if s == 0 {
                                if r != 15 {
                                    break;
                                }
                                k += 16;
                                continue;
                            }
                            k += r + 1;
                            bits.skip(s);
                        }
                        if c == 0 {
                            let (bx, by) = (mx * bh + h, my * bv + v);
                            if bx < cols && by < rows {
                                // mean = DC * Q0 / 8 + 128, x 16 (wide: a
                                // hostile stream's DC sum is unbounded).
                                let m = i64::from(pred[0]) * i64::from(q0) * 2 + 128 * 16;
                                means[by * cols + bx] = m.clamp(0, 4080) as u16;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(Some(DcPlane {
        width,
        height,
        cols,
        rows,
        means,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables that claim more codes than their lengths allow are refused,
    /// not indexed out of bounds.
    #[test]
    fn oversubscribed_huffman_table() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes
        assert!(Huffman::new(&counts, &[1, 2, 3]).is_err());
        counts[0] = 2;
        assert!(Huffman::new(&counts, &[1, 2]).is_ok());
        let mut counts = [0u8; 16];
        counts[8] = 255; // 9-bit codes: 512 of them fit
        assert!(Huffman::new(&counts, &[0; 255]).is_ok());
        counts[7] = 200; // 200 8-bit codes leave room for 112 9-bit ones
        assert!(Huffman::new(&counts, &[0; 455]).is_err());
    }
}

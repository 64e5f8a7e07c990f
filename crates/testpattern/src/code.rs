//! The machine-readable stamp: a block of black/white cells, aligned to JPEG
//! blocks, that carries the frame number and the low 32 bits of the time.
//!
//! Cell sequence: a 4-cell start marker (white, black, white, white), 64 data
//! bits (`frame << 32 | millis & 0xffff_ffff`, most significant first), then
//! CRC-8 (poly 0x07) of those 8 bytes big-endian. White is 1. Cells are 16 px
//! squares on pictures at least 640x360, 8 px below, wrapped into rows as
//! the width allows, on a black band at the bottom of the picture. Both the
//! writer and the reader derive the layout from the picture size alone.

use crate::Stamp;

const MARKER: [bool; 4] = [true, false, true, true];
const DATA_BITS: usize = 64;
const CRC_BITS: usize = 8;
/// Cells in one stamp.
pub(crate) const CELLS: usize = MARKER.len() + DATA_BITS + CRC_BITS;

/// Average luma below this reads as 0, above [`WHITE_MIN`] as 1; in between
/// the cell is unreadable and so is the stamp.
const BLACK_MAX: u32 = 80;
const WHITE_MIN: u32 = 176;

/// Where the cells go in a picture of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub x0: usize,
    pub y0: usize,
    pub cell: usize,
    pub cols: usize,
    pub rows: usize,
}

impl Layout {
    /// The layout for a `width` x `height` picture, or `None` when the
    /// picture is too small to carry a stamp (narrower than 80 px, or the
    /// cells and their margins would cover more than half the height).
    pub(crate) fn for_size(width: usize, height: usize) -> Option<Layout> {
        let cell = if width >= 640 && height >= 360 { 16 } else { 8 };
        let cols = (width / cell).checked_sub(2)?.min(CELLS);
        if cols < 8 {
            return None;
        }
        let rows = CELLS.div_ceil(cols);
        let code_h = rows * cell;
        if (code_h + 2 * cell) * 2 > height {
            return None;
        }
        let y0 = (height - code_h - cell / 2) / cell * cell;
        let x0 = (width - cols * cell) / 2 / cell * cell;
        Some(Layout {
            x0,
            y0,
            cell,
            cols,
            rows,
        })
    }

    /// First row of the black band behind the cells.
    pub(crate) fn band_top(&self) -> usize {
        self.y0 - self.cell
    }

    /// Top-left corner of cell `k`.
    fn origin(&self, k: usize) -> (usize, usize) {
        (
            self.x0 + (k % self.cols) * self.cell,
            self.y0 + (k / self.cols) * self.cell,
        )
    }
}

fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn payload(stamp: Stamp) -> u64 {
    (u64::from(stamp.frame) << 32) | (stamp.millis & 0xffff_ffff)
}

/// The cell values for `stamp`, in order.
pub(crate) fn bits(stamp: Stamp) -> [bool; CELLS] {
    let word = payload(stamp);
    let crc = crc8(&word.to_be_bytes());
    let mut out = [false; CELLS];
    out[..MARKER.len()].copy_from_slice(&MARKER);
    for i in 0..DATA_BITS {
        out[MARKER.len() + i] = word >> (DATA_BITS - 1 - i) & 1 == 1;
    }
    for i in 0..CRC_BITS {
        out[MARKER.len() + DATA_BITS + i] = crc >> (CRC_BITS - 1 - i) & 1 == 1;
    }
    out
}

/// Draw the cells (the band behind them is the caller's).
pub(crate) fn draw(layout: &Layout, stamp: Stamp, rgb: &mut [u8], width: usize) {
    for (k, white) in bits(stamp).into_iter().enumerate() {
        let v = if white { 255 } else { 0 };
        let (cx, cy) = layout.origin(k);
        for y in cy..cy + layout.cell {
            let row = (y * width + cx) * 3;
            rgb[row..row + layout.cell * 3].fill(v);
        }
    }
}

/// Read the cells back; see [`crate::read_stamp`].
pub(crate) fn read(rgb: &[u8], width: usize, height: usize) -> Option<Stamp> {
    if rgb.len() < width.checked_mul(height)?.checked_mul(3)? {
        return None;
    }
    let layout = Layout::for_size(width, height)?;
    let (lo, hi) = (layout.cell / 4, layout.cell * 3 / 4);
    let mut cells = [false; CELLS];
    for (k, cell) in cells.iter_mut().enumerate() {
        let (cx, cy) = layout.origin(k);
        let mut sum = 0u32;
        for y in cy + lo..cy + hi {
            for x in cx + lo..cx + hi {
                let p = (y * width + x) * 3;
                sum += luma(rgb[p], rgb[p + 1], rgb[p + 2]);
            }
        }
        let avg = sum / ((hi - lo) * (hi - lo)) as u32;
        *cell = if avg <= BLACK_MAX {
            false
        } else if avg >= WHITE_MIN {
            true
        } else {
            return None;
        };
    }
    if cells[..MARKER.len()] != MARKER {
        return None;
    }
    let mut word = 0u64;
    for &b in &cells[MARKER.len()..MARKER.len() + DATA_BITS] {
        word = word << 1 | u64::from(b);
    }
    let mut crc = 0u8;
    for &b in &cells[MARKER.len() + DATA_BITS..] {
        crc = crc << 1 | u8::from(b);
    }
    if crc != crc8(&word.to_be_bytes()) {
        return None;
    }
    Some(Stamp {
        frame: (word >> 32) as u32,
        millis: word & 0xffff_ffff,
    })
}

fn luma(r: u8, g: u8, b: u8) -> u32 {
    (77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc8_matches_the_reference_check_value() {
        // CRC-8/SMBUS check value for "123456789".
        assert_eq!(crc8(b"123456789"), 0xf4);
    }

    #[test]
    fn layouts_for_common_sizes() {
        let check = |w, h, cell, cols, rows| {
            let l = Layout::for_size(w, h).unwrap();
            assert_eq!((l.cell, l.cols, l.rows), (cell, cols, rows), "{w}x{h}");
            assert_eq!(l.x0 % l.cell, 0);
            assert_eq!(l.y0 % l.cell, 0);
            assert!(l.x0 + l.cols * l.cell <= w);
            assert!(l.y0 + l.rows * l.cell <= h);
        };
        check(320, 240, 8, 38, 2);
        check(640, 480, 16, 38, 2);
        check(1280, 720, 16, 76, 1);
        check(1920, 1080, 16, 76, 1);
        check(333, 251, 8, 39, 2);
        check(160, 120, 8, 18, 5);
        assert_eq!(Layout::for_size(64, 64), None);
        assert_eq!(Layout::for_size(320, 20), None);
    }
}

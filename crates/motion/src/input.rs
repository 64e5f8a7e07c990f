//! Input adapters: every picture kind is reduced to the same small luma grid of block means.
//!
//! The grid's cell is a `block` x `block` square of the picture, `block`
//! being the largest power of two (at most 32) that leaves the grid at least
//! [`MIN_GRID_WIDTH`] cells wide: 8 px at 640x480 (an 80x60 grid), 16 px at
//! 1280x720 and 1920x1080, 4 px at 320x240. A cell holds the mean luma of its
//! block in 1/16 steps (`u16`, 0..=4080), so sensor noise is averaged before
//! the detector sees it.
//!
//! - **Raw RGB / YUYV / luma planes** are summed block by block; of each
//!   block's rows only every `block / 4`-th is read (all of them up to 4 px
//!   blocks), which halves or quarters the memory traffic on a Pi Zero and
//!   still averages 32+ pixels per cell.
//! - **JPEG**: the mean of an 8x8 block is its DC coefficient, so a
//!   baseline JPEG's grid comes from the Y component's DC coefficients
//!   alone (`jpeg_dc`: entropy decoding only, AC codes skipped, no
//!   inverse DCT, no chroma, no picture allocated). Other JPEGs
//!   (progressive, MJPEG without Huffman tables) and pictures under 512 px
//!   wide (blocks under 8 px) use `jpeg-decoder`'s DCT scaling (1/8, 1/4,
//!   1/2) instead. Blocks larger than 8 px are summed from the 1/8 means.

use crate::Error;

/// The grid is at least this many cells wide whenever the picture is.
pub const MIN_GRID_WIDTH: u32 = 64;
/// Largest picture side accepted (4K cameras are 3840 wide). Also bounds
/// what a hostile JPEG can make the decoder allocate: a progressive one
/// keeps all its coefficients, about 50 MB at 4096x4096.
pub const MAX_DIM: u32 = 4096;
/// Largest block side.
const MAX_BLOCK: u32 = 32;

/// One picture, borrowed from the caller, in one of the formats capture
/// paths produce. Strides are bytes per row (at least the packed width).
#[derive(Debug, Clone, Copy)]
pub enum Picture<'a> {
    /// Packed 8-bit RGB (the test pattern's format, libcamera's RGB888
    /// reversed or not: luma weights differ by under 10 %).
    Rgb24 {
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    },
    /// Packed YUV 4:2:2, `Y0 U Y1 V` (V4L2 `YUYV`, webcams).
    Yuyv {
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    },
    /// An 8-bit luma plane: the Y plane of I420/NV12 (a decoded H.264
    /// sub-stream, `rpicam-vid --codec yuv420`) or grey.
    Luma {
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    },
    /// A baseline or progressive JPEG (an MJPEG webcam, `rpicam-vid
    /// --codec mjpeg`), decoded at reduced scale.
    Jpeg(&'a [u8]),
}

impl<'a> Picture<'a> {
    /// Packed RGB with no row padding.
    pub fn rgb24(data: &'a [u8], width: u32, height: u32) -> Picture<'a> {
        Picture::Rgb24 {
            data,
            width,
            height,
            stride: width as usize * 3,
        }
    }

    /// Packed YUYV with no row padding.
    pub fn yuyv(data: &'a [u8], width: u32, height: u32) -> Picture<'a> {
        Picture::Yuyv {
            data,
            width,
            height,
            stride: width as usize * 2,
        }
    }

    /// A luma plane with no row padding (the first `width * height` bytes
    /// of an I420 or NV12 picture).
    pub fn luma(data: &'a [u8], width: u32, height: u32) -> Picture<'a> {
        Picture::Luma {
            data,
            width,
            height,
            stride: width as usize,
        }
    }
}

/// The block-mean luma grid of one picture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grid {
    /// Picture size the grid was made from.
    pub width: u32,
    pub height: u32,
    /// Block side in picture pixels.
    pub block: u32,
    /// Grid size in cells.
    pub cols: usize,
    pub rows: usize,
    /// Mean luma x 16 per cell, row-major.
    pub cells: Vec<u16>,
}

/// Block side for a picture `width` wide (see the module note).
pub fn block_for(width: u32) -> u32 {
    let mut block = 1;
    while block < MAX_BLOCK && width.div_ceil(block * 2) >= MIN_GRID_WIDTH {
        block *= 2;
    }
    block
}

fn check_dims(width: u32, height: u32) -> Result<(), Error> {
    if width == 0 || height == 0 || width > MAX_DIM || height > MAX_DIM {
        return Err(Error::BadPicture(format!(
            "size {width}x{height} is outside 1..={MAX_DIM}"
        )));
    }
    Ok(())
}

fn check_buffer(
    len: usize,
    width: u32,
    height: u32,
    stride: usize,
    bytes_per_px: usize,
) -> Result<(), Error> {
    check_dims(width, height)?;
    let row = width as usize * bytes_per_px;
    if stride < row {
        return Err(Error::BadPicture(format!(
            "stride {stride} is shorter than a row of {row} bytes"
        )));
    }
    let needed = stride * (height as usize - 1) + row;
    if len < needed {
        return Err(Error::BadPicture(format!(
            "{len} bytes, a {width}x{height} picture needs {needed}"
        )));
    }
    Ok(())
}

/// Accumulates per-cell sums row by row.
struct Summer {
    cols: usize,
    block: usize,
    /// Sum of weighted luma per cell (scaled by `unit`).
    sums: Vec<u32>,
    counts: Vec<u32>,
}

impl Summer {
    fn new(width: u32, height: u32, block: u32) -> Summer {
        let cols = width.div_ceil(block) as usize;
        let rows = height.div_ceil(block) as usize;
        Summer {
            cols,
            block: block as usize,
            sums: vec![0; cols * rows],
            counts: vec![0; cols * rows],
        }
    }

    /// Rows of the picture that are read: every `step`-th of each block.
    fn rows_read(&self, height: u32) -> impl Iterator<Item = usize> + use<> {
        let step = (self.block / 4).max(1);
        (0..height as usize).filter(move |y| y % step == 0)
    }

    /// Add one row: `row` holds the row's pixels, `px` bytes each, and
    /// `sum` gives the (weighted) luma sum of one block's run of pixels.
    fn add_row(&mut self, y: usize, row: &[u8], px: usize, sum: impl Fn(&[u8]) -> u32) {
        let base = (y / self.block) * self.cols;
        let pixels = row.len() / px;
        for (c, run) in row.chunks(self.block * px).enumerate() {
            self.sums[base + c] += sum(run);
        }
        let rows_in_cell = &mut self.counts[base..base + self.cols];
        for (c, n) in rows_in_cell.iter_mut().enumerate() {
            *n += (pixels - (c * self.block).min(pixels)).min(self.block) as u32;
        }
    }

    /// Finish: means x 16, with values weighted by `unit` (the value of
    /// luma 1.0).
    fn finish(self, width: u32, height: u32, block: u32, unit: u32) -> Grid {
        let rows = self.sums.len() / self.cols;
        let cells = self
            .sums
            .iter()
            .zip(&self.counts)
            .map(|(&s, &n)| {
                let d = u64::from(n.max(1)) * u64::from(unit);
                ((u64::from(s) * 16 + d / 2) / d).min(4080) as u16
            })
            .collect();
        Grid {
            width,
            height,
            block,
            cols: self.cols,
            rows,
            cells,
        }
    }
}

/// Luma x 256 of an RGB pixel: full-range BT.601 (JFIF) weights, as a
/// JPEG of the same picture carries.
fn rgb_luma(p: &[u8]) -> u32 {
    77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])
}

/// Reduce `picture` to its grid.
pub fn reduce(picture: &Picture<'_>) -> Result<Grid, Error> {
    match *picture {
        Picture::Rgb24 {
            data,
            width,
            height,
            stride,
        } => reduce_raw(data, width, height, stride, 3, 256, |run| {
            run.chunks_exact(3).map(rgb_luma).sum()
        }),
        Picture::Yuyv {
            data,
            width,
            height,
            stride,
        } => reduce_raw(data, width, height, stride, 2, 1, |run| {
            run.chunks_exact(2).map(|p| u32::from(p[0])).sum()
        }),
        Picture::Luma {
            data,
            width,
            height,
            stride,
        } => reduce_raw(data, width, height, stride, 1, 1, |run| {
            run.iter().map(|&v| u32::from(v)).sum()
        }),
        Picture::Jpeg(bytes) => reduce_jpeg(bytes),
    }
}

/// A packed picture of `px` bytes per pixel: `sum` gives the luma sum
/// (x `unit`) of one block's run of pixels in a row.
fn reduce_raw(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    px: usize,
    unit: u32,
    sum: impl Fn(&[u8]) -> u32,
) -> Result<Grid, Error> {
    check_buffer(data.len(), width, height, stride, px)?;
    let block = block_for(width);
    let mut s = Summer::new(width, height, block);
    let row_len = width as usize * px;
    for y in s.rows_read(height) {
        s.add_row(y, &data[y * stride..y * stride + row_len], px, &sum);
    }
    Ok(s.finish(width, height, block, unit))
}

/// Decode `bytes` at the largest DCT reduction the grid allows, then sum
/// blocks of the reduced luma.
fn reduce_jpeg(bytes: &[u8]) -> Result<Grid, Error> {
    if let Some(plane) = crate::jpeg_dc::dc_means(bytes, MAX_DIM)? {
        let block = block_for(plane.width);
        if block >= 8 {
            return Ok(grid_from_dc(&plane, block));
        }
    }
    reduce_jpeg_scaled(bytes)
}

/// The grid from 8x8 block means: summed `block / 8` at a time.
fn grid_from_dc(plane: &crate::jpeg_dc::DcPlane, block: u32) -> Grid {
    let k = (block / 8) as usize;
    let (cols, rows) = (plane.cols.div_ceil(k), plane.rows.div_ceil(k));
    let mut sums = vec![0u32; cols * rows];
    let mut counts = vec![0u32; cols * rows];
    for y in 0..plane.rows {
        for x in 0..plane.cols {
            let c = (y / k) * cols + x / k;
            sums[c] += u32::from(plane.means[y * plane.cols + x]);
            counts[c] += 1;
        }
    }
    Grid {
        width: plane.width,
        height: plane.height,
        block,
        cols,
        rows,
        cells: sums
            .iter()
            .zip(&counts)
            .map(|(&s, &n)| ((s + n / 2) / n.max(1)) as u16)
            .collect(),
    }
}

/// The grid of any JPEG `jpeg-decoder` reads, through its DCT scaling:
/// what [`reduce`] falls back to when the DC-only path does not apply
/// (public for measuring the two against each other).
pub fn reduce_jpeg_scaled(bytes: &[u8]) -> Result<Grid, Error> {
    let jpeg_err = |e: jpeg_decoder::Error| Error::Jpeg(e.to_string());
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    dec.read_info().map_err(jpeg_err)?;
    let info = dec
        .info()
        .ok_or_else(|| Error::Jpeg("no frame header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_dims(width, height)?;
    let block = block_for(width);
    let dct = block.min(8);
    let (sw, sh) = dec
        .scale(width.div_ceil(dct) as u16, height.div_ceil(dct) as u16)
        .map_err(jpeg_err)?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    // Colour comes back as RGB and luma is recomputed from it (jpeg-decoder
    // 0.3's untransformed output does not interleave its planes); at 1/8
    // scale that is 4,800 pixels, nothing next to the entropy decoding.
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        other => return Err(Error::Jpeg(format!("unsupported pixel format {other:?}"))),
    };
    // The reduced output is all the decoder may return (it checks this
    // before building the interleaved picture).
    dec.set_max_decoding_buffer_size(sw as usize * sh as usize * 8 + (1 << 16));
    let pixels = dec.decode().map_err(jpeg_err)?;
    let needed = sw as usize * sh as usize * channels;
    if pixels.len() < needed || sw == 0 || sh == 0 {
        return Err(Error::Jpeg(format!(
            "decoder gave {} bytes for {sw}x{sh}x{channels}",
            pixels.len()
        )));
    }
    // The reduced picture's pixel side in original pixels.
    let scale = width.div_ceil(sw).max(1);
    let rest = (block / scale).max(1);
    let mut s = Summer::new(sw, sh, rest);
    let stride = sw as usize * channels;
    for y in 0..sh as usize {
        let row = &pixels[y * stride..(y + 1) * stride];
        if channels == 1 {
            s.add_row(y, row, 1, |run| {
                run.iter().map(|&v| 256 * u32::from(v)).sum()
            });
        } else {
            s.add_row(y, row, 3, |run| run.chunks_exact(3).map(rgb_luma).sum());
        }
    }
    let mut grid = s.finish(sw, sh, rest, 256);
    grid.width = width;
    grid.height = height;
    grid.block = block;
    Ok(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes() {
        assert_eq!(block_for(640), 8);
        assert_eq!(block_for(320), 4);
        assert_eq!(block_for(1280), 16);
        assert_eq!(block_for(1920), 16);
        assert_eq!(block_for(3840), 32);
        assert_eq!(block_for(64), 1);
        assert_eq!(block_for(16), 1);
        assert_eq!(block_for(130), 2);
    }

    /// A flat picture gives a flat grid, for every raw kind, with the right
    /// size (partial edge blocks included).
    #[test]
    fn flat_pictures() {
        let (w, h) = (650u32, 483u32);
        let rgb = [100u8, 100, 100].repeat((w * h) as usize);
        let g = reduce(&Picture::rgb24(&rgb, w, h)).unwrap();
        assert_eq!((g.cols, g.rows, g.block), (82, 61, 8));
        assert!(g.cells.iter().all(|&c| c == 1600), "{:?}", &g.cells[..4]);
        let yuyv = [90u8, 128].repeat((w * h) as usize);
        let g = reduce(&Picture::yuyv(&yuyv, w, h)).unwrap();
        assert!(g.cells.iter().all(|&c| c == 1440));
        let luma = vec![7u8; (w * h) as usize];
        let g = reduce(&Picture::luma(&luma, w, h)).unwrap();
        assert!(g.cells.iter().all(|&c| c == 112));
    }

    #[test]
    fn padded_stride_and_short_buffers() {
        let (w, h, stride) = (64u32, 8u32, 70usize);
        let mut data = vec![255u8; stride * h as usize];
        for y in 0..h as usize {
            data[y * stride..y * stride + w as usize].fill(32);
        }
        let g = reduce(&Picture::Luma {
            data: &data,
            width: w,
            height: h,
            stride,
        })
        .unwrap();
        assert!(g.cells.iter().all(|&c| c == 32 * 16));
        let short = reduce(&Picture::luma(&data[..100], w, h)).unwrap_err();
        assert!(short.to_string().contains("needs 512"), "{short}");
        let narrow = reduce(&Picture::Luma {
            data: &data,
            width: w,
            height: h,
            stride: 10,
        })
        .unwrap_err();
        assert!(narrow.to_string().contains("stride 10"), "{narrow}");
        let huge = reduce(&Picture::luma(&data, 5000, 1)).unwrap_err();
        assert!(huge.to_string().contains("outside"), "{huge}");
    }

    /// The DC-only path and jpeg-decoder's 1/8 scaling agree within 3
    /// levels (the latter goes through RGB, clamped, and back to luma), for
    /// 4:2:0 (quality < 90), 4:4:4, grey and restart-interval JPEGs.
    #[test]
    fn dc_path_matches_dct_scaling() {
        let (w, h) = (656u32, 488u32); // partial MCUs on both edges
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let v = ((x * 7 + y * 3) % 256) as u8 ^ ((x / 9 + y / 5) as u8).wrapping_mul(37);
                [v, v.wrapping_add(40), 255 - v]
            })
            .collect();
        let check = |jpeg: &[u8], what: &str| {
            let fast = reduce(&Picture::Jpeg(jpeg)).unwrap();
            let plane = crate::jpeg_dc::dc_means(jpeg, MAX_DIM).unwrap();
            assert!(plane.is_some(), "{what}: DC path taken");
            let slow = reduce_jpeg_scaled(jpeg).unwrap();
            assert_eq!((fast.cols, fast.rows), (slow.cols, slow.rows), "{what}");
            for (i, (a, b)) in fast.cells.iter().zip(&slow.cells).enumerate() {
                assert!(a.abs_diff(*b) <= 48, "{what}: cell {i}: {a} vs {b}");
            }
        };
        for q in [50u8, 80, 95] {
            let mut out = Vec::new();
            jpeg_encoder::Encoder::new(&mut out, q)
                .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            check(&out, &format!("rgb q{q}"));
        }
        let grey: Vec<u8> = rgb.chunks_exact(3).map(|p| p[0]).collect();
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 75);
        enc.set_restart_interval(3);
        enc.encode(&grey, w as u16, h as u16, jpeg_encoder::ColorType::Luma)
            .unwrap();
        check(&out, "grey with restarts");
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 75);
        enc.set_restart_interval(5);
        enc.encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        check(&out, "rgb with restarts");
        // Progressive goes the other way, and gives the same grid.
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 80);
        enc.set_progressive(true);
        enc.encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert!(crate::jpeg_dc::dc_means(&out, MAX_DIM).unwrap().is_none());
        assert_eq!(reduce(&Picture::Jpeg(&out)).unwrap().cols, 82);
    }

    /// Every truncation and a few corruptions of a JPEG give a grid or an
    /// error, never a panic.
    #[test]
    fn damaged_jpegs_do_not_panic() {
        let (w, h) = (640u32, 480u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 31 % 251) as u8).collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 80)
            .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        for cut in (0..jpeg.len()).step_by(491) {
            let _ = reduce(&Picture::Jpeg(&jpeg[..cut]));
        }
        let mut x = 12345u32;
        for _ in 0..100 {
            let mut bad = jpeg.clone();
            for _ in 0..4 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = (x >> 8) as usize % bad.len();
                bad[at] = (x >> 3) as u8;
            }
            let _ = reduce(&Picture::Jpeg(&bad));
        }
    }

    #[test]
    fn garbage_jpeg_is_an_error() {
        for bad in [&b""[..], b"\xff\xd8\xff", b"not a jpeg at all", &[0xff; 64]] {
            assert!(matches!(reduce(&Picture::Jpeg(bad)), Err(Error::Jpeg(_))));
        }
    }
}

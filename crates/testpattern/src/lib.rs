//! A moving test picture with a clock, for the agent's `testsrc` source and
//! the hub's demo camera, and readable back after a JPEG round trip.
//!
//! [`Pattern::render`] draws scrolling colour bars, a bouncing box, the time
//! as `HH:MM:SS.mmm` (UTC) and the frame number in a large bitmap font, and a
//! machine-readable [`Stamp`] as a band of black/white cells at the bottom.
//! [`read_stamp`] decodes that band from decoded RGB, so a test can measure
//! which frame arrived and how late. [`scene`] renders scripted scenes
//! (a still room, moving objects, lighting changes, sensor noise) for
//! testing motion detection against known times. Everything here is pure:
//! pixels in, pixels or bytes out.

mod code;
mod font;
pub mod scene;

/// Smallest width or height a [`Pattern`] renders; smaller requests are
/// raised to it.
pub const MIN_DIM: u32 = 16;
/// Largest width or height a [`Pattern`] renders (JPEG's limit is 65535;
/// this keeps a frame below 200 MB of RGB). Larger requests are lowered.
pub const MAX_DIM: u32 = 8192;

/// What one frame is stamped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stamp {
    /// Frame sequence number.
    pub frame: u32,
    /// Capture or media time in milliseconds; the clock is the caller's
    /// choice (the agent uses wall-clock ms since the Unix epoch). The text
    /// shows it as UTC time of day; the cells carry only the low 32 bits.
    pub millis: u64,
}

impl Stamp {
    /// Full milliseconds from the low 32 bits that [`read_stamp`] returns:
    /// the value with the same low 32 bits nearest to `reference_millis`
    /// (e.g. the receiver's clock). Correct while the two clocks are within
    /// about 24 days of each other.
    pub fn unwrap_millis(self, reference_millis: u64) -> u64 {
        const SPAN: u64 = 1 << 32;
        let low = self.millis & (SPAN - 1);
        let base = reference_millis & !(SPAN - 1);
        [base.wrapping_sub(SPAN), base, base.wrapping_add(SPAN)]
            .into_iter()
            .map(|b| b | low)
            .min_by_key(|v| v.abs_diff(reference_millis))
            .unwrap_or(low)
    }
}

/// A packed RGB picture: `rgb.len() == width * height * 3`, rows top first.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rgb_len", &self.rgb.len())
            .finish()
    }
}

/// Bytes of an I420 picture of this size: full-size Y, then U and V at half
/// width and height, rounded up.
pub fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
}

impl Image {
    /// Planar YUV 4:2:0 (I420): Y plane, then U, then V; chroma is the mean
    /// of each 2x2 block (edge blocks of odd sizes use what exists). BT.601
    /// limited range (Y 16..=235), what H.264 encoders expect by default.
    ///
    /// # Panics
    /// If `rgb` is shorter than `width * height * 3`.
    pub fn to_i420(&self) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        assert!(self.rgb.len() >= w * h * 3, "Image rgb buffer too short");
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut out = vec![0u8; i420_len(self.width, self.height)];
        let (y_plane, chroma) = out.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
        for (y_row, rgb_row) in y_plane
            .chunks_exact_mut(w)
            .zip(self.rgb.chunks_exact(w * 3))
        {
            for (y, px) in y_row.iter_mut().zip(rgb_row.chunks_exact(3)) {
                let (r, g, b) = (i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
                *y = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
            }
        }
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut r, mut g, mut b, mut n) = (0i32, 0i32, 0i32, 0i32);
                for y in 2 * cy..(2 * cy + 2).min(h) {
                    for x in 2 * cx..(2 * cx + 2).min(w) {
                        let p = (y * w + x) * 3;
                        r += i32::from(self.rgb[p]);
                        g += i32::from(self.rgb[p + 1]);
                        b += i32::from(self.rgb[p + 2]);
                        n += 1;
                    }
                }
                let (r, g, b) = (r / n, g / n, b / n);
                u_plane[cy * cw + cx] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8;
                v_plane[cy * cw + cx] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8;
            }
        }
        out
    }
}

impl Image {
    /// Packed YUV 4:2:2 (`Y0 U Y1 V`, what V4L2 webcams call YUYV), BT.601
    /// limited range like [`Image::to_i420`]; chroma is the mean of each
    /// horizontal pixel pair. An odd last column is paired with itself.
    ///
    /// # Panics
    /// If `rgb` is shorter than `width * height * 3`.
    pub fn to_yuyv(&self) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        assert!(self.rgb.len() >= w * h * 3, "Image rgb buffer too short");
        let pw = w.div_ceil(2) * 2;
        let mut out = Vec::with_capacity(pw * h * 2);
        let luma = |p: &[u8]| {
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
        };
        for row in self.rgb.chunks_exact(w * 3).take(h) {
            for x in (0..w).step_by(2) {
                let a = &row[x * 3..x * 3 + 3];
                let b = if x + 1 < w {
                    &row[x * 3 + 3..x * 3 + 6]
                } else {
                    a
                };
                let r = (i32::from(a[0]) + i32::from(b[0])) / 2;
                let g = (i32::from(a[1]) + i32::from(b[1])) / 2;
                let bl = (i32::from(a[2]) + i32::from(b[2])) / 2;
                let u = (((-38 * r - 74 * g + 112 * bl + 128) >> 8) + 128) as u8;
                let v = (((112 * r - 94 * g - 18 * bl + 128) >> 8) + 128) as u8;
                out.extend_from_slice(&[luma(a), u, luma(b), v]);
            }
        }
        out
    }
}

/// Encode `image` as a baseline JFIF JPEG (4:2:0 below quality 90, 4:4:4
/// from 90). `quality` is clamped to 1..=100.
///
/// # Panics
/// If the image breaks its invariant (`rgb` shorter than `width * height *
/// 3`) or is larger than JPEG's 65535x65535; images from [`Pattern`] never do.
pub fn encode_jpeg(image: &Image, quality: u8) -> Vec<u8> {
    let width = u16::try_from(image.width).expect("JPEG width above 65535");
    let height = u16::try_from(image.height).expect("JPEG height above 65535");
    let mut out = Vec::with_capacity(image.rgb.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&image.rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a valid RGB image into a Vec cannot fail");
    out
}

/// Decode the machine-readable stamp from packed RGB of the given size (as
/// rendered, or after a JPEG round trip at quality 50 or more). Returns
/// `None` when the buffer is too short, the picture too small to carry a
/// stamp, any cell is neither clearly black nor clearly white, or the start
/// marker or CRC does not match. `millis` comes back as its low 32 bits; see
/// [`Stamp::unwrap_millis`].
pub fn read_stamp(rgb: &[u8], width: u32, height: u32) -> Option<Stamp> {
    code::read(rgb, width as usize, height as usize)
}

/// Format `millis` since the Unix epoch as UTC time of day `HH:MM:SS.mmm`.
pub fn format_clock(millis: u64) -> String {
    let ms = millis % 1000;
    let secs = millis / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        ms
    )
}

/// The classic 75% colour bars: white, yellow, cyan, green, magenta, red,
/// blue, black.
const BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [16, 16, 16],
];

/// Milliseconds for the bars to scroll one picture width.
const BAR_PERIOD_MS: u64 = 8000;
/// Milliseconds for the box to cross the picture and back, horizontally and
/// vertically (different, so it wanders).
const BOX_PERIOD_X_MS: u64 = 4000;
const BOX_PERIOD_Y_MS: u64 = 2600;

/// A test picture generator of one size.
#[derive(Debug, Clone)]
pub struct Pattern {
    width: usize,
    height: usize,
    scale: usize,
    layout: Option<code::Layout>,
    /// One row of the bars at offset 0, repeated twice so any scroll offset
    /// is a single slice copy.
    bar_row: Vec<u8>,
}

impl Pattern {
    /// A pattern of `width` x `height` pixels, each clamped to
    /// [`MIN_DIM`]..=[`MAX_DIM`]. Pictures below 80 px wide or with too few
    /// rows carry no machine-readable stamp.
    pub fn new(width: u32, height: u32) -> Pattern {
        let width = width.clamp(MIN_DIM, MAX_DIM) as usize;
        let height = height.clamp(MIN_DIM, MAX_DIM) as usize;
        let scale = (height / 80).min(width / (14 * font::ADVANCE)).max(1);
        let mut bar_row = Vec::with_capacity(width * 6);
        for x in 0..2 * width {
            bar_row.extend_from_slice(&BARS[(x % width) * BARS.len() / width]);
        }
        Pattern {
            width,
            height,
            scale,
            layout: code::Layout::for_size(width, height),
            bar_row,
        }
    }

    pub fn width(&self) -> u32 {
        self.width as u32
    }

    pub fn height(&self) -> u32 {
        self.height as u32
    }

    /// True when pictures of this size carry a stamp that [`read_stamp`]
    /// can read.
    pub fn has_stamp(&self) -> bool {
        self.layout.is_some()
    }

    /// Draw the picture for `stamp`. Everything that moves is a function of
    /// `stamp.millis`, so equal stamps give equal pictures.
    pub fn render(&self, stamp: Stamp) -> Image {
        let (w, h) = (self.width, self.height);
        let mut rgb = vec![0u8; w * h * 3];

        // Bars, scrolling left.
        let offset = ((stamp.millis % BAR_PERIOD_MS) as usize * w / BAR_PERIOD_MS as usize) % w;
        let bars = &self.bar_row[offset * 3..(offset + w) * 3];
        for row in rgb.chunks_exact_mut(w * 3) {
            row.copy_from_slice(bars);
        }

        let panel_h = self.clock_panel(&mut rgb, stamp);

        // Band for the stamp cells.
        let band_top = self.layout.map_or(h, |l| l.band_top());

        // Bouncing box between the panel and the band.
        let side = (h / 6).max(4);
        let x_room = w.saturating_sub(side);
        let y_lo = panel_h.min(h);
        let y_room = band_top.saturating_sub(y_lo).saturating_sub(side);
        let bx = triangle(stamp.millis, BOX_PERIOD_X_MS, x_room);
        let by = y_lo + triangle(stamp.millis, BOX_PERIOD_Y_MS, y_room);
        let border = (side / 10).max(1);
        self.fill(&mut rgb, bx, by, side, side, [0, 0, 0]);
        self.fill(
            &mut rgb,
            bx + border,
            by + border,
            side.saturating_sub(2 * border),
            side.saturating_sub(2 * border),
            [255, 128, 0],
        );

        if let Some(layout) = &self.layout {
            self.fill(&mut rgb, 0, band_top, w, h - band_top, [0, 0, 0]);
            code::draw(layout, stamp, &mut rgb, w);
        }

        Image {
            width: w as u32,
            height: h as u32,
            rgb,
        }
    }

    /// Draw the text panel (clock, then frame number) in the top-left
    /// corner of `rgb` (this pattern's size); returns the panel's height.
    pub(crate) fn clock_panel(&self, rgb: &mut [u8], stamp: Stamp) -> usize {
        let (w, h, s) = (self.width, self.height, self.scale);
        let pad = 2 * s;
        let line_h = font::GLYPH_H * s;
        let clock = format_clock(stamp.millis);
        let frame = format!("#{}", stamp.frame);
        let chars = clock.len().max(frame.len());
        let panel_w = (chars * font::ADVANCE * s + 2 * pad - s).min(w);
        let panel_h = (2 * line_h + 3 * pad).min(h);
        self.fill(rgb, 0, 0, panel_w, panel_h, [0, 0, 0]);
        self.text(rgb, pad, pad, &clock, [255, 255, 255]);
        self.text(rgb, pad, 2 * pad + line_h, &frame, [255, 255, 0]);
        panel_h
    }

    /// [`Pattern::render`] then [`encode_jpeg`] in one call.
    pub fn render_jpeg(&self, stamp: Stamp, quality: u8) -> Vec<u8> {
        encode_jpeg(&self.render(stamp), quality)
    }

    /// Fill a rectangle, clipped to the picture.
    fn fill(&self, rgb: &mut [u8], x: usize, y: usize, w: usize, h: usize, c: [u8; 3]) {
        let x_end = (x + w).min(self.width);
        let y_end = (y + h).min(self.height);
        if x >= x_end {
            return;
        }
        for yy in y..y_end {
            let row = &mut rgb[(yy * self.width + x) * 3..(yy * self.width + x_end) * 3];
            for px in row.chunks_exact_mut(3) {
                px.copy_from_slice(&c);
            }
        }
    }

    /// Draw `text` with its top-left corner at `(x, y)`, clipped.
    fn text(&self, rgb: &mut [u8], x: usize, y: usize, text: &str, c: [u8; 3]) {
        let s = self.scale;
        for (i, ch) in text.chars().enumerate() {
            let gx = x + i * font::ADVANCE * s;
            for (r, bits) in font::glyph(ch).iter().enumerate() {
                for col in 0..font::GLYPH_W {
                    if bits >> (font::GLYPH_W - 1 - col) & 1 == 1 {
                        self.fill(rgb, gx + col * s, y + r * s, s, s, c);
                    }
                }
            }
        }
    }
}

/// Position in `0..=room` going up and down once per `period_ms`.
fn triangle(millis: u64, period_ms: u64, room: usize) -> usize {
    let half = period_ms / 2;
    let t = millis % period_ms;
    let t = if t < half { t } else { period_ms - t };
    (t as usize * room) / half as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_time_of_day() {
        // 1_700_000_000 s is 2023-11-14 22:13:20 UTC.
        assert_eq!(format_clock(1_700_000_000_123), "22:13:20.123");
        assert_eq!(format_clock(0), "00:00:00.000");
        assert_eq!(format_clock(86_399_999), "23:59:59.999");
    }

    #[test]
    fn unwrap_millis_picks_the_nearest() {
        let full = 1_700_000_000_123u64;
        let low = Stamp {
            frame: 0,
            millis: full & 0xffff_ffff,
        };
        assert_eq!(low.unwrap_millis(full), full);
        assert_eq!(low.unwrap_millis(full + 5_000), full);
        assert_eq!(low.unwrap_millis(full - 5_000), full);
        // Across a 2^32 boundary.
        let edge = (3u64 << 32) + 10;
        let s = Stamp {
            frame: 0,
            millis: edge & 0xffff_ffff,
        };
        assert_eq!(s.unwrap_millis(edge - 100), edge);
        let before = (3u64 << 32) - 10;
        let s = Stamp {
            frame: 0,
            millis: before & 0xffff_ffff,
        };
        assert_eq!(s.unwrap_millis(before + 100), before);
    }

    #[test]
    fn triangle_stays_in_range() {
        for t in (0..10_000).step_by(7) {
            assert!(triangle(t, 4000, 100) <= 100);
        }
        assert_eq!(triangle(0, 4000, 100), 0);
        assert_eq!(triangle(2000, 4000, 100), 100);
        assert_eq!(triangle(5, 4000, 0), 0);
    }

    #[test]
    fn i420_of_flat_colours() {
        let check = |rgb: [u8; 3], yuv: [u8; 3]| {
            let img = Image {
                width: 3,
                height: 3,
                rgb: rgb.repeat(9),
            };
            let out = img.to_i420();
            assert_eq!(out.len(), i420_len(3, 3));
            assert_eq!(out.len(), 9 + 2 * 4);
            assert!(out[..9].iter().all(|&v| v == yuv[0]), "{rgb:?} Y {out:?}");
            assert!(out[9..13].iter().all(|&v| v == yuv[1]), "{rgb:?} U {out:?}");
            assert!(out[13..].iter().all(|&v| v == yuv[2]), "{rgb:?} V {out:?}");
        };
        check([0, 0, 0], [16, 128, 128]);
        check([255, 255, 255], [235, 128, 128]);
        check([255, 0, 0], [82, 90, 240]);
        check([0, 0, 255], [41, 240, 110]);
    }

    #[test]
    fn yuyv_of_flat_colours_and_odd_width() {
        let img = Image {
            width: 3,
            height: 2,
            rgb: [255, 0, 0].repeat(6),
        };
        let out = img.to_yuyv();
        assert_eq!(out, [82, 90, 82, 240].repeat(4));
    }
}

//! YUYV (YUV 4:2:2 packed, BT.601 limited range) to packed RGB, for V4L2 cameras without MJPEG.

/// `Some` when `width` is even and `src` holds `height` rows of `stride` bytes (the last
/// one at least `width * 2`).
fn check(src: &[u8], width: usize, height: usize, stride: usize) -> Option<()> {
    if !width.is_multiple_of(2) || stride < width * 2 {
        return None;
    }
    let needed = stride
        .checked_mul(height.checked_sub(1)?)?
        .checked_add(width * 2)?;
    (src.len() >= needed).then_some(())
}

/// Convert one YUYV picture to RGB. `stride` is the length of a row in
/// bytes (V4L2's `bytesperline`, at least `width * 2`). Returns `None` if
/// the buffer is too short or `width` is odd.
pub fn yuyv_to_rgb(src: &[u8], width: usize, height: usize, stride: usize) -> Option<Vec<u8>> {
    check(src, width, height, stride)?;
    let mut rgb = vec![0u8; width * height * 3];
    for (y, out_row) in rgb.chunks_exact_mut(width * 3).enumerate() {
        let row = &src[y * stride..y * stride + width * 2];
        for (quad, out) in row.chunks_exact(4).zip(out_row.chunks_exact_mut(6)) {
            let (y0, u, y1, v) = (quad[0], quad[1], quad[2], quad[3]);
            out[..3].copy_from_slice(&pixel(y0, u, v));
            out[3..].copy_from_slice(&pixel(y1, u, v));
        }
    }
    Some(rgb)
}

/// An I420 picture (even `width` and `height`) as a webcam's YUYV, each chroma
/// sample used for both rows of its pair: for benchmarks and tests that need a
/// webcam's frames.
pub fn i420_to_yuyv(i420: &[u8], width: usize, height: usize) -> Vec<u8> {
    let (yp, rest) = i420.split_at(width * height);
    let (up, vp) = rest.split_at(width / 2 * height / 2);
    let mut out = Vec::with_capacity(width * height * 2);
    for y in 0..height {
        for x in (0..width).step_by(2) {
            let c = (y / 2) * (width / 2) + x / 2;
            out.extend_from_slice(&[yp[y * width + x], up[c], yp[y * width + x + 1], vp[c]]);
        }
    }
    out
}

/// Convert one YUYV picture to I420 (planar 4:2:0, the encoder's input):
/// luma copied, chroma of each row pair averaged. `None` as for
/// [`yuyv_to_rgb`], or if `height` is odd.
pub fn yuyv_to_i420(src: &[u8], width: usize, height: usize, stride: usize) -> Option<Vec<u8>> {
    if !height.is_multiple_of(2) {
        return None;
    }
    check(src, width, height, stride)?;
    let (cw, ch) = (width / 2, height / 2);
    let mut out = vec![0u8; width * height + 2 * cw * ch];
    let (y_plane, chroma) = out.split_at_mut(width * height);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for y in 0..height {
        let row = &src[y * stride..y * stride + width * 2];
        for (x, px) in row.chunks_exact(2).enumerate() {
            y_plane[y * width + x] = px[0];
        }
    }
    for cy in 0..ch {
        let r0 = &src[2 * cy * stride..2 * cy * stride + width * 2];
        let r1 = &src[(2 * cy + 1) * stride..(2 * cy + 1) * stride + width * 2];
        for cx in 0..cw {
            let (a, b) = (&r0[cx * 4..cx * 4 + 4], &r1[cx * 4..cx * 4 + 4]);
            u_plane[cy * cw + cx] = (u16::from(a[1]) + u16::from(b[1])).div_ceil(2) as u8;
            v_plane[cy * cw + cx] = (u16::from(a[3]) + u16::from(b[3])).div_ceil(2) as u8;
        }
    }
    Some(out)
}

/// BT.601 limited range to full-range RGB, integer arithmetic.
fn pixel(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_colours() {
        assert_eq!(pixel(16, 128, 128), [0, 0, 0]);
        assert_eq!(pixel(235, 128, 128), [255, 255, 255]);
        let red = pixel(82, 90, 240);
        assert!(red[0] > 245 && red[1] < 10 && red[2] < 10, "{red:?}");
    }

    #[test]
    fn strides_and_short_buffers() {
        // 2x2 picture with 2 bytes of row padding: white row, black row.
        let src = [235, 128, 235, 128, 0, 0, 16, 128, 16, 128];
        let rgb = yuyv_to_rgb(&src, 2, 2, 6).unwrap();
        assert_eq!(&rgb[..6], &[255; 6]);
        assert_eq!(&rgb[6..], &[0; 6]);
        assert_eq!(yuyv_to_rgb(&src[..9], 2, 2, 6), None);
        assert_eq!(yuyv_to_rgb(&src, 3, 1, 6), None, "odd width");
        assert_eq!(yuyv_to_rgb(&src, 2, 2, 3), None, "stride too small");
    }

    /// A picture round trip: testpattern -> I420 -> YUYV -> RGB keeps the
    /// stamp readable.
    #[test]
    fn testpattern_survives_yuyv() {
        let (w, h) = (320usize, 240usize);
        let img = testpattern::Pattern::new(w as u32, h as u32).render(testpattern::Stamp {
            frame: 77,
            millis: 1234,
        });
        let i420 = img.to_i420();
        let yuyv = i420_to_yuyv(&i420, w, h);
        let back = yuyv_to_i420(&yuyv, w, h, w * 2).unwrap();
        assert_eq!(
            back, i420,
            "I420 -> YUYV -> I420 is lossless for 4:2:0 input"
        );
        let rgb = yuyv_to_rgb(&yuyv, w, h, w * 2).unwrap();
        assert_eq!(
            testpattern::read_stamp(&rgb, w as u32, h as u32),
            Some(testpattern::Stamp {
                frame: 77,
                millis: 1234
            })
        );
    }
}

//! JPEG thumbnails: a picture fitted into a box, its aspect ratio kept, never enlarged
//! (the sizes Pillow's `Image.thumbnail` picks, which camera_proxy's `?thumbnail`
//! snapshots used): decoded with zune-jpeg, scaled with a Lanczos3 filter
//! (fast_image_resize), encoded again.

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// The largest picture side decoded for a thumbnail (bounds the memory of a decode).
pub const MAX_SIDE: usize = 8192;

/// Why a thumbnail could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("not a JPEG this hub can decode: {0}")]
    Decode(String),
    #[error("scaling failed: {0}")]
    Resize(String),
}

/// The size Pillow's `thumbnail((max_w, max_h))` gives a `width`×`height` picture: the
/// same size when it already fits, else the largest size inside the box whose aspect
/// ratio is closest to the picture's (each side at least 1).
pub fn fit(width: u32, height: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    if width == 0 || height == 0 || (max_w >= width && max_h >= height) {
        return (width, height);
    }
    let aspect = f64::from(width) / f64::from(height);
    let (x, y) = (f64::from(max_w), f64::from(max_h));
    // Of floor and ceil of `n`, the one `key` prefers (the first on a tie), at least 1.
    let round = |n: f64, key: &dyn Fn(f64) -> f64| {
        let (lo, hi) = (n.floor(), n.ceil());
        let best = if key(hi) < key(lo) { hi } else { lo };
        best.max(1.0) as u32
    };
    if x / y >= aspect {
        let w = round(y * aspect, &|n| (aspect - n / y).abs());
        (w, max_h)
    } else {
        let h = round(x / aspect, &|n| {
            if n == 0.0 {
                0.0
            } else {
                (aspect - x / n).abs()
            }
        });
        (max_w, h)
    }
}

/// `jpeg` fitted into `max_w`×`max_h` (see [`fit`]), encoded at `quality`; `None` when it
/// already fits (serve it as it is). Blocks for milliseconds: not on an async runtime.
pub fn thumbnail(
    jpeg: &[u8],
    max_w: u32,
    max_h: u32,
    quality: u8,
) -> Result<Option<Vec<u8>>, ThumbnailError> {
    let opts = DecoderOptions::default()
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(jpeg), opts);
    dec.decode_headers()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| ThumbnailError::Decode("no picture size".into()))?;
    let (w, h) = (w as u32, h as u32);
    let (tw, th) = fit(w, h, max_w, max_h);
    if (tw, th) == (w, h) {
        return Ok(None);
    }
    let rgb = dec
        .decode()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    let src = FirImage::from_vec_u8(w, h, rgb, PixelType::U8x3)
        .map_err(|e| ThumbnailError::Resize(e.to_string()))?;
    let mut dst = FirImage::new(tw, th, PixelType::U8x3);
    Resizer::new()
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
        )
        .map_err(|e| ThumbnailError::Resize(e.to_string()))?;
    let image = testpattern::Image {
        width: tw,
        height: th,
        rgb: dst.into_vec(),
    };
    Ok(Some(testpattern::encode_jpeg(&image, quality)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes Pillow 8's `Image.thumbnail((800, 474))` gives (worked through its
    /// `round_aspect` by hand).
    #[test]
    fn fits_as_pillow_does() {
        assert_eq!(fit(1920, 1080, 800, 474), (800, 450));
        assert_eq!(fit(1280, 720, 800, 474), (800, 450));
        assert_eq!(fit(2560, 1920, 800, 474), (632, 474));
        assert_eq!(fit(640, 480, 800, 474), (632, 474));
        assert_eq!(fit(1080, 1920, 800, 474), (267, 474));
        assert_eq!(fit(4000, 10, 800, 474), (800, 2));
        assert_eq!(fit(10, 4000, 800, 474), (1, 474));
        // Already inside: unchanged, never enlarged.
        assert_eq!(fit(560, 422, 800, 474), (560, 422));
        assert_eq!(fit(800, 474, 800, 474), (800, 474));
    }

    #[test]
    fn thumbnail_of_a_large_picture() {
        let p = testpattern::Pattern::new(1280, 720);
        let jpeg = testpattern::encode_jpeg(
            &p.render(testpattern::Stamp {
                frame: 3,
                millis: 0,
            }),
            85,
        );
        let small = thumbnail(&jpeg, 800, 474, 75).unwrap().expect("scaled");
        let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&small));
        d.decode().unwrap();
        assert_eq!(d.dimensions(), Some((800, 450)));
        // A picture that fits is left alone.
        let p = testpattern::Pattern::new(320, 240);
        let jpeg = testpattern::encode_jpeg(
            &p.render(testpattern::Stamp {
                frame: 3,
                millis: 0,
            }),
            85,
        );
        assert!(thumbnail(&jpeg, 800, 474, 75).unwrap().is_none());
        assert!(thumbnail(b"not a jpeg", 800, 474, 75).is_err());
    }
}

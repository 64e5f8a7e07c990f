//! Helpers for the browser tests of the pages: numbers and text read from
//! the page, element positions for pointer input, screenshots on request.
#![allow(dead_code)]

use serde_json::json;
use testkit::Browser;

/// A JS expression suffix that makes Intl's narrow no-break spaces (before
/// AM/PM) and no-break spaces plain, so expected strings can be typed.
pub const PLAIN: &str = ".replace(/[\\u202f\\u00a0]/g, ' ')";

/// The number `js` (a function body with `return`) evaluates to.
pub async fn num(b: &Browser, js: &str) -> f64 {
    let v = b.eval(js).await.unwrap();
    v.as_f64().unwrap_or_else(|| panic!("{js}: {v}"))
}

/// The text of the first element matching `css`, spaces made plain.
pub async fn text(b: &Browser, css: &str) -> String {
    b.eval_with(
        &format!("return document.querySelector(arguments[0]).textContent{PLAIN}"),
        vec![json!(css)],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap_or_else(|| panic!("no text at {css}"))
    .to_owned()
}

/// The middle of the first element matching `css`, in viewport pixels.
pub async fn mid(b: &Browser, css: &str) -> (f64, f64) {
    let v = b
        .eval_with(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]",
            vec![json!(css)],
        )
        .await
        .unwrap();
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

/// Saves a screenshot as `name` in `$SCREENSHOT_DIR`, when that is set.
pub async fn shot(b: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        let png = b.screenshot_png().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }
}

/// The test-pattern stamp of the picture `<video id=ID>` shows now (read
/// from a canvas copy of it), with the page's clock (unix ms) when it was
/// copied; `None` if the picture has no readable stamp.
pub async fn video_stamp(b: &Browser, id: &str) -> Option<(u64, testpattern::Stamp)> {
    video_stamp_with(b, id, "null")
        .await
        .map(|(now, stamp, _)| (now, stamp))
}

/// [`video_stamp`], and the value of the JavaScript expression `extra`
/// evaluated at the same moment (`v` is the video element).
pub async fn video_stamp_with(
    b: &Browser,
    id: &str,
    extra: &str,
) -> Option<(u64, testpattern::Stamp, serde_json::Value)> {
    use base64::Engine;
    let r = b
        .eval_with(
            &format!(
                "const v = document.getElementById(arguments[0]);
                 const extra = {extra};
                 const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
                 c.getContext('2d').drawImage(v, 0, 0);
                 return [Date.now(), c.toDataURL('image/png'), extra];"
            ),
            vec![json!(id)],
        )
        .await
        .ok()?;
    let now = r[0].as_f64()? as u64;
    let png = base64::engine::general_purpose::STANDARD
        .decode(r[1].as_str()?.strip_prefix("data:image/png;base64,")?)
        .ok()?;
    let (w, h, rgba) = testkit::browser::decode_png_rgba(&png).ok()?;
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    Some((now, testpattern::read_stamp(&rgb, w, h)?, r[2].clone()))
}

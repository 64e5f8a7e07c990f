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

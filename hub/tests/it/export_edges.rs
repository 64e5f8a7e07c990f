//! Times and sizes from a request or a stored file are combined with checked
//! arithmetic: an export of the widest possible range, or over an uploaded segment
//! whose decode times are absurd, is answered with a clear error or a file, never a
//! panic.

use crate::common::TestHub;
use crate::recordings_support::{T0, one_segment, put_segment, sha256_hex, upload};

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"
"#;

/// Sets the `tfdt` of fragment `n` of `file` to `t` (a 64-bit box).
fn set_tfdt(file: &mut [u8], n: usize, t: u64) {
    let at = file
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"tfdt")
        .nth(n)
        .expect("enough fragments")
        .0;
    assert_eq!(file[at + 4], 1, "a 64-bit tfdt");
    file[at + 8..at + 16].copy_from_slice(&t.to_be_bytes());
}

async fn export(h: &TestHub, start: &str, end: &str) -> (u16, String) {
    let r = h
        .get_auth(&format!(
            "/api/recordings/export?camera=porch&start={start}&end={end}"
        ))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    (
        status,
        String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    )
}

#[tokio::test]
async fn extreme_export_ranges_are_refused_with_a_reason() {
    let h = TestHub::start(CONFIG).await;
    upload(&h, T0, &one_segment(3)).await;
    let (min, max) = (i64::MIN.to_string(), i64::MAX.to_string());
    for (start, end) in [
        (min.as_str(), max.as_str()),
        ("0", max.as_str()),
        (min.as_str(), "0"),
        (max.as_str(), min.as_str()),
    ] {
        let (status, body) = export(&h, start, end).await;
        assert_eq!(status, 400, "{start}..{end}: {body}");
        assert!(
            body.contains("24 hours") || body.contains("after start"),
            "{body}"
        );
    }
    // A sane range still exports.
    let (status, _) = export(&h, &T0.to_string(), &(T0 + 3000).to_string()).await;
    assert_eq!(status, 200);
    h.stop().await;
}

#[tokio::test]
async fn segments_with_absurd_decode_times_do_not_break_export() {
    let h = TestHub::start(CONFIG).await;
    for (i, (n, t)) in [
        (1usize, 1u64 << 63),
        (0, 1u64 << 63),
        (1, u64::MAX),
        (2, 1u64 << 40),
    ]
    .into_iter()
    .enumerate()
    {
        let mut file = one_segment(3);
        set_tfdt(&mut file, n, t);
        let start = T0 + i as i64 * 60_000;
        let name = store::segment_name(start).unwrap();
        let r = put_segment(&h, 1, &name, &file, &sha256_hex(&file)).await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(
            status == 201 || status == 422 || status == 400,
            "tfdt {t} in fragment {n}: {status} {body}"
        );
        let (status, body) = export(&h, &start.to_string(), &(start + 10_000).to_string()).await;
        assert!(
            status == 200 || status == 404 || status == 422,
            "export over tfdt {t} in fragment {n}: {status} {body}"
        );
    }
    // The hub is still serving.
    let (status, _) = export(&h, "0", "1").await;
    assert_eq!(status, 404);
    h.stop().await;
}

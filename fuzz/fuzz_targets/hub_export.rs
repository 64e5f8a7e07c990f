//! The hub's export over stored files (`hub::recordings::export::plan_over` and
//! `write_with`, what `/api/recordings/export` runs after the index lookup): the request's
//! range, the index's start and length of each segment and the files' bytes are all
//! arbitrary (a stored segment may be an agent's upload). Planning and writing never
//! panic, and a planned export writes exactly the length it announced.
#![no_main]

use std::sync::Arc;

use hub::recordings::{RecError, Segment, SegmentFile, Source, export};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Memory(Arc<Vec<u8>>);

impl SegmentFile for Memory {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, RecError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
}

fn i64_at(data: &[u8], i: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[i * 8..i * 8 + 8]);
    i64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    // Request start and end, two segments' index start and duration, then the file
    // both segments hold.
    if data.len() < 48 {
        return;
    }
    let (start, end) = (i64_at(data, 0), i64_at(data, 1));
    let file = Arc::new(data[48..].to_vec());
    let segment = |i: usize, start_ms: i64, duration_ms: i64| Segment {
        camera: "fuzz".into(),
        file_name: format!("{i}.mp4"),
        start_ms,
        duration_ms,
        size_bytes: file.len() as u64,
        sha256: String::new(),
        codec: String::new(),
        width: 0,
        height: 0,
        source: Source::Upload,
    };
    let segments = vec![
        segment(0, i64_at(data, 2), i64_at(data, 3)),
        segment(1, i64_at(data, 4), i64_at(data, 5)),
    ];
    let open = |_: &Segment| -> Result<Box<dyn SegmentFile>, RecError> {
        Ok(Box::new(Memory(Arc::clone(&file))))
    };
    let Ok(plan) = export::plan_over(start, end, segments, open) else {
        return;
    };
    let len = plan.len();
    let mut written = 0u64;
    if export::write_with(plan, open, |b| {
        written += b.len() as u64;
        true
    })
    .is_ok()
    {
        assert_eq!(written, len, "an export writes the length it announced");
    }
});

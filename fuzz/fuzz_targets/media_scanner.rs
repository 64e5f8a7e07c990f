//! The streaming MP4 scanner the hub runs over uploaded segments and files found
//! at start-up (`hub/src/recordings/mod.rs::probe_file`), fed the way the hub feeds
//! it: it must never panic, never ask for more than the file holds, always finish,
//! and agree with the in-memory `probe` on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::recover::Scanner;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let mut scanner = Scanner::new(len);
    let mut reads = 0u32;
    while let Some((offset, want)) = scanner.next_read() {
        reads += 1;
        assert!(reads < 1_000_000, "scanner does not finish");
        assert!(offset <= len, "read past the end of the file");
        let start = offset as usize;
        let end = start.saturating_add(want).min(data.len());
        scanner.feed(&data[start..end]);
    }
    let streamed = scanner.into_probe();
    let whole = media::probe(data);
    assert_eq!(streamed.is_ok(), whole.is_ok(), "{streamed:?} vs {whole:?}");
    if let (Ok(a), Ok(b)) = (&streamed, &whole) {
        assert_eq!(a.recovery.valid_len, b.recovery.valid_len);
        assert!(a.recovery.valid_len <= len);
    }
});

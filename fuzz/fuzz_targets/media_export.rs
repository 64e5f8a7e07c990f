//! Export of recorded segments (the hub's `/api/recordings/export`): a segment may be an
//! agent's upload, so its bytes are untrusted. Scanning it for fragments and re-timing its
//! `moof`s never panics, and whatever the builder accepts, written out as the hub writes
//! it, probes as a complete fMP4 with one fragment per piece, played from 0.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::export::ExportBuilder;
use media::recover::Scanner;

fuzz_target!(|data: &[u8]| {
    let read = |offset: u64, buf: &mut [u8]| -> Result<usize, ()> {
        let start = usize::try_from(offset).map_err(|_| ())?.min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    };
    let Ok(scanner) = Scanner::new(data.len() as u64).keep_fragments().drive(read) else {
        return;
    };
    let Ok(file) = scanner.into_fragments() else {
        return;
    };
    // The same file twice, as two segments a minute apart.
    let mut builder = ExportBuilder::new(-(1 << 40), 1 << 40);
    if !matches!(builder.add(0, 0, &file), Ok(true)) {
        return;
    }
    let _ = builder.add(1, 60_000, &file);
    let Ok(Some(export)) = builder.finish() else {
        return;
    };
    let mut out = export.init.clone();
    for p in &export.pieces {
        out.extend_from_slice(&p.moof);
        let start = p.mdat_offset as usize;
        out.extend_from_slice(&data[start..start + p.mdat_len as usize]);
    }
    assert_eq!(out.len() as u64, export.len());
    let probe = media::probe(&out).expect("an export probes");
    assert!(probe.is_complete(), "{:?}", probe.recovery);
    assert_eq!(probe.recovery.fragments as usize, export.pieces.len());
    assert_eq!(probe.recovery.first_dts, Some(media::Time90k::ZERO));
});

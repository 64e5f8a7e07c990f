//! The off-site decryptor on hostile bytes: the header parser, the length arithmetic,
//! range covering and chunk opening return errors, never panic or over-allocate; and
//! whatever is sealed opens to the same bytes, whole and by range.
#![no_main]

use chunkseal::{Header, Key, Opener, open_all, seal_all};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes([7; 32]);
    // Hostile stored objects.
    let _ = Header::parse(data);
    let _ = open_all(&key, "rec/cam/x.mp4", data);
    if let Ok(h) = Header::parse(data) {
        let len = data.len() as u64;
        let _ = h.plain_len(len);
        if let Ok(o) = Opener::new(&key, "id", data, len) {
            let n = o.plain_len();
            if n > 0 && data.len() >= 34 {
                let a = u64::from(data[32]) * 97 % n;
                let z = (a + 1 + u64::from(data[33]) * 131).min(n);
                if let Ok(c) = h.covering(a..z, n)
                    && c.sealed.end <= len
                {
                    let _ = o.open_range(&c, &data[c.sealed.start as usize..c.sealed.end as usize]);
                }
            }
        }
    }
    // Round trip of arbitrary plaintext, whole and by a range.
    let sealed = seal_all(&key, "events/cam/e.json", [1; 16], data).expect("sealing works");
    assert_eq!(open_all(&key, "events/cam/e.json", &sealed).as_deref(), Ok(data));
    if !data.is_empty() {
        let o = Opener::new(&key, "events/cam/e.json", &sealed, sealed.len() as u64).unwrap();
        let a = data.len() as u64 / 3;
        let c = o.header().covering(a..data.len() as u64, data.len() as u64).unwrap();
        let part = &sealed[c.sealed.start as usize..c.sealed.end as usize];
        assert_eq!(o.open_range(&c, part).unwrap(), &data[a as usize..]);
    }
});

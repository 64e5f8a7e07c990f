//! The names of the files in a recordings directory. Segment names are the UTC start time
//! to the millisecond, e.g. `2026-11-21T07-31-50.123Z.mp4`: fixed width, so names sort as
//! times do (for years 0000–9999); no colons, so they are safe on every filesystem and in
//! URLs.

/// Name of the ownership marker file.
pub const MARKER: &str = ".camera-recordings";
/// Suffix of temporary files (the marker while it is being written).
pub(crate) const TMP_EXT: &str = ".tmp";

/// Suffix of a finished segment.
pub const SEGMENT_EXT: &str = ".mp4";
/// Suffix of a segment being written (or torn by a crash).
pub const PARTIAL_EXT: &str = ".partial";
/// Suffix of the empty sidecar file that marks a segment as uploaded.
pub const UPLOADED_EXT: &str = ".uploaded";
/// Suffix of a segment's retimed copy being written (see [`crate::retime`]).
pub const RETIME_EXT: &str = ".retime";
/// Suffix of a segment's complete retimed copy, about to replace it.
pub const RETIMED_EXT: &str = ".retimed";

/// Length of a segment name: `YYYY-MM-DDTHH-MM-SS.mmmZ.mp4`.
const NAME_LEN: usize = 28;

const MS_PER_DAY: i64 = 86_400_000;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in ms since the Unix epoch: the
/// range a four-digit year can name.
pub const MIN_START_MS: i64 = -62_167_219_200_000;
pub const MAX_START_MS: i64 = 253_402_300_799_999;

/// The file name of a segment starting at `start_ms` (UTC ms since the Unix epoch), or
/// `None` outside years 0000–9999.
pub fn segment_name(start_ms: i64) -> Option<String> {
    if !(MIN_START_MS..=MAX_START_MS).contains(&start_ms) {
        return None;
    }
    let days = start_ms.div_euclid(MS_PER_DAY);
    let ms_of_day = start_ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (secs, ms) = (ms_of_day / 1000, ms_of_day % 1000);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}.{ms:03}Z{SEGMENT_EXT}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// The start time (UTC ms since the Unix epoch) of a segment name made by
/// [`segment_name`]; `None` for anything else (strict: only the canonical form parses).
pub fn parse_segment_name(name: &str) -> Option<i64> {
    let b = name.as_bytes();
    if b.len() != NAME_LEN || !name.ends_with(SEGMENT_EXT) {
        return None;
    }
    const SEPARATORS: [(usize, u8); 7] = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b'-'),
        (16, b'-'),
        (19, b'.'),
        (23, b'Z'),
    ];
    for (i, c) in SEPARATORS {
        if b[i] != c {
            return None;
        }
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = &b[from..to];
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            s.iter()
                .fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0')),
        )
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s, ms) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let start_ms = days_from_civil(y, mo, d) * MS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1000 + ms;
    // Rejects 31 April and 29 February of common years: only canonical names round-trip.
    (segment_name(start_ms).as_deref() == Some(name)).then_some(start_ms)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) to days since 1970-01-01, proleptic Gregorian.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_many_days() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

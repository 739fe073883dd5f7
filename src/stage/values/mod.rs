//! Parsing one field: quantities in a feed's number dialect, dates and
//! timestamps in its declared formats, status words.
//!
//! Everything here is strict on purpose: a value that could mean two things
//! is an error, never a guess. `1.000.00` is not a number, `03/04/2026` is
//! read only with a declared format, `1e6` and `NaN` are not quantities.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

/// The largest quantity a feed may report (SPEC: beyond 10^15 is a bad
/// number). Per-row units (quantity × pack size) obey the same bound, so a
/// sum of fewer than 9,000 rows can never overflow `i64`; the aggregate
/// stage checks the rest.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    Missing,
    Negative(i64),
    Bad(&'static str),
}

/// The hot path of [`parse_quantity`]: up to 15 plain ASCII digits (below
/// 10^15, so never out of range), as nearly every machine-written quantity
/// is. `None` means "use [`parse_quantity`]", never "invalid".
#[inline]
pub fn plain_quantity(text: &str) -> Option<i64> {
    let b = trim(text).as_bytes();
    if b.is_empty() || b.len() > 15 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |v, &d| v * 10 + i64::from(d - b'0')))
}

/// Parses a whole, non-negative quantity.
///
/// `decimal` is `.` or `,`; `thousands` (optional) groups the integer part
/// in proper groups of three (`1.000.000`); a space separator also accepts
/// the no-break spaces spreadsheets write. A fraction is accepted only when
/// it is all zeros (`8.000,00` is 8000).
pub fn parse_quantity(
    text: &str,
    decimal: char,
    thousands: Option<char>,
) -> Result<i64, NumberError> {
    let s = trim(text);
    if s.is_empty() {
        return Err(NumberError::Missing);
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let is_sep = |c: char| match thousands {
        Some(' ') => c == ' ' || c == '\u{a0}' || c == '\u{202f}',
        Some(t) => c == t,
        None => false,
    };
    let mut value: i64 = 0;
    let mut digits_in_group = 0usize;
    let mut groups = 0usize;
    let mut seen_digit = false;
    let mut chars = body.char_indices();
    let mut fraction: Option<&str> = None;
    for (i, c) in chars.by_ref() {
        if c.is_ascii_digit() {
            seen_digit = true;
            digits_in_group += 1;
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(c as u8 - b'0')))
                .filter(|v| *v <= MAX_QUANTITY)
                .ok_or(NumberError::Bad("beyond 10^15"))?;
        } else if is_sep(c) {
            if groups == 0 {
                if digits_in_group == 0 || digits_in_group > 3 {
                    return Err(NumberError::Bad("malformed digit grouping"));
                }
            } else if digits_in_group != 3 {
                return Err(NumberError::Bad("malformed digit grouping"));
            }
            groups += 1;
            digits_in_group = 0;
        } else if c == decimal {
            fraction = Some(&body[i + c.len_utf8()..]);
            break;
        } else {
            return Err(NumberError::Bad("not a whole number"));
        }
    }
    if !seen_digit {
        return Err(NumberError::Bad("not a whole number"));
    }
    if groups > 0 && digits_in_group != 3 {
        return Err(NumberError::Bad("malformed digit grouping"));
    }
    if let Some(frac) = fraction {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::Bad("not a whole number"));
        }
        if frac.bytes().any(|b| b != b'0') {
            return Err(NumberError::Bad("has a non-zero fraction"));
        }
    }
    if negative && value != 0 {
        return Err(NumberError::Negative(-value));
    }
    Ok(value)
}

/// `str::trim` (Unicode white space), without its scan when both ends are
/// printable ASCII, as nearly every field's are.
#[inline]
pub fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) if (0x21..0x7f).contains(&f) && (0x21..0x7f).contains(&l) => s,
        _ => s.trim(),
    }
}

/// Parses timestamps and dates the way one feed writes them.
#[derive(Debug, Clone)]
pub struct TimeParser {
    timestamp_formats: Vec<String>,
    date_formats: Vec<String>,
    tz: Tz,
}

/// A timestamp as the feed wrote it.
#[derive(Debug, Clone, Copy)]
pub enum Written {
    /// With a UTC offset: an instant.
    Offset(DateTime<chrono::FixedOffset>),
    /// Without one: wall-clock time in the campaign's timezone.
    Local(NaiveDateTime),
}

impl Written {
    /// The calendar date as written in the feed.
    pub fn date(&self) -> NaiveDate {
        match self {
            Written::Offset(d) => d.naive_local().date(),
            Written::Local(d) => d.date(),
        }
    }
}

const ISO_OFFSET: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M%:z",
];
const ISO_LOCAL: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];
const ISO_DATE: &str = "%Y-%m-%d";

/// Two ASCII digits as a number.
fn two(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(c - b'0')),
        _ => None,
    }
}

/// `YYYY-MM-DD` exactly, read byte by byte; anything else (or an invalid
/// date) is `None` and goes to the general parser, so results never differ.
fn fast_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = two(&b[0..2])? * 100 + two(&b[2..4])?;
    NaiveDate::from_ymd_opt(year as i32, two(&b[5..7])?, two(&b[8..10])?)
}

/// Days from 1970-01-01 to a valid proleptic Gregorian date of the years
/// 0 to 9999 (Howard Hinnant's `days_from_civil`, on unsigned numbers: the
/// years moved one 400-year era on, so that none is negative and every
/// division is by a constant).
fn days_from_civil(year: u32, m: u32, d: u32) -> i64 {
    let y = year + 400 - u32::from(m <= 2);
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i64::from(era) * 146_097 + i64::from(doe) - 719_468 - 146_097
}

/// `YYYY-MM-DDTHH:MM:SS` followed by `Z` or `±HH:MM` exactly (the form
/// nearly every machine writes), as microseconds since the epoch, computed
/// by hand. `None` sends anything else (fractions, leap seconds, spaces,
/// impossible dates or offsets) to chrono's RFC 3339 parser, so results
/// never differ.
fn fast_rfc3339_micros(b: &[u8]) -> Option<i64> {
    // Eight bytes at a time: the separators compared under a mask, every
    // digit checked at once (each byte minus `0` must be below 10), and
    // each pair of digits combined in place (`10 × first + second`).
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    // `YYYY-MM-`: digits in bytes 0-3 and 5-6, `-` in bytes 4 and 7.
    const DATE_DIGITS: u64 = 0x00FF_FF00_FFFF_FFFF;
    const DATE_SEPS: (u64, u64) = (0xFF00_00FF_0000_0000, 0x2D00_002D_0000_0000);
    // `DDTHH:MM` (and `SS±hh:mm`): digits in bytes 0-1, 3-4 and 6-7.
    const TIME_DIGITS: u64 = 0xFFFF_00FF_FF00_FFFF;
    const TIME_SEPS: (u64, u64) = (0x0000_FF00_00FF_0000, 0x0000_3A00_0054_0000);
    const OFFSET_SEPS: (u64, u64) = (0x0000_FF00_0000_0000, 0x0000_3A00_0000_0000);
    /// The bytes' digit values under `digits` (pairs combined: byte `i`
    /// holds `10 × byte i + byte i+1`), if those are all digits and the
    /// bytes under `seps.0` are `seps.1`.
    #[inline(always)]
    fn pairs(w: u64, digits: u64, seps: (u64, u64)) -> Option<u64> {
        let x = (w ^ ZEROS) & digits;
        let bad = (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080 & digits;
        (bad == 0 && w & seps.0 == seps.1).then(|| x * 10 + (x >> 8))
    }
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let byte = |v: u64, i: u32| (v >> (8 * i)) as u32 & 0xFF;
    if b.len() != 20 && b.len() != 25 {
        return None;
    }
    let date = pairs(word(0), DATE_DIGITS, DATE_SEPS)?;
    let time = pairs(word(8), TIME_DIGITS, TIME_SEPS)?;
    let year = byte(date, 0) * 100 + byte(date, 2);
    let (month, day) = (byte(date, 5), byte(time, 0));
    let (h, mi) = (byte(time, 3), byte(time, 6));
    if b[16] != b':' {
        return None;
    }
    let (sec, offset) = if b.len() == 20 {
        if b[19] != b'Z' {
            return None;
        }
        (two(&b[17..19])?, 0)
    } else {
        let rest = pairs(word(17), TIME_DIGITS, OFFSET_SEPS)?;
        let (oh, om) = (byte(rest, 3), byte(rest, 6));
        if oh > 23 || om > 59 {
            return None;
        }
        let secs = i64::from(oh * 60 + om) * 60;
        let offset = match b[19] {
            b'+' => secs,
            b'-' => -secs,
            _ => return None,
        };
        (byte(rest, 0), offset)
    };
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset;
    Some(secs * 1_000_000)
}

impl TimeParser {
    pub fn new(timestamp_formats: &[String], date_formats: &[String], tz: Tz) -> Self {
        TimeParser {
            timestamp_formats: timestamp_formats.to_vec(),
            date_formats: date_formats.to_vec(),
            tz,
        }
    }

    fn parse_with(fmt: &str, s: &str) -> Option<Written> {
        if fmt.contains("%z") || fmt.contains("%:z") || fmt.contains("%#z") {
            return DateTime::parse_from_str(s, fmt).ok().map(Written::Offset);
        }
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Written::Local(d));
        }
        NaiveDate::parse_from_str(s, fmt)
            .ok()
            .map(|d| Written::Local(d.and_time(NaiveTime::MIN)))
    }

    /// Parses a timestamp (`as_of`, `updated_at`) with the declared formats,
    /// or ISO 8601 / RFC 3339 when none are declared. A bare date means the
    /// start of that day.
    /// The instant of a timestamp written the way nearly every machine
    /// writes it (RFC 3339 to the second), when the feed declares no
    /// format: the hot path of staging. `None` means "use
    /// [`TimeParser::written_timestamp`]", never "invalid".
    pub fn fast_instant(&self, s: &str) -> Option<i64> {
        if self.timestamp_formats.is_empty() {
            fast_rfc3339_micros(trim(s).as_bytes())
        } else {
            None
        }
    }

    pub fn written_timestamp(&self, s: &str) -> Option<Written> {
        let s = s.trim();
        if self.timestamp_formats.is_empty() {
            // Fast path: RFC 3339 has a dedicated parser, far quicker than
            // trying strftime patterns.
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                return Some(Written::Offset(d));
            }
            if let Some(z) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
                return ISO_LOCAL
                    .iter()
                    .find_map(|f| NaiveDateTime::parse_from_str(z, f).ok())
                    .map(|d| Written::Offset(d.and_utc().fixed_offset()));
            }
            return ISO_OFFSET
                .iter()
                .find_map(|f| DateTime::parse_from_str(s, f).ok().map(Written::Offset))
                .or_else(|| ISO_LOCAL.iter().find_map(|f| Self::parse_with(f, s)))
                .or_else(|| Self::parse_with(ISO_DATE, s));
        }
        self.timestamp_formats
            .iter()
            .find_map(|f| Self::parse_with(f, s))
    }

    /// The instant of a timestamp, in microseconds since the epoch (UTC).
    pub fn instant(&self, w: Written) -> Result<i64, &'static str> {
        match w {
            Written::Offset(d) => Ok(d.timestamp_micros()),
            Written::Local(d) => match self.tz.from_local_datetime(&d) {
                chrono::LocalResult::Single(t) => Ok(t.timestamp_micros()),
                // A repeated wall-clock hour: take the earlier instant.
                chrono::LocalResult::Ambiguous(a, _) => Ok(a.timestamp_micros()),
                chrono::LocalResult::None => Err("does not exist in the campaign's timezone"),
            },
        }
    }

    /// Parses a date (`eta`, `etd`): the declared date formats (ISO by
    /// default; a format may include a time and offset), else any accepted
    /// timestamp. The date is taken as written, whatever the offset.
    pub fn date(&self, s: &str) -> Option<NaiveDate> {
        let s = trim(s);
        let by_date = if self.date_formats.is_empty() {
            fast_date(s.as_bytes()).or_else(|| NaiveDate::parse_from_str(s, ISO_DATE).ok())
        } else {
            self.date_formats
                .iter()
                .find_map(|f| Self::parse_with(f, s).map(|w| w.date()))
        };
        by_date.or_else(|| self.written_timestamp(s).map(|w| w.date()))
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str, d: char, t: Option<char>) -> Result<i64, NumberError> {
        parse_quantity(s, d, t)
    }

    #[test]
    fn indonesian_grouping() {
        assert_eq!(q("1.000.000", ',', Some('.')), Ok(1_000_000));
        assert_eq!(q("8.000,00", ',', Some('.')), Ok(8000));
        assert_eq!(q("8000", ',', Some('.')), Ok(8000));
        assert_eq!(
            q("1.000.00", ',', Some('.')),
            Err(NumberError::Bad("malformed digit grouping"))
        );
        assert_eq!(
            q("1.5", ',', Some('.')),
            Err(NumberError::Bad("malformed digit grouping"))
        );
        assert_eq!(
            q("12,5", ',', Some('.')),
            Err(NumberError::Bad("has a non-zero fraction"))
        );
    }

    #[test]
    fn rejects_non_numbers() {
        for s in ["N/A", "NaN", "1e6", "abc", "1,000", "--1", "1.", "."] {
            assert!(
                matches!(q(s, '.', None), Err(NumberError::Bad(_))),
                "{s} should be a bad number"
            );
        }
        assert_eq!(q("", '.', None), Err(NumberError::Missing));
        assert_eq!(q("  ", '.', None), Err(NumberError::Missing));
        assert_eq!(q("-5", '.', None), Err(NumberError::Negative(-5)));
        assert_eq!(q("-0", '.', None), Ok(0));
        assert_eq!(q("1000000000000000", '.', None), Ok(MAX_QUANTITY));
        assert_eq!(
            q("1000000000000001", '.', None),
            Err(NumberError::Bad("beyond 10^15"))
        );
    }

    #[test]
    fn space_grouping_accepts_no_break_spaces() {
        assert_eq!(q("1 000 000", '.', Some(' ')), Ok(1_000_000));
        assert_eq!(q("1\u{a0}000\u{a0}000", '.', Some(' ')), Ok(1_000_000));
    }

    /// The same as `str::trim` for ends of every kind.
    #[test]
    fn trim_is_str_trim() {
        let pieces = [
            "a", "Z", "~", "!", " ", "\t", "\r", "\n", "\u{a0}", "\u{3000}", "é", "\u{7f}",
            "\u{1f}", "0",
        ];
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20_000 {
            let s: String = (0..rng.usize(0..6))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            assert_eq!(trim(&s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn plain_quantities_read_like_parse_quantity() {
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabet = b"0123456789000 .,-+\t";
        for _ in 0..50_000 {
            let s: String = (0..rng.usize(0..19))
                .map(|_| alphabet[rng.usize(..alphabet.len())] as char)
                .collect();
            if let Some(v) = plain_quantity(&s) {
                for (d, t) in [
                    ('.', None),
                    (',', Some('.')),
                    ('.', Some(',')),
                    (',', Some(' ')),
                ] {
                    assert_eq!(parse_quantity(&s, d, t), Ok(v), "{s:?}");
                }
            }
        }
        assert_eq!(plain_quantity(" 000120 "), Some(120));
        assert_eq!(plain_quantity("999999999999999"), Some(999_999_999_999_999));
        // Sixteen digits may be beyond 10^15: the general parser decides.
        assert_eq!(plain_quantity("1000000000000000"), None);
        assert_eq!(plain_quantity("1.000"), None);
    }

    #[test]
    fn fast_paths_agree_with_chrono() {
        for s in [
            "2026-11-26T02:41:00+07:00",
            "2026-11-26T02:41:00Z",
            "2026-11-26T02:41:00-03:30",
            "2024-02-29T23:59:59+00:00",
            "2026-02-29T10:00:00+07:00",
            "2026-13-45T08:00:00+07:00",
            "2026-11-26T24:00:00+07:00",
            "2026-11-26T02:41:60+07:00",
            "2026-11-26T02:41:00+25:00",
            "2026-11-26T02:41:00.5+07:00",
            "2026-11-26 02:41:00+07:00",
        ] {
            if let Some(f) = fast_rfc3339_micros(s.as_bytes()) {
                let chrono = DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|d| d.timestamp_micros());
                assert_eq!(Some(f), chrono, "{s}");
            }
        }
        assert_eq!(
            fast_rfc3339_micros(b"2026-11-26T02:41:00+07:00"),
            Some(1_795_635_660_000_000)
        );
        // The first and last days four digits can write.
        for s in [
            "0000-01-01T00:00:00Z",
            "0000-03-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
        ] {
            let chrono = DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
            assert_eq!(fast_rfc3339_micros(s.as_bytes()), Some(chrono), "{s}");
        }
        // Offset minutes past 59 are not RFC 3339 (the fast path once
        // took `+07:80` as 8 h 20 min).
        assert_eq!(fast_rfc3339_micros(b"2026-11-26T02:41:00+07:80"), None);
        assert!(DateTime::parse_from_rfc3339("2026-11-26T02:41:00+07:80").is_err());
        let parser = TimeParser::new(&[], &[], chrono_tz::Asia::Jakarta);
        assert!(
            parser
                .written_timestamp("2026-11-26T02:41:00+07:80")
                .is_none()
        );
        // Every day of four centuries around the epoch, at odd times and
        // offsets, agrees with chrono.
        let mut d = NaiveDate::from_ymd_opt(1890, 1, 1).unwrap();
        let mut k = 0u32;
        while d < NaiveDate::from_ymd_opt(2290, 1, 1).unwrap() {
            k = k.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let (h, m, sec) = (k % 24, (k >> 8) % 60, (k >> 16) % 60);
            let off = match k % 4 {
                0 => "Z".to_string(),
                1 => "+07:00".to_string(),
                2 => "-03:30".to_string(),
                _ => "+23:59".to_string(),
            };
            let s = format!("{d}T{h:02}:{m:02}:{sec:02}{off}");
            let chrono = DateTime::parse_from_rfc3339(&s).unwrap().timestamp_micros();
            assert_eq!(fast_rfc3339_micros(s.as_bytes()), Some(chrono), "{s}");
            d = d.succ_opt().unwrap();
        }
        // Any one byte of a good timestamp changed: either what chrono
        // reads, or left to chrono.
        const SEPS: &[u8] = b"-:+TZ/ .\xC3";
        let mut rng = fastrand::Rng::with_seed(7);
        for good in ["2026-11-26T02:41:00+07:00", "1999-02-28T23:59:59Z"] {
            for _ in 0..50_000 {
                let mut b = good.as_bytes().to_vec();
                let i = rng.usize(..b.len());
                b[i] = match rng.u8(..4) {
                    0 => rng.u8(..),
                    1 => rng.u8(b'0'..=b'9'),
                    2 => SEPS[rng.usize(..SEPS.len())],
                    _ => b[i].wrapping_add(rng.u8(..3)).wrapping_sub(1),
                };
                let Ok(s) = std::str::from_utf8(&b) else {
                    continue;
                };
                if let Some(f) = fast_rfc3339_micros(&b) {
                    let chrono = DateTime::parse_from_rfc3339(s).map(|d| d.timestamp_micros());
                    assert_eq!(Ok(f), chrono, "{s}");
                }
            }
        }
        for s in [
            "2026-11-05",
            "2024-02-29",
            "2026-02-29",
            "2026-1-05",
            "20261105xx",
            "2026-11-5 ",
        ] {
            if let Some(f) = fast_date(s.as_bytes()) {
                assert_eq!(Some(f), NaiveDate::parse_from_str(s, ISO_DATE).ok(), "{s}");
            }
        }
        assert_eq!(fast_date(b"2026-02-29"), None);
    }

    #[test]
    fn timestamps() {
        let p = TimeParser::new(&[], &[], chrono_tz::Asia::Jakarta);
        let w = p.written_timestamp("2026-11-05T10:00:00+07:00").unwrap();
        let l = p.written_timestamp("2026-11-05 10:00").unwrap();
        assert_eq!(p.instant(w), p.instant(l));
        let z = p.written_timestamp("2026-11-05T03:00:00Z").unwrap();
        assert_eq!(p.instant(w), p.instant(z));
        assert!(p.written_timestamp("05/11/2026").is_none());
        let d = TimeParser::new(
            &["%d/%m/%Y %H:%M".into()],
            &["%d/%m/%Y".into()],
            chrono_tz::UTC,
        );
        assert!(d.written_timestamp("31/10/2018 14:00").is_some());
        assert!(d.written_timestamp("10/31/2018 14:00").is_none());
        assert_eq!(d.date("31/10/2018"), NaiveDate::from_ymd_opt(2018, 10, 31));
        // The ETA's date is the date as written, whatever its offset.
        assert_eq!(
            p.date("2026-11-05T23:30:00+09:00"),
            NaiveDate::from_ymd_opt(2026, 11, 5)
        );
    }
}

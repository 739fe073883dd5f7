//! Parsing one field: quantities in a feed's number dialect, dates and
//! timestamps in its declared formats, status words.
//!
//! Everything here is strict on purpose: a value that could mean two things
//! is an error, never a guess. `1.000.00` is not a number, `03/04/2026` is
//! read only with a declared format, `1e6` and `NaN` are not quantities.

use chrono::format::{Item, StrftimeItems};
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

/// Case folding for vocabularies: trim, lowercase, and treat spaces and
/// hyphens as underscores (`In Transit`, `in-transit` → `in_transit`).
pub fn fold(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Checks that a strftime format is well formed.
pub fn check_format(f: &str) -> Result<(), String> {
    if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
        return Err("not a valid strftime format".into());
    }
    Ok(())
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

/// Days from 1970-01-01 to a valid proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS` followed by `Z` or `±HH:MM` exactly (the form
/// nearly every machine writes), as microseconds since the epoch, computed
/// by hand. `None` sends anything else (fractions, leap seconds, spaces,
/// impossible dates or offsets) to chrono's RFC 3339 parser, so results
/// never differ.
fn fast_rfc3339_micros(b: &[u8]) -> Option<i64> {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = two(&b[0..2])? * 100 + two(&b[2..4])?;
    let (month, day) = (two(&b[5..7])?, two(&b[8..10])?);
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days {
        return None;
    }
    let (h, mi, sec) = (two(&b[11..13])?, two(&b[14..16])?, two(&b[17..19])?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let offset = match &b[19..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let secs = i64::from(two(&[*h1, *h2])? * 60 + two(&[*m1, *m2])?) * 60;
            if secs >= 86_400 {
                return None;
            }
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
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

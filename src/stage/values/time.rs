//! Timestamps and dates in a feed's declared formats (ISO 8601 / RFC 3339
//! when none are declared), as instants in UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

use super::fast::{self, Pattern, Wall, fast_date, fast_rfc3339_micros};
use super::trim;
use super::zone::Zone;

/// Parses timestamps and dates the way one feed writes them.
///
/// Two ways, with the same results: chrono with each declared format in
/// turn (ISO 8601's forms when none is declared), the reference; and, in
/// front of it, the byte-by-byte readers of [`fast`] for the forms nearly
/// every feed writes, with local times turned into instants by a lookup
/// ([`Zone`]). A value the fast readers cannot vouch for goes to chrono.
#[derive(Debug, Clone)]
pub struct TimeParser {
    timestamp_formats: Vec<String>,
    date_formats: Vec<String>,
    tz: Tz,
    /// How timestamps are read first.
    fast: Fast,
    /// The first declared date format, compiled.
    date_pattern: Option<Pattern>,
    zone: Zone,
}

/// The fast reader of a feed's timestamps.
#[derive(Debug, Clone)]
enum Fast {
    /// No declared format: ISO 8601.
    Iso,
    /// The first declared format, compiled: a text it reads is what
    /// chrono reads with that format, which is tried first.
    Declared(Pattern),
    /// A first declared format only chrono reads.
    None,
}

/// The first format compiled, when it says whether it has an offset the
/// way [`TimeParser::parse_with`] decides.
fn compiled(formats: &[String]) -> Option<Pattern> {
    let f = formats.first()?;
    let offset = f.contains("%z") || f.contains("%:z") || f.contains("%#z");
    Pattern::compile(f).filter(|p| p.has_offset() == offset)
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

impl TimeParser {
    pub fn new(timestamp_formats: &[String], date_formats: &[String], tz: Tz) -> Self {
        TimeParser {
            timestamp_formats: timestamp_formats.to_vec(),
            date_formats: date_formats.to_vec(),
            tz,
            fast: if timestamp_formats.is_empty() {
                Fast::Iso
            } else {
                compiled(timestamp_formats).map_or(Fast::None, Fast::Declared)
            },
            date_pattern: compiled(date_formats),
            zone: Zone::new(tz),
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

    /// The instant of a timestamp written the way nearly every feed writes
    /// it (ISO 8601, or its declared format made of numbers and
    /// literals), with a local time's offset looked up: the hot path of
    /// staging. `None` means "use [`TimeParser::written_timestamp`] and
    /// [`TimeParser::instant`]", never "invalid".
    #[inline]
    pub fn fast_instant(&self, s: &str) -> Option<i64> {
        let b = trim(s).as_bytes();
        let wall = match &self.fast {
            Fast::Iso => {
                if let Some(micros) = fast_rfc3339_micros(b) {
                    return Some(micros);
                }
                fast::iso(b)?
            }
            Fast::Declared(p) => p.read(b)?,
            Fast::None => return None,
        };
        self.instant_of(wall)
    }

    /// A fast-read timestamp's instant, `None` for a local time in an
    /// hour with a transition.
    #[inline]
    fn instant_of(&self, w: Wall) -> Option<i64> {
        let secs = match w.offset {
            Some(offset) => w.secs - offset,
            None => self.zone.utc(w.secs)?,
        };
        Some(secs * 1_000_000 + w.micros)
    }

    /// Parses a timestamp (`as_of`, `updated_at`) with the declared formats,
    /// or ISO 8601 / RFC 3339 when none are declared, with chrono. A bare
    /// date means the start of that day.
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
        } else if let Some(d) = self
            .date_pattern
            .as_ref()
            .and_then(|p| p.read(s.as_bytes()))
        {
            d.date()
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

    /// The reference path: chrono with each format in turn, then chrono-tz.
    fn by_chrono(p: &TimeParser, s: &str) -> Option<i64> {
        p.written_timestamp(s).and_then(|w| p.instant(w).ok())
    }

    /// Whatever the fast readers accept, chrono reads the same: for ISO
    /// text and declared formats, in zones with and without daylight
    /// saving, on good values (which the fast path must take) and on
    /// values with one byte changed.
    #[test]
    fn fast_instants_are_chronos() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &[],
                &[
                    "2026-11-05T10:00:00+07:00",
                    "2026-11-05T10:00:00",
                    "2026-11-05 10:00:00",
                    "2026-11-05T10:00",
                    "2026-11-05 10:00",
                    "2026-11-05T10:00:00.123",
                    "2026-11-05 10:00:00.123456789",
                    "2026-11-05T10:00:00.5Z",
                    "2026-11-05 10:00Z",
                    "2026-11-05T10:00+07:00",
                    "2026-11-05T10:00:00.25-03:30",
                    "2026-11-05T10:00:00+0700",
                    "2026-11-05",
                    "2026-03-29T02:30:00",
                    "2026-10-25T02:30:00",
                ],
            ),
            (
                &["%d/%m/%Y %H:%M"],
                &["05/11/2026 10:00", "29/03/2026 02:30"],
            ),
            (&["%d/%m/%Y %H:%M", "%Y-%m-%d"], &["31/12/2025 23:59"]),
            (&["%Y%m%d%H%M%S"], &["20261105100000"]),
            (
                &["%d.%m.%Y %H:%M:%S%.f"],
                &["05.11.2026 10:00:00.75", "05.11.2026 10:00:00"],
            ),
            (
                &["%Y-%m-%dT%H:%M:%S%z"],
                &["2026-11-05T10:00:00+0700", "2026-11-05T10:00:00-02:00"],
            ),
            (&["%F %T"], &["2026-11-05 10:00:00"]),
            (&["%d/%m/%Y"], &["05/11/2026"]),
            (&["%m/%d/%Y %I:%M %p"], &["11/05/2026 10:00 AM"]),
        ];
        const BYTES: &[u8] = b"0123456789-:+T Z/.z%\xC3";
        let mut rng = fastrand::Rng::with_seed(5);
        for tz in [
            chrono_tz::Asia::Jakarta,
            chrono_tz::Europe::Berlin,
            chrono_tz::America::Sao_Paulo,
        ] {
            for (formats, goods) in cases {
                let formats: Vec<String> = formats.iter().map(|f| f.to_string()).collect();
                let p = TimeParser::new(&formats, &[], tz);
                for good in *goods {
                    let reference = by_chrono(&p, good);
                    // Berlin's skipped hour is no time at all.
                    let transition = good.contains("02:30") && tz != chrono_tz::Asia::Jakarta;
                    assert!(reference.is_some() || transition, "{good} with {formats:?}");
                    let fast = p.fast_instant(good);
                    // Every case but the 12-hour clock (and DST hours) is
                    // read fast.
                    if !formats.iter().any(|f| f.contains("%p")) && !transition {
                        assert!(fast.is_some(), "{good} with {formats:?} in {tz}");
                    }
                    if let Some(f) = fast {
                        assert_eq!(Some(f), reference, "{good} with {formats:?} in {tz}");
                    }
                    for _ in 0..4_000 {
                        let mut b = good.as_bytes().to_vec();
                        for _ in 0..rng.usize(1..3) {
                            let i = rng.usize(..b.len());
                            match rng.u8(..5) {
                                0 => b[i] = BYTES[rng.usize(..BYTES.len())],
                                1 => b[i] = rng.u8(b'0'..=b'9'),
                                2 => {
                                    b.remove(i);
                                }
                                3 => b.insert(i, BYTES[rng.usize(..BYTES.len())]),
                                _ => b.truncate(i),
                            }
                            if b.is_empty() {
                                break;
                            }
                        }
                        let Ok(s) = std::str::from_utf8(&b) else {
                            continue;
                        };
                        if let Some(f) = p.fast_instant(s) {
                            assert_eq!(Some(f), by_chrono(&p, s), "{s:?} with {formats:?} in {tz}");
                        }
                    }
                }
            }
        }
        // Dates in a declared format: the same as chrono's.
        let p = TimeParser::new(&[], &["%d/%m/%Y".into()], chrono_tz::UTC);
        for s in ["05/11/2026", "5/11/2026", "31/02/2026", "05/11/2026x"] {
            let reference = NaiveDate::parse_from_str(s, "%d/%m/%Y").ok();
            assert_eq!(
                p.date(s),
                reference.or_else(|| p.written_timestamp(s).map(|w| w.date())),
                "{s}"
            );
        }
    }

    /// The SPEC's daylight-saving rules through the fast path: a repeated
    /// local hour takes the earlier instant, a skipped one is not a time.
    #[test]
    fn transitions_keep_the_spec_rules() {
        let p = TimeParser::new(&[], &[], chrono_tz::Europe::Berlin);
        let instant = |s: &str| {
            p.fast_instant(s)
                .or_else(|| p.written_timestamp(s).and_then(|w| p.instant(w).ok()))
        };
        // 2026-10-25 02:30 happened twice in Berlin: first at 00:30 UTC.
        assert_eq!(
            instant("2026-10-25T02:30:00"),
            instant("2026-10-25T00:30:00Z")
        );
        // 2026-03-29 02:30 never happened there.
        assert_eq!(instant("2026-03-29T02:30:00"), None);
        let w = p.written_timestamp("2026-03-29T02:30:00").unwrap();
        assert_eq!(
            p.instant(w),
            Err("does not exist in the campaign's timezone")
        );
        // The hours either side are ordinary.
        assert_eq!(
            instant("2026-03-29T03:30:00"),
            instant("2026-03-29T01:30:00Z")
        );
    }
}

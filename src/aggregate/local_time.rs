//! Instants written as the campaign's wall-clock time, RFC 3339, by
//! lookup: the text of chrono's `DateTime<Tz>::to_rfc3339`, without a
//! search of the zone's transitions and a `String` per value.
//!
//! A zone's offset changes a few times a year at most, so the offset of
//! each UTC hour is found once (with chrono-tz) and kept. An hour whose
//! start and end have different offsets (a transition falls in it), an
//! offset with seconds (local mean time, before 1900) or a year outside
//! 0–9999 goes to chrono, value by value: the text is always chrono's
//! (a test compares the two over years of instants in zones with every
//! kind of transition).

use std::fmt::Write;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::model::{HourOffsets, IRREGULAR};

/// Formats instants (microseconds since the epoch) in one timezone.
pub struct LocalTime {
    tz: Tz,
    /// By UTC hour.
    offsets: HourOffsets,
}

impl LocalTime {
    pub fn new(tz: Tz) -> LocalTime {
        LocalTime {
            tz,
            offsets: HourOffsets::default(),
        }
    }

    /// Appends the instant `micros` as chrono's `to_rfc3339` writes it in
    /// this zone (`2025-10-22T09:12:56+07:00`, with `.mmm` or `.uuuuuu`
    /// when the second has a fraction); nothing when chrono has no such
    /// instant.
    pub fn push_rfc3339(&self, micros: i64, out: &mut String) {
        let secs = micros.div_euclid(1_000_000);
        let frac = micros.rem_euclid(1_000_000) as u32;
        let offset = self.offset(secs);
        let local = secs + i64::from(offset);
        let days = local.div_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if offset == IRREGULAR || !(0..=9999).contains(&year) {
            return chrono_rfc3339(self.tz, micros, out);
        }
        let sod = local.rem_euclid(86_400) as u32;
        let mut b = [0u8; 32];
        let mut n = 0;
        fn two(b: &mut [u8; 32], n: &mut usize, v: u32) {
            b[*n] = b'0' + (v / 10) as u8;
            b[*n + 1] = b'0' + (v % 10) as u8;
            *n += 2;
        }
        two(&mut b, &mut n, year as u32 / 100);
        two(&mut b, &mut n, year as u32 % 100);
        for (sep, v) in [(b'-', month), (b'-', day), (b'T', sod / 3600)] {
            b[n] = sep;
            n += 1;
            two(&mut b, &mut n, v);
        }
        for v in [sod / 60 % 60, sod % 60] {
            b[n] = b':';
            n += 1;
            two(&mut b, &mut n, v);
        }
        let digits = match frac {
            0 => 0,
            f if f % 1000 == 0 => 3,
            _ => 6,
        };
        if digits > 0 {
            b[n] = b'.';
            let mut f = if digits == 3 { frac / 1000 } else { frac };
            for i in (1..=digits).rev() {
                b[n + i] = b'0' + (f % 10) as u8;
                f /= 10;
            }
            n += digits + 1;
        }
        b[n] = if offset < 0 { b'-' } else { b'+' };
        n += 1;
        let minutes = offset.unsigned_abs() / 60;
        two(&mut b, &mut n, minutes / 60);
        b[n] = b':';
        n += 1;
        two(&mut b, &mut n, minutes % 60);
        out.push_str(std::str::from_utf8(&b[..n]).expect("ASCII digits and signs"));
    }

    /// The offset in force all through the UTC hour of `secs`, or
    /// [`IRREGULAR`].
    #[inline]
    fn offset(&self, secs: i64) -> i32 {
        let hour = secs.div_euclid(3600);
        self.offsets.get(hour, |h| self.offset_of_hour(h))
    }

    #[cold]
    fn offset_of_hour(&self, hour: i64) -> i32 {
        let offset_at = |secs: i64| {
            let utc = DateTime::from_timestamp(secs, 0)?.naive_utc();
            Some(
                self.tz
                    .offset_from_utc_datetime(&utc)
                    .fix()
                    .local_minus_utc(),
            )
        };
        let start = hour.checked_mul(3600).and_then(offset_at);
        let end = hour.checked_mul(3600).and_then(|s| offset_at(s + 3599));
        match (start, end) {
            (Some(a), Some(b)) if a == b && a % 60 == 0 => a,
            _ => IRREGULAR,
        }
    }
}

/// chrono's text, the reference the lookup is checked against.
fn chrono_rfc3339(tz: Tz, micros: i64, out: &mut String) {
    if let Some(d) = DateTime::from_timestamp_micros(micros) {
        let _ = write!(out, "{}", d.with_timezone(&tz).to_rfc3339());
    }
}

/// (year, month, day) of a day count from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instants over two years around transitions of every kind, early
    /// dates with local mean time, fractions of every length and the ends
    /// of chrono's range: the same text as chrono's, or none.
    #[test]
    fn the_text_is_chronos() {
        let zones = [
            chrono_tz::Asia::Jakarta,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
            chrono_tz::America::St_Johns,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Apia,
            chrono_tz::Pacific::Chatham,
            chrono_tz::UTC,
        ];
        let starts = [-2_500_000_000i64, -60, 1_270_000_000, 1_759_000_000];
        let mut state = 7u64;
        for tz in zones {
            let clock = LocalTime::new(tz);
            for start in starts {
                let mut secs = start;
                while secs < start + 2 * 366 * 86_400 {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    let frac = match state >> 62 {
                        0 => 0,
                        1 => (state >> 40) as i64 % 1000 * 1000,
                        _ => (state >> 40) as i64 % 1_000_000,
                    };
                    let micros = secs * 1_000_000 + frac;
                    let (mut fast, mut slow) = (String::new(), String::new());
                    clock.push_rfc3339(micros, &mut fast);
                    chrono_rfc3339(tz, micros, &mut slow);
                    assert_eq!(fast, slow, "{tz} {micros}");
                    secs += 1000 + (state >> 50) as i64;
                }
            }
        }
        let clock = LocalTime::new(chrono_tz::Asia::Jakarta);
        for micros in [
            i64::MIN,
            i64::MAX,
            -62_167_219_200_000_000,
            253_402_300_799_999_999,
        ] {
            let (mut fast, mut slow) = (String::new(), String::new());
            clock.push_rfc3339(micros, &mut fast);
            chrono_rfc3339(chrono_tz::Asia::Jakarta, micros, &mut slow);
            assert_eq!(fast, slow, "{micros}");
        }
    }

    #[test]
    fn days_to_dates() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for days in (-800_000..800_000).step_by(37) {
            let d = epoch + chrono::Duration::days(days);
            use chrono::Datelike;
            assert_eq!(
                civil_from_days(days),
                (i64::from(d.year()), d.month(), d.day()),
                "{days}"
            );
        }
    }
}

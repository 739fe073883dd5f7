//! Timestamps read byte by byte, in the forms nearly every feed writes:
//! ISO 8601 (with or without an offset, to the minute, second or a
//! fraction) and declared formats made of fixed-width numbers and
//! literals (`%d/%m/%Y %H:%M`). Each reader here either reads exactly what
//! chrono would read from the same text with the same format, or returns
//! `None` and leaves the text to chrono: results never differ, only the
//! time they take (tested against chrono on mutated inputs).

use chrono::NaiveDate;

/// A timestamp as written: its wall-clock time (seconds since the epoch
/// as if it were UTC), its fraction, and its UTC offset when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wall {
    pub secs: i64,
    pub micros: i64,
    /// Seconds east of UTC.
    pub offset: Option<i64>,
}

impl Wall {
    /// The calendar date as written.
    pub fn date(&self) -> Option<NaiveDate> {
        let days = i32::try_from(self.secs.div_euclid(86_400)).ok()?;
        NaiveDate::from_epoch_days(days)
    }

    fn new(days: i64, h: u32, mi: u32, sec: u32, micros: i64, offset: Option<i64>) -> Wall {
        Wall {
            secs: days * 86_400 + i64::from(h * 3600 + mi * 60 + sec),
            micros,
            offset,
        }
    }
}

/// Two ASCII digits as a number.
pub(super) fn two(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(c - b'0')),
        _ => None,
    }
}

/// `YYYY-MM-DD` exactly, read byte by byte; anything else (or an invalid
/// date) is `None` and goes to the general parser, so results never differ.
pub(super) fn fast_date(b: &[u8]) -> Option<NaiveDate> {
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
pub(super) fn days_from_civil(year: u32, m: u32, d: u32) -> i64 {
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
pub(super) fn fast_rfc3339_micros(b: &[u8]) -> Option<i64> {
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

/// Four ASCII digits as a number.
fn four(b: &[u8]) -> Option<u32> {
    Some(two(b.get(..2)?)? * 100 + two(b.get(2..4)?)?)
}

/// Days since the epoch of a valid date (`None` for an impossible one).
fn civil(year: u32, month: u32, day: u32) -> Option<i64> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (day >= 1 && day <= month_days).then(|| days_from_civil(year, month, day))
}

/// A fraction of a second after its `.`: one to nine digits (chrono's
/// `%.f`; more are left to chrono), as microseconds (the rest cut, as
/// chrono's `timestamp_micros` does), and how many bytes it took.
fn fraction(b: &[u8]) -> Option<(i64, usize)> {
    let n = b.iter().take(10).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 9 {
        return None;
    }
    let mut micros = 0i64;
    for i in 0..6 {
        micros = micros * 10
            + b.get(i)
                .filter(|_| i < n)
                .map_or(0, |d| i64::from(d - b'0'));
    }
    Some((micros, n))
}

/// A UTC offset at the start of `b`: `±HH:MM` or `±HHMM` (both of which
/// chrono's `%z` and `%:z` read), in seconds, and how many bytes it took.
fn offset(b: &[u8]) -> Option<(i64, usize)> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = two(b.get(1..3)?)?;
    let (m, len) = match b.get(3) {
        Some(b':') => (two(b.get(4..6)?)?, 6),
        _ => (two(b.get(3..5)?)?, 5),
    };
    (h <= 23 && m <= 59).then(|| (sign * i64::from(h * 3600 + m * 60), len))
}

/// The ISO 8601 forms a feed without declared formats may use, as the
/// general parser ([`super::TimeParser::written_timestamp`]) reads them:
/// a date alone (midnight, local time), or a date, `T` or a space,
/// `HH:MM`, then optionally `:SS` and a fraction, then nothing (local
/// time), `Z` / `z` (UTC) or an offset (which, without seconds, only
/// follows a `T`).
pub(super) fn iso(b: &[u8]) -> Option<Wall> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let days = civil(four(&b[..4])?, two(&b[5..7])?, two(&b[8..10])?)?;
    if b.len() == 10 {
        return Some(Wall::new(days, 0, 0, 0, 0, None));
    }
    let sep = b[10];
    if (sep != b'T' && sep != b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (h, mi) = (two(&b[11..13])?, two(&b[14..16])?);
    let (mut sec, mut micros, mut at) = (0, 0, 16);
    let seconds = b.get(16) == Some(&b':');
    if seconds {
        sec = two(b.get(17..19)?)?;
        at = 19;
        if b.get(19) == Some(&b'.') {
            let (m, n) = fraction(&b[20..])?;
            micros = m;
            at = 20 + n;
        }
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let offset = match &b[at..] {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        rest if seconds || sep == b'T' => match offset(rest)? {
            (o, n) if n == rest.len() => Some(o),
            _ => return None,
        },
        _ => return None,
    };
    Some(Wall::new(days, h, mi, sec, micros, offset))
}

/// One piece of a compiled format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Literal(u8),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// `%.f`: an optional `.` and fraction.
    Fraction,
    /// `%z` or `%:z`.
    Offset,
}

/// A declared strftime format made only of `%Y %m %d %H %M %S %.f %z %:z
/// %F %T %%` and ASCII literals, read byte by byte with every number at
/// its full width (`05/11/2026`, not `5/11/2026`, which chrono reads).
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    items: Vec<Item>,
}

impl Pattern {
    /// The format compiled, or `None` when it uses anything else (month
    /// names, 12-hour clocks, ...) or does not name a whole date (and, with
    /// an hour, its minute): those are always read by chrono.
    pub fn compile(format: &str) -> Option<Pattern> {
        let mut items = Vec::new();
        let mut rest = format.as_bytes();
        while let Some((&c, tail)) = rest.split_first() {
            rest = tail;
            if c != b'%' {
                if !c.is_ascii() || (c.is_ascii_whitespace() && c != b' ') {
                    return None;
                }
                items.push(Item::Literal(c));
                continue;
            }
            let (spec, len): (&[Item], usize) = match rest {
                [b'Y', ..] => (&[Item::Year], 1),
                [b'm', ..] => (&[Item::Month], 1),
                [b'd', ..] => (&[Item::Day], 1),
                [b'H', ..] => (&[Item::Hour], 1),
                [b'M', ..] => (&[Item::Minute], 1),
                [b'S', ..] => (&[Item::Second], 1),
                [b'z', ..] => (&[Item::Offset], 1),
                [b':', b'z', ..] => (&[Item::Offset], 2),
                [b'.', b'f', ..] => (&[Item::Fraction], 2),
                [b'%', ..] => (&[Item::Literal(b'%')], 1),
                [b'F', ..] => (&F, 1),
                [b'T', ..] => (&T, 1),
                _ => return None,
            };
            items.extend_from_slice(spec);
            rest = &rest[len..];
        }
        let count = |i: Item| items.iter().filter(|&&x| x == i).count();
        let once = |i: Item| count(i) == 1;
        let time = once(Item::Hour) && once(Item::Minute);
        let dated = once(Item::Year) && once(Item::Month) && once(Item::Day);
        let untimed = [
            Item::Hour,
            Item::Minute,
            Item::Second,
            Item::Fraction,
            Item::Offset,
        ]
        .iter()
        .all(|&i| count(i) == 0);
        let fraction_after_seconds = items
            .iter()
            .enumerate()
            .filter(|(_, i)| **i == Item::Fraction)
            .all(|(k, _)| k > 0 && items[k - 1] == Item::Second);
        let well_formed = count(Item::Second) <= 1
            && count(Item::Fraction) <= 1
            && count(Item::Offset) <= 1
            && fraction_after_seconds;
        (dated && (time || untimed) && well_formed).then_some(Pattern { items })
    }

    /// Whether the format carries a UTC offset.
    pub fn has_offset(&self) -> bool {
        self.items.contains(&Item::Offset)
    }

    /// Reads `b` (already trimmed) in this format, or `None` for chrono
    /// to decide.
    pub fn read(&self, b: &[u8]) -> Option<Wall> {
        let (mut y, mut mo, mut d, mut h, mut mi, mut sec) = (0, 0, 0, 0, 0, 0);
        let (mut micros, mut off) = (0, None);
        let mut at = 0;
        for item in &self.items {
            let rest = &b[at.min(b.len())..];
            let mut field = |v: &mut u32, width: usize| {
                *v = if width == 4 {
                    four(rest)?
                } else {
                    two(rest.get(..2)?)?
                };
                at += width;
                Some(())
            };
            match *item {
                Item::Literal(c) => {
                    if rest.first() != Some(&c) {
                        return None;
                    }
                    at += 1;
                }
                Item::Year => field(&mut y, 4)?,
                Item::Month => field(&mut mo, 2)?,
                Item::Day => field(&mut d, 2)?,
                Item::Hour => field(&mut h, 2)?,
                Item::Minute => field(&mut mi, 2)?,
                Item::Second => field(&mut sec, 2)?,
                Item::Fraction => {
                    if rest.first() == Some(&b'.') {
                        let (m, n) = fraction(&rest[1..])?;
                        micros = m;
                        at += 1 + n;
                    }
                }
                Item::Offset => {
                    let (o, n) = offset(rest)?;
                    off = Some(o);
                    at += n;
                }
            }
        }
        if at != b.len() || h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        Some(Wall::new(civil(y, mo, d)?, h, mi, sec, micros, off))
    }
}

/// `%F` and `%T`, spelled out.
const F: [Item; 5] = [
    Item::Year,
    Item::Literal(b'-'),
    Item::Month,
    Item::Literal(b'-'),
    Item::Day,
];
const T: [Item; 5] = [
    Item::Hour,
    Item::Literal(b':'),
    Item::Minute,
    Item::Literal(b':'),
    Item::Second,
];

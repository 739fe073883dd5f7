//! Parsing one field: quantities in a feed's number dialect, dates and
//! timestamps in its declared formats, status words.
//!
//! Everything here is strict on purpose: a value that could mean two things
//! is an error, never a guess. `1.000.00` is not a number, `03/04/2026` is
//! read only with a declared format, `1e6` and `NaN` are not quantities.

mod fast;
mod time;
mod zone;

pub use time::{TimeParser, Written};

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
}

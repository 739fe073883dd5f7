//! A fast path for the commonest NDJSON line: one flat object whose keys
//! hold no escape and whose values are strings without escapes, numbers,
//! `true`, `false` or `null`. Such a line is read in one pass over its
//! bytes, with no parser state and no allocation.
//!
//! The path only ever says "this line is certainly such an object, and
//! these are its fields": anything else (an escape, a control character,
//! a nested value, a malformed number, a stray byte) answers "not sure",
//! and the line goes to serde, which decides whether it is a record and
//! what is wrong with it. So the exceptions, their messages and every
//! cell are serde's; a test compares the two on hostile lines.

use std::ops::Range;

/// A field's value, as the record's cell takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flat<'a> {
    Null,
    /// A string's text (between its quotes), or `true` / `false`.
    Text(&'a str),
    /// A number's literal as written.
    Number(&'a str),
}

/// Calls `field` with each field of `line` (one object, with white space
/// around it but no line break) in the order written; `false` when the
/// line is not certainly a flat object this path reads, and then some
/// fields may have been handed over already.
pub(super) fn flat_fields<'a>(line: &'a str, mut field: impl FnMut(&'a str, Flat<'a>)) -> bool {
    // Every range [`scan`] hands over is cut at ASCII bytes: always `str`
    // boundaries.
    let text = |r: Range<usize>| &line[r];
    scan(line.as_bytes(), |key, value| {
        let value = match value {
            Value::Null => Flat::Null,
            Value::Text(r) => Flat::Text(text(r)),
            Value::Number(r) => Flat::Number(text(r)),
            Value::Literal(t) => Flat::Text(t),
        };
        field(text(key), value)
    })
}

/// The raw keys of `line` (bytes, not checked to be UTF-8) as
/// [`flat_fields`] would hand them over, and the same answer: for the
/// header pass, which only compares a line's keys with the last line's
/// and so need not check the text of every line.
pub(super) fn flat_keys<'a>(line: &'a [u8], mut key: impl FnMut(&'a [u8])) -> bool {
    scan(line, |k, _| key(&line[k]))
}

/// A field's value as [`scan`] finds it: where it lies in the line.
enum Value {
    Null,
    Text(Range<usize>),
    Number(Range<usize>),
    /// `true` or `false`.
    Literal(&'static str),
}

/// The one pass of [`flat_fields`] over a line's bytes: each key's range
/// (between its quotes) and its value.
fn scan(b: &[u8], mut field: impl FnMut(Range<usize>, Value)) -> bool {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return false;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return skip_ws(b, i + 1) == b.len();
    }
    loop {
        // A key.
        if b.get(i) != Some(&b'"') {
            return false;
        }
        let Some(end) = string_end(b, i + 1) else {
            return false;
        };
        let key = i + 1..end;
        i = skip_ws(b, end + 1);
        if b.get(i) != Some(&b':') {
            return false;
        }
        i = skip_ws(b, i + 1);
        // Its value.
        let (value, next) = match b.get(i) {
            Some(b'"') => match string_end(b, i + 1) {
                Some(end) => (Value::Text(i + 1..end), end + 1),
                None => return false,
            },
            Some(b'-' | b'0'..=b'9') => match number_end(b, i) {
                Some(end) => (Value::Number(i..end), end),
                None => return false,
            },
            Some(b'n') if b[i..].starts_with(b"null") => (Value::Null, i + 4),
            Some(b't') if b[i..].starts_with(b"true") => (Value::Literal("true"), i + 4),
            Some(b'f') if b[i..].starts_with(b"false") => (Value::Literal("false"), i + 5),
            _ => return false,
        };
        field(key, value);
        i = skip_ws(b, next);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return skip_ws(b, i + 1) == b.len(),
            _ => return false,
        }
    }
}

/// JSON's white space.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// Where the string that starts at `i` (after its opening quote) ends:
/// its closing quote; `None` for an escape, a control character or no
/// end. Eight bytes are looked at a time until one of those three turns
/// up, then that byte alone.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte below `n` (exact for the lowest such
    // byte, which is all that is used).
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    while let Some(word) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let stop = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if stop != 0 {
            i += (stop.trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return Some(i),
            b'\\' | 0..0x20 => return None,
            _ => i += 1,
        }
    }
    None
}

/// Where the number that starts at `i` ends, when it is one by JSON's
/// grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i) {
        Some(b'0') => i + 1,
        Some(b'1'..=b'9') => digits(i)?,
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Option<Vec<(&str, Flat<'_>)>> {
        let mut out = Vec::new();
        flat_fields(line, |k, v| out.push((k, v))).then_some(out)
    }

    /// The word-at-a-time scan stops where a byte-at-a-time one does,
    /// wherever in a word the stop is, whatever the bytes before it.
    #[test]
    fn string_end_matches_a_byte_scan() {
        let plain = |b: &[u8], i: usize| {
            let k = b[i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            (b[i + k] == b'"').then_some(i + k)
        };
        let fill = [b'a', 0x7f, 0x80, 0xff, b'!', b' ', b'#', b']'];
        for len in 0..40 {
            for stop in [b'"', b'\\', 0, 0x1f, b'\n'] {
                for at in 0..=len {
                    let mut b: Vec<u8> = (0..len + 3).map(|k| fill[k % fill.len()]).collect();
                    b[at] = stop;
                    for start in 0..3.min(len + 1) {
                        assert_eq!(
                            string_end(&b, start),
                            plain(&b, start),
                            "{b:?} from {start}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reads_flat_objects_and_declines_the_rest() {
        assert_eq!(
            fields(r#" {"a": "x", "b":-1.5e+3,"c" : null, "d": true, "a": 0} "#),
            Some(vec![
                ("a", Flat::Text("x")),
                ("b", Flat::Number("-1.5e+3")),
                ("c", Flat::Null),
                ("d", Flat::Text("true")),
                ("a", Flat::Number("0")),
            ])
        );
        assert_eq!(fields("{}"), Some(vec![]));
        for unsure in [
            r#"{"a": "x\"y"}"#,
            r#"{"a\u0062": 1}"#,
            "{\"a\": \"tab\there\"}",
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": -}"#,
            r#"{"a": 1e}"#,
            r#"{"a": nul}"#,
            r#"{"a": {"b": 1}}"#,
            r#"{"a": [1]}"#,
            r#"{"a": 1,}"#,
            r#"{"a": 1} x"#,
            r#"{"a" 1}"#,
            r#"{"a": 1"#,
            r#"[1]"#,
            "",
        ] {
            assert_eq!(fields(unsure), None, "{unsure}");
        }
    }
}

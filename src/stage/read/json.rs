//! JSON feeds: an array of records, or one record per line (NDJSON).
//!
//! Both are read as streams, one record at a time, twice: the first pass
//! finds the header (every field name, in the order first seen), the
//! second hands over the records. A large NDJSON feed staged on several
//! threads may skip the first pass ([`Chunks::guessed_header`]): its
//! header is guessed from its first lines, and each chunk's parse reports
//! the names it finds beyond the guess, so that the taker rebuilds the
//! whole feed's header in order (and stages the feed again when a new
//! name changes what the guess meant). A record is held only while it is read;
//! one longer than the source's `max_record_bytes` is a `malformed record`
//! exception with its first bytes kept. A value that is not an object (or
//! a broken line) is one exception; JSON that is not well formed fails the
//! source.

use crate::error::{Header, Problem};
use hashbrown::HashMap;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;

use serde_json::value::RawValue;

use super::flat_json::{self, Flat, flat_fields};
use super::{
    At, Chunks, LOOKAHEAD, MAX_COLUMNS, OwnedCell, OwnedCells, Visitor, decode, oversized,
    trim_newline,
};
use crate::model::Reason;
use crate::pipeline::Dialect;

/// Opens the feed's text (once per pass).
type Open<'o, 'a> = &'o dyn Fn() -> Result<Box<dyn Read + 'a>, Problem>;

/// A JSON object's top-level fields in the order written, values unparsed
/// (names borrowed from the text unless they hold an escape).
struct RawObject<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// A field name, borrowed from the text when it can be.
struct Name<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Name<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                k: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(k))
            }
            fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(k.to_string()))
            }
        }
        d.deserialize_str(V).map(Name)
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = RawObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(Name(k)) = m.next_key::<Name<'de>>()? {
                    let v: &'de RawValue = m.next_value()?;
                    fields.push((k, v));
                }
                Ok(RawObject(fields))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The header: every field name of every object, in the order first seen.
/// A field holding an object also names its fields by path
/// (`details.eta`), at any depth, so a nested value can be mapped to a
/// column; arrays are not entered.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Some name is a path into a nested object: records' objects are
    /// entered when their cells are taken.
    nested: bool,
    /// Which cells of the record being taken are set (a buffer).
    set: std::cell::RefCell<Vec<bool>>,
    /// The keys of the last flat line, in the order written, with their
    /// header positions (`usize::MAX` for none): most lines repeat them,
    /// and a comparison is cheaper than a lookup.
    last_keys: std::cell::RefCell<Vec<(Box<str>, usize)>>,
}

/// An object's text, when a field's value is one.
fn as_object(v: &RawValue) -> Option<&str> {
    let s = v.get().trim_start();
    s.starts_with('{').then_some(s)
}

impl Names {
    /// The names of a header found before (the first of a repeated name
    /// holds its place).
    fn of(header: &[String]) -> Names {
        let mut names = Names::default();
        for (i, name) in header.iter().enumerate() {
            names.index.entry(name.clone()).or_insert(i);
            names.names.push(name.clone());
        }
        names.nested = header.iter().any(|n| n.contains('.'));
        names
    }

    /// Adds the names of one record (when it is an object; `Ok(false)`
    /// when it is another kind of value). Fields are visited in place, no
    /// record built: this pass reads every record of the feed.
    fn add(&mut self, text: &str) -> Result<bool, serde_json::Error> {
        use serde::de::{Deserializer, MapAccess, Visitor};
        struct Keys<'n>(&'n mut Names);
        impl<'de> Visitor<'de> for Keys<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
                while let Some(Name(k)) = m.next_key::<Name<'de>>()? {
                    let v: &'de RawValue = m.next_value()?;
                    self.0.add_field(&k, v, "");
                }
                Ok(())
            }
        }
        let mut de = serde_json::Deserializer::from_str(text);
        match de.deserialize_map(Keys(self)).and_then(|()| de.end()) {
            Ok(()) => Ok(true),
            Err(e) if e.classify() == serde_json::error::Category::Data => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds one field's name, after `prefix`, and those of the object it
    /// holds.
    fn add_field(&mut self, k: &str, v: &RawValue, prefix: &str) {
        let name: Cow<'_, str> = if prefix.is_empty() {
            Cow::Borrowed(k)
        } else {
            Cow::Owned(format!("{prefix}{k}"))
        };
        // Looked up without a copy; copied once, when new.
        if !self.index.contains_key(name.as_ref()) {
            self.index.insert(name.to_string(), self.names.len());
            self.names.push(name.to_string());
        }
        if let Some(inner) = as_object(v)
            && let Ok(o) = serde_json::from_str::<RawObject>(inner)
        {
            self.nested = true;
            let prefix = format!("{name}.");
            for (k, v) in &o.0 {
                self.add_field(k, v, &prefix);
            }
        }
    }

    fn check(&self) -> Result<(), Problem> {
        if self.names.len() > MAX_COLUMNS {
            return Err(Problem::Header(Header::TooWide {
                columns: self.names.len(),
                limit: MAX_COLUMNS,
            }));
        }
        Ok(())
    }

    /// One object's fields as cells, by header position (the first of a
    /// repeated name wins). The cells are written again in place, their
    /// text buffers kept (`out` is a buffer used line after line); a name
    /// the object lacks is null.
    fn cells(&self, fields: &[(Cow<'_, str>, &RawValue)], out: &mut Vec<OwnedCell>) {
        self.each_cell(out, |out, set| {
            self.fill(fields, "", out, set);
            true
        });
    }

    /// A line's cells as [`Names::cells`] makes them, when the line is
    /// certainly a flat object ([`flat_fields`]), and whether it names
    /// anything not here; `None` leaves the line to serde.
    fn flat_cells(&self, line: &str, out: &mut Vec<OwnedCell>) -> Option<bool> {
        let mut last = self.last_keys.borrow_mut();
        let mut field = 0;
        let mut unknown = false;
        let flat = self.each_cell(out, |out, set| {
            flat_fields(line, |k, v| {
                let i = match last.get(field) {
                    Some((key, i)) if key.as_ref() == k => *i,
                    _ => {
                        let i = self.index.get(k).copied().unwrap_or(usize::MAX);
                        last.truncate(field);
                        last.push((k.into(), i));
                        i
                    }
                };
                field += 1;
                unknown |= i == usize::MAX;
                if i != usize::MAX && !std::mem::replace(&mut set[i], true) {
                    match v {
                        Flat::Null => out[i] = OwnedCell::Null,
                        Flat::Text(t) => put_text(&mut out[i], t, false),
                        Flat::Number(t) => put_text(&mut out[i], t, true),
                    }
                }
            })
        });
        flat.then_some(unknown)
    }

    /// Sizes `out` to the header, lets `fill` write the cells it finds
    /// (marking them set), then makes every cell not set null; `fill`'s
    /// answer is returned.
    fn each_cell(
        &self,
        out: &mut Vec<OwnedCell>,
        fill: impl FnOnce(&mut [OwnedCell], &mut [bool]) -> bool,
    ) -> bool {
        out.resize(self.names.len(), OwnedCell::Null);
        let mut set = self.set.borrow_mut();
        set.clear();
        set.resize(self.names.len(), false);
        if !fill(out, &mut set) {
            return false;
        }
        for (cell, set) in out.iter_mut().zip(set.iter()) {
            if !set {
                *cell = OwnedCell::Null;
            }
        }
        true
    }

    /// Writes the cells of `fields` (names after `prefix`) not yet `set`,
    /// in the order written, each field's nested fields after it.
    fn fill(
        &self,
        fields: &[(Cow<'_, str>, &RawValue)],
        prefix: &str,
        out: &mut [OwnedCell],
        set: &mut [bool],
    ) {
        for (k, v) in fields {
            let name: Cow<'_, str> = if prefix.is_empty() {
                Cow::Borrowed(k.as_ref())
            } else {
                Cow::Owned(format!("{prefix}{k}"))
            };
            if let Some(&i) = self.index.get(name.as_ref())
                && !std::mem::replace(&mut set[i], true)
            {
                set_cell(&mut out[i], v);
            }
            if self.nested
                && let Some(inner) = as_object(v)
                && let Ok(o) = serde_json::from_str::<RawObject>(inner)
            {
                self.fill(&o.0, &format!("{name}."), out, set);
            }
        }
    }
}

/// Sets `out` to the cell of a JSON value: null, a string's text, a
/// number's literal as written (`1e6` stays `1e6`, a bad number), or the
/// value as written (true/false, objects, arrays, so the field check
/// reports them). A text cell's buffer is written again, not made anew.
fn set_cell(out: &mut OwnedCell, v: &RawValue) {
    let s = v.get().trim();
    if s == "null" {
        *out = OwnedCell::Null;
    } else if let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        // The parser has checked the string: without a backslash, its
        // text is what lies between the quotes.
        if !inner.contains('\\') {
            put_text(out, inner, false);
        } else {
            *out = serde_json::from_str::<String>(s).map_or(OwnedCell::Null, OwnedCell::Text);
        }
    } else if s.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
        put_text(out, s, true);
    } else {
        put_text(out, s, false);
    }
}

/// Sets `out` to a text (or number) cell of `text`, in its buffer when
/// it has one of that kind.
fn put_text(out: &mut OwnedCell, text: &str, number: bool) {
    match (out, number) {
        // Cleared and written: `replace_range` splices, which costs more
        // than the copy for a field this short.
        (OwnedCell::Text(b), false) | (OwnedCell::Number(b), true) => {
            b.clear();
            b.push_str(text);
        }
        (out, true) => *out = OwnedCell::Number(text.to_string()),
        (out, false) => *out = OwnedCell::Text(text.to_string()),
    }
}

/// A byte stream read ahead a block at a time, counting lines.
struct Bytes<'a> {
    input: Box<dyn Read + 'a>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The line of the next byte.
    line: u64,
}

impl<'a> Bytes<'a> {
    fn new(input: Box<dyn Read + 'a>) -> Self {
        Bytes {
            input,
            buf: vec![0; 1 << 16],
            pos: 0,
            end: 0,
            line: 1,
        }
    }

    /// Reads the next block when the current one is used up; false at
    /// the end.
    fn refill(&mut self) -> Result<bool, Problem> {
        if self.pos < self.end {
            return Ok(true);
        }
        self.pos = 0;
        self.end = loop {
            match self.input.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(decode::carried(e)),
            }
        };
        Ok(self.end > 0)
    }

    /// The next byte, without taking it.
    fn peek(&mut self) -> Result<Option<u8>, Problem> {
        Ok(if self.refill()? {
            Some(self.buf[self.pos])
        } else {
            None
        })
    }

    fn next(&mut self) -> Result<Option<u8>, Problem> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.pos += 1;
            self.line += u64::from(b == b'\n');
        }
        Ok(b)
    }

    /// Takes the block's bytes up to and including the first that `stop`
    /// finds (all of them when none), handing them to `keep`; returns the
    /// byte found.
    fn take(
        &mut self,
        stop: impl Fn(&[u8]) -> Option<usize>,
        keep: &mut impl FnMut(&[u8]),
    ) -> Option<u8> {
        let block = &self.buf[self.pos..self.end];
        let found = stop(block);
        let n = found.map_or(block.len(), |k| k + 1);
        keep(&block[..n]);
        self.line += memchr::memchr_iter(b'\n', &block[..n]).count() as u64;
        self.pos += n;
        found.map(|k| block[k])
    }

    /// The next byte that is not white space.
    fn next_token(&mut self) -> Result<Option<u8>, Problem> {
        while let Some(b) = self.next()? {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }
}

/// One element of the array, as read.
enum Element {
    /// Its text, whole.
    Text,
    /// Longer than the cap: this many bytes, of which the first are kept.
    Long(u64),
}

/// Reads a JSON array's elements one at a time.
struct Elements<'a> {
    bytes: Bytes<'a>,
    cap: u64,
    started: bool,
    done: bool,
    /// The element's text (its first bytes, for a long one).
    text: Vec<u8>,
}

fn syntax(what: &str, line: u64) -> Problem {
    Problem::Format {
        detail: format!("not a JSON array of records: {what}"),
        line: Some(line),
    }
}

impl<'a> Elements<'a> {
    /// The next element and its first line, or `None` after the last.
    fn next(&mut self) -> Result<Option<(u64, Element)>, Problem> {
        if self.done {
            return Ok(None);
        }
        let first = if self.started {
            match self.bytes.next_token()? {
                Some(b',') => match self.bytes.next_token()? {
                    Some(b']') => return Err(syntax("trailing comma", self.bytes.line)),
                    other => other,
                },
                Some(b']') => return self.end(),
                Some(_) => return Err(syntax("expected `,` or `]`", self.bytes.line)),
                None => return Err(syntax("EOF while parsing a list", self.bytes.line)),
            }
        } else {
            self.started = true;
            match self.bytes.next_token()? {
                Some(b'[') => match self.bytes.next_token()? {
                    Some(b']') => return self.end(),
                    other => other,
                },
                Some(_) => return Err(syntax("expected `[`", self.bytes.line)),
                None => return Err(syntax("EOF while parsing a value", self.bytes.line)),
            }
        };
        let Some(first) = first else {
            return Err(syntax("EOF while parsing a list", self.bytes.line));
        };
        let line = self.bytes.line;
        self.text.clear();
        let (text, cap) = (&mut self.text, self.cap);
        let mut len = 0u64;
        // The element's text, up to the cap (then its first bytes).
        let mut keep = |b: &[u8]| {
            len += b.len() as u64;
            let room = (cap as usize).saturating_sub(text.len());
            text.extend_from_slice(&b[..b.len().min(room)]);
        };
        keep(&[first]);
        let eof = |line| syntax("EOF while parsing a value", line);
        match first {
            b'{' | b'[' | b'"' => {
                let mut depth = u32::from(first != b'"');
                let mut in_string = first == b'"';
                loop {
                    if !self.bytes.refill()? {
                        return Err(eof(self.bytes.line));
                    }
                    let found = if in_string {
                        self.bytes
                            .take(|b| memchr::memchr2(b'"', b'\\', b), &mut keep)
                    } else {
                        let structural = |b: &[u8]| {
                            b.iter()
                                .position(|c| matches!(c, b'"' | b'{' | b'}' | b'[' | b']'))
                        };
                        self.bytes.take(structural, &mut keep)
                    };
                    match found {
                        None => {}
                        // An escape: the next byte is text, whatever it is.
                        Some(b'\\') => match self.bytes.next()? {
                            Some(e) => keep(&[e]),
                            None => return Err(eof(self.bytes.line)),
                        },
                        Some(b'"') if in_string => {
                            in_string = false;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(b'"') => in_string = true,
                        Some(b'{' | b'[') => depth += 1,
                        Some(_) => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                }
            }
            _ => {
                // A scalar: up to the next separator.
                while let Some(b) = self.bytes.peek()? {
                    if matches!(b, b',' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.bytes.next()?;
                    keep(&[b]);
                }
            }
        }
        if len > cap {
            self.text.truncate(super::RAW_PREVIEW);
        }
        Ok(Some((
            line,
            if len > self.cap {
                Element::Long(len)
            } else {
                Element::Text
            },
        )))
    }

    fn end(&mut self) -> Result<Option<(u64, Element)>, Problem> {
        self.done = true;
        match self.bytes.next_token()? {
            None => Ok(None),
            Some(_) => Err(syntax("trailing characters", self.bytes.line)),
        }
    }
}

/// A JSON array of records.
pub(super) fn read_array<'a>(
    open: Open<'_, 'a>,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
) -> Result<(), Problem> {
    let elements = || -> Result<Elements<'a>, Problem> {
        Ok(Elements {
            bytes: Bytes::new(open()?),
            cap: dialect.max_record_bytes,
            started: false,
            done: false,
            text: Vec::new(),
        })
    };
    let invalid = |e: serde_json::Error, line: u64| Problem::Format {
        detail: format!("not a JSON array of records: {e} (in the record)"),
        line: Some(line),
    };
    // Pass 1: the header, and the whole array checked to be well formed.
    let mut names = Names::default();
    let mut pass = elements()?;
    while let Some((line, element)) = pass.next()? {
        if let Element::Text = element {
            let text = std::str::from_utf8(&pass.text).map_err(|e| {
                Problem::Encoding(format!(
                    "invalid UTF-8 at byte {} of the record at line {line}",
                    e.valid_up_to()
                ))
            })?;
            names.add(text).map_err(|e| invalid(e, line))?;
        }
    }
    names.check()?;
    visitor.header(&names.names)?;
    // Pass 2: the records.
    let mut pass = elements()?;
    let mut cells = Vec::new();
    while let Some((line, element)) = pass.next()? {
        let raw = String::from_utf8_lossy(&pass.text);
        match element {
            Element::Long(len) => {
                let (raw, detail) = oversized(&pass.text, len, dialect.max_record_bytes);
                visitor.broken(line, &raw, Reason::MalformedRecord, detail);
            }
            Element::Text => match serde_json::from_str::<RawObject>(&raw) {
                Ok(o) => {
                    names.cells(&o.0, &mut cells);
                    visitor.record(line, &raw, &OwnedCells(&cells));
                }
                Err(e) => visitor.broken(
                    line,
                    &raw,
                    Reason::MalformedRecord,
                    format!("not a JSON object: {e}"),
                ),
            },
        }
    }
    Ok(())
}

/// Lines of text, each held only while it is looked at; a line longer
/// than the cap is skipped, its first bytes kept.
struct Lines<'a> {
    input: Box<dyn Read + 'a>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    line: u64,
    cap: usize,
}

/// One line as read.
enum Line<'b> {
    Whole(&'b [u8]),
    /// Longer than the cap: its first bytes, and its length.
    Long(Vec<u8>, u64),
}

impl<'a> Lines<'a> {
    fn new(input: Box<dyn Read + 'a>, cap: u64) -> Self {
        Lines {
            input,
            buf: vec![0; 1 << 16],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
        }
    }

    fn fill(&mut self) -> Result<(), Problem> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(decode::carried(e)),
            }
            return Ok(());
        }
    }

    /// The next line (without its line end) and its number.
    fn next(&mut self) -> Result<Option<(u64, Line<'_>)>, Problem> {
        // Where the line is in the buffer, once found (the buffer is only
        // borrowed for the answer).
        let (at, len) = loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', pending) {
                let at = self.start;
                self.start += i + 1;
                break (at, i);
            }
            if self.eof {
                if pending.is_empty() {
                    return Ok(None);
                }
                let at = self.start;
                self.start = self.end;
                break (at, pending.len());
            }
            if pending.len() > self.cap {
                return self.skip_long().map(Some);
            }
            self.fill()?;
        };
        self.line += 1;
        let line = &self.buf[at..at + len];
        if len > self.cap {
            let head = line[..len.min(super::RAW_PREVIEW)].to_vec();
            return Ok(Some((self.line, Line::Long(head, len as u64))));
        }
        Ok(Some((self.line, Line::Whole(line))))
    }

    /// The line at `start` is longer than the cap: keeps its first bytes
    /// and reads on, holding nothing, to its end.
    fn skip_long(&mut self) -> Result<(u64, Line<'_>), Problem> {
        let head = self.buf[self.start..self.end][..super::RAW_PREVIEW.min(self.end - self.start)]
            .to_vec();
        let mut len = (self.end - self.start) as u64;
        self.start = self.end;
        self.line += 1;
        loop {
            self.fill()?;
            let pending = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', pending) {
                len += i as u64;
                self.start += i + 1;
                break;
            }
            len += pending.len() as u64;
            self.start = self.end;
            if self.eof {
                break;
            }
        }
        Ok((self.line, Line::Long(head, len)))
    }
}

/// The header of an NDJSON feed: every field name of every line that is
/// an object (a broken line is an exception, found again in the records'
/// pass), in the order first seen.
fn line_names(open: Open<'_, '_>, cap: u64) -> Result<Names, Problem> {
    let (names, _) = head_names(open, cap, u64::MAX)?;
    Ok(names)
}

/// The names of the feed's first lines, up to about `limit` bytes of
/// them, as [`line_names`] finds them; `true` when those were all its
/// lines (the header then is the whole feed's).
fn head_names(open: Open<'_, '_>, cap: u64, limit: u64) -> Result<(Names, bool), Problem> {
    let mut names = LineNames::default();
    let mut lines = Lines::new(open()?, cap);
    let mut read = 0u64;
    while let Some((_, line)) = lines.next()? {
        if read >= limit {
            return Ok((names.names, false));
        }
        match line {
            Line::Whole(b) => {
                read += b.len() as u64 + 1;
                names.line(trim_newline(b));
            }
            Line::Long(_, len) => read += len + 1,
        }
    }
    Ok((names.names, true))
}

/// The header pass's names, line by line. Most feeds repeat one set of
/// keys on every line, so a line is first scanned for its top-level keys
/// (no value parsed, no text checked): when they are, byte for byte and
/// in order, those of the last line parsed whole and found to be a valid
/// object, the line cannot name anything new and is not parsed. Any other
/// line is parsed as before ([`Names::add`]). Scanned keys are a superset
/// of what a parse of a broken line adds, so the header is the same
/// (tested against parsing every line).
#[derive(Default)]
struct LineNames {
    /// The names found, after those it started with.
    names: Names,
    /// The keys of the last line parsed whole, when it was a valid object
    /// whose keys were scanned.
    last: Option<Vec<u8>>,
    keys: Vec<u8>,
}

impl LineNames {
    /// Names found after those of `header`.
    fn after(header: &[String]) -> LineNames {
        LineNames {
            names: Names::of(header),
            ..LineNames::default()
        }
    }

    fn line(&mut self, b: &[u8]) {
        let scanned = flat_keys(b, &mut self.keys);
        if scanned && self.last.as_deref() == Some(&self.keys[..]) {
            return;
        }
        let valid = std::str::from_utf8(b)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .is_some_and(|s| matches!(self.names.add(s), Ok(true)));
        self.last = (valid && scanned).then(|| std::mem::take(&mut self.keys));
    }
}

/// The raw top-level keys of a one-line JSON object, each followed by a
/// `"` (which no raw key holds), into `keys`; `false` when the line is not
/// a flat object [`flat_fields`] is sure of (an escape, a value that is an
/// object or an array, anything out of place): the line is then parsed.
/// The line's text is not checked here: keys equal to those of a line
/// parsed whole are valid UTF-8, and any other line is parsed.
fn flat_keys(b: &[u8], keys: &mut Vec<u8>) -> bool {
    keys.clear();
    flat_json::flat_keys(b, |k| {
        keys.extend_from_slice(k);
        keys.push(b'"');
    })
}

/// One JSON object per line; blank lines are not records.
pub(super) fn read_lines<'a>(
    open: Open<'_, 'a>,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
) -> Result<(), Problem> {
    let cap = dialect.max_record_bytes;
    let names = line_names(open, cap)?;
    names.check()?;
    visitor.header(&names.names)?;
    let mut lines = Lines::new(open()?, cap);
    let mut cells = Vec::new();
    // Where each line starts in the decoded text (its line break counted).
    let mut offset = 0;
    while let Some((n, line)) = lines.next()? {
        match line {
            Line::Long(head, len) => {
                let (raw, detail) = oversized(&head, len, cap);
                visitor.broken(n, &raw, Reason::MalformedRecord, detail);
                offset += len + 1;
            }
            Line::Whole(b) => {
                one_line(&names, (n, offset), b, &mut cells, visitor);
                offset += b.len() as u64 + 1;
            }
        }
    }
    Ok(())
}

/// NDJSON read as [`read_lines`] reads it, but its lines handed on in
/// chunks of about `size` bytes of whole lines (a JSON text never holds a
/// raw line break, so every line end is a record boundary), to be parsed
/// elsewhere by [`parse_lines`].
pub(super) fn read_lines_chunked(
    open: Open<'_, '_>,
    dialect: &Dialect,
    chunks: &mut dyn Chunks,
    size: usize,
) -> Result<(), Problem> {
    let cap = dialect.max_record_bytes;
    // The header guessed from the first lines when the taker accepts a
    // guess (the parsers then report what the rest names), else read
    // from every line first.
    let header = match chunks.guess_bytes() {
        Some(limit) => match head_names(open, cap, limit)? {
            (head, true) => Some(head),
            (head, false) if head.check().is_ok() && chunks.guessed_header(&head.names)? => None,
            _ => Some(line_names(open, cap)?),
        },
        None => Some(line_names(open, cap)?),
    };
    if let Some(names) = header {
        names.check()?;
        chunks.header(&names.names)?;
    }
    let mut lines = Lines::new(open()?, cap);
    let mut body = Vec::with_capacity(size + (1 << 16));
    // The body's first line and where it starts in the decoded text.
    let mut at = At { line: 1, offset: 0 };
    while let Some((n, line)) = lines.next()? {
        match line {
            Line::Long(head, len) => {
                let next = At {
                    line: n + 1,
                    offset: at.offset + body.len() as u64 + len + 1,
                };
                chunks.records_owned(&mut body, at)?;
                at = next;
                let (raw, detail) = oversized(&head, len, cap);
                chunks.broken(n, &raw, Reason::MalformedRecord, detail);
            }
            Line::Whole(b) => {
                body.extend_from_slice(b);
                body.push(b'\n');
                if body.len() >= size {
                    let next = At {
                        line: n + 1,
                        offset: at.offset + body.len() as u64,
                    };
                    chunks.records_owned(&mut body, at)?;
                    at = next;
                }
            }
        }
    }
    chunks.records_owned(&mut body, at)
}

/// Parses whole NDJSON lines, the first at line `at.line`, given the
/// feed's header (a chunk of [`read_lines_chunked`]). Each record is
/// parsed [`LOOKAHEAD`] lines before it is visited and its cells given to
/// the visitor as a hint ([`Visitor::upcoming_cells`]), as the CSV and
/// Parquet readers do: what the visitor hears, and in which order, is
/// the same as line by line. Gives back the names the lines hold that
/// the header lacks (a guessed one), in the order first seen, as the
/// header pass would have added them: the chunk's lines that name
/// something new are read for names as that pass reads them.
pub(super) fn parse_lines(
    header: &[String],
    body: &[u8],
    at: At,
    visitor: &mut dyn Visitor,
) -> Vec<String> {
    let names = Names::of(header);
    let mut late = LineNames::after(header);
    let mut ahead: VecDeque<Parsed<'_>> = VecDeque::with_capacity(LOOKAHEAD + 1);
    // Cell buffers of visited records, used again.
    let mut spare: Vec<Vec<OwnedCell>> = Vec::new();
    // One check of the whole chunk instead of one per line; a chunk that
    // is not all UTF-8 is checked line by line, to say which line is not.
    let text = simdutf8::basic::from_utf8(body).ok();
    let mut start = 0;
    for (n, end) in (at.line..).zip(memchr::memchr_iter(b'\n', body)) {
        let offset = at.offset + start as u64;
        let cells = spare.pop().unwrap_or_default();
        // Cut at ASCII line breaks: `str` boundaries of a valid chunk.
        let line = (&body[start..=end], text.map(|t| &t[start..=end]));
        if let Some(p) = parse_line(&names, (n, offset), line, cells, Some(&mut late)) {
            if let Parsed::Record { cells, .. } = &p {
                visitor.upcoming_cells(&OwnedCells(cells));
            }
            ahead.push_back(p);
        }
        if ahead.len() > LOOKAHEAD
            && let Some(p) = ahead.pop_front()
        {
            spare.extend(p.visit(visitor));
        }
        start = end + 1;
    }
    for p in ahead {
        p.visit(visitor);
    }
    late.names.names.split_off(header.len())
}

/// One line of NDJSON, parsed but not yet visited.
enum Parsed<'b> {
    Record {
        n: u64,
        offset: u64,
        raw: &'b str,
        cells: Vec<OwnedCell>,
    },
    Broken {
        n: u64,
        raw: Cow<'b, str>,
        reason: Reason,
        detail: String,
    },
}

impl Parsed<'_> {
    /// Hands the line to the visitor; gives back a record's cell buffer.
    fn visit(self, visitor: &mut dyn Visitor) -> Option<Vec<OwnedCell>> {
        match self {
            Parsed::Record {
                n,
                offset,
                raw,
                cells,
            } => {
                visitor.record_at(n, offset, raw, &OwnedCells(&cells));
                Some(cells)
            }
            Parsed::Broken {
                n,
                raw,
                reason,
                detail,
            } => {
                visitor.broken(n, &raw, reason, detail);
                None
            }
        }
    }
}

/// One line of NDJSON (with its line break, if any), at line `n` and
/// byte `offset` of the decoded text (where its raw text can be read
/// again): a record, an exception, or nothing when blank.
fn one_line(
    names: &Names,
    at: (u64, u64),
    line: &[u8],
    cells: &mut Vec<OwnedCell>,
    visitor: &mut dyn Visitor,
) {
    if let Some(p) = parse_line(names, at, (line, None), std::mem::take(cells), None)
        && let Some(back) = p.visit(visitor)
    {
        *cells = back;
    }
}

/// One line as [`one_line`] reads it, its cells in `cells` (a buffer
/// used again); `None` when blank. `text` is the same line when it is
/// already known to be UTF-8. A line that may name what `names` lacks
/// (not all UTF-8 names nothing) is read for names by `late`, if given.
fn parse_line<'b>(
    names: &Names,
    (n, offset): (u64, u64),
    (line, text): (&'b [u8], Option<&'b str>),
    mut cells: Vec<OwnedCell>,
    late: Option<&mut LineNames>,
) -> Option<Parsed<'b>> {
    let bytes = trim_newline(line);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let checked = match text {
        // The same line, known to be UTF-8, less the same line break.
        Some(t) => Ok(&t[..bytes.len()]),
        None => std::str::from_utf8(bytes),
    };
    let flat = checked.ok().and_then(|s| names.flat_cells(s, &mut cells));
    // A line not all UTF-8 names nothing; a flat one whose keys are all
    // known, nothing new.
    if checked.is_ok()
        && flat != Some(false)
        && let Some(late) = late
    {
        late.line(bytes);
    }
    Some(match checked {
        Ok(s) if flat.is_some() => Parsed::Record {
            n,
            offset,
            raw: s,
            cells,
        },
        Ok(s) => match serde_json::from_str::<RawObject>(s) {
            Ok(o) => {
                names.cells(&o.0, &mut cells);
                Parsed::Record {
                    n,
                    offset,
                    raw: s,
                    cells,
                }
            }
            Err(e) => Parsed::Broken {
                n,
                raw: Cow::Borrowed(s),
                reason: Reason::MalformedRecord,
                detail: format!("not a JSON object: {e}"),
            },
        },
        Err(e) => Parsed::Broken {
            n,
            raw: String::from_utf8_lossy(bytes),
            reason: Reason::BadEncoding,
            detail: format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::read::{Cell, Cells};

    /// Records as text cells, by header position.
    #[derive(Default)]
    struct Seen {
        header: Vec<String>,
        rows: Vec<(u64, Vec<String>)>,
        broken: Vec<u64>,
        hints: usize,
    }

    impl Visitor for Seen {
        fn header(&mut self, names: &[String]) -> Result<(), Problem> {
            self.header = names.to_vec();
            Ok(())
        }
        fn record(&mut self, line: u64, _raw: &str, cells: &dyn Cells) {
            let text = |i| match cells.get(i) {
                Cell::Text(s) | Cell::Number(s) => s.to_string(),
                Cell::Int(i) => i.to_string(),
                Cell::Null => "null".into(),
                _ => "?".into(),
            };
            self.rows
                .push((line, (0..self.header.len()).map(text).collect()));
        }
        fn broken(&mut self, line: u64, _raw: &str, _reason: Reason, _detail: String) {
            self.broken.push(line);
        }
        fn upcoming_cells(&mut self, _cells: &dyn Cells) {
            self.hints += 1;
        }
    }

    fn lines(header: &[&str], body: &str) -> Seen {
        let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        let mut seen = Seen {
            header: header.clone(),
            ..Seen::default()
        };
        let at = At { line: 1, offset: 0 };
        parse_lines(&header, body.as_bytes(), at, &mut seen);
        seen
    }

    /// A name written with an escape is the same name; the first of a
    /// repeated one wins; records and broken lines keep their order and
    /// every record is hinted once, before it is visited.
    #[test]
    fn names_escaped_or_repeated_and_the_order_of_lines() {
        let body = concat!(
            "{\"sku\": \"A\", \"qty\": 1}\n",
            "{\"sk\\u0075\": \"B\", \"sku\": \"C\", \"qty\": 2}\n",
            "not json\n",
            "\n",
            "{\"qty\": 3, \"qty\": 4}\n",
            "{\"sku\": \"D\"}\n",
        );
        let seen = lines(&["sku", "qty"], body);
        let rows: Vec<(u64, Vec<&str>)> = seen
            .rows
            .iter()
            .map(|(n, c)| (*n, c.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            rows,
            [
                (1, vec!["A", "1"]),
                (2, vec!["B", "2"]),
                (5, vec!["null", "3"]),
                (6, vec!["D", "null"]),
            ]
        );
        assert_eq!(seen.broken, [3]);
        assert_eq!(seen.hints, 4);
    }

    /// A chunk checked as UTF-8 once: multi-byte text in a valid chunk
    /// is read as written, and a chunk with one bad line (checked line by
    /// line then) loses only that line, with the same numbers.
    #[test]
    fn utf8_is_checked_per_chunk_and_a_bad_line_found_alone() {
        let header = vec!["sku".to_string(), "qty".to_string()];
        let read = |body: &[u8]| {
            let mut seen = Seen {
                header: header.clone(),
                ..Seen::default()
            };
            parse_lines(&header, body, At { line: 7, offset: 0 }, &mut seen);
            seen
        };
        let valid = "{\"sku\": \"kopi-é\", \"qty\": 1}\r\n{\"sku\": \"燕窝\", \"qty\": 2}\n";
        let seen = read(valid.as_bytes());
        assert_eq!(
            seen.rows,
            [
                (7, vec!["kopi-é".to_string(), "1".to_string()]),
                (8, vec!["燕窝".to_string(), "2".to_string()]),
            ]
        );
        let mut bad = valid.as_bytes().to_vec();
        bad.extend_from_slice(b"{\"sku\": \"\xff\", \"qty\": 3}\n{\"sku\": \"C\", \"qty\": 4}\n");
        let seen = read(&bad);
        assert_eq!(seen.rows.len(), 3);
        assert_eq!(seen.rows[1].1[0], "燕窝");
        assert_eq!(seen.rows[2], (10, vec!["C".to_string(), "4".to_string()]));
        assert_eq!(seen.broken, [9]);
    }

    /// A repeated name in a wide header: the first one wins.
    #[test]
    fn a_wide_header_keeps_the_first_of_a_repeated_name() {
        let names: Vec<String> = (0..70).map(|i| format!("f{i}")).collect();
        let header: Vec<&str> = names.iter().map(String::as_str).collect();
        let body = "{\"f69\": \"x\", \"f69\": \"y\", \"f0\": \"z\"}\n";
        let seen = lines(&header, body);
        assert_eq!(seen.rows[0].1[69], "x");
        assert_eq!(seen.rows[0].1[0], "z");
        assert_eq!(seen.rows[0].1[1], "null");
    }

    /// A nested object's fields are named by path, at any depth, beside
    /// the object itself; an array is one cell.
    #[test]
    fn nested_fields_are_named_by_path() {
        let mut names = Names::default();
        let record = r#"{"id": "S1", "details": {"eta": "2026-12-10", "leg": {"hub": "CGK"}}, "histories": [{"s": 1}]}"#;
        assert!(names.add(record).unwrap());
        assert_eq!(
            names.names,
            [
                "id",
                "details",
                "details.eta",
                "details.leg",
                "details.leg.hub",
                "histories"
            ]
        );
        let header: Vec<&str> = names.names.iter().map(String::as_str).collect();
        let seen = lines(&header, &format!("{record}\n{{\"details\": null}}\n"));
        assert_eq!(seen.rows[0].1[2], "2026-12-10");
        assert_eq!(seen.rows[0].1[4], "CGK");
        assert_eq!(seen.rows[0].1[5], r#"[{"s": 1}]"#);
        assert_eq!(seen.rows[1].1[2], "null");
    }

    /// The flat-object fast path agrees with serde on every line it
    /// takes, and takes the plain ones: over random lines of good and
    /// hostile pieces (escapes, control characters, bad numbers, nested
    /// values, repeated and unknown keys, stray bytes), a line it reads
    /// parses with serde to the same cells.
    #[test]
    fn the_flat_path_reads_lines_as_serde_does() {
        const KEYS: &[&str] = &["sku", "qty", "as_of", "x", "sk\\u0075", "q\\\"y", "é"];
        const VALUES: &[&str] = &[
            "\"A-1\"",
            "\"\"",
            "\"two words\"",
            "\"ünï\"",
            "\"tab\there\"",
            "\"q\\\"\"",
            "\"\\u0041\"",
            "0",
            "-0",
            "12",
            "01",
            "1.",
            "1.5",
            "-1.5e+3",
            "1e400",
            "-",
            "1E5",
            "0.0e-0",
            ".5",
            "+1",
            "null",
            "true",
            "false",
            "nul",
            "tru",
            "{\"a\": 1}",
            "[1, 2]",
            "{}",
            "\"x\" \"y\"",
        ];
        const GAPS: &[&str] = &["", " ", "  ", "\t", "\r"];
        let header = ["sku", "qty", "as_of", "é"];
        let mut names = Names::default();
        for (i, name) in header.iter().enumerate() {
            names.index.insert(name.to_string(), i);
            names.names.push(name.to_string());
        }
        let mut rng = fastrand::Rng::with_seed(19);
        let (mut fast, mut total) = (0, 0);
        let (mut by_serde, mut by_path) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let gap = |rng: &mut fastrand::Rng| GAPS[rng.usize(..GAPS.len())];
            let mut line = format!("{}{{", gap(&mut rng));
            let fields = rng.usize(0..5);
            for f in 0..fields {
                if f > 0 {
                    line.push_str(if rng.u8(..) < 5 { " " } else { "," });
                }
                let key = KEYS[rng.usize(..KEYS.len())];
                let value = VALUES[rng.usize(..VALUES.len())];
                let colon = if rng.u8(..) < 5 { "" } else { ":" };
                let g = [gap(&mut rng), gap(&mut rng), gap(&mut rng)];
                line.push_str(&format!("{}\"{key}\"{}{colon}{}{value}", g[0], g[1], g[2]));
            }
            if rng.u8(..) < 5 {
                line.push(',');
            }
            line.push_str(&format!("{}}}{}", gap(&mut rng), gap(&mut rng)));
            if rng.u8(..) < 5 {
                line.push_str(["x", "{}", "\u{1}"][rng.usize(..3)]);
            }
            total += 1;
            if names.flat_cells(&line, &mut by_path).is_none() {
                continue;
            }
            fast += 1;
            let parsed = serde_json::from_str::<RawObject>(&line);
            let o = parsed
                .unwrap_or_else(|e| panic!("the path took a line serde refuses: {line} ({e})"));
            names.cells(&o.0, &mut by_serde);
            let texts = |cells: &[OwnedCell]| {
                cells
                    .iter()
                    .map(|c| format!("{:?}", c.as_cell()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(texts(&by_path), texts(&by_serde), "{line}");
        }
        // Both kinds of line are common in this mix.
        assert!(
            fast > total / 20 && fast < total * 9 / 10,
            "{fast} of {total}"
        );
    }

    /// A header guessed from a feed's first lines, then the names each
    /// chunk's parse reports beyond it, taken in chunk order: the header
    /// pass's over the whole feed, name for name and in order, over
    /// hostile lines in many orders, guesses of every length and chunks
    /// of every size.
    #[test]
    fn names_reported_by_chunks_complete_a_guessed_header() {
        let mut rng = fastrand::Rng::with_seed(19);
        let mut extra: Vec<&[u8]> = HOSTILE.to_vec();
        extra.extend([
            &br#"{"a": 1, "k": 2, "b": 3}"#[..],
            br#"{"z": {"y": 1, "x": {"w": 2}}, "a": 2}"#,
            br#"{"a":1,"b":2,"c":3,"d":{"e":1,"n":2}}"#,
            br#"{"ma": 1, "a": 2}"#,
            br#"{"k": 1, "a": 2, "v": 3 "#,
            br#"{"k": 1, "u": [1], "t": 3}"#,
        ]);
        for round in 0..400 {
            let order: Vec<&[u8]> = (0..rng.usize(1..40))
                .map(|_| extra[rng.usize(..extra.len())])
                .collect();
            let mut whole = LineNames::default();
            for b in &order {
                whole.line(b);
            }
            let guessed = if round == 0 {
                0
            } else {
                rng.usize(..=order.len())
            };
            let mut guess = LineNames::default();
            for b in &order[..guessed] {
                guess.line(b);
            }
            let mut header = guess.names.names.clone();
            let mut rest = &order[..];
            let mut seen = Seen::default();
            while !rest.is_empty() {
                let (chunk, after) = rest.split_at(rng.usize(1..=rest.len()));
                let mut body = chunk.join(&b'\n');
                body.push(b'\n');
                let at = At { line: 1, offset: 0 };
                for name in parse_lines(&guess.names.names, &body, at, &mut seen) {
                    if !header.contains(&name) {
                        header.push(name);
                    }
                }
                rest = after;
            }
            assert_eq!(
                header, whole.names.names,
                "{order:?} guessed from {guessed}"
            );
        }
    }

    /// Lines that make reading names hard: escapes, broken JSON, nested
    /// objects and arrays, repeated names, invalid UTF-8, blanks.
    const HOSTILE: &[&[u8]] = &[
        br#"{"a": 1, "b": "x"}"#,
        br#"{"a": 2, "b": "y\"z"}"#,
        br#"{"a": 3, "b": 12abc, "c": 1}"#,
        br#"{"a": 3, "b": 4, "c": 5 "d": 6}"#,
        br#"{"a": 3, "b": 4, "c": 5, "d": 6}"#,
        br#"{"a":1,"b":2,"c":3,"d":{"e":1}}"#,
        br#"{"a":1,"b":2,"c":3,"d":[{"f":1}]}"#,
        br#"{"a\u0062": 1, "b": 2}"#,
        br#"{"a": 1, "a": 2, "g": 3}"#,
        br#"{"a": 1, "b": 2}{"h": 1}"#,
        br#"{"a": 1, "b": "\"}"#,
        b"{\"a\": 1, \"b\": \"\xff\", \"i\": 2}",
        b"{\"a\": 1, \"b\": \"\xff\"}",
        b"{\"a\": 1, \"\xff\": 2}",
        br#"[1, 2]"#,
        br#"  {  }  "#,
        br#""#,
        br#"{"a": 1, "b": 2, "c": 3, "j": tru}"#,
        br#"{"a": 1, "b": 2, "c": 3, "j": true}"#,
    ];

    /// The header pass skips a line whose keys repeat the last valid
    /// line's: over hostile lines in many orders, the header is the one a
    /// parse of every line gives.
    #[test]
    fn skipped_lines_name_nothing_new() {
        let lines = HOSTILE;
        let mut state = 1u64;
        for round in 0..400 {
            let mut order: Vec<&[u8]> = Vec::new();
            for _ in 0..30 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1442695040888963407);
                order.push(lines[(state >> 33) as usize % lines.len()]);
            }
            if round == 0 {
                order = lines.to_vec();
            }
            let mut fast = LineNames::default();
            let mut every = Names::default();
            for b in &order {
                fast.line(b);
                if let Ok(s) = std::str::from_utf8(b)
                    && !s.trim().is_empty()
                {
                    let _ = every.add(s);
                }
            }
            assert_eq!(fast.names.names, every.names, "{order:?}");
        }
        let mut keys = Vec::new();
        assert!(flat_keys(
            br#"{"as_of":"2026-11-19T20:06:00+07:00","quantity":18424}"#,
            &mut keys
        ));
        assert_eq!(keys, b"as_of\"quantity\"");
    }
}

#[cfg(test)]
mod cells_tests {
    use super::*;

    /// The plain way to take an object's cells: a fresh buffer, each
    /// value made anew, fields written last to first so the first of a
    /// repeated name wins.
    fn reference(names: &Names, fields: &[(Cow<'_, str>, &RawValue)]) -> Vec<OwnedCell> {
        fn cell(v: &RawValue) -> OwnedCell {
            let s = v.get().trim();
            if s == "null" {
                OwnedCell::Null
            } else if s.starts_with('"') {
                serde_json::from_str::<String>(s).map_or(OwnedCell::Null, OwnedCell::Text)
            } else if s.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
                OwnedCell::Number(s.to_string())
            } else {
                OwnedCell::Text(s.to_string())
            }
        }
        fn fill(
            names: &Names,
            fields: &[(Cow<'_, str>, &RawValue)],
            prefix: &str,
            out: &mut [OwnedCell],
        ) {
            for (k, v) in fields.iter().rev() {
                let name = format!("{prefix}{k}");
                if let Some(&i) = names.index.get(&name) {
                    out[i] = cell(v);
                }
                if names.nested
                    && let Some(inner) = as_object(v)
                    && let Ok(o) = serde_json::from_str::<RawObject>(inner)
                {
                    fill(names, &o.0, &format!("{name}."), out);
                }
            }
        }
        let mut out = vec![OwnedCell::Null; names.names.len()];
        fill(names, fields, "", &mut out);
        out
    }

    /// Cells taken into one buffer line after line (fields missing, types
    /// changing, repeated and nested names, escapes) are the cells the
    /// plain way takes from each line alone.
    #[test]
    fn cells_written_in_place_are_the_plain_cells() {
        let lines = [
            r#"{"a": 1, "b": "x", "c": null}"#,
            r#"{"b": "y\"z", "a": "1"}"#,
            r#"{"a": 1.5e3, "a": "first?", "c": true}"#,
            r#"{"c": [1, 2], "b": {"d": "in", "e": 2}, "b.d": "flat"}"#,
            r#"{"b.d": "flat first", "b": {"d": "nested"}}"#,
            r#"{"a": "\u00e9t\u00e9", "b": "caf\u00e9 \\ done", "c": -0}"#,
            r#"{"a": "", "b": "", "c": ""}"#,
            r#"{}"#,
            r#"{"z": 1}"#,
            r#"{"a": false, "c": {"x": 1}}"#,
            r#"{"a": "Ñoño 咖啡", "b": 12, "c": "12"}"#,
        ];
        let mut names = Names::default();
        for l in &lines {
            names.add(l).unwrap();
        }
        let mut state = 7u64;
        let mut out = Vec::new();
        for _ in 0..2_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let line = lines[(state >> 33) as usize % lines.len()];
            let o: RawObject = serde_json::from_str(line).unwrap();
            names.cells(&o.0, &mut out);
            assert_eq!(out, reference(&names, &o.0), "{line}");
        }
    }
}

//! A feed's bytes on their way to a reader: opened without blocking on
//! what is not a regular file, decompressed with a size cap, decoded to
//! UTF-8 with the byte-order mark dropped, all as streams, so memory
//! never follows the size of the file.
//!
//! A reason a stream cannot go on travels as an [`io::Error`] carrying a
//! [`Problem`] (see [`Problem::from_read`]).

use std::io::{self, Read};

use std::path::{Path, PathBuf};

use crate::error::{Action, Problem};
use crate::pipeline::Encoding;

fn refuse(p: Problem) -> io::Error {
    p.into_io()
}

/// A file's bytes whose read errors name the file (what was being done to
/// it, its path), so whatever reads them further down can report them.
pub struct Named<R> {
    inner: R,
    action: Action,
    path: PathBuf,
}

pub fn named<R: Read>(inner: R, action: Action, path: &Path) -> Named<R> {
    Named {
        inner,
        action,
        path: path.to_path_buf(),
    }
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| Problem::from_read(e, self.action, &self.path).into_io())
    }
}

/// The problem a read error carries (every stream's errors do, see
/// [`Named`]); any other as a broken read.
pub fn carried(e: io::Error) -> Problem {
    if e.get_ref().is_some_and(|i| i.is::<Problem>()) {
        Problem::from_read(e, Action::Read, Path::new(""))
    } else {
        Problem::format(format!("cannot read the file: {e}"))
    }
}

/// Stops with `what` once more than `limit` bytes went through.
pub struct Capped<R> {
    inner: R,
    limit: u64,
    seen: u64,
    what: &'static str,
}

impl<R: Read> Capped<R> {
    /// `what` completes "... is more than max_bytes = N bytes", e.g. "the
    /// decompressed body".
    pub fn new(inner: R, limit: u64, what: &'static str) -> Self {
        Capped {
            inner,
            limit,
            seen: 0,
            what,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if self.seen > self.limit {
            return Err(refuse(Problem::TooLarge {
                what: self.what.to_string(),
                size: None,
                limit: self.limit,
            }));
        }
        Ok(n)
    }
}

/// A gzip stream (members back to back), decompressed, at most `limit`
/// bytes of output; a corrupt or truncated stream is refused as such.
pub fn gunzip<'a, R: Read + 'a>(inner: R, limit: u64) -> impl Read + 'a {
    struct Gz<R: Read>(flate2::read::MultiGzDecoder<io::BufReader<R>>);
    impl<R: Read> Read for Gz<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf).map_err(|e| {
                if e.get_ref().is_some_and(|i| i.is::<Problem>()) {
                    e
                } else {
                    refuse(Problem::format(format!(
                        "cannot decompress gzip (truncated or corrupt): {e}"
                    )))
                }
            })
        }
    }
    Capped::new(
        Gz(flate2::read::MultiGzDecoder::new(io::BufReader::new(inner))),
        limit,
        "the decompressed body",
    )
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Text in `encoding` as UTF-8, without its byte-order mark. UTF-8 goes
/// through untouched (invalid sequences are found per record, so one bad
/// row does not fail the file); Windows-1252 and Latin-1 are decoded as
/// they come; UTF-16 must start with a byte-order mark and be valid.
pub fn utf8<'a, R: Read + 'a>(inner: R, encoding: Encoding) -> Box<dyn Read + 'a> {
    match encoding {
        Encoding::Utf8 => Box::new(Utf8Bom {
            inner,
            head: Vec::new(),
            started: false,
        }),
        other => Box::new(Decoding {
            inner,
            encoding: other,
            decoder: None,
            input: vec![0; 1 << 16],
            start: 0,
            end: 0,
            eof: false,
            finished: false,
            out: Vec::new(),
            taken: 0,
        }),
    }
}

/// UTF-8 text: the byte-order mark dropped, a UTF-16 one refused.
struct Utf8Bom<R> {
    inner: R,
    /// The first bytes read, while the mark is looked for; then handed
    /// out before anything else.
    head: Vec<u8>,
    started: bool,
}

impl<R: Read> Read for Utf8Bom<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.started {
            let mut first = [0u8; 3];
            let mut n = 0;
            while n < 3 {
                match self.inner.read(&mut first[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let first = &first[..n];
            if first.starts_with(&[0xFF, 0xFE]) || first.starts_with(&[0xFE, 0xFF]) {
                return Err(refuse(Problem::Encoding(
                    "the file starts with a UTF-16 byte-order mark but the feed is declared utf-8; set `encoding = \"utf-16\"`".into(),
                )));
            }
            if first != UTF8_BOM {
                self.head = first.to_vec();
            }
            self.started = true;
        }
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Text in a single-byte encoding or UTF-16, decoded as it is read.
struct Decoding<R> {
    inner: R,
    encoding: Encoding,
    /// Made once the byte-order mark (if any) is known.
    decoder: Option<encoding_rs::Decoder>,
    input: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    finished: bool,
    out: Vec<u8>,
    taken: usize,
}

impl<R: Read> Decoding<R> {
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end < self.input.len() {
            match self.inner.read(&mut self.input[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    if self.end >= 4 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Made on the first bytes (Latin-1 needs none).
    fn decoder(&mut self) -> io::Result<()> {
        if self.decoder.is_some() || self.encoding == Encoding::Latin1 {
            return Ok(());
        }
        let bytes = &self.input[self.start..self.end];
        let decoder = match self.encoding {
            Encoding::Utf16 => {
                let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) else {
                    return Err(refuse(Problem::Encoding(
                        "a utf-16 feed must start with a byte-order mark".into(),
                    )));
                };
                self.start += bom;
                enc.new_decoder_without_bom_handling()
            }
            _ => encoding_rs::WINDOWS_1252.new_decoder_without_bom_handling(),
        };
        self.decoder = Some(decoder);
        Ok(())
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.taken < self.out.len() {
                let n = (self.out.len() - self.taken).min(buf.len());
                buf[..n].copy_from_slice(&self.out[self.taken..self.taken + n]);
                self.taken += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            self.fill()?;
            self.decoder()?;
            let last = self.eof;
            let input = &self.input[self.start..self.end];
            self.out.clear();
            self.taken = 0;
            if let Some(decoder) = self.decoder.as_mut() {
                let need = decoder
                    .max_utf8_buffer_length_without_replacement(input.len())
                    .unwrap_or(input.len() * 3 + 16);
                self.out.resize(need, 0);
                let (result, read, written) =
                    decoder.decode_to_utf8_without_replacement(input, &mut self.out, last);
                self.out.truncate(written);
                self.start += read;
                if let encoding_rs::DecoderResult::Malformed(..) = result {
                    return Err(refuse(Problem::Encoding(
                        "invalid UTF-16 in the file".into(),
                    )));
                }
            } else {
                // Latin-1: every byte is the code point of its value (which
                // encoding_rs's windows-1252 is not for 0x80-0x9F).
                for &b in input {
                    let mut tmp = [0u8; 2];
                    self.out
                        .extend_from_slice(char::from(b).encode_utf8(&mut tmp).as_bytes());
                }
                self.start = self.end;
            }
            if last && self.start >= self.end {
                self.finished = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut r: impl Read) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(|e| {
            Problem::from_read(e, crate::error::Action::Read, std::path::Path::new("x")).to_string()
        })?;
        Ok(out)
    }

    /// Streamed decoding gives what decoding the whole text gives, read
    /// a few bytes at a time.
    #[test]
    fn streamed_text_is_the_whole_text_decoded() {
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = "Kode;Gudang\nKN-é;Gudang Sûrabaya €\n";
        let mut le = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(
            all(utf8(Dribble(&le), Encoding::Utf16)).unwrap(),
            text.as_bytes()
        );
        let (cp, _, _) = encoding_rs::WINDOWS_1252.encode("Sûrabaya €");
        assert_eq!(
            all(utf8(Dribble(&cp), Encoding::Windows1252)).unwrap(),
            "Sûrabaya €".as_bytes()
        );
        assert_eq!(
            all(utf8(Dribble(b"\xe9\x80"), Encoding::Latin1)).unwrap(),
            "é\u{80}".as_bytes()
        );
        let mut bom = UTF8_BOM.to_vec();
        bom.extend_from_slice(b"a,b\n");
        assert_eq!(all(utf8(Dribble(&bom), Encoding::Utf8)).unwrap(), b"a,b\n");
        assert_eq!(all(utf8(Dribble(b"ab"), Encoding::Utf8)).unwrap(), b"ab");
        assert!(
            all(utf8(Dribble(b"\xFF\xFEa\0"), Encoding::Utf8))
                .unwrap_err()
                .contains("UTF-16 byte-order mark")
        );
        assert!(
            all(utf8(Dribble(b"a\0b\0"), Encoding::Utf16))
                .unwrap_err()
                .contains("must start with a byte-order mark")
        );
        // An unpaired surrogate.
        assert_eq!(
            all(utf8(Dribble(b"\xFF\xFE\x00\xD8a\0"), Encoding::Utf16)).unwrap_err(),
            "invalid UTF-16 in the file"
        );
    }

    #[test]
    fn gzip_output_stops_at_the_cap() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'x'; 100_000]).unwrap();
        let packed = gz.finish().unwrap();
        assert_eq!(all(gunzip(&packed[..], 100_000)).unwrap().len(), 100_000);
        assert_eq!(
            all(gunzip(&packed[..], 99_999)).unwrap_err(),
            "the decompressed body is more than max_bytes = 99999 bytes"
        );
        assert!(
            all(gunzip(&packed[..packed.len() / 2], 1 << 20))
                .unwrap_err()
                .starts_with("cannot decompress gzip (truncated or corrupt)")
        );
    }
}

//! Progress bars on a terminal, nothing elsewhere.
//!
//! Bars are drawn only when stderr is a terminal, logs are text and not
//! `--quiet`; log lines are printed above the bars (never through them), and
//! finished bars are cleared so the terminal ends with the log and summary.

use std::io::Write;
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static MULTI: OnceLock<MultiProgress> = OnceLock::new();

/// Turns progress bars on or off for the process (call once, early).
pub fn init(enabled: bool) {
    let target = if enabled {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let _ = MULTI.set(MultiProgress::with_draw_target(target));
}

fn multi() -> &'static MultiProgress {
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::hidden()))
}

/// A spinner counting rows staged for one source.
pub fn rows(source: &str) -> ProgressBar {
    let bar = multi().add(ProgressBar::no_length());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:>20} {human_pos} rows staged ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(source.to_string());
    bar
}

/// A bar of bytes downloaded for one source (`len` from Content-Length).
pub fn bytes(source: &str, len: Option<u64>) -> ProgressBar {
    let bar = multi().add(ProgressBar::new(len.unwrap_or(0)));
    let template = if len.is_some() {
        "{spinner} {prefix:>20} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})"
    } else {
        "{spinner} {prefix:>20} {bytes} ({bytes_per_sec})"
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(source.to_string());
    bar
}

/// A `tracing` writer that prints above the progress bars. With `escape`
/// (text logs going to a file or a scheduler), control characters inside
/// a line are shown escaped: a feed's header with a quoted line break or an
/// ANSI sequence cannot forge a log line.
pub struct LogWriter {
    pub escape: bool,
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let shown = if self.escape {
            // One event is one line: only its last line break is its own.
            let body = text.strip_suffix('\n').unwrap_or(&text);
            let mut line = crate::error::escape_controls(body, false).into_owned();
            if body.len() < text.len() {
                line.push('\n');
            }
            std::borrow::Cow::Owned(line)
        } else {
            text
        };
        multi().suspend(|| std::io::stderr().write_all(shown.as_bytes()))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter {
            escape: self.escape,
        }
    }
}

//! `siap sniff FILE`: a ready `[[stock]]` or `[[shipments]]` block for a
//! supplier's or provider's sample export, and (with `--pipeline`) that
//! block staged against the pipeline's catalog and SKU map, so the user
//! sees at once whether it is right.
//!
//! [`detect`] finds the container and dialect and reads a sample with
//! staging's own readers; [`guess`] maps the header to canonical columns
//! and finds the number marks, the date formats that read every value
//! (with staging's own parsers) and the status words. A day/month order
//! that both readings fit is never guessed: the block names both and the
//! command exits 3.

mod detect;
mod guess;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml_edit::{Array, InlineTable, Item, Table, value};

use super::inspect::{self, Inspection};
use crate::error::{Error, ExitCode, Result};
use crate::pipeline::{Dialect, Encoding, Format, SourceKind};

/// Staged rows kept in `--json` output (the text shows the counts).
const STAGED_ROWS: usize = 1_000;

/// What `siap sniff` was asked.
#[derive(Debug, Clone)]
pub struct SniffArgs {
    pub file: PathBuf,
    /// Stock or shipments; guessed from the columns when absent.
    pub kind: Option<SourceKind>,
    /// Stage the block with this pipeline's catalog and SKU map.
    pub pipeline: Option<PathBuf>,
    pub id: Option<String>,
    /// The supplier of a stock feed, or the provider of a shipment feed.
    pub owner: Option<String>,
    /// The warehouse of a stock feed without a warehouse column.
    pub default_warehouse: Option<String>,
    pub date: Option<chrono::NaiveDate>,
}

/// What was found, and the block.
#[derive(Debug, Serialize)]
pub struct Sniffed {
    pub file: String,
    pub kind: String,
    pub format: String,
    pub gzip: bool,
    pub encoding: String,
    pub header: Vec<String>,
    /// canonical column → the file's header name.
    pub columns: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    /// Day-first and month-first both read every value of a column.
    pub ambiguous: bool,
    /// The block, ready for the pipeline file.
    pub block: String,
    /// The block staged with `--pipeline` (not when ambiguous).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged: Option<Inspection>,
}

impl Sniffed {
    /// The exit code: 3 when the block needs a decision.
    pub fn exit_code(&self) -> ExitCode {
        if self.ambiguous {
            ExitCode::Config
        } else {
            ExitCode::Success
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("# warning: {w}\n"));
        }
        out.push_str(&self.block);
        if let Some(s) = &self.staged {
            out.push('\n');
            out.push_str(&format!(
                "# staged: {} record(s) read, {} staged, {} rejected\n",
                s.records_read,
                s.rows_staged,
                s.rejected.len()
            ));
            for r in s.rejected.iter().take(10) {
                out.push_str(&format!(
                    "#   line {}: {} ({}): {} | {}\n",
                    r.line,
                    r.reason,
                    r.field,
                    r.detail,
                    crate::error::escape_controls(&r.raw, true)
                ));
            }
        }
        out
    }
}

pub fn sniff(args: &SniffArgs) -> Result<Sniffed> {
    let problem = |m: String| Error::Usage(format!("`{}`: {m}", args.file.display()));
    let (bytes, gzip) = detect::load(&args.file).map_err(problem)?;
    if bytes.is_empty() {
        return Err(problem("the file is empty".into()));
    }
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = detect::format(&bytes, &name);
    let mut dialect = Dialect::default_for(format, false);
    let sample = match format {
        Format::Csv => csv_sample(&bytes, &mut dialect),
        Format::Xlsx => xlsx_sample(&bytes, &mut dialect),
        _ => detect::sample(&bytes, &dialect),
    }
    .map_err(problem)?;
    if sample.header.is_empty() {
        return Err(problem("no header found".into()));
    }
    let kind = args.kind.unwrap_or_else(|| kind_of(&sample.header));
    let mut found = Found::new(kind, &sample);
    found.values(&sample, &mut dialect);
    let id = args.id.clone().unwrap_or_else(|| slug(&name));
    let block = found.block(&id, args, &name, gzip, &dialect);
    let mut sniffed = Sniffed {
        file: args.file.display().to_string(),
        kind: kind.as_str().to_string(),
        format: format.as_str().to_string(),
        gzip,
        encoding: encoding_name(dialect.encoding).to_string(),
        header: sample.header.clone(),
        columns: found
            .columns
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        warnings: found.warnings,
        ambiguous: found.ambiguous,
        block,
        staged: None,
    };
    if let (Some(p), false) = (&args.pipeline, sniffed.ambiguous) {
        if sniffed.block.contains("CHANGE-ME") {
            sniffed.warnings.push(
                "not staged: the block has a CHANGE-ME value (give --supplier or --provider, or --default-warehouse)".into(),
            );
        } else {
            sniffed.staged = Some(stage_with(p, &id, args, &sniffed)?);
        }
    }
    Ok(sniffed)
}

fn csv_sample(bytes: &[u8], dialect: &mut Dialect) -> std::result::Result<detect::Sample, String> {
    dialect.encoding = detect::encoding(bytes);
    let text = detect::text(bytes, dialect.encoding);
    let (delimiter, skip) = detect::csv_layout(&text);
    dialect.delimiter = delimiter;
    dialect.skip_lines = skip;
    detect::sample(bytes, dialect)
}

/// The sheet and header row naming the most canonical columns (title rows
/// above the header and other sheets skipped).
fn xlsx_sample(bytes: &[u8], dialect: &mut Dialect) -> std::result::Result<detect::Sample, String> {
    let mut best: Option<(usize, String, usize, detect::Sample)> = None;
    for sheet in detect::sheets(bytes) {
        for row in 1..=10 {
            dialect.sheet = Some(sheet.clone());
            dialect.header_row = row;
            let Ok(s) = detect::sample(bytes, dialect) else {
                continue;
            };
            let score = guess::known_names(&s.header);
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, sheet.clone(), row, s));
            }
        }
    }
    let (_, sheet, row, sample) = best.ok_or("no sheet could be read")?;
    dialect.sheet = Some(sheet);
    dialect.header_row = row;
    Ok(sample)
}

/// Shipments when the header names a shipment id, or a status and an ETA.
fn kind_of(header: &[String]) -> SourceKind {
    let m = guess::map_columns(header, &["shipment_id", "status", "eta"]);
    if m.contains_key("shipment_id") || (m.contains_key("status") && m.contains_key("eta")) {
        SourceKind::Shipments
    } else {
        SourceKind::Stock
    }
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Utf8 => "utf-8",
        Encoding::Windows1252 => "windows-1252",
        Encoding::Latin1 => "iso-8859-1",
        Encoding::Utf16 => "utf-16",
    }
}

/// The file as the block names it: relative to the pipeline's folder
/// (where the pipeline file resolves it) when there is one.
fn shown_location(file: &Path, pipeline: Option<&Path>) -> String {
    let relative = pipeline.and_then(|p| {
        let dir = std::path::absolute(p.parent()?).ok()?;
        pathdiff::diff_paths(std::path::absolute(file).ok()?, dir)
    });
    relative
        .unwrap_or_else(|| file.to_path_buf())
        .display()
        .to_string()
}

/// A source id from a file name: `Laporan Stok 2026-11-27.csv` →
/// `laporan-stok-2026-11-27`.
fn slug(name: &str) -> String {
    let stem = name.split('.').next().unwrap_or(name);
    let mut out = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "sniffed".into()
    } else {
        out
    }
}

/// What the sample says, column by column.
struct Found {
    kind: SourceKind,
    /// canonical → header name, where the name is not the canonical one.
    columns: BTreeMap<&'static str, String>,
    /// canonical → header name, every mapped column.
    mapped: BTreeMap<&'static str, String>,
    statuses: Vec<(String, Option<crate::model::Status>)>,
    warnings: Vec<String>,
    ambiguous: bool,
    /// For an ambiguous order: the key's two candidates, as comments.
    choices: Vec<String>,
}

impl Found {
    fn new(kind: SourceKind, sample: &detect::Sample) -> Found {
        let wanted: Vec<&'static str> = kind.canonical_columns().iter().map(|(c, _)| *c).collect();
        let mapped = guess::map_columns(&sample.header, &wanted);
        let columns = mapped
            .iter()
            .filter(|(c, h)| !h.trim().eq_ignore_ascii_case(c))
            .map(|(c, h)| (*c, h.clone()))
            .collect();
        let mut warnings = Vec::new();
        for (c, required) in kind.canonical_columns() {
            let optional_here =
                matches!(*c, "supplier_id" | "warehouse") && kind == SourceKind::Stock;
            if *required && !optional_here && !mapped.contains_key(c) {
                warnings.push(format!(
                    "no column found for `{c}`: name it in `columns` (the header is {})",
                    sample
                        .header
                        .iter()
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if sample.broken > 0 {
            warnings.push(format!(
                "{} record(s) of the sample cannot be split into the header's columns",
                sample.broken
            ));
        }
        Found {
            kind,
            columns,
            mapped,
            statuses: Vec::new(),
            warnings,
            ambiguous: false,
            choices: Vec::new(),
        }
    }

    /// Number marks, date and timestamp formats, status words.
    fn values(&mut self, sample: &detect::Sample, dialect: &mut Dialect) {
        let mapped = self.mapped.clone();
        let col = |c: &str| mapped.get(c).map(|h| sample.column(h)).unwrap_or_default();
        let quantities = col("quantity");
        let marks = guess::number_marks(&quantities, dialect.delimiter == b';');
        dialect.decimal = marks.decimal;
        dialect.thousands = marks.thousands;
        if let Some(why) = marks.ambiguous {
            self.ambiguous = true;
            self.warnings.push(format!(
                "`quantity`: {why}; siap will not guess: set `decimal` and `thousands` in the block"
            ));
        }
        let blank = quantities.iter().filter(|v| v.trim().is_empty()).count();
        if marks.read + blank < quantities.len() {
            self.warnings.push(format!(
                "{} quantity value(s) of the sample read with no number marks (they will be rejected)",
                quantities.len() - marks.read - blank
            ));
        }
        let ts = if self.kind == SourceKind::Stock {
            "as_of"
        } else {
            "updated_at"
        };
        let t = guess::formats(&col(ts), true);
        self.formats_found(ts, &t);
        dialect.timestamp_formats = t.formats;
        if self.kind == SourceKind::Shipments {
            let mut dates = col("etd");
            dates.extend(col("eta"));
            let d = guess::formats(&dates, false);
            self.formats_found("etd/eta", &d);
            dialect.date_formats = d.formats;
            self.statuses = guess::statuses(&col("status"));
            for (w, s) in &self.statuses {
                if s.is_none() {
                    self.warnings.push(format!(
                        "status word `{w}` means nothing to siap: map it in `statuses` (booked, departed, in_transit, customs_hold, arrived, cancelled)"
                    ));
                }
            }
        }
    }

    fn formats_found(&mut self, column: &str, f: &guess::Formats) {
        if let Some(examples) = &f.ambiguous {
            self.ambiguous = true;
            let key = if column == "etd/eta" {
                "date_format"
            } else {
                "timestamp_format"
            };
            for (order, formats) in ["day first", "month first"].iter().zip(&f.choices) {
                let list = formats
                    .iter()
                    .map(|f| value(f.as_str()).to_string())
                    .collect::<Vec<_>>();
                self.choices.push(format!(
                    "# {key} = [{}]   # {order}",
                    list.join(", ").trim()
                ));
            }
            self.warnings.push(format!(
                "`{column}`: day-first (%d/%m/%Y) and month-first (%m/%d/%Y) both read every value ({}); siap will not guess: set the format in the block",
                examples.join(", ")
            ));
        }
        if f.unread_count > 0 {
            self.warnings.push(format!(
                "`{column}`: {} value(s) of the sample read with no format (they will be rejected), e.g. {}",
                f.unread_count,
                f.unread.join(", ")
            ));
        }
    }

    /// The block, as TOML.
    fn block(&self, id: &str, args: &SniffArgs, name: &str, gzip: bool, d: &Dialect) -> String {
        let mut t = Table::new();
        t["id"] = value(id);
        let owner_key = if self.kind == SourceKind::Stock {
            "supplier"
        } else {
            "provider"
        };
        let needs_owner =
            self.kind == SourceKind::Shipments || !self.mapped.contains_key("supplier_id");
        match &args.owner {
            Some(o) => t[owner_key] = value(o.as_str()),
            None if needs_owner => t[owner_key] = value("CHANGE-ME"),
            None => {}
        }
        t["location"] = value(shown_location(&args.file, args.pipeline.as_deref()));
        let inferred = Format::infer(name);
        if inferred.map(|(f, _)| f) != Some(d.format) {
            t["format"] = value(d.format.as_str());
        }
        if gzip && !inferred.is_some_and(|(_, gz)| gz) {
            t["gzip"] = value(true);
        }
        if d.encoding != Encoding::Utf8 {
            t["encoding"] = value(encoding_name(d.encoding));
        }
        if d.delimiter != b',' {
            t["delimiter"] = value((d.delimiter as char).to_string());
        }
        if d.skip_lines > 0 {
            t["skip_lines"] = value(d.skip_lines as i64);
        }
        if let (Format::Xlsx, Some(s)) = (d.format, &d.sheet) {
            t["sheet"] = value(s.as_str());
            if d.header_row != 1 {
                t["header_row"] = value(d.header_row as i64);
            }
        }
        if d.decimal != '.' {
            t["decimal"] = value(d.decimal.to_string());
        }
        if let Some(th) = d.thousands {
            t["thousands"] = value(th.to_string());
        }
        for (key, formats) in [
            ("timestamp_format", &d.timestamp_formats),
            ("date_format", &d.date_formats),
        ] {
            match formats.len() {
                0 => {}
                1 => t[key] = value(formats[0].as_str()),
                _ => t[key] = value(formats.iter().map(String::as_str).collect::<Array>()),
            }
        }
        // A stock feed without a warehouse column names its one warehouse.
        if self.kind == SourceKind::Stock && !self.mapped.contains_key("warehouse") {
            let w = args.default_warehouse.as_deref().unwrap_or("CHANGE-ME");
            t["default_warehouse"] = value(w);
        }
        if !self.columns.is_empty() {
            let mut cols = InlineTable::new();
            for (c, _) in self.kind.canonical_columns() {
                if let Some(h) = self.columns.get(c) {
                    cols.insert(*c, h.as_str().into());
                }
            }
            t["columns"] = value(cols);
        }
        let known: Vec<_> = self
            .statuses
            .iter()
            .filter_map(|(w, s)| s.map(|s| (w, s)))
            .collect();
        if !known.is_empty() {
            let mut st = InlineTable::new();
            for (w, s) in known {
                st.insert(w, s.as_str().into());
            }
            t["statuses"] = value(st);
        }
        let mut arr = toml_edit::ArrayOfTables::new();
        arr.push(t);
        let mut doc = toml_edit::DocumentMut::new();
        doc[self.kind.as_str()] = Item::ArrayOfTables(arr);
        let mut text = doc.to_string();
        for c in &self.choices {
            text.push_str(c);
            text.push('\n');
        }
        text
    }
}

/// Stages the block with the pipeline's catalog and SKU map: the block,
/// its location made absolute (and its id made unique in the pipeline),
/// is added to a copy of the pipeline file beside it (so the file's
/// relative paths still resolve), and inspected as `siap inspect` does.
fn stage_with(
    pipeline: &Path,
    id: &str,
    args: &SniffArgs,
    sniffed: &Sniffed,
) -> Result<Inspection> {
    let text = std::fs::read_to_string(pipeline).map_err(|source| Error::PipelineRead {
        path: pipeline.to_path_buf(),
        source,
    })?;
    let taken: Vec<String> = crate::pipeline::load(pipeline)?
        .sources
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let id = (0..)
        .map(|n| {
            if n == 0 {
                id.to_string()
            } else {
                format!("{id}-sniffed-{n}")
            }
        })
        .find(|i| !taken.contains(i))
        .unwrap_or_default();
    let absolute = std::path::absolute(&args.file)
        .map_err(|e| Error::Internal(format!("`{}`: {e}", args.file.display())))?;
    let mut block: toml_edit::DocumentMut = sniffed
        .block
        .parse()
        .map_err(|e| Error::Internal(format!("the sniffed block does not parse: {e}")))?;
    if let Some(t) = block
        .get_mut(&sniffed.kind)
        .and_then(|i| i.as_array_of_tables_mut())
        .and_then(|a| a.get_mut(0))
    {
        t["id"] = value(id.as_str());
        t["location"] = value(absolute.display().to_string());
    }
    let dir = pipeline.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".siap-sniff-")
        .suffix(".toml")
        .tempfile_in(dir)
        .map_err(|e| {
            Error::Internal(format!("cannot write beside `{}`: {e}", pipeline.display()))
        })?;
    std::fs::write(tmp.path(), format!("{text}\n{block}"))
        .map_err(|e| Error::Internal(format!("cannot write `{}`: {e}", tmp.path().display())))?;
    inspect::inspect(tmp.path(), &id, STAGED_ROWS, args.date)
}

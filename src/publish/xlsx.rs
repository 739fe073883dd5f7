//! The workbook for spreadsheet users: Readiness, By supplier, Shipments,
//! Exceptions and About.
//!
//! Numbers are numeric cells with thousands separators, dates are date
//! cells, every text cell is written as a string (so `=HYPERLINK(...)` in a
//! product name is shown, never run). Headers are frozen, filters are on,
//! widths are fitted, and NOT_READY rows and each flag are highlighted by
//! conditional formatting, so an analyst's own edits re-highlight. The
//! document date is the run date, so a rerun gives the same bytes.

use std::sync::atomic::{AtomicUsize, Ordering};

use polars::prelude::*;
use rust_xlsxwriter::{
    Chart, ChartType, Color, ConditionalFormatFormula, DocProperties, ExcelDateTime, Format,
    FormatBorder, Workbook, Worksheet, XlsxError, utility::column_number_to_name,
};

use super::words::{READINESS_COLUMNS, Sheet, Words};
use crate::aggregate::Tables;
use crate::pipeline::{Campaign, Language};
use crate::workdir::manifest::SourceRecord;

struct Formats {
    header: Format,
    int: Format,
    ratio: Format,
    date: Format,
    bad: Format,
    flag: Format,
}

fn formats(words: Words) -> Formats {
    Formats {
        header: Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0xDDEBF7))
            .set_border_bottom(FormatBorder::Thin),
        int: Format::new().set_num_format("#,##0"),
        ratio: Format::new().set_num_format("0.0%"),
        date: Format::new().set_num_format(words.date_format()),
        bad: Format::new()
            .set_background_color(Color::RGB(0xFFC7CE))
            .set_font_color(Color::RGB(0x9C0006)),
        flag: Format::new()
            .set_bold()
            .set_font_color(Color::RGB(0x9C0006)),
    }
}

fn excel_date(days: i32) -> Option<ExcelDateTime> {
    let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)? + chrono::Duration::days(i64::from(days));
    use chrono::Datelike;
    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).ok()
}

/// Excel's limit on one cell's text, in UTF-16 code units.
pub const MAX_CELL_TEXT: usize = 32_767;

/// What ends a text cut to [`MAX_CELL_TEXT`]; the CSV and Parquet tables
/// keep the whole text.
pub const CUT_MARK: &str = "…[cut]";

/// Text as one cell can hold it: whole when it fits, else cut at Excel's
/// limit and ended with [`CUT_MARK`] (counted in `cuts`). A longer text
/// fails the whole workbook in the writer, and with it the run.
pub fn cell_text<'t>(text: &'t str, cuts: &AtomicUsize) -> std::borrow::Cow<'t, str> {
    // Each UTF-16 unit takes at least one byte of UTF-8.
    if text.len() <= MAX_CELL_TEXT || text.encode_utf16().count() <= MAX_CELL_TEXT {
        return std::borrow::Cow::Borrowed(text);
    }
    cuts.fetch_add(1, Ordering::Relaxed);
    let room = MAX_CELL_TEXT - CUT_MARK.encode_utf16().count();
    let mut units = 0;
    let end = text
        .char_indices()
        .find(|(_, c)| {
            units += c.len_utf16();
            units > room
        })
        .map_or(text.len(), |(i, _)| i);
    std::borrow::Cow::Owned(format!("{}{CUT_MARK}", &text[..end]))
}

/// Excel's rows per sheet, the header row included.
pub const EXCEL_ROWS: usize = 1_048_576;

/// Rows written to a sheet at a time: each slice's cells are typed for the
/// sheet, written and dropped (the sheet flushes each row to disk), so a
/// sheet of a million rows costs no more memory than one slice.
const SLICE_ROWS: usize = 32_768;

/// One sheet's rows: its first rows (or all of them), how many its table
/// has, and the table's file name for the note a capped sheet starts with.
pub struct SheetRows<'a> {
    pub frame: &'a DataFrame,
    pub total: u64,
    pub table: &'static str,
}

impl SheetRows<'_> {
    /// The whole table, as many rows as Excel allows.
    pub fn whole<'a>(frame: &'a DataFrame, table: &'static str) -> SheetRows<'a> {
        SheetRows {
            frame,
            total: frame.height() as u64,
            table,
        }
    }

    /// The rows the sheet shows: a capped sheet loses one row to its note.
    fn shown(&self) -> usize {
        let room = if self.capped() {
            EXCEL_ROWS - 2
        } else {
            EXCEL_ROWS - 1
        };
        self.frame.height().min(room)
    }

    fn capped(&self) -> bool {
        self.frame.height() as u64 > (EXCEL_ROWS - 1) as u64
            || (self.frame.height() as u64) < self.total
    }

    /// The sheet row (0-based) of the header: 1 under a cap's note.
    fn header_row(&self) -> u32 {
        u32::from(self.capped())
    }

    /// What a capped sheet says in its first row (and the About sheet).
    fn note(&self, words: Words) -> Option<String> {
        self.capped()
            .then(|| words.capped(self.shown() as u64, self.total, self.table))
    }
}

/// The most products the readiness chart shows: beyond this a column chart
/// is unreadable (and heavy), and the table says more.
pub const MAX_CHART_PRODUCTS: usize = 1_000;

/// How a column shows on a sheet, by its type.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Ratio,
    Bool,
    Date,
    Text,
}

impl Kind {
    fn of(dtype: &DataType) -> Kind {
        match dtype {
            DataType::Int64 | DataType::Int32 | DataType::UInt64 | DataType::UInt32 => Kind::Int,
            DataType::Float64 => Kind::Ratio,
            DataType::Boolean => Kind::Bool,
            DataType::Date => Kind::Date,
            _ => Kind::Text,
        }
    }

    /// The column's number format, if it has one.
    fn format(self, f: &Formats) -> Option<&Format> {
        match self {
            Kind::Int => Some(&f.int),
            Kind::Ratio => Some(&f.ratio),
            Kind::Date => Some(&f.date),
            Kind::Bool | Kind::Text => None,
        }
    }
}

/// One column's values, typed for the sheet.
enum Values {
    Int(Vec<Option<f64>>),
    Ratio(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Date(Vec<Option<ExcelDateTime>>),
    Text(StringChunked),
}

impl Values {
    fn of(s: &Series) -> Result<Values, XlsxError> {
        let e = |e: PolarsError| XlsxError::ParameterError(e.to_string());
        Ok(match Kind::of(s.dtype()) {
            Kind::Int => Values::Int(
                s.cast(&DataType::Float64)
                    .map_err(e)?
                    .f64()
                    .map_err(e)?
                    .iter()
                    .collect(),
            ),
            Kind::Ratio => Values::Ratio(s.f64().map_err(e)?.iter().collect()),
            Kind::Bool => Values::Bool(s.bool().map_err(e)?.iter().collect()),
            Kind::Date => Values::Date(
                s.date()
                    .map_err(e)?
                    .physical()
                    .iter()
                    .map(|x| x.and_then(excel_date))
                    .collect(),
            ),
            Kind::Text => Values::Text(
                s.cast(&DataType::String)
                    .map_err(e)?
                    .str()
                    .map_err(e)?
                    .clone(),
            ),
        })
    }

    /// The width a cell's shown text needs, in characters.
    fn chars(&self, i: usize) -> usize {
        match self {
            // Thousands separators: one every three digits.
            Values::Int(v) => v[i].map_or(0, |x| {
                let digits = format!("{:.0}", x.abs()).len();
                digits + (digits - 1) / 3 + usize::from(x < 0.0)
            }),
            Values::Ratio(v) => v[i].map_or(0, |x| format!("{x:.4}").len()),
            Values::Bool(v) => v[i].map_or(0, |_| 5),
            Values::Date(v) => v[i].as_ref().map_or(0, |_| 10),
            Values::Text(v) => v.get(i).map_or(0, |t| t.chars().count()),
        }
    }

    /// Writes one cell; its number format comes from its column's.
    fn write(
        &self,
        ws: &mut Worksheet,
        row: u32,
        c: u16,
        i: usize,
        cuts: &AtomicUsize,
    ) -> Result<(), XlsxError> {
        match self {
            Values::Int(v) => {
                if let Some(x) = v[i] {
                    ws.write_number(row, c, x)?;
                }
            }
            Values::Ratio(v) => {
                if let Some(x) = v[i] {
                    ws.write_number(row, c, x)?;
                }
            }
            Values::Bool(v) => {
                if let Some(x) = v[i] {
                    ws.write_boolean(row, c, x)?;
                }
            }
            Values::Date(v) => {
                if let Some(d) = &v[i] {
                    ws.write_datetime(row, c, d)?;
                }
            }
            // Always a string cell: never a formula, whatever it starts with.
            Values::Text(v) => {
                if let Some(x) = v.get(i) {
                    ws.write_string(row, c, cell_text(x, cuts))?;
                }
            }
        }
        Ok(())
    }
}

/// A sheet's header row and its columns' number formats. The workbook
/// numbers its formats in the order first used: every sheet's header is
/// written, in sheet order, before any sheet's rows, so the numbers (and
/// the file) never depend on which thread writes first.
fn write_header(
    ws: &mut Worksheet,
    rows: &SheetRows,
    f: &Formats,
    words: Words,
) -> Result<(), XlsxError> {
    let (df, top) = (rows.frame, rows.header_row());
    if let Some(note) = rows.note(words) {
        ws.write_string_with_format(0, 0, note, &f.flag)?;
    }
    for (c, col) in df.columns().iter().enumerate() {
        // A column format rather than one per cell: the writer looks a
        // cell's format up by hashing all of it, which cost more than
        // writing the cell; the file shows the same (and rows an analyst
        // adds get the column's format too).
        if let Some(format) = Kind::of(col.dtype()).format(f) {
            ws.set_column_format(c as u16, format)?;
        }
    }
    for (c, col) in df.columns().iter().enumerate() {
        let header = words.header(col.name().as_str());
        ws.write_string_with_format(top, c as u16, header, &f.header)?;
    }
    Ok(())
}

/// Writes a sheet's rows under its header ([`write_header`]): typed
/// cells, frozen header, filter, widths fitted to the header and the
/// first 500 rows (at most 60 characters). Rows are written in order, a
/// slice at a time, so the sheet may be a constant-memory one that
/// flushes each finished row to disk (strings inline, no shared string
/// table to build).
fn write_frame(
    ws: &mut Worksheet,
    rows: &SheetRows,
    cuts: &AtomicUsize,
    words: Words,
) -> Result<(), XlsxError> {
    let (df, top, n) = (rows.frame, rows.header_row(), rows.shown());
    let typed = |from: usize, len: usize| -> Result<Vec<Values>, XlsxError> {
        df.slice(from as i64, len)
            .columns()
            .iter()
            .map(|c| Values::of(c.as_materialized_series()))
            .collect()
    };
    let first = typed(0, n.min(500))?;
    for (c, (v, col)) in first.iter().zip(df.columns()).enumerate() {
        let widest = (0..n.min(500))
            .map(|i| v.chars(i))
            .chain(std::iter::once(
                words.header(col.name()).chars().count() + 2,
            ))
            .max()
            .unwrap_or(8);
        ws.set_column_width(c as u16, (widest.min(60) + 1) as f64)?;
    }
    drop(first);
    for from in (0..n).step_by(SLICE_ROWS) {
        let len = SLICE_ROWS.min(n - from);
        let columns = typed(from, len)?;
        for i in 0..len {
            let row = top + 1 + (from + i) as u32;
            for (c, v) in columns.iter().enumerate() {
                v.write(ws, row, c as u16, i, cuts)?;
            }
        }
    }
    let last_col = df.width().saturating_sub(1) as u16;
    ws.set_freeze_panes(top + 1, 0)?;
    ws.autofilter(top, 0, top + n as u32, last_col)?;
    Ok(())
}

fn col_letter(df: &DataFrame, name: &str) -> Option<String> {
    df.get_column_index(name)
        .map(|i| column_number_to_name(i as u16))
}

/// The readiness sheet: the table, set to print landscape one page wide,
/// NOT_READY rows and raised flags highlighted, and the chart of the first
/// `chart_rows` products (none when 0).
fn readiness_sheet(
    ws: &mut Worksheet,
    rows: &SheetRows,
    f: &Formats,
    chart_rows: u32,
    cuts: &AtomicUsize,
    words: Words,
) -> Result<(), XlsxError> {
    let r = rows.frame;
    let (n, top) = (rows.shown() as u32, rows.header_row());
    // The first data row, as Excel numbers rows (from 1).
    let first = top + 2;
    write_frame(ws, rows, cuts, words)?;
    // Printed (or exported to PDF): landscape, one page wide.
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    let last_col = r.width().saturating_sub(1) as u16;
    if n > 0 {
        if let Some(status) = col_letter(r, "status") {
            let rule = ConditionalFormatFormula::new()
                .set_rule(format!("=${status}{first}=\"{}\"", words.status("NOT_READY")).as_str())
                .set_format(&f.bad);
            ws.add_conditional_format(top + 1, 0, top + n, last_col, &rule)?;
        }
        for flag in ["short_of_minimum", "misses_window"] {
            if let (Some(i), Some(l)) = (r.get_column_index(flag), col_letter(r, flag)) {
                let rule = ConditionalFormatFormula::new()
                    .set_rule(format!("={l}{first}=TRUE").as_str())
                    .set_format(&f.flag);
                ws.add_conditional_format(top + 1, i as u16, top + n, i as u16, &rule)?;
            }
        }
    }
    if chart_rows > 0 {
        let n = chart_rows;
        // Stock and window units against the minimum, per product.
        let (Some(pid), Some(stock), Some(window)) = (
            r.get_column_index("product_id"),
            r.get_column_index("stock_units"),
            r.get_column_index("window_units"),
        ) else {
            return Err(XlsxError::ParameterError(
                "readiness lacks its unit columns".into(),
            ));
        };
        let mut chart = Chart::new(ChartType::Column);
        chart.title().set_name(words.chart_title());
        let (sheet, about) = (words.sheet(Sheet::Readiness), words.sheet(Sheet::About));
        for (name, c) in [("stock_units", stock), ("window_units", window)] {
            chart
                .add_series()
                .set_name(words.header(name))
                .set_categories((sheet, 1, pid as u16, n, pid as u16))
                .set_values((sheet, 1, c as u16, n, c as u16));
        }
        let mut line = Chart::new(ChartType::Line);
        line.add_series()
            .set_name("minimum")
            .set_categories((sheet, 1, pid as u16, n, pid as u16))
            .set_values((about, 1, 4, n, 4));
        chart.combine(&line);
        ws.insert_chart(n + 3, 0, &chart)?;
    }
    Ok(())
}

/// What the workbook is made of.
pub struct Book<'a> {
    pub tables: &'a Tables,
    /// The first rows of the shipments table, and its size.
    pub shipments: SheetRows<'a>,
    /// The first rows of the exceptions table, and its size.
    pub exceptions: SheetRows<'a>,
    pub sources: &'a [SourceRecord],
    pub campaign: &'a Campaign,
    pub run_date: chrono::NaiveDate,
    pub language: Language,
    /// The rows the Shipments and Exceptions sheets show at most.
    pub detail_rows: usize,
}

/// The readiness table as its sheet shows it: in Indonesian, statuses
/// and reasons in Indonesian; in English, as it is.
fn localized(book: &Book) -> Result<DataFrame, XlsxError> {
    let r = &book.tables.readiness;
    let words = Words(book.language);
    if book.language == Language::En {
        return Ok(r.clone());
    }
    let e = |e: PolarsError| XlsxError::ParameterError(e.to_string());
    let status: StringChunked = r
        .column("status")
        .and_then(|c| c.str().cloned())
        .map_err(e)?
        .iter()
        .map(|s| s.map(|s| words.status(s).to_string()))
        .collect();
    let reasons = crate::aggregate::reason::reasons(r, book.campaign, book.language)
        .map_err(|err| XlsxError::ParameterError(err.to_string()))?;
    let mut out = r.clone();
    out.with_column(status.with_name("status".into()).into_series().into())
        .map_err(e)?;
    out.with_column(Series::new("reason".into(), reasons).into())
        .map_err(e)?;
    Ok(out)
}

pub fn workbook(book: &Book, tempdir: &std::path::Path) -> Result<Vec<u8>, XlsxError> {
    use chrono::Datelike;
    let words = Words(book.language);
    let (campaign, run_date) = (book.campaign, book.run_date);
    let f = formats(words);
    // Text cells cut to Excel's limit, on every sheet.
    let cuts = AtomicUsize::new(0);
    let mut wb = Workbook::new();
    // Low-memory sheets spill rows here: inside the run's own folder.
    wb.set_tempdir(tempdir)?;
    // Fast compression: the workbook is rebuilt every run, and level 1
    // costs a third of the default's time for a slightly larger file.
    wb.set_zip_compression_level(1);
    let created = ExcelDateTime::from_ymd(
        run_date.year() as u16,
        run_date.month() as u8,
        run_date.day() as u8,
    )?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("{} readiness {}", campaign.name, run_date))
            .set_author("siap")
            .set_creation_datetime(&created),
    );

    let readiness = localized(book)?;
    let readiness_rows = SheetRows::whole(&readiness, "readiness");
    let supplier_rows = SheetRows::whole(&book.tables.supplier_readiness, "supplier_readiness");
    // The chart only when it stays readable.
    let n = readiness_rows.shown();
    let chart_rows = if n <= MAX_CHART_PRODUCTS { n as u32 } else { 0 };
    // The other large sheets are made standalone (constant memory too)
    // and written on a second thread while this one writes the readiness
    // sheet: the sheets' XML is most of the workbook's time. Each thread
    // gets about half the rows.
    let mut sheet = |s: Sheet| -> Result<Worksheet, XlsxError> {
        // Constant memory: each finished row goes to a temporary file.
        let mut ws = wb.new_worksheet_with_constant_memory()?;
        ws.set_name(words.sheet(s))?;
        Ok(ws)
    };
    let mut by_supplier = sheet(Sheet::BySupplier)?;
    let mut shipments_ws = sheet(Sheet::Shipments)?;
    let mut exceptions_ws = sheet(Sheet::Exceptions)?;
    let readiness_ws = wb.add_worksheet_with_constant_memory()?;
    readiness_ws.set_name(words.sheet(Sheet::Readiness))?;
    write_header(readiness_ws, &readiness_rows, &f, words)?;
    write_header(&mut by_supplier, &supplier_rows, &f, words)?;
    write_header(&mut shipments_ws, &book.shipments, &f, words)?;
    write_header(&mut exceptions_ws, &book.exceptions, &f, words)?;
    std::thread::scope(|scope| -> Result<(), XlsxError> {
        let other = scope.spawn(|| -> Result<(), XlsxError> {
            write_frame(&mut by_supplier, &supplier_rows, &cuts, words)?;
            write_frame(&mut shipments_ws, &book.shipments, &cuts, words)
        });
        let here = readiness_sheet(readiness_ws, &readiness_rows, &f, chart_rows, &cuts, words)
            .and_then(|()| write_frame(&mut exceptions_ws, &book.exceptions, &cuts, words));
        let other = other.join().expect("writing a sheet does not panic");
        here.and(other)
    })?;
    for ws in [by_supplier, shipments_ws, exceptions_ws] {
        wb.push_worksheet(ws);
    }
    let notes = [
        (Sheet::Readiness, &readiness_rows),
        (Sheet::BySupplier, &supplier_rows),
        (Sheet::Shipments, &book.shipments),
        (Sheet::Exceptions, &book.exceptions),
    ]
    .into_iter()
    .filter_map(|(s, rows)| rows.note(words).map(|n| (words.sheet_label(s), n)))
    .collect();
    about_sheet(wb.add_worksheet(), book, notes, &f, chart_rows, &cuts)?;
    wb.save_to_buffer()
}

/// The About sheet: the campaign's rules, how many rows each sheet holds,
/// every readiness column's meaning, the sources; and the minimum beside
/// each charted product (the chart's line).
fn about_sheet(
    ws: &mut Worksheet,
    book: &Book,
    notes: Vec<(String, String)>,
    f: &Formats,
    chart_rows: u32,
    cuts: &AtomicUsize,
) -> Result<(), XlsxError> {
    let words = Words(book.language);
    let campaign = book.campaign;
    let label = |k: &'static str| words.label(k).to_string();
    ws.set_name(words.sheet(Sheet::About))?;
    let bold = Format::new().set_bold();
    let mut lines: Vec<(String, String)> = vec![
        (label("campaign"), campaign.name.clone()),
        (label("run date"), book.run_date.to_string()),
        (label("minimum units"), campaign.minimum_units.to_string()),
        (
            label("window"),
            words.window(campaign.opens, campaign.closes),
        ),
        (label("timezone"), campaign.timezone.name().to_string()),
        (String::new(), String::new()),
        (
            label("sheet rows"),
            words.sheet_rows(EXCEL_ROWS as u64, book.detail_rows as u64),
        ),
    ];
    lines.extend(notes);
    lines.push((String::new(), String::new()));
    lines.push((label("Readiness column"), label("meaning")));
    lines.extend(READINESS_COLUMNS.iter().map(|c| words.column(c)));
    lines.push((String::new(), String::new()));
    lines.push((label("Source"), words.source_heading().to_string()));
    lines.extend(book.sources.iter().map(|s| {
        (
            s.id.clone(),
            format!(
                "{} · {} · {} / {} / {}",
                s.location, s.sha256, s.records_read, s.accepted, s.rejected
            ),
        )
    }));
    let cut = cuts.load(Ordering::Relaxed);
    if cut > 0 {
        lines.push((String::new(), String::new()));
        lines.push((
            label("cut cells"),
            words.cut_cells(cut, MAX_CELL_TEXT, CUT_MARK),
        ));
    }
    for (row, (k, v)) in lines.iter().enumerate() {
        if !k.is_empty() {
            ws.write_string_with_format(row as u32, 0, cell_text(k, cuts), &bold)?;
            ws.write_string(row as u32, 1, cell_text(v, cuts))?;
        }
    }
    // Chart helper: the minimum beside each product row (column E).
    if chart_rows > 0 {
        ws.write_string_with_format(0, 4, words.label("minimum (chart)"), &bold)?;
        for i in 1..=chart_rows {
            ws.write_number_with_format(i, 4, campaign.minimum_units as f64, &f.int)?;
        }
    }
    ws.set_autofit_max_width(900);
    ws.autofit();
    Ok(())
}

//! Stage: bytes + dialect → canonical, typed, validated rows.
//!
//! Staging parses; it never fetches (that is `fetch`) and never sums
//! (that is `aggregate`). Each feed is read record by record, every field is
//! checked, and a record that fails any check becomes one row of the
//! exceptions table instead of vanishing. Reference tables (catalog, SKU
//! map) are stricter: a bad row there fails the run, because every feed row
//! is judged against them.

pub mod exception;
pub mod latest;
pub mod read;
pub mod reference;
pub mod values;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use hashbrown::HashMap;

pub use exception::{Exception, Reason};
pub use reference::{Catalog, Product, SkuMap};

use crate::pipeline::{Source, SourceKind};
use read::{Cell, Cells, Visitor};
use values::{NumberError, TimeParser, Written, parse_quantity};

/// Shipment statuses (SPEC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Booked,
    Departed,
    InTransit,
    CustomsHold,
    Arrived,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Booked => "booked",
            Status::Departed => "departed",
            Status::InTransit => "in_transit",
            Status::CustomsHold => "customs_hold",
            Status::Arrived => "arrived",
            Status::Cancelled => "cancelled",
        }
    }

    /// The canonical names exactly as written.
    pub fn exact(s: &str) -> Option<Self> {
        Some(match s {
            "booked" => Status::Booked,
            "departed" => Status::Departed,
            "in_transit" => Status::InTransit,
            "customs_hold" => Status::CustomsHold,
            "arrived" => Status::Arrived,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    /// The canonical names, after trimming and case folding.
    pub fn parse(s: &str) -> Option<Self> {
        match values::fold(s).as_str() {
            "canceled" => Some(Status::Cancelled),
            folded => Status::exact(folded),
        }
    }
}

/// What staging needs besides the feed itself.
pub struct Context<'a> {
    pub run_date: NaiveDate,
    pub timezone: Tz,
    pub catalog: &'a Catalog,
    pub sku_map: &'a SkuMap,
}

impl Context<'_> {
    /// The first instant after the run date ends, in the campaign's
    /// timezone: an `as_of` at or after it is in the future.
    fn as_of_limit(&self) -> i64 {
        let next = self.run_date.succ_opt().unwrap_or(self.run_date);
        let midnight = next.and_time(chrono::NaiveTime::MIN);
        match self.timezone.from_local_datetime(&midnight) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.timestamp_micros()
            }
            chrono::LocalResult::None => midnight.and_utc().timestamp_micros(),
        }
    }
}

/// Strings seen in one feed, stored once.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
    pub strings: Vec<Box<str>>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    pub fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

/// A staged stock row. Strings are ids in the feed's interner.
#[derive(Debug, Clone, Copy)]
pub struct StockRow {
    pub supplier: u32,
    pub sku: u32,
    pub warehouse: u32,
    pub quantity: i64,
    /// Microseconds since the epoch, UTC.
    pub as_of: i64,
    /// Index into the catalog.
    pub product: u32,
    /// quantity × pack size.
    pub units: i64,
    pub line: u64,
}

/// A staged shipment row.
#[derive(Debug, Clone, Copy)]
pub struct ShipmentRow {
    pub shipment: u32,
    pub supplier: u32,
    pub sku: u32,
    pub quantity: i64,
    pub status: Status,
    pub etd: Option<NaiveDate>,
    pub eta: Option<NaiveDate>,
    pub updated_at: i64,
    pub product: u32,
    pub units: i64,
    pub line: u64,
}

#[derive(Debug, Clone)]
pub enum Rows {
    Stock(Vec<StockRow>),
    Shipments(Vec<ShipmentRow>),
}

/// One feed after staging.
#[derive(Debug, Clone)]
pub struct StagedFeed {
    pub source_id: String,
    pub kind: SourceKind,
    /// Records read (blank lines are not records).
    pub records: u64,
    pub rows: Rows,
    pub exceptions: Vec<Exception>,
    pub strings: Interner,
    /// Header columns that map to nothing canonical.
    pub extra_columns: Vec<String>,
    /// Each canonical column and the feed column it was read from (`None`:
    /// absent, e.g. supplied by the pipeline file).
    pub column_map: Vec<(&'static str, Option<String>)>,
    /// Wall time spent staging this feed.
    pub stage_ms: u64,
}

/// Stages one feed (stock or shipments). An `Err` fails the source.
pub fn stage_feed(source: &Source, bytes: &[u8], ctx: &Context) -> Result<StagedFeed, String> {
    let mut v = FeedVisitor::new(source, ctx);
    read::read(bytes, &source.dialect, &mut v)?;
    Ok(v.finish())
}

/// Column positions for the canonical fields, found from the header.
pub(crate) fn map_columns(
    source: &Source,
    names: &[String],
    optional_ok: &[&str],
) -> Result<(Vec<Option<usize>>, Vec<String>), String> {
    for (i, n) in names.iter().enumerate() {
        if !n.is_empty() && names[..i].contains(n) {
            return Err(format!("the header names column `{n}` twice"));
        }
    }
    let mut idx = Vec::new();
    let mut used = Vec::new();
    let mut missing = Vec::new();
    for &(canonical, required) in source.kind.canonical_columns() {
        let want = source.feed_column(canonical);
        let found = names
            .iter()
            .position(|n| n == want)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(want)));
        if let Some(i) = found {
            used.push(i);
        } else if required && !optional_ok.contains(&canonical) {
            if want == canonical {
                missing.push(format!("`{want}`"));
            } else {
                missing.push(format!("`{want}` ({canonical})"));
            }
        }
        idx.push(found);
    }
    if !missing.is_empty() {
        return Err(format!(
            "missing required column {}; the header has: {}",
            missing.join(", "),
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let extra = names
        .iter()
        .enumerate()
        .filter(|(i, n)| !used.contains(i) && !n.is_empty())
        .map(|(_, n)| n.clone())
        .collect();
    Ok((idx, extra))
}

/// A cell as text, for text fields.
/// Borrowed for text cells (the hot path: no allocation per field).
fn cell_text(c: Cell<'_>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match c {
        Cell::Null => Cow::Borrowed(""),
        Cell::Text(s) | Cell::Number(s) => Cow::Borrowed(s.trim()),
        Cell::DateTime(d) => Cow::Owned(d.format("%Y-%m-%dT%H:%M:%S").to_string()),
        Cell::Instant(i) => Cow::Owned(
            chrono::DateTime::from_timestamp_micros(i)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default(),
        ),
    }
}

/// A field-level failure: which field, why, and the detail.
struct Fail(&'static str, Reason, String);

struct FeedVisitor<'a> {
    source: &'a Source,
    ctx: &'a Context<'a>,
    time: TimeParser,
    as_of_limit: i64,
    idx: Vec<Option<usize>>,
    staged: StagedFeed,
    stock: Vec<StockRow>,
    shipments: Vec<ShipmentRow>,
    progress: indicatif::ProgressBar,
}

impl<'a> FeedVisitor<'a> {
    fn new(source: &'a Source, ctx: &'a Context<'a>) -> Self {
        FeedVisitor {
            source,
            ctx,
            time: TimeParser::new(
                &source.dialect.timestamp_formats,
                &source.dialect.date_formats,
                ctx.timezone,
            ),
            as_of_limit: ctx.as_of_limit(),
            idx: Vec::new(),
            staged: StagedFeed {
                source_id: source.id.clone(),
                kind: source.kind,
                records: 0,
                rows: Rows::Stock(Vec::new()),
                exceptions: Vec::new(),
                strings: Interner::default(),
                extra_columns: Vec::new(),
                column_map: Vec::new(),
                stage_ms: 0,
            },
            stock: Vec::new(),
            shipments: Vec::new(),
            progress: crate::progress::rows(&source.id),
        }
    }

    fn finish(mut self) -> StagedFeed {
        self.progress.finish_and_clear();
        self.staged.rows = match self.source.kind {
            SourceKind::Shipments => Rows::Shipments(self.shipments),
            _ => Rows::Stock(self.stock),
        };
        self.staged.exceptions.sort();
        self.staged
    }

    fn cell<'c>(&self, cells: &'c dyn Cells, canonical_pos: usize) -> Cell<'c> {
        match self.idx.get(canonical_pos).copied().flatten() {
            Some(i) => cells.get(i),
            None => Cell::Null,
        }
    }

    /// The catalog product a rejected record is about, when its supplier
    /// and SKU still say (for the per-product exception count).
    fn attribute(&self, supplier: &str, cells: Option<&dyn Cells>) -> String {
        let sku_pos = if self.source.kind == SourceKind::Shipments {
            2
        } else {
            1
        };
        let Some(cells) = cells else {
            return String::new();
        };
        let sku = cell_text(self.cell(cells, sku_pos));
        self.ctx
            .sku_map
            .get(supplier, &sku)
            .filter(|e| self.ctx.catalog.index(&e.product_id).is_some())
            .map(|e| e.product_id.clone())
            .unwrap_or_default()
    }

    fn reject(
        &mut self,
        line: u64,
        raw: &str,
        supplier: &str,
        cells: Option<&dyn Cells>,
        fail: Fail,
    ) {
        let Fail(field, reason, detail) = fail;
        let product_id = self.attribute(supplier, cells);
        self.staged.exceptions.push(Exception {
            source: self.source.id.clone(),
            supplier_id: supplier.to_string(),
            product_id,
            line,
            field: field.to_string(),
            reason,
            detail,
            raw: raw.to_string(),
        });
    }

    fn text_field<'c>(
        &self,
        cells: &'c dyn Cells,
        pos: usize,
        name: &'static str,
    ) -> Result<std::borrow::Cow<'c, str>, Fail> {
        let s = cell_text(self.cell(cells, pos));
        if s.is_empty() {
            return Err(Fail(
                name,
                Reason::MissingField,
                format!("`{name}` is empty"),
            ));
        }
        Ok(s)
    }

    fn quantity(&self, cells: &dyn Cells, pos: usize) -> Result<i64, Fail> {
        let d = &self.source.dialect;
        let c = self.cell(cells, pos);
        let result = match c {
            Cell::Null => Err(NumberError::Missing),
            Cell::Text(s) => parse_quantity(s, d.decimal, d.thousands),
            Cell::Number(s) => parse_quantity(s, '.', None),
            Cell::DateTime(_) | Cell::Instant(_) => {
                Err(NumberError::Bad("is a date, not a number"))
            }
        };
        result.map_err(|e| {
            let shown = match c {
                Cell::Text(s) | Cell::Number(s) => s.to_string(),
                other => format!("{other:?}"),
            };
            match e {
                NumberError::Missing => Fail(
                    "quantity",
                    Reason::MissingField,
                    "`quantity` is empty".into(),
                ),
                NumberError::Negative(v) => Fail(
                    "quantity",
                    Reason::NegativeQuantity,
                    format!("`{shown}` is negative ({v})"),
                ),
                NumberError::Bad(why) => Fail(
                    "quantity",
                    Reason::BadNumber,
                    format!(
                        "`{shown}` {why}",
                        why = match why {
                            "beyond 10^15" => "is beyond 10^15",
                            "malformed digit grouping" =>
                                "has malformed digit grouping for this feed",
                            "not a whole number" =>
                                "is not a whole number in this feed's number format",
                            other => other,
                        }
                    ),
                ),
            }
        })
    }

    fn units(&self, quantity: i64, pack: i64) -> Result<i64, Fail> {
        quantity
            .checked_mul(pack)
            .filter(|u| *u <= values::MAX_QUANTITY)
            .ok_or_else(|| {
                Fail(
                    "quantity",
                    Reason::BadNumber,
                    format!("{quantity} × pack size {pack} is beyond 10^15 units"),
                )
            })
    }

    fn timestamp(
        &self,
        cells: &dyn Cells,
        pos: usize,
        name: &'static str,
    ) -> Result<(Written, i64), Fail> {
        let c = self.cell(cells, pos);
        let written = match c {
            Cell::Null => None,
            Cell::Text(s) | Cell::Number(s) if s.trim().is_empty() => None,
            Cell::Text(s) | Cell::Number(s) => {
                Some(self.time.written_timestamp(s).ok_or_else(|| {
                    Fail(
                        name,
                        Reason::BadDate,
                        format!("`{s}` does not match {}", self.formats_hint(true)),
                    )
                })?)
            }
            Cell::DateTime(d) => Some(Written::Local(d)),
            Cell::Instant(i) => {
                return Ok((
                    Written::Offset(
                        chrono::DateTime::from_timestamp_micros(i)
                            .unwrap_or_default()
                            .fixed_offset(),
                    ),
                    i,
                ));
            }
        };
        let Some(w) = written else {
            return Err(Fail(
                name,
                Reason::MissingField,
                format!("`{name}` is empty"),
            ));
        };
        let instant = self
            .time
            .instant(w)
            .map_err(|why| Fail(name, Reason::BadDate, format!("`{}` {why}", cell_text(c))))?;
        Ok((w, instant))
    }

    fn date(
        &self,
        cells: &dyn Cells,
        pos: usize,
        name: &'static str,
    ) -> Result<Option<NaiveDate>, Fail> {
        let c = self.cell(cells, pos);
        match c {
            Cell::Null => Ok(None),
            Cell::Text(s) | Cell::Number(s) if s.trim().is_empty() => Ok(None),
            Cell::Text(s) | Cell::Number(s) => self.time.date(s).map(Some).ok_or_else(|| {
                Fail(
                    name,
                    Reason::BadDate,
                    format!("`{s}` does not match {}", self.formats_hint(false)),
                )
            }),
            Cell::DateTime(d) => Ok(Some(d.date())),
            Cell::Instant(i) => Ok(chrono::DateTime::from_timestamp_micros(i)
                .map(|d| d.with_timezone(&self.time.tz()).date_naive())),
        }
    }

    fn formats_hint(&self, timestamp: bool) -> String {
        let d = &self.source.dialect;
        let declared = if timestamp {
            &d.timestamp_formats
        } else {
            &d.date_formats
        };
        if declared.is_empty() {
            "ISO 8601 (e.g. 2026-11-05 or 2026-11-05T14:00:00+07:00)".into()
        } else {
            format!(
                "the declared format {}",
                declared
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        }
    }

    /// Looks up the SKU map: (catalog index, pack size).
    fn product(&self, supplier: &str, sku: &str) -> Result<(u32, i64), Fail> {
        match self.ctx.sku_map.get(supplier, sku) {
            None => Err(Fail(
                "supplier_sku",
                Reason::UnmappedSku,
                format!("`{sku}` of supplier `{supplier}` is not in the SKU map"),
            )),
            Some(entry) => match self.ctx.catalog.index(&entry.product_id) {
                Some(p) => Ok((p, entry.pack_size)),
                None => Err(Fail(
                    "supplier_sku",
                    Reason::UnknownProduct,
                    format!(
                        "the SKU map sends `{sku}` to product `{}`, which is not in the catalog",
                        entry.product_id
                    ),
                )),
            },
        }
    }

    fn stock_record(&mut self, line: u64, cells: &dyn Cells) -> Result<StockRow, (String, Fail)> {
        // Canonical order: supplier_id, supplier_sku, warehouse, quantity, as_of.
        let source = self.source;
        let supplier = match source.owner.as_deref() {
            Some(o) => std::borrow::Cow::Borrowed(o),
            None => self
                .text_field(cells, 0, "supplier_id")
                .map_err(|f| (String::new(), f))?,
        };
        let fail = |f| (supplier.to_string(), f);
        let sku = self.text_field(cells, 1, "supplier_sku").map_err(fail)?;
        let warehouse = if self.idx[2].is_none() {
            std::borrow::Cow::Borrowed(source.default_warehouse.as_deref().unwrap_or(""))
        } else {
            self.text_field(cells, 2, "warehouse").map_err(fail)?
        };
        let quantity = self.quantity(cells, 3).map_err(fail)?;
        let (_, as_of) = self.timestamp(cells, 4, "as_of").map_err(fail)?;
        if as_of >= self.as_of_limit {
            let shown = cell_text(self.cell(cells, 4));
            return Err(fail(Fail(
                "as_of",
                Reason::AsOfAfterRunDate,
                format!("`{shown}` is after the run date {}", self.ctx.run_date),
            )));
        }
        let (product, pack) = self.product(&supplier, &sku).map_err(fail)?;
        let units = self.units(quantity, pack).map_err(fail)?;
        let s = &mut self.staged.strings;
        let row = StockRow {
            supplier: s.intern(&supplier),
            sku: s.intern(&sku),
            warehouse: s.intern(&warehouse),
            quantity,
            as_of,
            product,
            units,
            line,
        };
        Ok(row)
    }

    fn shipment_record(
        &mut self,
        line: u64,
        cells: &dyn Cells,
    ) -> Result<ShipmentRow, (String, Fail)> {
        // Canonical order: shipment_id, supplier_id, supplier_sku, quantity,
        // status, etd, eta, updated_at.
        let supplier = cell_text(self.cell(cells, 1));
        let fail = |f| (supplier.to_string(), f);
        let shipment = self.text_field(cells, 0, "shipment_id").map_err(fail)?;
        if supplier.is_empty() {
            return Err(fail(Fail(
                "supplier_id",
                Reason::MissingField,
                "`supplier_id` is empty".into(),
            )));
        }
        let sku = self.text_field(cells, 2, "supplier_sku").map_err(fail)?;
        let quantity = self.quantity(cells, 3).map_err(fail)?;
        let status_text = self.text_field(cells, 4, "status").map_err(fail)?;
        // The feed's vocabulary wins; without one, canonical words as
        // written need no case folding (no allocation on the hot path).
        let vocabulary = &self.source.statuses;
        let status = (if vocabulary.is_empty() {
            Status::exact(&status_text)
        } else {
            None
        })
        .or_else(|| vocabulary.get(&values::fold(&status_text)).copied())
        .or_else(|| Status::parse(&status_text))
        .ok_or_else(|| {
            fail(Fail(
                "status",
                Reason::UnknownStatus,
                format!("`{status_text}` is not a known status"),
            ))
        })?;
        let etd = self.date(cells, 5, "etd").map_err(fail)?;
        let eta = self.date(cells, 6, "eta").map_err(fail)?;
        let (_, updated_at) = self.timestamp(cells, 7, "updated_at").map_err(fail)?;
        let (product, pack) = self.product(&supplier, &sku).map_err(fail)?;
        let units = self.units(quantity, pack).map_err(fail)?;
        let s = &mut self.staged.strings;
        Ok(ShipmentRow {
            shipment: s.intern(&shipment),
            supplier: s.intern(&supplier),
            sku: s.intern(&sku),
            quantity,
            status,
            etd,
            eta,
            updated_at,
            product,
            units,
            line,
        })
    }
}

impl Visitor for FeedVisitor<'_> {
    fn header(&mut self, names: &[String]) -> Result<(), String> {
        let mut optional = Vec::new();
        if self.source.kind == SourceKind::Stock {
            if self.source.owner.is_some() {
                optional.push("supplier_id");
            }
            if self.source.default_warehouse.is_some() {
                optional.push("warehouse");
            }
        }
        let (idx, extra) = map_columns(self.source, names, &optional)?;
        self.staged.column_map = self
            .source
            .kind
            .canonical_columns()
            .iter()
            .zip(&idx)
            .map(|((c, _), i)| (*c, i.map(|i| names[i].clone())))
            .collect();
        self.idx = idx;
        self.staged.extra_columns = extra;
        Ok(())
    }

    fn record(&mut self, line: u64, raw: &str, cells: &dyn Cells) {
        self.staged.records += 1;
        if self.staged.records.is_multiple_of(65_536) {
            self.progress.set_position(self.staged.records);
        }
        match self.source.kind {
            SourceKind::Shipments => match self.shipment_record(line, cells) {
                Ok(row) => self.shipments.push(row),
                Err((supplier, f)) => self.reject(line, raw, &supplier, Some(cells), f),
            },
            _ => match self.stock_record(line, cells) {
                Ok(row) => self.stock.push(row),
                Err((supplier, f)) => self.reject(line, raw, &supplier, Some(cells), f),
            },
        }
    }

    fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String) {
        self.staged.records += 1;
        let supplier = self.source.supplier().unwrap_or("").to_string();
        self.reject(line, raw, &supplier, None, Fail("", reason, detail));
    }
}

/// The raw text of the records starting on `lines`, read again from a
/// feed's bytes. Accepted rows keep no copy of their text; the few that a
/// later rule rejects (conflicting duplicates) get it from here.
pub fn raw_records(
    source: &Source,
    bytes: &[u8],
    lines: &std::collections::BTreeSet<u64>,
) -> std::collections::BTreeMap<u64, String> {
    struct Pick<'a> {
        lines: &'a std::collections::BTreeSet<u64>,
        found: std::collections::BTreeMap<u64, String>,
    }
    impl Visitor for Pick<'_> {
        fn header(&mut self, _: &[String]) -> Result<(), String> {
            Ok(())
        }
        fn record(&mut self, line: u64, raw: &str, _: &dyn Cells) {
            if self.lines.contains(&line) {
                self.found.insert(line, raw.to_string());
            }
        }
        fn broken(&mut self, _: u64, _: &str, _: Reason, _: String) {}
    }
    let mut pick = Pick {
        lines,
        found: Default::default(),
    };
    let _ = read::read(bytes, &source.dialect, &mut pick);
    pick.found
}

/// Fills in the raw text of exceptions found after staging (by the
/// latest-row rules), reading each affected feed once more.
pub fn fill_raw<B: AsRef<[u8]>>(
    exceptions: &mut [Exception],
    feeds: &[Source],
    bytes_of: impl Fn(usize) -> Option<B>,
) {
    for (i, source) in feeds.iter().enumerate() {
        let lines: std::collections::BTreeSet<u64> = exceptions
            .iter()
            .filter(|e| e.raw.is_empty() && e.source == source.id)
            .map(|e| e.line)
            .collect();
        if lines.is_empty() {
            continue;
        }
        let Some(bytes) = bytes_of(i) else { continue };
        let found = raw_records(source, bytes.as_ref(), &lines);
        for e in exceptions
            .iter_mut()
            .filter(|e| e.raw.is_empty() && e.source == source.id)
        {
            if let Some(r) = found.get(&e.line) {
                e.raw = r.clone();
            }
        }
    }
}

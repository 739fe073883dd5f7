//! One feed's records checked field by field: the canonical columns found
//! in the header, every field parsed in the feed's dialect, the SKU map
//! looked up; a record that passes is a staged row, one that fails is one
//! exception (the first failing field, in canonical column order).

use crate::error::{Header, Problem};
use chrono::NaiveDate;
use hashbrown::HashMap;

use super::read::{self, Cell, Cells, Visitor};
use super::reference;
use super::rows::{Batch, ShipmentRow, Span, StockRow};
use super::values::{self, NumberError, TimeParser, Written, parse_quantity};
use super::{Context, Sink, StagedFeed};
use crate::model::{Reason, Rejection, Status};
use crate::pipeline::{Source, SourceKind};

/// Column positions for the canonical fields, found from the header.
pub(crate) fn map_columns(
    source: &Source,
    names: &[String],
    optional_ok: &[&str],
) -> Result<(Vec<Option<usize>>, Vec<String>), Problem> {
    for (i, n) in names.iter().enumerate() {
        if !n.is_empty() && names[..i].contains(n) {
            return Err(Problem::Header(Header::Twice(n.clone())));
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
            missing.push((want.to_string(), canonical));
        }
        idx.push(found);
    }
    if !missing.is_empty() {
        return Err(Problem::Header(Header::Lacks {
            wanted: missing,
            header: names.to_vec(),
        }));
    }
    let extra = names
        .iter()
        .enumerate()
        .filter(|(i, n)| !used.contains(i) && !n.is_empty())
        .map(|(_, n)| n.clone())
        .collect();
    Ok((idx, extra))
}

/// A feed's column positions for the canonical fields, and its extra
/// columns, from its header: [`map_columns`], with the columns the
/// pipeline file can stand in for (a stock feed's supplier when it names
/// the feed's owner, its warehouse when it names a default) optional.
pub(super) fn feed_columns(
    source: &Source,
    names: &[String],
) -> Result<(Vec<Option<usize>>, Vec<String>), Problem> {
    let mut optional = Vec::new();
    if source.kind == SourceKind::Stock {
        if source.owner.is_some() {
            optional.push("supplier_id");
        }
        if source.default_warehouse.is_some() {
            optional.push("warehouse");
        }
    }
    map_columns(source, names, &optional)
}

/// A text, number or integer cell as written (untrimmed), for the
/// parsers of dates and timestamps and their messages.
fn written_text(c: Cell<'_>) -> std::borrow::Cow<'_, str> {
    match c {
        Cell::Int(i) => std::borrow::Cow::Owned(i.to_string()),
        Cell::Text(s) | Cell::Number(s) => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Borrowed(""),
    }
}

/// A text, number or integer cell's bytes (an integer's digits written
/// into `digits`), for prefetching its lookup.
fn cell_bytes<'a>(c: Cell<'a>, digits: &'a mut itoa::Buffer) -> &'a [u8] {
    match c {
        Cell::Text(s) | Cell::Number(s) => s.as_bytes(),
        Cell::Int(v) => digits.format(v).as_bytes(),
        _ => b"",
    }
}

/// A cell as text, for text fields.
/// Borrowed for text cells (the hot path: no allocation per field).
fn cell_text(c: Cell<'_>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match c {
        Cell::Null => Cow::Borrowed(""),
        Cell::Text(s) | Cell::Number(s) => Cow::Borrowed(values::trim(s)),
        Cell::Int(i) => Cow::Owned(i.to_string()),
        Cell::DateTime(d) => Cow::Owned(d.format("%Y-%m-%dT%H:%M:%S").to_string()),
        Cell::Instant(i) => Cow::Owned(
            chrono::DateTime::from_timestamp_micros(i)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default(),
        ),
    }
}

/// A record's raw text: as read, or made when wanted.
#[derive(Clone, Copy)]
enum Raw<'r> {
    Text(&'r str),
    Made(&'r dyn Fn() -> String),
}

impl<'r> Raw<'r> {
    fn text(self) -> std::borrow::Cow<'r, str> {
        match self {
            Raw::Text(s) => std::borrow::Cow::Borrowed(s),
            Raw::Made(f) => std::borrow::Cow::Owned(f()),
        }
    }

    /// Its length as read (a made text has none).
    fn len(self) -> usize {
        match self {
            Raw::Text(s) => s.len(),
            Raw::Made(_) => 0,
        }
    }
}

/// A field-level failure: which field, why, and the detail.
struct Fail(&'static str, Reason, String);

pub(super) struct FeedVisitor<'a, S: Sink> {
    source: &'a Source,
    ctx: &'a Context<'a>,
    time: TimeParser,
    as_of_limit: i64,
    idx: Vec<Option<usize>>,
    staged: StagedFeed,
    batch: Batch,
    batch_rows: usize,
    sink: S,
    sink_error: Option<Problem>,
    /// This feed's cache in front of `ctx.names`.
    names: HashMap<Box<str>, u32>,
    recent: Vec<(u128, u32)>,
    /// The columns of the supplier (`None`: the feed's owner) and the SKU,
    /// for looking the next line's SKU up ahead of time.
    ahead: Option<(Option<usize>, usize)>,
    /// The hashes of the keys of the lines ahead whose table slots are
    /// on their way, oldest first.
    pending: std::collections::VecDeque<Option<u64>>,
    progress: indicatif::ProgressBar,
}

impl<'a, S: Sink> FeedVisitor<'a, S> {
    /// Starts fetching the SKU map's slot for a record a few records on
    /// (see [`Visitor::upcoming`]), and the entry of one whose slot has
    /// arrived since: two steps, half the look-ahead apart.
    fn prefetch(&mut self, supplier: &[u8], sku: &[u8]) {
        let map = self.ctx.sku_map;
        let hash = map.prefetch_slot(supplier.trim_ascii(), sku.trim_ascii());
        self.pending.push_back(hash);
        if self.pending.len() > read::LOOKAHEAD / 2
            && let Some(Some(h)) = self.pending.pop_front()
        {
            map.prefetch_entry(h);
        }
    }

    pub(super) fn new(source: &'a Source, ctx: &'a Context<'a>, sink: S) -> Self {
        Self::with_progress(source, ctx, sink, crate::sys::progress::rows(&source.id))
    }

    /// A visitor of one of the chunks of a feed staged on several threads:
    /// its rows stay in its batch until taken ([`FeedVisitor::take_rows`]),
    /// and it counts on the feed's progress bar.
    pub(super) fn for_chunks(
        source: &'a Source,
        ctx: &'a Context<'a>,
        sink: S,
        progress: indicatif::ProgressBar,
    ) -> Self {
        let mut v = Self::with_progress(source, ctx, sink, progress);
        v.batch_rows = usize::MAX;
        v
    }

    fn with_progress(
        source: &'a Source,
        ctx: &'a Context<'a>,
        sink: S,
        progress: indicatif::ProgressBar,
    ) -> Self {
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
                accepted: 0,
                newest: None,
                rejected: 0,
                product_exceptions: HashMap::new(),
                extra_columns: Vec::new(),
                column_map: Vec::new(),
                stage_ms: 0,
                file: None,
                rejects: None,
            },
            batch: Batch::default(),
            batch_rows: ctx.batch_rows,
            sink,
            sink_error: None,
            names: HashMap::new(),
            recent: Vec::new(),
            ahead: None,
            pending: Default::default(),
            progress,
        }
    }

    /// The rows accepted since last taken; `empty` (a batch whose rows
    /// were taken, with its memory) takes their place.
    pub(super) fn take_rows(&mut self, empty: Batch) -> Batch {
        debug_assert!(empty.is_empty());
        std::mem::replace(&mut self.batch, empty)
    }

    pub(super) fn sink(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The feed's counts as this visitor saw them, and its sink, without
    /// flushing (a chunk visitor's rows were all taken).
    pub(super) fn into_parts(self) -> (StagedFeed, S) {
        debug_assert!(self.batch.is_empty());
        (self.staged, self.sink)
    }

    fn flush(&mut self) {
        if self.batch.is_empty() || self.sink_error.is_some() {
            return;
        }
        if let Err(e) = self.sink.batch(&self.batch) {
            self.sink_error = Some(e);
        }
        self.batch.clear();
    }

    pub(super) fn finish(mut self) -> Result<StagedFeed, Problem> {
        self.flush();
        self.progress.finish_and_clear();
        if let Some(e) = self.sink_error {
            return Err(e);
        }
        Ok(self.staged)
    }

    fn name_id(&mut self, s: &str) -> u32 {
        // Warehouses are few per feed: a short list of packed names beats
        // hashing and comparing text.
        let packed = reference::pack15(s);
        if let Some(p) = packed
            && let Some((_, id)) = self.recent.iter().find(|(n, _)| *n == p)
        {
            return *id;
        }
        let id = match self.names.get(s) {
            Some(&id) => id,
            None => {
                let id = self.ctx.names.id(s);
                self.names.insert(s.into(), id);
                id
            }
        };
        if let Some(p) = packed
            && self.recent.len() < 8
        {
            self.recent.push((p, id));
        }
        id
    }

    fn accepted(&mut self, ts: i64) {
        self.staged.accepted += 1;
        self.staged.newest = Some(self.staged.newest.map_or(ts, |n| n.max(ts)));
        if self.batch.len() >= self.batch_rows {
            self.flush();
        }
    }

    fn cell<'c, C: Cells + ?Sized>(&self, cells: &'c C, canonical_pos: usize) -> Cell<'c> {
        match self.idx.get(canonical_pos).copied().flatten() {
            Some(i) => cells.get(i),
            None => Cell::Null,
        }
    }

    /// The catalog product a rejected record is about, when its supplier
    /// and SKU still say (for the per-product exception count).
    fn attribute<C: Cells + ?Sized>(
        &self,
        supplier: &str,
        cells: Option<&C>,
    ) -> Option<&'a reference::SkuEntry> {
        let sku_pos = if self.source.kind == SourceKind::Shipments {
            2
        } else {
            1
        };
        let sku = cell_text(self.cell(cells?, sku_pos));
        self.ctx
            .sku_map
            .get(supplier, &sku)
            .filter(|e| e.product.is_some())
    }

    fn reject<C: Cells + ?Sized>(
        &mut self,
        line: u64,
        raw: Raw<'_>,
        supplier: &str,
        cells: Option<&C>,
        fail: Fail,
    ) {
        let Fail(field, reason, detail) = fail;
        let entry = self.attribute(supplier, cells);
        self.staged.rejected += 1;
        if let Some(p) = entry.and_then(|e| e.product) {
            *self.staged.product_exceptions.entry(p).or_default() += 1;
        }
        let raw = raw.text();
        let e = Rejection {
            supplier_id: supplier,
            product_id: entry.map_or("", |e| &e.product_id),
            line,
            field,
            reason,
            detail: &detail,
            raw: &raw,
        };
        if self.sink_error.is_none()
            && let Err(err) = self.sink.exception(&e)
        {
            self.sink_error = Some(err);
        }
    }

    #[inline]
    fn text_field<'c, C: Cells + ?Sized>(
        &self,
        cells: &'c C,
        pos: usize,
        name: &'static str,
    ) -> Result<std::borrow::Cow<'c, str>, Fail> {
        // The hot path (text that needs no trimming) inlined; the rest, and
        // the failure, in a function of its own.
        let c = self.cell(cells, pos);
        if let Cell::Text(s) = c {
            let t = values::trim(s);
            if !t.is_empty() {
                return Ok(std::borrow::Cow::Borrowed(t));
            }
        }
        Self::text_field_rest(c, name)
    }

    #[inline(never)]
    fn text_field_rest<'c>(
        c: Cell<'c>,
        name: &'static str,
    ) -> Result<std::borrow::Cow<'c, str>, Fail> {
        let s = cell_text(c);
        if s.is_empty() {
            return Err(Fail(
                name,
                Reason::MissingField,
                format!("`{name}` is empty"),
            ));
        }
        Ok(s)
    }

    #[inline]
    fn quantity<C: Cells + ?Sized>(&self, cells: &C, pos: usize) -> Result<i64, Fail> {
        let c = self.cell(cells, pos);
        match c {
            Cell::Text(s) | Cell::Number(s) => {
                if let Some(v) = values::plain_quantity(s) {
                    return Ok(v);
                }
            }
            Cell::Int(v) if (0..=values::MAX_QUANTITY).contains(&v) => return Ok(v),
            _ => {}
        }
        self.quantity_rest(c)
    }

    #[inline(never)]
    fn quantity_rest(&self, c: Cell<'_>) -> Result<i64, Fail> {
        let d = &self.source.dialect;
        let result = match c {
            Cell::Null => Err(NumberError::Missing),
            Cell::Text(s) => parse_quantity(s, d.decimal, d.thousands),
            Cell::Number(s) => parse_quantity(s, '.', None),
            // As its digits would read.
            Cell::Int(i) => parse_quantity(&i.to_string(), '.', None),
            Cell::DateTime(_) | Cell::Instant(_) => {
                Err(NumberError::Bad("is a date, not a number"))
            }
        };
        result.map_err(|e| {
            let shown = match c {
                Cell::Text(s) | Cell::Number(s) => s.to_string(),
                Cell::Int(i) => i.to_string(),
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

    #[inline]
    fn timestamp<C: Cells + ?Sized>(
        &self,
        cells: &C,
        pos: usize,
        name: &'static str,
    ) -> Result<i64, Fail> {
        let c = self.cell(cells, pos);
        if let Cell::Text(s) = c
            && let Some(instant) = self.time.fast_instant(s)
        {
            return Ok(instant);
        }
        self.timestamp_rest(c, name)
    }

    #[inline(never)]
    fn timestamp_rest(&self, c: Cell<'_>, name: &'static str) -> Result<i64, Fail> {
        let written = match c {
            Cell::Null => None,
            Cell::Text(s) | Cell::Number(s) if values::trim(s).is_empty() => None,
            Cell::Text(_) | Cell::Number(_) | Cell::Int(_) => {
                let s = written_text(c);
                Some(self.time.written_timestamp(&s).ok_or_else(|| {
                    Fail(
                        name,
                        Reason::BadDate,
                        format!("`{s}` does not match {}", self.formats_hint(true)),
                    )
                })?)
            }
            Cell::DateTime(d) => Some(Written::Local(d)),
            Cell::Instant(i) => return Ok(i),
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
        Ok(instant)
    }

    fn date<C: Cells + ?Sized>(
        &self,
        cells: &C,
        pos: usize,
        name: &'static str,
    ) -> Result<Option<NaiveDate>, Fail> {
        let c = self.cell(cells, pos);
        match c {
            Cell::Null => Ok(None),
            Cell::Text(s) | Cell::Number(s) if values::trim(s).is_empty() => Ok(None),
            Cell::Text(_) | Cell::Number(_) | Cell::Int(_) => {
                let s = written_text(c);
                self.time.date(&s).map(Some).ok_or_else(|| {
                    Fail(
                        name,
                        Reason::BadDate,
                        format!("`{s}` does not match {}", self.formats_hint(false)),
                    )
                })
            }
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

    /// Looks up the SKU map: (entry index, pack size).
    fn product(&self, supplier: &str, sku: &str) -> Result<(u32, reference::Hot), Fail> {
        let map = self.ctx.sku_map;
        match map.lookup(supplier, sku) {
            None => Err(Fail(
                "supplier_sku",
                Reason::UnmappedSku,
                format!("`{sku}` of supplier `{supplier}` is not in the SKU map"),
            )),
            Some(i) => {
                let hot = map.hot(i);
                match hot.product() {
                    Some(_) => Ok((i, *hot)),
                    None => Err(Fail(
                        "supplier_sku",
                        Reason::UnknownProduct,
                        format!(
                            "the SKU map sends `{sku}` to product `{}`, which is not in the catalog",
                            map.entry(i).product_id
                        ),
                    )),
                }
            }
        }
    }

    fn stock_record<C: Cells + ?Sized>(
        &mut self,
        line: u64,
        span: Span,
        cells: &C,
    ) -> Result<StockRow, (String, Fail)> {
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
        let as_of = self.timestamp(cells, 4, "as_of").map_err(fail)?;
        if as_of >= self.as_of_limit {
            let shown = cell_text(self.cell(cells, 4));
            return Err(fail(Fail(
                "as_of",
                Reason::AsOfAfterRunDate,
                format!("`{shown}` is after the run date {}", self.ctx.run_date),
            )));
        }
        let (entry, hot) = self.product(&supplier, &sku).map_err(fail)?;
        let units = self.units(quantity, hot.pack_size).map_err(fail)?;
        Ok(StockRow {
            sku: entry,
            product: hot.product,
            supplier: hot.supplier,
            units,
            warehouse: self.name_id(&warehouse),
            quantity,
            as_of,
            line,
            span,
        })
    }

    fn shipment_record<C: Cells + ?Sized>(
        &mut self,
        line: u64,
        span: Span,
        cells: &C,
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
        .or_else(|| vocabulary.get(&crate::model::fold(&status_text)).copied())
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
        let updated_at = self.timestamp(cells, 7, "updated_at").map_err(fail)?;
        let (entry, hot) = self.product(&supplier, &sku).map_err(fail)?;
        let units = self.units(quantity, hot.pack_size).map_err(fail)?;
        let ids = &mut self.batch.ids;
        let id_start = ids.len() as u32;
        ids.push_str(&shipment);
        Ok(ShipmentRow {
            id_start,
            id_len: shipment.len() as u32,
            sku: entry,
            product: hot.product,
            supplier: hot.supplier,
            units,
            quantity,
            status,
            etd,
            eta,
            updated_at,
            line,
            span,
        })
    }

    /// One record, from any reader: generic so that CSV records (nearly
    /// every row at scale) reach the field checks without a virtual call
    /// per field.
    fn visit<C: Cells + ?Sized>(&mut self, line: u64, offset: u64, raw: Raw<'_>, cells: &C) {
        self.staged.records += 1;
        if self.staged.records.is_multiple_of(65_536) {
            self.progress.inc(65_536);
        }
        let span = Span {
            offset,
            len: raw.len().min(u32::MAX as usize) as u32,
        };
        match self.source.kind {
            SourceKind::Shipments => match self.shipment_record(line, span, cells) {
                Ok(row) => {
                    self.batch.shipments.push(row);
                    self.accepted(row.updated_at);
                }
                Err((supplier, f)) => self.reject(line, raw, &supplier, Some(cells), f),
            },
            _ => match self.stock_record(line, span, cells) {
                Ok(row) => {
                    self.batch.stock.push(row);
                    self.accepted(row.as_of);
                }
                Err((supplier, f)) => self.reject(line, raw, &supplier, Some(cells), f),
            },
        }
    }
}

impl<S: Sink> Visitor for FeedVisitor<'_, S> {
    fn header(&mut self, names: &[String]) -> Result<(), Problem> {
        let (idx, extra) = feed_columns(self.source, names)?;
        self.staged.column_map = self
            .source
            .kind
            .canonical_columns()
            .iter()
            .zip(&idx)
            .map(|((c, _), i)| (*c, i.map(|i| names[i].clone())))
            .collect();
        self.ahead = match self.source.kind {
            SourceKind::Shipments => idx[1].zip(idx[2]).map(|(s, k)| (Some(s), k)),
            _ if self.source.owner.is_some() => idx[1].map(|k| (None, k)),
            _ => idx[0].zip(idx[1]).map(|(s, k)| (Some(s), k)),
        };
        self.idx = idx;
        self.staged.extra_columns = extra;
        Ok(())
    }

    fn upcoming(&mut self, line: &[u8], delims: &[u32]) {
        let Some((supplier_col, sku_col)) = self.ahead else {
            return;
        };
        // A field the line does not have is empty.
        let field = |i: usize| {
            crate::sys::scan::field(delims, line.len(), i).map_or(&b""[..], |r| &line[r])
        };
        let supplier = match supplier_col {
            Some(c) => field(c),
            None => self.source.owner.as_deref().unwrap_or("").as_bytes(),
        };
        self.prefetch(supplier, field(sku_col));
    }

    fn upcoming_cells(&mut self, cells: &dyn Cells) {
        let Some((supplier_col, sku_col)) = self.ahead else {
            return;
        };
        // Integer cells (a Parquet SKU column of numbers) as their digits.
        let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
        let supplier = match supplier_col {
            Some(c) => cell_bytes(cells.get(c), &mut a),
            None => self.source.owner.as_deref().unwrap_or("").as_bytes(),
        };
        self.prefetch(supplier, cell_bytes(cells.get(sku_col), &mut b));
    }

    fn record(&mut self, line: u64, raw: &str, cells: &dyn Cells) {
        self.record_at(line, u64::MAX, raw, cells)
    }

    fn record_at(&mut self, line: u64, offset: u64, raw: &str, cells: &dyn Cells) {
        self.visit(line, offset, Raw::Text(raw), cells)
    }

    fn record_made(&mut self, line: u64, raw: &dyn Fn() -> String, cells: &dyn Cells) {
        self.visit(line, u64::MAX, Raw::Made(raw), cells)
    }

    fn csv_record(&mut self, line: u64, offset: u64, raw: &str, cells: &read::FieldCells<'_>) {
        self.visit(line, offset, Raw::Text(raw), cells)
    }

    fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String) {
        self.staged.records += 1;
        let supplier = self.source.supplier().unwrap_or("").to_string();
        self.reject(
            line,
            Raw::Text(raw),
            &supplier,
            None::<&dyn Cells>,
            Fail("", reason, detail),
        );
    }
}

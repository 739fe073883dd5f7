//! Staged rows: what staging hands on for each accepted record, a batch
//! at a time.

use chrono::NaiveDate;

use crate::model::Status;
use crate::pipeline::SourceKind;

/// Where a record's raw text is in its decoded feed, so a rule applied
/// after staging (conflicting duplicates) can quote it without a reparse.
/// `offset` is `u64::MAX` when the reader cannot say (non-CSV formats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub offset: u64,
    pub len: u32,
}

/// A staged stock row. Supplier, SKU, product and pack size come from its
/// SKU map entry.
#[derive(Debug, Clone, Copy)]
pub struct StockRow {
    /// Index into [`SkuMap::entries`].
    pub sku: u32,
    /// Id in [`Context::names`].
    pub warehouse: u32,
    /// What the SKU-map entry says, kept from the row's lookup so later
    /// steps need not look again: the catalog product, the supplier (index
    /// into [`SkuMap::suppliers`]) and `quantity × pack size`.
    pub product: u32,
    pub supplier: u32,
    pub units: i64,
    pub quantity: i64,
    /// Microseconds since the epoch, UTC.
    pub as_of: i64,
    pub line: u64,
    pub span: Span,
}

/// A staged shipment row; its id is text in the batch it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct ShipmentRow {
    pub id_start: u32,
    pub id_len: u32,
    pub sku: u32,
    /// As in [`StockRow`].
    pub product: u32,
    pub supplier: u32,
    pub units: i64,
    pub quantity: i64,
    pub status: Status,
    pub etd: Option<NaiveDate>,
    pub eta: Option<NaiveDate>,
    pub updated_at: i64,
    pub line: u64,
    pub span: Span,
}

/// Accepted rows, handed to a [`Sink`] a batch at a time so memory does
/// not grow with the feed.
#[derive(Debug, Default)]
pub struct Batch {
    pub stock: Vec<StockRow>,
    pub shipments: Vec<ShipmentRow>,
    /// Shipment ids, back to back.
    pub ids: String,
}

impl Batch {
    pub fn shipment_id(&self, r: &ShipmentRow) -> &str {
        &self.ids[r.id_start as usize..(r.id_start + r.id_len) as usize]
    }

    pub fn len(&self) -> usize {
        self.stock.len() + self.shipments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty batch with room for `rows` rows of a `kind` of feed: a
    /// batch grown from nothing row by row copies itself about as many
    /// times as it doubles, into fresh pages each time.
    pub(super) fn with_capacity(kind: SourceKind, rows: usize) -> Batch {
        let mut b = Batch::default();
        if kind == SourceKind::Shipments {
            b.shipments.reserve_exact(rows);
        } else {
            b.stock.reserve_exact(rows);
        }
        b
    }

    pub(super) fn clear(&mut self) {
        self.stock.clear();
        self.shipments.clear();
        self.ids.clear();
    }
}

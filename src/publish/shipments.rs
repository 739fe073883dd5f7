//! The shipments table's files, written straight from the latest
//! shipments, a batch of rows at a time, with no frame between:
//!
//! - CSV rows cell by cell, with the CSV writer's own cell functions
//!   (`super::csv`), so the bytes are those the frames of
//!   `shipments_table` would give (a batch the fast path cannot write,
//!   an odd delimiter or a date beyond year 9999, goes through its frame;
//!   `SIAP_CSV_FROM_FRAMES=1` sends every batch that way, and a test
//!   compares both);
//! - Parquet row groups (`crate::sys::parquet_pages`): text columns
//!   dictionary-encoded from the numbers the rows already carry (product,
//!   supplier, SKU-map entry, provider, status, bucket: no string is
//!   hashed), quantities and dates delta-encoded, shipment ids and
//!   `updated_at` plain. polars' writer would hash every text cell of the
//!   table's millions of rows to find its dictionaries
//!   (docs/performance.md, twenty-first session). Same file as polars
//!   would write for the table's frames but for the pages' encodings: the
//!   same Arrow schema, a row group per batch, zstd, statistics; `tests`
//!   reads both back.

use std::ops::Range;

use polars::prelude::*;
use polars_parquet::parquet::page::Page;
use polars_parquet::parquet::schema::types::PrimitiveType;

use super::csv;
use super::table::{self, Batches, Texts};
use crate::aggregate::bucket::Bucket;
use crate::aggregate::local_time::LocalTime;
use crate::aggregate::shipments::shipments_table;
use crate::error::{Error, Result};
use crate::model::{Status, epoch_days};
use crate::pipeline::{Campaign, OutputOptions};
use crate::rules::{LatestShipment, Resolved};
use crate::stage::{Catalog, SkuMap};
use crate::sys::parquet_pages::{self as pages, Remap};

/// The table's columns, in the order `shipments_table` builds them.
const COLUMNS: [&str; 13] = [
    "product_id",
    "supplier_id",
    "provider",
    "shipment_id",
    "supplier_sku",
    "quantity",
    "units",
    "status",
    "etd",
    "eta",
    "updated_at",
    "bucket",
    "counts_in_window",
];

/// The shipments table, written a batch of rows at a time: its CSV rows
/// and its row groups' pages ([`Batches`]).
pub struct ShipmentTable<'p> {
    pages: ShipmentPages<'p>,
    /// The table's columns, without rows.
    columns: DataFrame,
    options: &'p OutputOptions,
    /// Rows per batch.
    batch: usize,
    /// Every batch's CSV through its frame (the reference path).
    frames: bool,
}

impl<'p> ShipmentTable<'p> {
    pub fn new(
        catalog: &'p Catalog,
        sku_map: &'p SkuMap,
        resolved: &'p Resolved,
        campaign: &'p Campaign,
        options: &'p OutputOptions,
        tuning: &crate::sys::tuning::Tuning,
    ) -> Result<Self> {
        let columns = shipments_table(catalog, sku_map, resolved, campaign, 0..0)?;
        let fields = table::row_fields(&columns, &COLUMNS, "shipments")?;
        Ok(ShipmentTable {
            pages: ShipmentPages {
                catalog,
                sku_map,
                resolved,
                campaign,
                next: 0,
                fields,
                clock: LocalTime::new(campaign.timezone),
                products: Remap::default(),
                suppliers: Remap::default(),
                entries: Remap::default(),
                providers: Remap::default(),
                statuses: Remap::default(),
                buckets: Remap::default(),
                scratch: Columns::default(),
            },
            columns,
            options,
            batch: tuning.batch_rows.max(1),
            frames: tuning.csv_from_frames || !csv::fast_dialect(options.csv_delimiter),
        })
    }

    /// `rows`' CSV lines through their frame, as any table's are written.
    fn csv_through_frame(&self, rows: Range<usize>, out: &mut Vec<u8>) -> Result<()> {
        let p = &self.pages;
        let frame = shipments_table(p.catalog, p.sku_map, p.resolved, p.campaign, rows)?;
        csv::write_frame(out, &frame, false, self.options).map_err(|message| Error::Publish {
            path: "shipments.csv".into(),
            message,
        })
    }
}

impl Batches for ShipmentTable<'_> {
    fn columns(&self) -> Result<DataFrame> {
        Ok(self.columns.clone())
    }

    fn next(&mut self, out: &mut Vec<u8>) -> Result<Option<(usize, Vec<Vec<Page>>)>> {
        let p = &self.pages;
        let (start, total) = (p.next, p.resolved.shipments.len());
        if start >= total {
            return Ok(None);
        }
        let rows = start..(start + self.batch).min(total);
        let plain =
            |d: Option<chrono::NaiveDate>| d.is_none_or(|d| csv::writes_plain(epoch_days(d)));
        let shipments = &p.resolved.shipments[rows.clone()];
        let frame = self.frames || !shipments.iter().all(|s| plain(s.etd) && plain(s.eta));
        if frame {
            self.csv_through_frame(rows.clone(), out)?;
        }
        let csv = (!frame).then_some((out, self.options.csv_delimiter));
        let pages = self.pages.encode(rows.clone(), csv);
        Ok(Some((rows.len(), pages)))
    }
}

/// Encodes the shipments table's batches, in order, as row groups.
struct ShipmentPages<'p> {
    catalog: &'p Catalog,
    sku_map: &'p SkuMap,
    resolved: &'p Resolved,
    campaign: &'p Campaign,
    /// The first row of the next batch.
    next: usize,
    /// The Parquet type of each column.
    fields: Vec<PrimitiveType>,
    /// `updated_at` as text.
    clock: LocalTime,
    products: Remap,
    suppliers: Remap,
    entries: Remap,
    providers: Remap,
    statuses: Remap,
    buckets: Remap,
    scratch: Columns,
}

/// One batch's keys and numbers, kept from batch to batch.
#[derive(Default)]
struct Columns {
    product: Vec<u32>,
    supplier: Vec<u32>,
    entry: Vec<u32>,
    provider: Vec<u32>,
    status: Vec<u32>,
    bucket: Vec<u32>,
    quantity: Vec<i64>,
    units: Vec<i64>,
    etd: (Vec<i64>, Vec<bool>),
    eta: (Vec<i64>, Vec<bool>),
    counts: Vec<bool>,
    /// `updated_at` as text.
    updated: Texts,
    /// The shipment ids (copied in table order from where the rules left
    /// them: read twice, CSV and Parquet).
    ids: Texts,
}

impl ShipmentPages<'_> {
    /// The pages of the row group of `rows` (the rows after the last
    /// batch's); with `csv`, the rows' CSV lines too, appended to its
    /// buffer with its delimiter.
    fn encode(&mut self, rows: Range<usize>, csv: Option<(&mut Vec<u8>, u8)>) -> Vec<Vec<Page>> {
        debug_assert_eq!(rows.start, self.next);
        self.next = rows.end;
        let rows = &self.resolved.shipments[rows];
        self.gather(rows);
        if let Some((out, sep)) = csv {
            self.csv(rows, out, sep);
        }
        vec![
            self.product_ids(0),
            self.supplier_ids(1),
            self.providers(2),
            self.scratch.ids.page(&self.fields[3]),
            self.supplier_skus(4),
            vec![pages::integers(
                &self.fields[5],
                &self.scratch.quantity,
                None,
            )],
            vec![pages::integers(&self.fields[6], &self.scratch.units, None)],
            self.statuses(7),
            self.dates(8, &self.scratch.etd),
            self.dates(9, &self.scratch.eta),
            self.scratch.updated.page(&self.fields[10]),
            self.buckets(11),
            vec![pages::booleans(&self.fields[12], &self.scratch.counts)],
        ]
    }

    /// `rows`' CSV lines, cell by cell as the CSV writer writes a frame's
    /// (`super::csv`), from what [`Self::gather`] found.
    fn csv(&self, rows: &[LatestShipment], out: &mut Vec<u8>, sep: u8) {
        let c = &self.scratch;
        let mut int = itoa::Buffer::new();
        let (mut etd, mut eta) = (c.etd.0.iter(), c.eta.0.iter());
        let texts = c.ids.iter().zip(c.updated.iter());
        for (i, (s, (id, updated))) in rows.iter().zip(texts).enumerate() {
            let entry = self.sku_map.entry(s.sku);
            for cell in [
                self.catalog.products[s.product as usize].id.as_str(),
                entry.supplier_id.as_str(),
                &self.resolved.names[s.provider as usize],
                id,
                entry.supplier_sku.as_str(),
            ] {
                csv::text(out, cell, sep);
                out.push(sep);
            }
            for n in [c.quantity[i], c.units[i]] {
                out.extend_from_slice(int.format(n).as_bytes());
                out.push(sep);
            }
            csv::text(out, s.status.as_str(), sep);
            for (present, days) in [(c.etd.1[i], &mut etd), (c.eta.1[i], &mut eta)] {
                out.push(sep);
                if present {
                    let d = *days.next().expect("a day for each date present");
                    csv::date(out, d as i32);
                }
            }
            out.push(sep);
            csv::text(out, updated, sep);
            out.push(sep);
            let bucket = Bucket::ALL[self.buckets.used[c.bucket[i] as usize] as usize];
            csv::text(out, bucket.as_str(), sep);
            out.push(sep);
            out.extend_from_slice(if c.counts[i] { b"true" } else { b"false" });
            out.push(b'\n');
        }
    }

    /// One pass over the rows fills every key and number column.
    fn gather(&mut self, rows: &[LatestShipment]) {
        for r in [
            &mut self.products,
            &mut self.suppliers,
            &mut self.entries,
            &mut self.providers,
            &mut self.statuses,
            &mut self.buckets,
        ] {
            r.start();
        }
        let c = &mut self.scratch;
        for v in [
            &mut c.product,
            &mut c.supplier,
            &mut c.entry,
            &mut c.provider,
            &mut c.status,
            &mut c.bucket,
        ] {
            v.clear();
        }
        for v in [&mut c.quantity, &mut c.units, &mut c.etd.0, &mut c.eta.0] {
            v.clear();
        }
        for v in [&mut c.etd.1, &mut c.eta.1, &mut c.counts] {
            v.clear();
        }
        c.updated.clear();
        c.ids.clear();
        // The ids lie where the rules' partitions put them: fetched a few
        // rows ahead, as the rows are walked in the table's order.
        const AHEAD: usize = 16;
        let all_ids = self.resolved.ids.as_bytes();
        for (i, s) in rows.iter().enumerate() {
            if let Some(next) = rows.get(i + AHEAD)
                && let Some(b) = all_ids.get(next.id_start as usize)
            {
                crate::sys::prefetch(b);
            }
            c.ids.push(self.resolved.shipment_id(s));
            let bucket = Bucket::of(s.status, s.eta, self.campaign);
            c.product.push(self.products.key(s.product));
            c.supplier
                .push(self.suppliers.key(s.supplier(self.sku_map)));
            c.entry.push(self.entries.key(s.sku));
            c.provider.push(self.providers.key(s.provider));
            c.status.push(self.statuses.key(s.status as u32));
            c.bucket.push(self.buckets.key(bucket as u32));
            c.quantity.push(s.quantity);
            c.units.push(s.units(self.sku_map));
            for (date, (days, present)) in [(s.etd, &mut c.etd), (s.eta, &mut c.eta)] {
                if let Some(d) = date {
                    days.push(crate::model::epoch_days(d) as i64);
                }
                present.push(date.is_some());
            }
            c.counts.push(bucket == Bucket::InWindow);
            let clock = &self.clock;
            c.updated
                .push_with(|text| clock.push_rfc3339(s.updated_at, text));
        }
    }

    fn dictionary<'s>(
        &self,
        i: usize,
        keys: &[u32],
        values: impl ExactSizeIterator<Item = &'s str>,
    ) -> Vec<Page> {
        let values = values.map(str::as_bytes);
        pages::dictionary(&self.fields[i], keys, values, None).into()
    }

    fn product_ids(&self, i: usize) -> Vec<Page> {
        let ids = self.products.used.iter();
        let ids = ids.map(|&p| self.catalog.products[p as usize].id.as_str());
        self.dictionary(i, &self.scratch.product, ids)
    }

    fn supplier_ids(&self, i: usize) -> Vec<Page> {
        let ids = self.suppliers.used.iter();
        let ids = ids.map(|&s| self.sku_map.suppliers[s as usize].as_str());
        self.dictionary(i, &self.scratch.supplier, ids)
    }

    fn supplier_skus(&self, i: usize) -> Vec<Page> {
        let skus = self.entries.used.iter();
        let skus = skus.map(|&e| self.sku_map.entry(e).supplier_sku.as_str());
        self.dictionary(i, &self.scratch.entry, skus)
    }

    fn providers(&self, i: usize) -> Vec<Page> {
        let names = self.providers.used.iter();
        let names = names.map(|&n| &*self.resolved.names[n as usize]);
        self.dictionary(i, &self.scratch.provider, names)
    }

    fn statuses(&self, i: usize) -> Vec<Page> {
        let words = self.statuses.used.iter();
        let words = words.map(|&s| Status::ALL[s as usize].as_str());
        self.dictionary(i, &self.scratch.status, words)
    }

    fn buckets(&self, i: usize) -> Vec<Page> {
        let words = self.buckets.used.iter();
        let words = words.map(|&b| Bucket::ALL[b as usize].as_str());
        self.dictionary(i, &self.scratch.bucket, words)
    }

    fn dates(&self, i: usize, (days, present): &(Vec<i64>, Vec<bool>)) -> Vec<Page> {
        vec![pages::nullable_integers(&self.fields[i], days, present)]
    }
}

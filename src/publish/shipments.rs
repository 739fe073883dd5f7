//! The shipments table's Parquet row groups, encoded straight from the
//! latest shipments (`crate::sys::parquet_pages`): its text columns
//! dictionary-encoded from the numbers the rows already carry (product,
//! supplier, SKU-map entry, provider, status, bucket: no string is
//! hashed), quantities and dates delta-encoded, shipment ids and
//! `updated_at` plain. polars' writer would hash every text cell of the
//! table's millions of rows to find its dictionaries
//! (docs/performance.md, twenty-first session).
//!
//! Same file as polars would write for the table's frames but for the
//! pages' encodings: the same Arrow schema, a row group per frame, zstd,
//! statistics; `tests` reads both back.

use polars::prelude::*;
use polars_parquet::parquet::page::Page;
use polars_parquet::parquet::schema::types::PrimitiveType;

use crate::aggregate::bucket::Bucket;
use crate::model::Status;
use crate::pipeline::Campaign;
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

/// Encodes the shipments table's frames, in order, as row groups.
pub struct ShipmentPages<'p> {
    catalog: &'p Catalog,
    sku_map: &'p SkuMap,
    resolved: &'p Resolved,
    campaign: &'p Campaign,
    /// The first row of the next frame.
    next: usize,
    /// The Parquet type of each column, from the first frame's schema.
    fields: Vec<PrimitiveType>,
    products: Remap,
    suppliers: Remap,
    entries: Remap,
    providers: Remap,
    statuses: Remap,
    buckets: Remap,
    scratch: Columns,
}

/// One frame's keys and numbers, kept from frame to frame.
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
}

impl<'p> ShipmentPages<'p> {
    pub fn new(
        catalog: &'p Catalog,
        sku_map: &'p SkuMap,
        resolved: &'p Resolved,
        campaign: &'p Campaign,
    ) -> Self {
        ShipmentPages {
            catalog,
            sku_map,
            resolved,
            campaign,
            next: 0,
            fields: Vec::new(),
            products: Remap::default(),
            suppliers: Remap::default(),
            entries: Remap::default(),
            providers: Remap::default(),
            statuses: Remap::default(),
            buckets: Remap::default(),
            scratch: Columns::default(),
        }
    }

    /// The pages of `frame`'s row group: `frame` holds the next rows of
    /// the shipments table, built from the same latest shipments.
    pub fn encode(&mut self, frame: &DataFrame) -> PolarsResult<Vec<Vec<Page>>> {
        let names: Vec<&str> = frame
            .get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect();
        if names != COLUMNS {
            polars_bail!(SchemaMismatch: "shipments table columns {names:?}");
        }
        if self.fields.is_empty() {
            self.fields = pages::fields(&frame.schema().to_arrow(CompatLevel::newest()));
        }
        let rows = &self.resolved.shipments[self.next..self.next + frame.height()];
        self.next += rows.len();
        self.gather(rows);
        let text = |name: &str| -> PolarsResult<StringChunked> {
            Ok(frame.column(name)?.str()?.rechunk().into_owned())
        };
        let (ids, updated) = (text("shipment_id")?, text("updated_at")?);
        let plain = |i: usize, ca: &StringChunked| {
            let bytes = ca.downcast_iter().map(|a| a.total_bytes_len()).sum();
            let values = ca.iter().map(|v| v.unwrap_or_default().as_bytes());
            vec![pages::strings(&self.fields[i], ca.len(), bytes, values)]
        };
        Ok(vec![
            self.product_ids(0),
            self.supplier_ids(1),
            self.providers(2),
            plain(3, &ids),
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
            plain(10, &updated),
            self.buckets(11),
            vec![pages::booleans(&self.fields[12], &self.scratch.counts)],
        ])
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
        for s in rows {
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

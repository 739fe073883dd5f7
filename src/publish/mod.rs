//! Publish: tables → files in the run's folder: CSV and Parquet for each
//! table, the XLSX workbook, and last `manifest.json`. The folder becomes
//! visible only when everything is written (see [`crate::workdir`]).
//!
//! [`outputs`] writes the five outputs on two threads, the longest first
//! by an estimate from their row counts (usually the shipments table, one
//! row per latest shipment, built and written a batch at a time, and the
//! workbook, whose sheets are written on two threads of their own; the
//! exceptions table when many rows were rejected), then the rest; at most
//! two large outputs are in memory at once. Once one fails the rest are
//! skipped; the first failure in the manifest's order is the run's error.
//! A writer that panics (rust_xlsxwriter does on a full disk) fails its
//! output like any other error.

mod csv;
pub mod exceptions;
pub mod manifest;
mod shipments;
pub mod table;
pub mod words;
pub mod xlsx;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::NaiveDate;

use crate::aggregate::{Tables, shipments::shipments_table};
use crate::error::{Error, Result};
use crate::pipeline::{Campaign, OutputOptions};
use crate::rules::Resolved;
use crate::stage::{Reference, RejectFiles};
use crate::sys::tuning::Tuning;
pub use crate::workdir::manifest::OutputRecord;
use crate::workdir::manifest::{Manifest, SourceRecord};
use exceptions::{ExceptionTable, Rejected};
use shipments::ShipmentTable;

/// Everything the outputs are made from.
pub struct Publication<'a> {
    /// The run's folder (still under `.tmp/`).
    pub dir: &'a Path,
    pub tables: &'a Tables,
    pub reference: &'a Reference,
    pub resolved: &'a Resolved,
    pub campaign: &'a Campaign,
    pub run_date: NaiveDate,
    /// Each feed's rejected rows (by source id).
    pub rejected: Vec<Rejected>,
    /// How many rows the exceptions table has.
    pub exceptions: u64,
    /// The sources as the manifest records them (for the About sheet).
    pub sources: &'a [SourceRecord],
    pub options: &'a OutputOptions,
    pub tuning: Tuning,
}

impl<'a> Publication<'a> {
    /// Each feed's rejected rows, named by its source id.
    pub fn rejected_of(
        ids: impl Iterator<Item = &'a str>,
        files: &[&RejectFiles],
    ) -> Vec<Rejected> {
        ids.zip(files)
            .map(|(id, f)| Rejected {
                source: id.to_string(),
                staged: f.staged.clone(),
                conflicts: f.conflicts.clone(),
            })
            .collect()
    }
}

/// One output of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Readiness,
    SupplierReadiness,
    Exceptions,
    Shipments,
    Workbook,
}

impl Output {
    /// The order the manifest lists them in.
    const ALL: [Output; 5] = [
        Output::Readiness,
        Output::SupplierReadiness,
        Output::Exceptions,
        Output::Shipments,
        Output::Workbook,
    ];

    /// About how long this output takes to write, in rows of the
    /// shipments table (each of the long tables costs about 1 µs a row
    /// for CSV and Parquet together; the workbook about eight times that
    /// per row of the two readiness tables, and a row per row of its two
    /// capped sheets).
    fn cost(self, p: &Publication) -> u64 {
        let sheet = p.options.detail_sheet_rows as u64;
        let shipments = p.resolved.shipments.len() as u64;
        let readiness = (p.tables.readiness.height() + p.tables.supplier_readiness.height()) as u64;
        match self {
            Output::Readiness => p.tables.readiness.height() as u64,
            Output::SupplierReadiness => p.tables.supplier_readiness.height() as u64,
            Output::Exceptions => p.exceptions,
            Output::Shipments => shipments,
            Output::Workbook => 8 * readiness + shipments.min(sheet) + p.exceptions.min(sheet),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Output::Readiness => "readiness",
            Output::SupplierReadiness => "supplier_readiness",
            Output::Exceptions => "exceptions",
            Output::Shipments => "shipments",
            Output::Workbook => "readiness.xlsx",
        }
    }

    /// The file an error about this output names.
    fn file(self) -> String {
        match self {
            Output::Workbook => self.name().to_string(),
            table => format!("{}.csv", table.name()),
        }
    }

    fn write(self, p: &Publication) -> Result<Vec<OutputRecord>> {
        let (dir, o) = (p.dir, p.options);
        match self {
            Output::Readiness => table::write_table(dir, self.name(), &p.tables.readiness, o),
            Output::SupplierReadiness => {
                table::write_table(dir, self.name(), &p.tables.supplier_readiness, o)
            }
            Output::Exceptions => {
                // Straight from the rejected-row files, a batch at a time.
                let mut table = ExceptionTable::new(&p.rejected, o, &p.tuning)?;
                table::write_table_rows(dir, self.name(), p.exceptions, o, &mut table)
            }
            Output::Shipments => {
                // Straight from the latest shipments, a batch at a time.
                let r = p.reference;
                let mut table = ShipmentTable::new(
                    &r.catalog, &r.sku_map, p.resolved, p.campaign, o, &p.tuning,
                )?;
                let rows = p.resolved.shipments.len() as u64;
                table::write_table_rows(dir, self.name(), rows, o, &mut table)
            }
            Output::Workbook => workbook(p).map(|r| vec![r]),
        }
    }
}

/// Rows of the shipments table.
fn shipments(p: &Publication, rows: std::ops::Range<usize>) -> Result<polars::prelude::DataFrame> {
    let r = p.reference;
    shipments_table(&r.catalog, &r.sku_map, p.resolved, p.campaign, rows)
}

/// The workbook: the tables, and the first rows of the shipments and
/// exceptions tables (at most `[output] detail_sheet_rows`, and for
/// exceptions 64 MiB of their text: rows of hostile length would otherwise
/// fill memory).
fn workbook(p: &Publication) -> Result<OutputRecord> {
    let t = Instant::now();
    let sheet = p.options.detail_sheet_rows;
    let total = p.resolved.shipments.len();
    let shipments = shipments(p, 0..total.min(sheet))?;
    let preview =
        exceptions::exception_batches(&p.rejected, sheet, 64 << 20, sheet)()?.unwrap_or_default();
    let exceptions = exceptions::exceptions_frame(&preview)?;
    drop(preview);
    let path = p.dir.join(Output::Workbook.name());
    let book = xlsx::Book {
        tables: p.tables,
        shipments: xlsx::SheetRows {
            frame: &shipments,
            total: total as u64,
            table: "shipments",
        },
        exceptions: xlsx::SheetRows {
            frame: &exceptions,
            total: p.exceptions,
            table: "exceptions",
        },
        sources: p.sources,
        campaign: p.campaign,
        run_date: p.run_date,
        language: p.options.language,
        detail_rows: sheet,
    };
    let bytes = xlsx::workbook(&book, p.dir).map_err(|e| Error::Publish {
        path,
        message: e.to_string(),
    })?;
    tracing::debug!(
        stage = "publish",
        ms = t.elapsed().as_millis() as u64,
        "Built the workbook."
    );
    table::write_workbook(
        p.dir,
        Output::Workbook.name(),
        &bytes,
        p.tables.readiness.height() as u64,
    )
}

/// Writes every output into the run's folder; returns their records in the
/// manifest's order.
pub fn outputs(p: &Publication) -> Result<Vec<OutputRecord>> {
    // The rules' and the tables' scratch, given back before publishing.
    crate::sys::memory::release_freed();
    let failed = AtomicBool::new(false);
    let one = |i: usize| {
        if failed.load(Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        let (output, t) = (Output::ALL[i], Instant::now());
        let r = crate::error::catch_panic(
            || output.write(p),
            |message| Error::Publish {
                path: p.dir.join(output.file()),
                message: format!("the writer stopped: {}", crate::error::io_words(&message)),
            },
        );
        tracing::debug!(
            stage = "publish",
            output = output.name(),
            ms = t.elapsed().as_millis() as u64,
            "Wrote output."
        );
        failed.fetch_or(r.is_err(), Ordering::Relaxed);
        r
    };
    // Longest first, so the two threads stay busy to the end (which is
    // longest depends on the run: a feed with many rejected rows makes the
    // exceptions table the longest).
    let mut order: Vec<usize> = (0..Output::ALL.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(Output::ALL[i].cost(p)));
    let workers = crate::sys::workers().min(2);
    let mut records = Vec::new();
    for r in crate::sys::queue::run(Output::ALL.len(), &order, workers, one) {
        records.extend(r.expect("every output is listed")?);
    }
    Ok(records)
}

/// Writes `manifest.json`, last: the commit point of the run's folder.
pub fn manifest(dir: &Path, manifest: &Manifest) -> Result<OutputRecord> {
    table::write_json(dir, "manifest.json", manifest)
}

//! The generated stock feeds: records of every kind, written as CSV,
//! NDJSON or Parquet.

use std::io::{BufWriter, Write};

use polars::prelude::*;

use super::{GenerateArgs, Offer, Shape, StockFormat, Style, TimestampStep, create, io_err};
use crate::error::{Error, Result};

/// A quantity as written: a number, a negative one (`-0` included), or
/// text that is not one.
#[derive(Clone)]
enum Quantity {
    Number(i64),
    Negative(i64),
    Text(&'static str),
}

impl Quantity {
    fn number(&self) -> Option<i64> {
        match self {
            Quantity::Number(n) => Some(*n),
            Quantity::Negative(n) => Some(-n),
            Quantity::Text(_) => None,
        }
    }
}

/// One stock record.
#[derive(Clone)]
struct Record {
    supplier: String,
    sku: String,
    warehouse: String,
    quantity: Quantity,
    as_of: String,
}

/// Whether the shape is the benchmark's first (its files as they always
/// were).
pub fn is_default(s: &Shape) -> bool {
    s.stock_files == 8
        && s.stock_format == StockFormat::Csv
        && !s.naive_timestamps
        && s.timestamp_step == TimestampStep::Minute
        && s.timestamp_format.is_none()
        && !s.long_ids
        && (s.reject_share - 0.02).abs() < f64::EPSILON
}

/// Where stock file `f` goes.
pub fn file_name(s: &Shape, f: usize) -> String {
    let ext = match s.stock_format {
        StockFormat::Csv => "csv",
        StockFormat::Ndjson => "ndjson",
        StockFormat::Parquet => "parquet",
    };
    format!("stock/stock_{f:02}.{ext}")
}

/// Writes records to one file.
trait Out {
    fn write(&mut self, r: &Record) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<()>;
}

struct Csv(BufWriter<std::fs::File>, std::path::PathBuf);

impl Out for Csv {
    fn write(&mut self, r: &Record) -> Result<()> {
        let q = match &r.quantity {
            Quantity::Number(n) => n.to_string(),
            Quantity::Negative(n) => format!("-{n}"),
            Quantity::Text(t) => t.to_string(),
        };
        writeln!(
            self.0,
            "{},{},{},{q},{}",
            r.supplier, r.sku, r.warehouse, r.as_of
        )
        .map_err(io_err(&self.1))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.0.flush().map_err(io_err(&self.1))
    }
}

struct Ndjson(BufWriter<std::fs::File>, std::path::PathBuf);

impl Out for Ndjson {
    fn write(&mut self, r: &Record) -> Result<()> {
        let q = match r.quantity.number() {
            Some(n) => serde_json::Value::from(n),
            None => serde_json::Value::from(match &r.quantity {
                Quantity::Text(t) => *t,
                _ => "",
            }),
        };
        let v = serde_json::json!({
            "supplier_id": r.supplier,
            "supplier_sku": r.sku,
            "warehouse": r.warehouse,
            "quantity": q,
            "as_of": r.as_of,
        });
        writeln!(self.0, "{v}").map_err(io_err(&self.1))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.0.flush().map_err(io_err(&self.1))
    }
}

/// Parquet, a row group of [`Parquet::GROUP`] rows at a time; the
/// quantity an integer column (text that is no number left null).
struct Parquet {
    rows: Vec<Record>,
    writer: Option<polars::io::parquet::write::BatchedWriter<std::fs::File>>,
    path: std::path::PathBuf,
}

impl Parquet {
    const GROUP: usize = 1 << 20;

    fn flush(&mut self) -> Result<()> {
        let err = |e: PolarsError| Error::polars("writing a Parquet stock file")(e);
        let r = std::mem::take(&mut self.rows);
        let q: Vec<Option<i64>> = r.iter().map(|x| x.quantity.number()).collect();
        let df = df! {
            "supplier_id" => r.iter().map(|x| x.supplier.as_str()).collect::<Vec<_>>(),
            "supplier_sku" => r.iter().map(|x| x.sku.as_str()).collect::<Vec<_>>(),
            "warehouse" => r.iter().map(|x| x.warehouse.as_str()).collect::<Vec<_>>(),
            "quantity" => q,
            "as_of" => r.iter().map(|x| x.as_of.as_str()).collect::<Vec<_>>(),
        }
        .map_err(err)?;
        if self.writer.is_none() {
            let file = std::fs::File::create(&self.path).map_err(io_err(&self.path))?;
            let w = ParquetWriter::new(file)
                .batched(&df.schema().clone())
                .map_err(err)?;
            self.writer = Some(w);
        }
        self.writer
            .as_mut()
            .expect("made above")
            .write_batch(&df)
            .map_err(err)
    }
}

impl Out for Parquet {
    fn write(&mut self, r: &Record) -> Result<()> {
        self.rows.push(r.clone());
        if self.rows.len() >= Self::GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush()?;
        let err = |e: PolarsError| Error::polars("writing a Parquet stock file")(e);
        self.writer
            .take()
            .expect("flushed above")
            .finish()
            .map(|_| ())
            .map_err(err)
    }
}

fn open(args: &GenerateArgs, f: usize) -> Result<Box<dyn Out>> {
    let path = args.out.join(file_name(&args.shape, f));
    Ok(match args.shape.stock_format {
        StockFormat::Csv => {
            let mut w = create(&path)?;
            writeln!(w, "supplier_id,supplier_sku,warehouse,quantity,as_of")
                .map_err(io_err(&path))?;
            Box::new(Csv(w, path))
        }
        StockFormat::Ndjson => Box::new(Ndjson(create(&path)?, path)),
        StockFormat::Parquet => {
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).map_err(io_err(p))?;
            }
            Box::new(Parquet {
                rows: Vec::new(),
                writer: None,
                path,
            })
        }
    })
}

/// The stock feeds: keys (offer, warehouse) with about four snapshots
/// each, every kind of invalid row, exact and conflicting duplicates.
pub fn write(args: &GenerateArgs, offers: &[Offer], rng: &mut fastrand::Rng) -> Result<()> {
    let style = Style {
        shape: &args.shape,
        run_date: args.run_date,
    };
    let key_list: Vec<(usize, usize)> = offers
        .iter()
        .enumerate()
        .flat_map(|(o, of)| (0..of.warehouses).map(move |wh| (o, wh)))
        .collect();
    let files = args.shape.stock_files;
    let mut outs: Vec<Box<dyn Out>> = (0..files).map(|f| open(args, f)).collect::<Result<_>>()?;
    let mut last: Vec<Record> = Vec::new();
    for _ in 0..args.stock_rows {
        let (o, wh) = key_list[rng.usize(0..key_list.len())];
        let of = &offers[o];
        let out = &mut outs[of.supplier % files];
        let qty = (of.base_qty as f64 * (0.5 + rng.f64())) as i64;
        let (day, hour, minute) = (rng.i64(0..10), rng.i64(0..24), rng.i64(0..60));
        let ts = style.stamp(day, hour, minute, rng);
        let row = |quantity, as_of: String, sku: String, warehouse: String| Record {
            supplier: style.supplier(of.supplier),
            sku,
            warehouse,
            quantity,
            as_of,
        };
        let (sku, w) = (of.sku.clone(), style.warehouse(wh));
        let draw = style.invalid_kind(rng.u32(0..1000), 20);
        let records = match draw {
            0..=2 => vec![row(Quantity::Negative(qty), ts, sku, w)],
            3..=5 => vec![row(Quantity::Text("N/A"), ts, sku, w)],
            6..=8 => vec![row(
                Quantity::Number(qty),
                "2026-13-45T08:00:00+07:00".into(),
                sku,
                w,
            )],
            9..=10 => {
                let unmapped = format!("ZZ-{}", rng.u32(0..99999));
                vec![row(Quantity::Number(qty), ts, unmapped, w)]
            }
            11..=12 => vec![row(Quantity::Number(qty), ts, sku, String::new())],
            13..=14 => {
                let future = style.stamp(12, 9, 0, rng);
                vec![row(Quantity::Number(qty), future, sku, w)]
            }
            // An exact copy of the previous record(s), or a conflicting pair.
            15..=17 if !last.is_empty() => last.clone(),
            18..=19 => vec![
                row(Quantity::Number(qty), ts.clone(), sku.clone(), w.clone()),
                row(Quantity::Number(qty + 1), ts, sku, w),
            ],
            _ => vec![row(Quantity::Number(qty), ts, sku, w)],
        };
        for r in &records {
            out.write(r)?;
        }
        last = records;
    }
    for out in outs {
        out.finish()?;
    }
    Ok(())
}

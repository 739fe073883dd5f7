//! `siap generate`: a deterministic synthetic campaign for demos, load
//! tests and the benchmark.
//!
//! Realistic enough to matter: several snapshots per stock key and several
//! updates per shipment, in shuffled order; supplier SKU codes that repeat
//! across suppliers (supplier A's `A-00017` and supplier B's `A-00017` are
//! different products); pack sizes; invalid rows of every kind (negative
//! and non-numeric quantities, bad dates, unmapped SKUs, missing fields,
//! unknown statuses, as-of after the run date, exact and conflicting
//! duplicates), 2% by default; products above and below the minimum. The
//! same seed and shape give the same bytes.
//!
//! The [`Shape`] says how the feeds look: how many stock files and in which
//! format, timestamps with or without an offset, on which step or in a
//! declared format, short or long ids, the share of invalid rows. The
//! defaults are the benchmark's first shape; the others are what suppliers
//! really send.

mod shipments;
mod stock;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate, NaiveDateTime};

pub use crate::cli::{Shape, StockFormat, TimestampStep};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct GenerateArgs {
    pub products: usize,
    pub stock_rows: u64,
    pub shipment_rows: u64,
    pub seed: u64,
    pub out: PathBuf,
    /// The run date the data is built around (as-of dates before it, the
    /// window after it).
    pub run_date: NaiveDate,
    pub shape: Shape,
}

const LINES: [&str; 5] = [
    "coffee sachets",
    "biscuits",
    "prawn crackers",
    "instant noodles",
    "bird's nest",
];
/// Each line's SKU prefix, for long ids.
const PREFIXES: [&str; 5] = ["KOPI", "BSK", "KRP", "MIE", "WLT"];
/// Cities of warehouses, for long ids.
const CITIES: [&str; 6] = ["JKT", "SBY", "DPS", "MDN", "BDG", "SMG"];
const PACKS: [i64; 6] = [1, 6, 12, 24, 40, 48];
const MINIMUM: i64 = 1_000_000;

struct Offer {
    supplier: usize,
    sku: String,
    pack: i64,
    warehouses: usize,
    /// Units per key per snapshot the product needs on average to land
    /// near its target.
    base_qty: i64,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Publish {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn create(path: &Path) -> Result<BufWriter<std::fs::File>> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(io_err(p))?;
    }
    Ok(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).map_err(io_err(path))?,
    ))
}

pub fn generate(args: &GenerateArgs) -> Result<()> {
    let s = &args.shape;
    if !(0.0..=0.5).contains(&s.reject_share) || s.stock_files == 0 {
        return Err(Error::Usage(
            "--reject-share must be between 0 and 0.5, --stock-files at least 1".into(),
        ));
    }
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let offers = reference_tables(args, &mut rng)?;
    stock::write(args, &offers, &mut rng)?;
    shipments::write(args, &offers, &mut rng)?;
    pipeline_file(args)
}

/// How the shape writes ids and times.
struct Style<'a> {
    shape: &'a Shape,
    run_date: NaiveDate,
}

impl Style<'_> {
    fn supplier(&self, s: usize) -> String {
        if self.shape.long_ids {
            format!("SUP{s:05}")
        } else {
            format!("S{s:03}")
        }
    }

    fn warehouse(&self, wh: usize) -> String {
        if self.shape.long_ids {
            format!("WH-{}-{:02}", CITIES[wh % CITIES.len()], wh + 1)
        } else {
            format!("WH-{wh}")
        }
    }

    /// The first day of the stock snapshots (ten days before the run date).
    fn day0(&self) -> NaiveDate {
        self.run_date - Duration::days(10)
    }

    /// A time `day` days after [`Style::day0`], at `hour:minute` and, on
    /// finer steps, a random second (and millisecond).
    fn stamp(&self, day: i64, hour: i64, minute: i64, rng: &mut fastrand::Rng) -> String {
        let d = self.day0() + Duration::days(day);
        let default = !self.shape.naive_timestamps && self.shape.timestamp_format.is_none();
        if default && self.shape.timestamp_step == TimestampStep::Minute {
            // The benchmark's first shape, byte for byte as it always was.
            return format!("{d}T{hour:02}:{minute:02}:00+07:00");
        }
        let (sec, milli) = match self.shape.timestamp_step {
            TimestampStep::Minute => (0, 0),
            TimestampStep::Second => (rng.u32(0..60), 0),
            TimestampStep::Millisecond => (rng.u32(0..60), rng.u32(0..1000)),
        };
        let t = d
            .and_hms_milli_opt(hour as u32, minute as u32, sec, milli)
            .unwrap_or_else(|| d.and_time(chrono::NaiveTime::MIN));
        self.format(t)
    }

    /// A wall-clock time as the shape writes it.
    fn format(&self, t: NaiveDateTime) -> String {
        if let Some(f) = &self.shape.timestamp_format {
            return t.format(f).to_string();
        }
        let frac = match self.shape.timestamp_step {
            TimestampStep::Millisecond => "%.3f",
            _ => "",
        };
        let offset = if self.shape.naive_timestamps {
            ""
        } else {
            "+07:00"
        };
        format!("{}{offset}", t.format(&format!("%Y-%m-%dT%H:%M:%S{frac}")))
    }

    /// Whether row kind `draw` (of 0..1000) is an invalid one: the first
    /// 20 of a thousand at the default 2%, scaled to the shape's share.
    fn invalid_kind(&self, draw: u32, kinds: u32) -> u32 {
        let share = self.shape.reject_share;
        if (share - 0.02).abs() < f64::EPSILON {
            return draw;
        }
        // The invalid kinds fill `kinds` of 1000 at 2%; stretched to the
        // share asked for (valid draws land past them).
        let scaled = draw as f64 * 0.02 / share;
        if scaled < f64::from(kinds) {
            scaled as u32
        } else {
            kinds.max(draw)
        }
    }
}

/// The window opens five days after the run date.
fn opens(args: &GenerateArgs) -> NaiveDate {
    args.run_date + Duration::days(5)
}

/// The catalog and the SKU map; returns every (product, supplier) offer.
fn reference_tables(args: &GenerateArgs, rng: &mut fastrand::Rng) -> Result<Vec<Offer>> {
    let out = &args.out;
    let p = args.products.max(1);
    let suppliers = (p / 10).clamp(5, 500);
    let style = Style {
        shape: &args.shape,
        run_date: args.run_date,
    };
    let mut w = create(&out.join("catalog.csv"))?;
    let e = io_err(out);
    writeln!(w, "product_id,product_name,category").map_err(&e)?;
    for i in 0..p {
        writeln!(
            w,
            "P{i:06},Product {i} {} pack,{}",
            LINES[i % 5].split(' ').next().unwrap_or(""),
            LINES[i % 5]
        )
        .map_err(&e)?;
    }
    w.flush().map_err(&e)?;

    // Every product is offered by one to three suppliers; SKU codes are
    // the supplier's own numbering, so the same code recurs across suppliers.
    let mut offers: Vec<Offer> = Vec::new();
    let mut next_code = vec![0usize; suppliers];
    let mut offers_of: Vec<Vec<usize>> = vec![Vec::new(); p];
    for (i, product_offers) in offers_of.iter_mut().enumerate() {
        let n = 1 + rng.usize(0..3);
        let target = (MINIMUM as f64 * (0.4 + 1.4 * rng.f64())) as i64;
        for _ in 0..n {
            let s = rng.usize(0..suppliers);
            next_code[s] += 1;
            let pack = PACKS[rng.usize(0..PACKS.len())];
            let warehouses = 1 + rng.usize(0..4);
            let sku = if args.shape.long_ids {
                format!("{}-{:06}", PREFIXES[i % 5], next_code[s])
            } else {
                format!("A-{:05}", next_code[s])
            };
            offers.push(Offer {
                supplier: s,
                sku,
                pack,
                warehouses,
                base_qty: 0,
            });
            product_offers.push(offers.len() - 1);
        }
        let keys: usize = product_offers.iter().map(|&o| offers[o].warehouses).sum();
        for &o in product_offers.iter() {
            offers[o].base_qty = (target / keys as i64 / offers[o].pack).max(1);
        }
    }
    let mut w = create(&out.join("sku_map.csv"))?;
    writeln!(w, "supplier_id,supplier_sku,product_id,pack_size").map_err(&e)?;
    for (i, list) in offers_of.iter().enumerate() {
        for &o in list {
            let of = &offers[o];
            let supplier = style.supplier(of.supplier);
            writeln!(w, "{supplier},{},P{i:06},{}", of.sku, of.pack).map_err(&e)?;
        }
    }
    w.flush().map_err(&e)?;
    Ok(offers)
}

/// The flags that made this campaign, for its pipeline file's header.
fn shape_flags(s: &Shape) -> String {
    let mut f = format!(
        " --stock-files {} --stock-format {:?}",
        s.stock_files, s.stock_format
    )
    .to_lowercase();
    if s.naive_timestamps {
        f.push_str(" --naive-timestamps");
    }
    if s.timestamp_step != TimestampStep::Minute {
        f.push_str(&format!(" --timestamp-step {:?}", s.timestamp_step).to_lowercase());
    }
    if let Some(t) = &s.timestamp_format {
        f.push_str(&format!(" --timestamp-format '{t}'"));
    }
    if s.long_ids {
        f.push_str(" --long-ids");
    }
    if (s.reject_share - 0.02).abs() > f64::EPSILON {
        f.push_str(&format!(" --reject-share {}", s.reject_share));
    }
    f
}

/// The pipeline file naming every feed.
fn pipeline_file(args: &GenerateArgs) -> Result<()> {
    let out = &args.out;
    let e = io_err(out);
    let s = &args.shape;
    let opens = opens(args);
    let closes = opens + Duration::days(7);
    let mut w = create(&out.join("pipeline.toml"))?;
    let default = stock::is_default(s);
    let flags = if default {
        String::new()
    } else {
        shape_flags(s)
    };
    writeln!(
        w,
        "# Generated by `siap generate --products {} --stock-rows {} --shipment-rows {} --seed {}{flags}`.\n\
         # Run with --date {}.\n\
         [campaign]\nname = \"Synthetic campaign (seed {})\"\nminimum_units = {MINIMUM}\ntimezone = \"Asia/Jakarta\"\n\
         window = {{ opens = {opens}, closes = {closes} }}\n\n\
         [catalog]\nlocation = \"catalog.csv\"\n\n[sku_map]\nlocation = \"sku_map.csv\"\n",
        args.products, args.stock_rows, args.shipment_rows, args.seed, args.run_date, args.seed
    )
    .map_err(&e)?;
    let declared = match &s.timestamp_format {
        Some(f) => format!("timestamp_format = \"{f}\"\n"),
        None => String::new(),
    };
    for f in 0..s.stock_files {
        writeln!(
            w,
            "[[stock]]\nid = \"stock-{f:02}\"\nlocation = \"{}\"\n{declared}",
            stock::file_name(s, f)
        )
        .map_err(&e)?;
    }
    for f in 0..2 {
        writeln!(w, "[[shipments]]\nid = \"provider-{f}\"\nprovider = \"LOG-{f}\"\nlocation = \"shipments/provider_{f}.csv\"\n{declared}").map_err(&e)?;
    }
    w.flush().map_err(&e)?;
    Ok(())
}

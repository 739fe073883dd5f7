//! `siap generate`: a deterministic synthetic campaign for demos, load
//! tests and the benchmark.
//!
//! Realistic enough to matter: several snapshots per stock key and several
//! updates per shipment, in shuffled order; supplier SKU codes that repeat
//! across suppliers (supplier A's `A-00017` and supplier B's `A-00017` are
//! different products); pack sizes; about 2% invalid rows of every kind
//! (negative and non-numeric quantities, bad dates, unmapped SKUs, missing
//! fields, unknown statuses, as-of after the run date, exact and
//! conflicting duplicates); products above and below the minimum. The same
//! seed gives the same bytes.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};

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
}

const LINES: [&str; 5] = [
    "coffee sachets",
    "biscuits",
    "prawn crackers",
    "instant noodles",
    "bird's nest",
];
const PACKS: [i64; 6] = [1, 6, 12, 24, 40, 48];
const MINIMUM: i64 = 1_000_000;
/// Stock is split over this many files, so staging runs in parallel.
const STOCK_FILES: u64 = 8;

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
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let offers = reference_tables(args, &mut rng)?;
    stock(args, &offers, &mut rng)?;
    shipments(args, &offers, &mut rng)?;
    pipeline_file(args)
}

/// The first day of the stock snapshots (ten days before the run date).
fn day0(args: &GenerateArgs) -> NaiveDate {
    args.run_date - Duration::days(10)
}

/// An as-of or update time, `day` days after [`day0`].
fn stamp(args: &GenerateArgs, day: i64, hour: i64, minute: i64) -> String {
    let d = day0(args) + Duration::days(day);
    format!("{d}T{hour:02}:{minute:02}:00+07:00")
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
    for product_offers in offers_of.iter_mut() {
        let n = 1 + rng.usize(0..3);
        let target = (MINIMUM as f64 * (0.4 + 1.4 * rng.f64())) as i64;
        for _ in 0..n {
            let s = rng.usize(0..suppliers);
            next_code[s] += 1;
            let pack = PACKS[rng.usize(0..PACKS.len())];
            let warehouses = 1 + rng.usize(0..4);
            offers.push(Offer {
                supplier: s,
                sku: format!("A-{:05}", next_code[s]),
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
            writeln!(w, "S{:03},{},P{i:06},{}", of.supplier, of.sku, of.pack).map_err(&e)?;
        }
    }
    w.flush().map_err(&e)?;

    Ok(offers)
}

/// The stock feeds.
fn stock(args: &GenerateArgs, offers: &[Offer], rng: &mut fastrand::Rng) -> Result<()> {
    let out = &args.out;
    let e = io_err(out);
    // Keys: (offer, warehouse); about four snapshots each.
    let key_list: Vec<(usize, usize)> = offers
        .iter()
        .enumerate()
        .flat_map(|(o, of)| (0..of.warehouses).map(move |wh| (o, wh)))
        .collect();
    let stamp = |day: i64, hour: i64, minute: i64| stamp(args, day, hour, minute);
    let mut files: Vec<BufWriter<std::fs::File>> = (0..STOCK_FILES)
        .map(|f| create(&out.join(format!("stock/stock_{f:02}.csv"))))
        .collect::<Result<_>>()?;
    for f in files.iter_mut() {
        writeln!(f, "supplier_id,supplier_sku,warehouse,quantity,as_of").map_err(&e)?;
    }
    let mut last: Option<String> = None;
    for _ in 0..args.stock_rows {
        let (o, wh) = key_list[rng.usize(0..key_list.len())];
        let of = &offers[o];
        let f = &mut files[of.supplier % STOCK_FILES as usize];
        let qty = (of.base_qty as f64 * (0.5 + rng.f64())) as i64;
        let ts = stamp(rng.i64(0..10), rng.i64(0..24), rng.i64(0..60));
        let line = match rng.u32(0..1000) {
            0..=2 => format!("S{:03},{},WH-{wh},-{qty},{ts}", of.supplier, of.sku),
            3..=5 => format!("S{:03},{},WH-{wh},N/A,{ts}", of.supplier, of.sku),
            6..=8 => format!(
                "S{:03},{},WH-{wh},{qty},2026-13-45T08:00:00+07:00",
                of.supplier, of.sku
            ),
            9..=10 => format!(
                "S{:03},ZZ-{},WH-{wh},{qty},{ts}",
                of.supplier,
                rng.u32(0..99999)
            ),
            11..=12 => format!("S{:03},{},,{qty},{ts}", of.supplier, of.sku),
            13..=14 => format!(
                "S{:03},{},WH-{wh},{qty},{}",
                of.supplier,
                of.sku,
                stamp(12, 9, 0)
            ),
            // An exact copy of the previous row, or a conflicting one.
            15..=17 if last.is_some() => last.clone().unwrap_or_default(),
            18..=19 => format!(
                "S{:03},{},WH-{wh},{},{ts}\nS{:03},{},WH-{wh},{},{ts}",
                of.supplier,
                of.sku,
                qty,
                of.supplier,
                of.sku,
                qty + 1
            ),
            _ => format!("S{:03},{},WH-{wh},{qty},{ts}", of.supplier, of.sku),
        };
        writeln!(f, "{line}").map_err(&e)?;
        last = Some(line);
    }
    for mut f in files {
        f.flush().map_err(&e)?;
    }

    Ok(())
}

/// The shipment feeds of two providers.
fn shipments(args: &GenerateArgs, offers: &[Offer], rng: &mut fastrand::Rng) -> Result<()> {
    let out = &args.out;
    let e = io_err(out);
    let stamp = |day: i64, hour: i64, minute: i64| stamp(args, day, hour, minute);
    let day0 = day0(args);
    // About three updates per shipment, written in shuffled blocks.
    let opens = opens(args);
    let mut files: Vec<BufWriter<std::fs::File>> = (0..2)
        .map(|f| create(&out.join(format!("shipments/provider_{f}.csv"))))
        .collect::<Result<_>>()?;
    for f in files.iter_mut() {
        writeln!(
            f,
            "shipment_id,supplier_id,supplier_sku,quantity,status,etd,eta,updated_at"
        )
        .map_err(&e)?;
    }
    let mut written = 0u64;
    let mut shipment = 0u64;
    let mut block: Vec<(usize, String)> = Vec::new();
    while written < args.shipment_rows {
        shipment += 1;
        let o = rng.usize(0..offers.len());
        let of = &offers[o];
        let provider = (shipment % 2) as usize;
        let qty = (of.base_qty as f64 * (0.5 + 2.0 * rng.f64())) as i64;
        let updates = 1 + rng.u64(0..5);
        let mut eta_off = rng.i64(-4..14);
        for u in 0..updates.min(args.shipment_rows - written) {
            let status = match (u + 1 == updates, rng.u32(0..100)) {
                (true, 0..=9) => "cancelled",
                (true, 10..=14) => "arrived",
                (_, 15..=19) => "customs_hold",
                (_, 20..=49) => "in_transit",
                (_, 50..=69) => "departed",
                _ => "booked",
            };
            if rng.u32(0..3) == 0 {
                eta_off += rng.i64(-2..3);
            }
            let eta = if rng.u32(0..50) == 0 {
                String::new()
            } else {
                (opens + Duration::days(eta_off)).to_string()
            };
            let etd = (day0 + Duration::days(rng.i64(0..10))).to_string();
            let ts = stamp(u as i64 * 2 + rng.i64(0..2), rng.i64(0..24), rng.i64(0..60));
            let line = match rng.u32(0..1000) {
                0..=3 => format!(
                    "SH{shipment:08},S{:03},{},{qty},LOST,{etd},{eta},{ts}",
                    of.supplier, of.sku
                ),
                4..=6 => format!(
                    "SH{shipment:08},S{:03},{},{qty}x,{status},{etd},{eta},{ts}",
                    of.supplier, of.sku
                ),
                7..=9 => format!(
                    "SH{shipment:08},S{:03},{},{qty},{status},{etd},2026-02-30,{ts}",
                    of.supplier, of.sku
                ),
                10..=11 => format!(
                    "SH{shipment:08},S{:03},{},{qty},{status},{etd},{eta},",
                    of.supplier, of.sku
                ),
                _ => format!(
                    "SH{shipment:08},S{:03},{},{qty},{status},{etd},{eta},{ts}",
                    of.supplier, of.sku
                ),
            };
            block.push((provider, line));
            written += 1;
        }
        if block.len() >= 4096 || written >= args.shipment_rows {
            rng.shuffle(&mut block);
            for (pv, line) in block.drain(..) {
                writeln!(files[pv], "{line}").map_err(&e)?;
            }
        }
    }
    for mut f in files {
        f.flush().map_err(&e)?;
    }

    Ok(())
}

/// The pipeline file naming every feed.
fn pipeline_file(args: &GenerateArgs) -> Result<()> {
    let out = &args.out;
    let e = io_err(out);
    let opens = opens(args);
    let closes = opens + Duration::days(7);
    let mut w = create(&out.join("pipeline.toml"))?;
    writeln!(
        w,
        "# Generated by `siap generate --products {} --stock-rows {} --shipment-rows {} --seed {}`.\n\
         # Run with --date {}.\n\
         [campaign]\nname = \"Synthetic campaign (seed {})\"\nminimum_units = {MINIMUM}\ntimezone = \"Asia/Jakarta\"\n\
         window = {{ opens = {opens}, closes = {closes} }}\n\n\
         [catalog]\nlocation = \"catalog.csv\"\n\n[sku_map]\nlocation = \"sku_map.csv\"\n",
        args.products, args.stock_rows, args.shipment_rows, args.seed, args.run_date, args.seed
    )
    .map_err(&e)?;
    for f in 0..STOCK_FILES {
        writeln!(
            w,
            "[[stock]]\nid = \"stock-{f:02}\"\nlocation = \"stock/stock_{f:02}.csv\"\n"
        )
        .map_err(&e)?;
    }
    for f in 0..2 {
        writeln!(w, "[[shipments]]\nid = \"provider-{f}\"\nprovider = \"LOG-{f}\"\nlocation = \"shipments/provider_{f}.csv\"\n").map_err(&e)?;
    }
    w.flush().map_err(&e)?;
    Ok(())
}

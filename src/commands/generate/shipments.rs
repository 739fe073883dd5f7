//! The generated shipment feeds of two providers: about three updates per
//! shipment, written in shuffled blocks, with every kind of invalid row.

use std::io::{BufWriter, Write};

use chrono::Duration;

use super::{GenerateArgs, Offer, Style, create, io_err, opens};
use crate::error::Result;

pub fn write(args: &GenerateArgs, offers: &[Offer], rng: &mut fastrand::Rng) -> Result<()> {
    let out = &args.out;
    let e = io_err(out);
    let style = Style {
        shape: &args.shape,
        run_date: args.run_date,
    };
    let day0 = style.day0();
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
        let (id, supplier) = (format!("SH{shipment:08}"), style.supplier(of.supplier));
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
            let (day, hour, minute) =
                (u as i64 * 2 + rng.i64(0..2), rng.i64(0..24), rng.i64(0..60));
            let ts = style.stamp(day, hour, minute, rng);
            let sku = &of.sku;
            let line = match style.invalid_kind(rng.u32(0..1000), 12) {
                0..=3 => format!("{id},{supplier},{sku},{qty},LOST,{etd},{eta},{ts}"),
                4..=6 => format!("{id},{supplier},{sku},{qty}x,{status},{etd},{eta},{ts}"),
                7..=9 => format!("{id},{supplier},{sku},{qty},{status},{etd},2026-02-30,{ts}"),
                10..=11 => format!("{id},{supplier},{sku},{qty},{status},{etd},{eta},"),
                _ => format!("{id},{supplier},{sku},{qty},{status},{etd},{eta},{ts}"),
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

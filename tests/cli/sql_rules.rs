//! A property test of the distributed path's rules: on small random
//! campaigns full of adversarial ties (the same key in several feeds, the
//! same instant written with different offsets, exact and conflicting
//! duplicates, shipment ids shared by providers and by two feeds of one
//! provider, missing ETAs), `siap resolve`'s SQL rules on DataFusion
//! in-process and `siap run`'s native rules publish the same bytes.

#![cfg(feature = "distributed")]

use proptest::prelude::*;

use crate::distributed::{assert_same_files, feeds, plan, stage_all};
use crate::harness::Workdir;

const SUPPLIERS: [&str; 2] = ["S1", "S2"];
const SKUS: [&str; 3] = ["K1", "K2", "K9"]; // K9 is not in the SKU map
const WAREHOUSES: [&str; 2] = ["WH-A", "WH-B"];
/// Three instants, the second written two ways.
const STOCK_TIMES: [&str; 4] = [
    "2026-11-25T08:00:00+07:00",
    "2026-11-26T08:00:00+07:00",
    "2026-11-26T01:00:00+00:00",
    "2026-11-26 08:00:00",
];
const QUANTITIES: [&str; 4] = ["400000", "600000", "1000000", "x"];
const STATUSES: [&str; 3] = ["booked", "in_transit", "delivered"];
const ETAS: [&str; 3] = ["", "2026-12-03", "2026-12-20"];
/// Shipment feeds' providers: two feeds of `LOG-A`, one of `LOG-B`.
const PROVIDERS: [&str; 3] = ["LOG-A", "LOG-B", "LOG-A"];

type StockRow = (usize, usize, usize, usize, usize);
type ShipRow = (usize, usize, usize, usize, usize, usize, usize);

fn stock_rows() -> impl Strategy<Value = Vec<StockRow>> {
    prop::collection::vec(
        (0..2usize, 0..3usize, 0..2usize, 0..4usize, 0..4usize),
        0..10,
    )
}

fn ship_rows() -> impl Strategy<Value = Vec<ShipRow>> {
    prop::collection::vec(
        (
            0..3usize,
            0..2usize,
            0..2usize,
            0..3usize,
            0..3usize,
            0..3usize,
            0..3usize,
        ),
        0..8,
    )
}

/// The campaign's files in `w`; its pipeline file.
fn campaign(w: &Workdir, stock: &[Vec<StockRow>], ships: &[Vec<ShipRow>]) -> &'static str {
    w.write(
        "c/catalog.csv",
        "product_id,product_name,category\nP1,Kopi,coffee sachets\nP2,Mie,instant noodles\n",
    );
    w.write(
        "c/sku_map.csv",
        "supplier_id,supplier_sku,product_id,pack_size\n\
         S1,K1,P1,1\nS1,K2,P2,12\nS2,K1,P2,1\nS2,K2,P1,6\n",
    );
    let mut pipeline = String::from(
        "[campaign]\nname = \"Property\"\nminimum_units = 1000000\n\
         timezone = \"Asia/Jakarta\"\nwindow = { opens = 2026-12-01, closes = 2026-12-08 }\n\
         [catalog]\nlocation = \"catalog.csv\"\n[sku_map]\nlocation = \"sku_map.csv\"\n",
    );
    for (i, rows) in stock.iter().enumerate() {
        let mut text = String::from("supplier_id,supplier_sku,warehouse,quantity,as_of\n");
        for &(s, k, wh, q, t) in rows {
            text.push_str(&format!(
                "{},{},{},{},{}\n",
                SUPPLIERS[s], SKUS[k], WAREHOUSES[wh], QUANTITIES[q], STOCK_TIMES[t]
            ));
        }
        w.write(&format!("c/stock_{i}.csv"), text);
        pipeline.push_str(&format!(
            "[[stock]]\nid = \"stock-{i}\"\nlocation = \"stock_{i}.csv\"\n"
        ));
    }
    for (i, rows) in ships.iter().enumerate() {
        let mut text = String::from(
            "shipment_id,supplier_id,supplier_sku,quantity,status,etd,eta,updated_at\n",
        );
        for &(id, s, k, q, st, eta, t) in rows {
            text.push_str(&format!(
                "SH{id},{},{},{},{},2026-11-28,{},{}\n",
                SUPPLIERS[s],
                SKUS[k],
                ["300000", "700000", "0"][q],
                STATUSES[st],
                ETAS[eta],
                STOCK_TIMES[t]
            ));
        }
        w.write(&format!("c/ships_{i}.csv"), text);
        pipeline.push_str(&format!(
            "[[shipments]]\nid = \"ships-{i}\"\nprovider = \"{}\"\nlocation = \"ships_{i}.csv\"\n",
            PROVIDERS[i]
        ));
    }
    w.write("c/pipeline.toml", pipeline);
    "c/pipeline.toml"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_sql_rules_publish_the_bytes_of_the_native_rules(
        stock in prop::collection::vec(stock_rows(), 1..4),
        ships in prop::collection::vec(ship_rows(), 1..4),
        partitions in 1usize..5,
    ) {
        let w = Workdir::new();
        let pipeline = campaign(&w, &stock, &ships);
        let single = w.siap(&["run", pipeline, "--date", "2026-11-27", "--work-dir", "single"]);

        let plan = plan(&w, pipeline, "dist");
        let run_id = plan["run_id"].as_str().unwrap().to_string();
        stage_all(&w, pipeline, "dist", &run_id, &feeds(&plan));
        w.siap(&[
            "resolve", "--work-dir", "dist", "--run", &run_id,
            "--engine", "local", "--partitions", &partitions.to_string(),
        ])
        .assert_success();
        let dist = w.siap(&["finish", pipeline, "--work-dir", "dist", "--run", &run_id]);
        prop_assert_eq!(single.status, dist.status, "run: {}\nfinish: {}", single.stderr, dist.stderr);
        if single.status == 0 || single.status == 7 {
            assert_same_files(&w.join("single"), &w.join("dist"));
        }
    }
}

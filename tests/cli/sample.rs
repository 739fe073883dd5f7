//! The sample campaign, end to end, checked against values worked out by
//! hand from the feeds in `sample_data/` (the arithmetic is written out).

use crate::harness::{Workdir, csv_by_key, manifest, read_csv, repo};

const M: i64 = 1_000_000;

struct Expect {
    id: &'static str,
    suppliers: i64,
    stock: i64,
    window: i64,
    early: i64,
    late: i64,
}

fn expected() -> Vec<Expect> {
    vec![
        // Kopi Nusantara cartons of 120. Surabaya: the 25/11 snapshot (5.000)
        // replaces the 20/11 one (4.500); Jakarta writes `4.000,00`.
        // Shipments SHP-K-1001 (ETA 01/12 = opens) and SHP-K-1002 (ETA
        // 08/12 = closes): both window bounds are inclusive.
        Expect {
            id: "KOPI-001",
            suppliers: 1,
            stock: 5_000 * 120 + 4_000 * 120,
            window: 4_500 * 120 + 4_000 * 120,
            early: 0,
            late: 0,
        },
        // Two suppliers. Nusantara's blank pack size is 1; Aroma Pagi's
        // latest snapshot is 25,000 packs of 10 (30,000 is superseded).
        Expect {
            id: "KOPI-002",
            suppliers: 2,
            stock: 300_000 + 25_000 * 10,
            window: 60_000 * 10 + 500_000,
            early: 0,
            late: 0,
        },
        // Cartons of 48; SHP-K-1004 arrives 09/12, a day after closing.
        Expect {
            id: "KOPI-003",
            suppliers: 1,
            stock: 15_000 * 48 + 10_000 * 48,
            window: 10_000 * 48,
            early: 0,
            late: 12_000 * 48,
        },
        Expect {
            id: "BISK-001",
            suppliers: 1,
            stock: 30_000 * 24 + 15_000 * 24,
            window: 45_000 * 24,
            early: 0,
            late: 0,
        },
        // The tins arrive 28/11, before the window opens.
        Expect {
            id: "BISK-002",
            suppliers: 1,
            stock: 20_000 * 6,
            window: 0,
            early: 20_000 * 6,
            late: 0,
        },
        // SKU `007250` keeps its leading zeros; `7250` is unmapped and the
        // -500 row is rejected, so neither counts. SHP-K-1005's later update
        // moves its ETA from 10/12 into the window.
        Expect {
            id: "KRUP-001",
            suppliers: 1,
            stock: 700_000 + 400_000,
            window: 1_100_000,
            early: 0,
            late: 0,
        },
        // Bales of 20; SHP-K-1006 is held in customs but counts by its ETA.
        Expect {
            id: "KRUP-002",
            suppliers: 1,
            stock: 40_000 * 20,
            window: 60_000 * 20,
            early: 0,
            late: 0,
        },
        // Cartons of 40. Semarang's 26/11 snapshot wins; Bekasi's duplicate
        // row counts once; Makassar's two conflicting 26/11 rows are
        // rejected, so its 22/11 row (5,000) counts. SHP-C-2006 arrived
        // without an ETA: in no bucket.
        Expect {
            id: "MIE-001",
            suppliers: 1,
            stock: 18_000 * 40 + 12_000 * 40 + 5_000 * 40,
            window: 30_000 * 40,
            early: 0,
            late: 0,
        },
        // SHP-K-1008 has no ETA and is still travelling: late. SHP-K-1009 was
        // cancelled by its later update. SHP-K-1010 arrived early (30/11).
        Expect {
            id: "MIE-002",
            suppliers: 1,
            stock: 30_000 * 40,
            window: 10_000 * 40,
            early: 5_000 * 40,
            late: 10_000 * 40,
        },
        Expect {
            id: "MIE-003",
            suppliers: 1,
            stock: 26_000 * 40,
            window: 26_000 * 40,
            early: 0,
            late: 0,
        },
        // No supplier offers it at all.
        Expect {
            id: "WLT-001",
            suppliers: 0,
            stock: 0,
            window: 0,
            early: 0,
            late: 0,
        },
        // The 29/11 snapshot is after the run date (27/11) and rejected.
        Expect {
            id: "WLT-002",
            suppliers: 1,
            stock: 12_000,
            window: 8_000,
            early: 0,
            late: 0,
        },
    ]
}

fn run_sample(w: &Workdir) -> std::path::PathBuf {
    let pipeline = repo().join("pipelines/harbolnas.toml");
    let out = w.join("out");
    w.siap(&[
        "run",
        pipeline.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--date",
        "2026-11-27",
    ])
    .assert_success();
    out
}

#[test]
fn readiness_matches_hand_computed_values() {
    let w = Workdir::new();
    let out = run_sample(&w);
    let table = csv_by_key(&out.join("latest/readiness.csv"), &["product_id"]);
    let expected = expected();
    assert_eq!(table.len(), expected.len(), "one row per catalog product");
    for e in expected {
        let row = &table[e.id];
        let n = |c: &str| {
            row[c]
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("{}: {c} = {}", e.id, row[c]))
        };
        assert_eq!(n("suppliers"), e.suppliers, "{} suppliers", e.id);
        assert_eq!(n("stock_units"), e.stock, "{} stock_units", e.id);
        assert_eq!(n("window_units"), e.window, "{} window_units", e.id);
        assert_eq!(n("early_units"), e.early, "{} early_units", e.id);
        assert_eq!(n("late_units"), e.late, "{} late_units", e.id);
        assert_eq!(
            n("stock_shortfall"),
            (M - e.stock).max(0),
            "{} stock_shortfall",
            e.id
        );
        assert_eq!(
            n("window_shortfall"),
            (M - e.window).max(0),
            "{} window_shortfall",
            e.id
        );
        let short = e.stock < M;
        let misses = e.window < M;
        assert_eq!(row["short_of_minimum"], short.to_string(), "{}", e.id);
        assert_eq!(row["misses_window"], misses.to_string(), "{}", e.id);
        let status = if short || misses {
            "NOT_READY"
        } else {
            "READY"
        };
        assert_eq!(row["status"], status, "{} status", e.id);
    }
    // The sample shows every outcome.
    let status = |id: &str| table[id]["status"].clone();
    assert_eq!(status("KOPI-001"), "READY");
    assert_eq!(
        (
            table["KOPI-002"]["short_of_minimum"].as_str(),
            table["KOPI-002"]["misses_window"].as_str()
        ),
        ("true", "false")
    );
    assert_eq!(
        (
            table["KOPI-003"]["short_of_minimum"].as_str(),
            table["KOPI-003"]["misses_window"].as_str()
        ),
        ("false", "true")
    );
    assert_eq!(
        (
            table["BISK-002"]["short_of_minimum"].as_str(),
            table["BISK-002"]["misses_window"].as_str()
        ),
        ("true", "true")
    );
}

#[test]
fn supplier_breakdown_matches_hand_computed_values() {
    let w = Workdir::new();
    let out = run_sample(&w);
    let t = csv_by_key(
        &out.join("latest/supplier_readiness.csv"),
        &["product_id", "supplier_id"],
    );
    let get = |k: &str, c: &str| t[k][c].parse::<i64>().unwrap();
    assert_eq!(get("KOPI-002/SUP-NUSA", "stock_units"), 300_000);
    assert_eq!(get("KOPI-002/SUP-NUSA", "window_units"), 500_000);
    assert_eq!(get("KOPI-002/SUP-PAGI", "stock_units"), 25_000 * 10);
    assert_eq!(get("KOPI-002/SUP-PAGI", "window_units"), 60_000 * 10);
    assert_eq!(get("MIE-002/SUP-MIEJAYA", "late_units"), 10_000 * 40);
    assert!(
        !t.keys().any(|k| k.starts_with("WLT-001")),
        "no supplier row for an unsupplied product"
    );
    // Sorted by product, then supplier.
    let keys: Vec<&String> = t.keys().collect();
    let (_, rows) = read_csv(&out.join("latest/supplier_readiness.csv"));
    let order: Vec<String> = rows.iter().map(|r| format!("{}/{}", r[0], r[1])).collect();
    assert_eq!(order.iter().collect::<Vec<_>>(), keys);
}

#[test]
fn rejected_rows_land_in_exceptions_and_not_in_totals() {
    let w = Workdir::new();
    let out = run_sample(&w);
    let (header, rows) = read_csv(&out.join("latest/exceptions.csv"));
    assert_eq!(
        header,
        [
            "source",
            "supplier_id",
            "product_id",
            "line",
            "field",
            "reason",
            "detail",
            "raw"
        ]
    );
    let got: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[3].clone(), r[5].clone(), r[7].clone()))
        .collect();
    let want = [
        (
            "cepat-express",
            "11",
            "unknown status",
            r#"{"shipment_id": "SHP-C-2009", "supplier_id": "SUP-WALET", "supplier_sku": "WE-KRG-50", "quantity": 3000, "status": "hilang", "etd": "2026-11-20", "eta": "2026-12-04", "updated_at": "2026-11-26T11:00:00+07:00"}"#,
        ),
        (
            "kerupuk-sidoarjo",
            "6",
            "unmapped sku",
            "7250,Gudang Sidoarjo,90000,2026-11-26T16:00:00+07:00",
        ),
        (
            "kerupuk-sidoarjo",
            "7",
            "negative quantity",
            "SDJ-MTH-500,Gudang Gresik,-500,2026-11-26T16:00:00+07:00",
        ),
        (
            "mie-jaya",
            "7",
            "conflicting duplicate",
            "MJ-GRG-85,WH Makassar,6000,2026-11-26T06:00:00+07:00",
        ),
        (
            "mie-jaya",
            "8",
            "conflicting duplicate",
            "MJ-GRG-85,WH Makassar,6500,2026-11-26T06:00:00+07:00",
        ),
        (
            "walet-emas",
            "2",
            "as-of after run date",
            r#"{"supplier_sku": "WE-KRG-50", "warehouse": "Gudang Pontianak", "quantity": "15000", "as_of": "2026-11-29T09:00:00+07:00"}"#,
        ),
        (
            "walet-emas",
            "3",
            "malformed record",
            r#"{"supplier_sku": "WE-KRG-50", "warehouse": "Gudang Pontianak", "quantity":"#,
        ),
    ];
    let want: Vec<(String, String, String, String)> = want
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn manifest_balances_for_every_source() {
    let w = Workdir::new();
    let out = run_sample(&w);
    let m = manifest(&out);
    let sources = m["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 10);
    for s in sources {
        let n = |k: &str| s[k].as_u64().unwrap();
        assert_eq!(
            n("records_read"),
            n("counted") + n("superseded") + n("rejected") + n("duplicates"),
            "source {} does not balance: {s}",
            s["id"]
        );
        assert_eq!(n("accepted"), n("counted") + n("superseded"));
        assert_eq!(s["sha256"].as_str().unwrap().len(), 64);
    }
    let by_id = |id: &str| sources.iter().find(|s| s["id"] == id).unwrap().clone();
    let mie = by_id("mie-jaya");
    assert_eq!(
        (
            mie["records_read"].as_u64(),
            mie["counted"].as_u64(),
            mie["superseded"].as_u64(),
            mie["rejected"].as_u64(),
            mie["duplicates"].as_u64()
        ),
        (Some(9), Some(5), Some(1), Some(2), Some(1))
    );
    let kapal = by_id("kapal-nusantara");
    assert_eq!(
        (kapal["records_read"].as_u64(), kapal["superseded"].as_u64()),
        (Some(12), Some(2))
    );
    assert_eq!(
        by_id("renyah-jaya")["extra_columns"],
        serde_json::json!(["notes"])
    );
    // Outputs are listed with their checksums.
    let outputs = m["outputs"].as_array().unwrap();
    for name in [
        "readiness.csv",
        "readiness.parquet",
        "supplier_readiness.csv",
        "exceptions.parquet",
    ] {
        let o = outputs
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        let bytes = std::fs::read(out.join("latest").join(name)).unwrap();
        use sha2::Digest;
        assert_eq!(
            o["sha256"].as_str().unwrap(),
            hex::encode(sha2::Sha256::digest(&bytes))
        );
    }
    assert_eq!(m["summary"]["ready"], 5);
    assert_eq!(m["summary"]["not_ready"], 7);
}

/// Every cell of `latest/<table>.parquet`, as text, is the CSV's (a
/// null an empty cell; a text cell that starts like a formula with the
/// CSV's leading `'`).
fn assert_parquet_equals_csv(out: &std::path::Path, table: &str) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    let file = std::fs::File::open(out.join(format!("latest/{table}.parquet"))).unwrap();
    let df = ParquetReader::new(file).finish().unwrap();
    let (header, rows) = read_csv(&out.join(format!("latest/{table}.csv")));
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, header, "{table} columns");
    assert_eq!(df.height(), rows.len(), "{table} rows");
    for (ci, name) in header.iter().enumerate() {
        let col = df.column(name).unwrap();
        let text = col.dtype() == &DataType::String;
        let col = col.cast(&DataType::String).unwrap();
        let vals = col.str().unwrap();
        for (ri, row) in rows.iter().enumerate() {
            let value = vals.get(ri).unwrap_or("");
            let formula = text && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
            let cell = if formula {
                format!("'{value}")
            } else {
                value.to_string()
            };
            assert_eq!(cell, row[ci], "{table}.{name} row {ri}");
        }
    }
    df
}

#[test]
fn parquet_equals_csv() {
    use polars::prelude::*;
    let w = Workdir::new();
    let out = run_sample(&w);
    for table in ["readiness", "supplier_readiness", "exceptions", "shipments"] {
        assert_parquet_equals_csv(&out, table);
    }
    // Units are integers, flags booleans.
    let file = std::fs::File::open(out.join("latest/readiness.parquet")).unwrap();
    let df = ParquetReader::new(file).finish().unwrap();
    assert_eq!(df.column("stock_units").unwrap().dtype(), &DataType::Int64);
    assert_eq!(
        df.column("misses_window").unwrap().dtype(),
        &DataType::Boolean
    );
}

/// The shipments table's Parquet (pages encoded by siap, a row group
/// per batch) holds the CSV's rows with polars' types, on a generated
/// campaign of many batches, dates missing and every status.
#[test]
fn shipments_parquet_equals_csv_over_many_row_groups() {
    use polars::prelude::*;
    let w = Workdir::new();
    let args = ["generate", "--products", "300", "--stock-rows", "3000"];
    let more = ["--shipment-rows", "4000", "--out", "g"];
    w.siap(&[&args[..], &more[..]].concat()).assert_success();
    let run = [
        "run",
        "g/pipeline.toml",
        "--out",
        "out",
        "--date",
        "2026-11-27",
    ];
    w.siap_env(&run, &[("SIAP_BATCH_ROWS", "300")])
        .assert_success();
    let out = w.join("out");
    let df = assert_parquet_equals_csv(&out, "shipments");
    assert!(df.height() > 1000, "{} rows", df.height());
    let file = std::fs::File::open(out.join("latest/shipments.parquet")).unwrap();
    let groups = ParquetReader::new(file)
        .get_metadata()
        .unwrap()
        .row_groups
        .len();
    assert_eq!(groups, df.height().div_ceil(300));
    for (name, dtype) in [
        ("quantity", DataType::Int64),
        ("units", DataType::Int64),
        ("etd", DataType::Date),
        ("eta", DataType::Date),
        ("counts_in_window", DataType::Boolean),
        ("updated_at", DataType::String),
        ("product_id", DataType::String),
    ] {
        assert_eq!(df.column(name).unwrap().dtype(), &dtype, "{name}");
    }
    assert!(df.column("eta").unwrap().null_count() > 0);
    let statuses = df.column("status").unwrap().n_unique().unwrap();
    assert!(statuses >= 4, "{statuses} statuses");
}

/// The shipments and exceptions tables written straight from their rows
/// are the ones written through frames like any other table
/// (`SIAP_CSV_FROM_FRAMES=1`), byte for byte: shipment ids that need
/// quoting or neutralizing (delimiters, quotes, a line break, formula
/// starts) in the shipments and in the rejected rows' raw text, missing
/// dates, many batches, four CSV dialects; the exceptions' Parquet holds
/// the CSV's rows.
#[test]
fn long_tables_from_rows_are_the_frames_tables() {
    let w = Workdir::new();
    let args = ["generate", "--products", "200", "--stock-rows", "2000"];
    let more = ["--shipment-rows", "3000", "--out", "g"];
    w.siap(&[&args[..], &more[..]].concat()).assert_success();
    let feed = w.join("g/shipments/provider_0.csv");
    let text = std::fs::read_to_string(&feed).unwrap();
    let hostile = [
        "\"SH,1\"",
        "\"SH\"\"Q\"",
        "SH;2",
        "\"SH\n3\"",
        "=SUM(A1)",
        "-SH4",
        "@SH5",
        "+SH6",
        "SH\t7",
        "SH|8",
        "\"SH\r\n9\"",
    ];
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.split_once(',')) {
            (i, Some((_, rest))) if i > 0 && i % 37 == 0 => {
                let id = hostile[(i / 37) % hostile.len()];
                // Unique: the number goes inside a quoted id's quotes.
                let id = match id.strip_suffix('"') {
                    Some(open) => format!("{open}-{i}\""),
                    None => format!("{id}-{i}"),
                };
                // Every other one rejected too: its raw text is hostile.
                let mut cells: Vec<&str> = rest.split(',').collect();
                if (i / 37) % 2 == 0 {
                    cells[2] = "=1+2";
                }
                format!("{id},{}", cells.join(","))
            }
            // Rejected: a quantity that is a formula.
            (i, Some((id, rest))) if i > 0 && i % 4 == 0 => {
                let mut cells: Vec<&str> = rest.split(',').collect();
                cells[2] = "=1+2";
                format!("{id},{}", cells.join(","))
            }
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(&feed, lines.join("\n") + "\n").unwrap();
    let pipeline = std::fs::read_to_string(w.join("g/pipeline.toml")).unwrap();
    for output in [
        "",
        "\n[output]\ncsv_bom = true\ncsv_delimiter = \";\"\n",
        "\n[output]\ncsv_delimiter = \"\\t\"\n",
        "\n[output]\ncsv_delimiter = \"|\"\n",
    ] {
        std::fs::write(w.join("g/pipeline.toml"), format!("{pipeline}{output}")).unwrap();
        let run = |work: &str, frames: &str| {
            let args = ["run", "g/pipeline.toml", "--date", "2026-11-27"];
            let env = [("SIAP_BATCH_ROWS", "300"), ("SIAP_CSV_FROM_FRAMES", frames)];
            w.siap_env(&[&args[..], &["--work-dir", work]].concat(), &env)
                .assert_success();
            crate::harness::published(&w.join(work))
        };
        let (rows, frames) = (run("rows", "0"), run("frames", "1"));
        assert_eq!(rows.len(), frames.len());
        for ((name, a), (other, b)) in rows.iter().zip(&frames) {
            assert_eq!(name, other);
            assert!(a == b, "{name} differs with {output:?}");
        }
        let csv = &rows.iter().find(|(n, _)| n == "shipments.csv").unwrap().1;
        let csv = String::from_utf8_lossy(csv);
        for want in ["\"SH\"\"Q-", "'=SUM(A1)-", "'-SH4-", "\"SH\n3-", "'@SH5-"] {
            assert!(csv.contains(want), "no {want:?} in shipments.csv");
        }
        let lines = csv.lines().count();
        assert!(lines > 900, "{lines} lines: three batches or more");
        let exceptions = &rows.iter().find(|(n, _)| n == "exceptions.csv").unwrap().1;
        let exceptions = String::from_utf8_lossy(exceptions);
        for want in ["\"\"SH\"\"\"\"Q-", "=1+2", "\"SH\n3-"] {
            assert!(exceptions.contains(want), "no {want:?} in exceptions.csv");
        }
        if output.is_empty() {
            let df = assert_parquet_equals_csv(&w.join("rows"), "exceptions");
            assert!(
                df.height() > 300,
                "{} rejected rows: two batches",
                df.height()
            );
        }
        for work in ["rows", "frames"] {
            std::fs::remove_dir_all(w.join(work)).unwrap();
        }
    }
}

#[test]
fn rerun_gives_byte_identical_tables() {
    let w = Workdir::new();
    let out = run_sample(&w);
    let first: Vec<Vec<u8>> = files(&out);
    let first_target = std::fs::read_link(out.join("latest")).unwrap();
    // A second run on the same inputs, into the same folder.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let out2 = run_sample(&w);
    assert_ne!(
        std::fs::read_link(out2.join("latest")).unwrap(),
        first_target,
        "a new run folder"
    );
    assert_eq!(files(&out2), first);
    // And into a fresh folder.
    let w2 = Workdir::new();
    assert_eq!(files(&run_sample(&w2)), first);
}

fn files(out: &std::path::Path) -> Vec<Vec<u8>> {
    ["readiness", "supplier_readiness", "exceptions"]
        .iter()
        .flat_map(|t| ["csv", "parquet"].map(|e| format!("latest/{t}.{e}")))
        .map(|p| std::fs::read(out.join(p)).unwrap())
        .collect()
}

#[test]
fn summary_on_stderr() {
    let w = Workdir::new();
    let pipeline = repo().join("pipelines/harbolnas.toml");
    let r = w.siap(&[
        "run",
        pipeline.to_str().unwrap(),
        "--out",
        "out",
        "--date",
        "2026-11-27",
        "--quiet",
    ]);
    r.assert_success();
    assert!(
        r.stderr
            .contains("5 READY, 7 NOT_READY of 12 products; 7 rejected row(s)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("latest: out/latest"), "{}", r.stderr);
}

/// Each feed's staged copy, read back with polars: the canonical columns
/// and types, every accepted row with its strings (dictionary-encoded in
/// the file) and numbers, nulls where a date was blank.
#[test]
fn staged_parquet_holds_each_accepted_row() {
    use polars::prelude::*;
    let w = Workdir::new();
    let out = run_sample(&w);
    let m = manifest(&out);
    let read = |id: &str| {
        let path = out.join(format!("latest/staged/{id}.parquet"));
        ParquetReader::new(std::fs::File::open(path).unwrap())
            .finish()
            .unwrap()
    };
    let accepted = |id: &str| {
        m["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["accepted"]
            .as_u64()
            .unwrap() as usize
    };
    let text = |df: &DataFrame, name: &str| -> Vec<String> {
        let c = df.column(name).unwrap().cast(&DataType::String).unwrap();
        let c = c.str().unwrap();
        (0..c.len())
            .map(|i| c.get(i).unwrap_or("∅").to_string())
            .collect()
    };
    let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));

    let stock = read("kopi-nusantara");
    let schema: Vec<(String, DataType)> = stock
        .schema()
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    let want = [
        ("line", DataType::UInt64),
        ("supplier_id", DataType::String),
        ("supplier_sku", DataType::String),
        ("warehouse", DataType::String),
        ("quantity", DataType::Int64),
        ("product_id", DataType::String),
        ("units", DataType::Int64),
        ("as_of", utc.clone()),
    ];
    let want: Vec<(String, DataType)> = want
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    assert_eq!(schema, want);
    assert_eq!(stock.height(), accepted("kopi-nusantara"));
    assert_eq!(text(&stock, "line"), ["2", "3", "4", "5", "6", "7"]);
    assert_eq!(text(&stock, "supplier_id"), ["SUP-NUSA"; 6]);
    assert_eq!(
        text(&stock, "warehouse"),
        [
            "Gudang Surabaya",
            "Gudang Surabaya",
            "Gudang Jakarta",
            "Gudang Surabaya",
            "Gudang Surabaya",
            "Gudang Jakarta"
        ]
    );
    assert_eq!(
        text(&stock, "supplier_sku"),
        [
            "KN-TBR-25-K120",
            "KN-TBR-25-K120",
            "KN-TBR-25-K120",
            "KN-SUSU-31",
            "KN-LWK-20-K48",
            "KN-LWK-20-K48"
        ]
    );
    assert_eq!(
        text(&stock, "quantity"),
        ["4500", "5000", "4000", "300000", "15000", "10000"]
    );
    let as_of = stock
        .column("as_of")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    // 20/11/2026 08:00 in Jakarta (UTC+7).
    assert_eq!(as_of.i64().unwrap().get(0), Some(1_795_136_400_000_000));

    let ships = read("kapal-nusantara");
    assert_eq!(ships.height(), accepted("kapal-nusantara"));
    assert_eq!(ships.column("updated_at").unwrap().dtype(), &utc);
    assert_eq!(ships.column("etd").unwrap().dtype(), &DataType::Date);
    let first = |name: &str| text(&ships, name)[..4].to_vec();
    assert_eq!(
        first("shipment_id"),
        ["SHP-K-1001", "SHP-K-1002", "SHP-K-1003", "SHP-K-1004"]
    );
    assert_eq!(
        first("status"),
        ["departed", "in_transit", "departed", "booked"]
    );
    assert_eq!(
        first("etd"),
        ["2026-11-20", "2026-11-22", "2026-11-21", "∅"]
    );
    assert_eq!(first("units"), ["540000", "480000", "480000", "576000"]);
}

/// The shipments table is in (product, supplier, provider, shipment id)
/// order, each latest shipment once, whatever order the providers' names
/// were first met in.
#[test]
fn shipments_table_is_in_key_order() {
    let w = Workdir::new();
    let out = run_sample(&w);
    let (header, rows) = read_csv(&out.join("latest/shipments.csv"));
    assert_eq!(
        header[..4],
        ["product_id", "supplier_id", "provider", "shipment_id"]
    );
    let keys: Vec<&[String]> = rows.iter().map(|r| &r[..4]).collect();
    assert!(keys.len() > 5);
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "not strictly ordered: {keys:?}"
    );
    let providers: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert!(providers.len() >= 2, "{providers:?}");
}

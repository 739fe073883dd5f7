//! Binary and encoded formats, generated here with real writers (gzip,
//! UTF-16, an XLSX workbook with Excel date cells, Parquet with typed
//! columns) and read back through `siap inspect`. Each holds the same three
//! stock rows, so each must stage to the same canonical values.

use std::io::Write;

use serde_json::Value;

use crate::harness::{Workdir, repo};

const CSV: &str = "supplier_sku,warehouse,quantity,as_of\n\
K-01,Gudang Jakarta,1000000,2026-10-31T08:00:00+07:00\n\
007,Gudang Bandung,250,2026-10-31T08:00:00+07:00\n\
K-01,Gudang Bekasi,-3,2026-10-31T08:00:00+07:00\n";

fn pipeline(w: &Workdir, sources: &str) -> String {
    for f in ["catalog.csv", "sku_map.csv"] {
        std::fs::copy(repo().join("tests/fixtures").join(f), w.join(f)).unwrap();
    }
    let text = format!(
        "[campaign]\nname = \"Formats\"\ntimezone = \"Asia/Jakarta\"\nwindow = {{ opens = 2026-11-03, closes = 2026-11-05 }}\n\
         [catalog]\nlocation = \"catalog.csv\"\n[sku_map]\nlocation = \"sku_map.csv\"\n{sources}"
    );
    w.write("p.toml", text).display().to_string()
}

fn inspect(w: &Workdir, p: &str, source: &str) -> Value {
    let r = w.siap(&[
        "inspect",
        p,
        "--source",
        source,
        "--rows",
        "10",
        "--json",
        "--date",
        "2026-11-01",
    ]);
    r.assert_success();
    serde_json::from_str(&r.stdout).unwrap()
}

/// `siap sniff` on the file gives a block that stages it as the
/// hand-written one does: same rows, same rejects.
fn assert_sniffs_alike(w: &Workdir, p: &str, source: &str, file: &str) {
    let hand = w.siap(&[
        "inspect",
        p,
        "--source",
        source,
        "--rows",
        "1000",
        "--json",
        "--date",
        "2026-11-01",
    ]);
    hand.assert_success();
    let sniffed = w.siap(&[
        "sniff",
        file,
        "--supplier",
        "S1",
        "--pipeline",
        p,
        "--date",
        "2026-11-01",
        "--json",
    ]);
    sniffed.assert_success();
    let (hand, sniffed): (Value, Value) = (
        serde_json::from_str(&hand.stdout).unwrap(),
        serde_json::from_str(&sniffed.stdout).unwrap(),
    );
    let staged = &sniffed["staged"];
    for key in ["records_read", "rows_staged", "rows"] {
        assert_eq!(
            staged[key], hand[key],
            "{source}: {key}\n{}",
            sniffed["block"]
        );
    }
    let rejects = |v: &Value| -> Vec<Value> {
        v["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| serde_json::json!([r["line"], r["reason"], r["raw"]]))
            .collect()
    };
    assert_eq!(
        rejects(staged),
        rejects(&hand),
        "{source}\n{}",
        sniffed["block"]
    );
}

/// The three rows every variant must give: two staged, one rejected.
fn assert_standard(v: &Value) {
    let rows: Vec<(i64, String, String, i64)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["quantity"].as_i64().unwrap(),
                r["warehouse"].as_str().unwrap().to_string(),
                r["as_of"].as_str().unwrap().to_string(),
                r["units"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                1_000_000,
                "Gudang Jakarta".to_string(),
                "2026-10-31T08:00:00+07:00".to_string(),
                1_000_000
            ),
            (
                250,
                "Gudang Bandung".to_string(),
                "2026-10-31T08:00:00+07:00".to_string(),
                250 * 12
            ),
        ],
        "{v}"
    );
    let rej = &v["rejected"].as_array().unwrap();
    assert_eq!(rej.len(), 1, "{v}");
    assert_eq!(rej[0]["reason"], "negative quantity");
}

#[test]
fn gzip_csv() {
    let w = Workdir::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(CSV.as_bytes()).unwrap();
    w.write("stock.csv.gz", gz.finish().unwrap());
    let p = pipeline(
        &w,
        "[[stock]]\nid = \"gz\"\nsupplier = \"S1\"\nlocation = \"stock.csv.gz\"\n",
    );
    let v = inspect(&w, &p, "gz");
    assert_standard(&v);
    assert_sniffs_alike(&w, &p, "gz", &w.join("stock.csv.gz").display().to_string());
    assert_eq!(v["format"], "csv");
    assert_eq!(v["rejected"][0]["line"], 4);
}

#[test]
fn utf16_with_bom() {
    let w = Workdir::new();
    let mut bytes = vec![0xFF, 0xFE];
    for unit in CSV.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    w.write("stock_utf16.csv", bytes);
    let p = pipeline(
        &w,
        "[[stock]]\nid = \"u16\"\nsupplier = \"S1\"\nlocation = \"stock_utf16.csv\"\nencoding = \"utf-16\"\n",
    );
    assert_standard(&inspect(&w, &p, "u16"));
    assert_sniffs_alike(
        &w,
        &p,
        "u16",
        &w.join("stock_utf16.csv").display().to_string(),
    );
}

#[test]
fn utf16_declared_as_utf8_fails_the_source_with_a_hint() {
    let w = Workdir::new();
    let mut bytes = vec![0xFF, 0xFE];
    for unit in CSV.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    w.write("stock_utf16.csv", bytes);
    let p = pipeline(
        &w,
        "[[stock]]\nid = \"u16\"\nsupplier = \"S1\"\nlocation = \"stock_utf16.csv\"\n",
    );
    let r = w.siap(&["run", &p, "--out", "out", "--date", "2026-11-01"]);
    assert_eq!(r.status, 4);
    assert!(
        r.stderr.contains("source `u16`") && r.stderr.contains("set `encoding = \"utf-16\"`"),
        "{}",
        r.stderr
    );
}

#[test]
fn xlsx_with_excel_dates_a_title_row_and_a_named_sheet() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let w = Workdir::new();
    let mut wb = Workbook::new();
    wb.add_worksheet()
        .set_name("Catatan")
        .unwrap()
        .write_string(0, 0, "not this sheet")
        .unwrap();
    let ws = wb.add_worksheet();
    ws.set_name("Stok").unwrap();
    let date = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    ws.write_string(0, 0, "Laporan stok PT Contoh").unwrap();
    for (c, h) in ["Kode Barang", "Gudang", "Jumlah", "Per Tanggal"]
        .iter()
        .enumerate()
    {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    let at = ExcelDateTime::from_ymd(2026, 10, 31)
        .unwrap()
        .and_hms(8, 0, 0)
        .unwrap();
    ws.write_string(2, 0, "K-01").unwrap();
    ws.write_string(2, 1, "Gudang Jakarta").unwrap();
    ws.write_number(2, 2, 1_000_000.0).unwrap();
    ws.write_datetime_with_format(2, 3, &at, &date).unwrap();
    // A SKU typed as text keeps its leading zeros; a date typed as text
    // follows the declared format.
    ws.write_string(3, 0, "007").unwrap();
    ws.write_string(3, 1, "Gudang Bandung").unwrap();
    ws.write_string(3, 2, "250").unwrap();
    ws.write_string(3, 3, "31/10/2026 08:00").unwrap();
    ws.write_string(4, 0, "K-01").unwrap();
    ws.write_string(4, 1, "Gudang Bekasi").unwrap();
    ws.write_number(4, 2, -3.0).unwrap();
    ws.write_datetime_with_format(4, 3, &at, &date).unwrap();
    w.write("stok.xlsx", wb.save_to_buffer().unwrap());
    let p = pipeline(
        &w,
        "[[stock]]\nid = \"xlsx\"\nsupplier = \"S1\"\nlocation = \"stok.xlsx\"\nsheet = \"Stok\"\nheader_row = 2\n\
         timestamp_format = \"%d/%m/%Y %H:%M\"\n\
         columns = { supplier_sku = \"Kode Barang\", warehouse = \"Gudang\", quantity = \"Jumlah\", as_of = \"Per Tanggal\" }\n",
    );
    let v = inspect(&w, &p, "xlsx");
    assert_standard(&v);
    // Sniffed: the sheet "Stok" (not the first), the header under the
    // title row, the day-first text date, the Indonesian headers.
    assert_sniffs_alike(&w, &p, "xlsx", &w.join("stok.xlsx").display().to_string());
    // Sheet rows: the header is row 2, so the data starts on row 3.
    assert_eq!(v["rows"][0]["line"], 3);
    assert_eq!(v["rejected"][0]["line"], 5);
    assert_eq!(
        v["rejected"][0]["raw"],
        r#"{"Gudang":"Gudang Bekasi","Jumlah":-3,"Kode Barang":"K-01","Per Tanggal":"2026-10-31T08:00:00"}"#
    );
}

#[test]
fn parquet_with_typed_columns() {
    use polars::prelude::*;
    let w = Workdir::new();
    // 2026-10-31T01:00:00Z is 08:00 in Jakarta.
    let micros = 1_793_408_400_000_000i64;
    let as_of = Int64Chunked::new("as_of".into(), &[micros, micros, micros])
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_series();
    let mut df = df! {
        "supplier_sku" => ["K-01", "007", "K-01"],
        "warehouse" => ["Gudang Jakarta", "Gudang Bandung", "Gudang Bekasi"],
        "quantity" => [1_000_000i64, 250, -3],
    }
    .unwrap();
    df.with_column(as_of.into()).unwrap();
    assert!(matches!(
        df.column("as_of").unwrap().dtype(),
        DataType::Datetime(_, Some(_))
    ));
    write_parquet(&w, "stock.parquet", &mut df);
    let p = pipeline(
        &w,
        "[[stock]]\nid = \"pq\"\nsupplier = \"S1\"\nlocation = \"stock.parquet\"\n",
    );
    let v = inspect(&w, &p, "pq");
    assert_standard(&v);
    assert_sniffs_alike(&w, &p, "pq", &w.join("stock.parquet").display().to_string());
    assert_eq!(v["rejected"][0]["line"], 3, "record number");
}

/// Integer columns of every width read as their digits: a SKU column of
/// numbers is looked up by its digits, a quantity is taken as it is
/// (negative, missing and too-large ones rejected with the messages their
/// digits would get), an integer where a date belongs is a bad date
/// quoting its digits, and a rejected row's raw text writes them as JSON
/// numbers. A UInt64 beyond i64 stays number text.
#[test]
fn parquet_integer_columns_read_as_their_digits() {
    use polars::prelude::*;
    let w = Workdir::new();
    let p = pipeline(
        &w,
        "[[stock]]\nid = \"ints\"\nsupplier = \"S1\"\nlocation = \"ints.parquet\"\n\
         [[stock]]\nid = \"wide\"\nsupplier = \"S1\"\nlocation = \"wide.parquet\"\n\
         [[stock]]\nid = \"big\"\nsupplier = \"S1\"\nlocation = \"big.parquet\"\n",
    );
    w.write(
        "sku_map.csv",
        "supplier_id,supplier_sku,product_id,pack_size\nS1,4711,P1,1\nS1,7,P2,12\n",
    );
    let as_of = "2026-10-31T08:00:00+07:00";
    let mut ints = df! {
        "supplier_sku" => [4711i32, 7, 4711, 4711, 8],
        "warehouse" => ["Gudang Jakarta", "Gudang Bandung", "Gudang Bekasi", "Gudang Bogor", "Gudang Depok"],
        "quantity" => [Some(1_000_000i32), Some(250), Some(-3), None, Some(5)],
        "batch" => [1u32, 2, 3, 4, 4_000_000_000],
        "as_of" => [as_of; 5],
    }
    .unwrap();
    write_parquet(&w, "ints.parquet", &mut ints);
    let mut wide = df! {
        "supplier_sku" => [4711i64, 4711, 4711],
        "warehouse" => ["Gudang Jakarta", "Gudang Bandung", "Gudang Bekasi"],
        "quantity" => [1_000_000u64, 1_000_000_000_000_001, u64::MAX],
        "as_of" => [as_of; 3],
    }
    .unwrap();
    write_parquet(&w, "wide.parquet", &mut wide);
    // Int64: a quantity beyond 10^15, a negative one; an integer as_of.
    let mut big = df! {
        "supplier_sku" => [4711i64, 4711, 4711],
        "warehouse" => ["Gudang Jakarta", "Gudang Bandung", "Gudang Bekasi"],
        "quantity" => [2_000_000_000_000_000i64, -7, 5],
        "as_of" => [1_793_408_400i64, 1_793_408_400, 20_261_031],
    }
    .unwrap();
    write_parquet(&w, "big.parquet", &mut big);

    let v = inspect(&w, &p, "ints");
    let rows: Vec<(String, i64, i64)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap().to_string();
            (
                text("warehouse"),
                r["quantity"].as_i64().unwrap(),
                r["units"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Gudang Jakarta".to_string(), 1_000_000, 1_000_000),
            ("Gudang Bandung".to_string(), 250, 250 * 12),
        ],
        "{v}"
    );
    let rejected: Vec<(u64, String, String, String)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap().to_string();
            (
                r["line"].as_u64().unwrap(),
                text("reason"),
                text("detail"),
                text("raw"),
            )
        })
        .collect();
    let raw = |sku: i64, wh: &str, q: &str, batch: i64| {
        format!(
            r#"{{"as_of":"{as_of}","batch":{batch},"quantity":{q},"supplier_sku":{sku},"warehouse":"{wh}"}}"#
        )
    };
    assert_eq!(
        rejected,
        [
            (
                3,
                "negative quantity".to_string(),
                "`-3` is negative (-3)".to_string(),
                raw(4711, "Gudang Bekasi", "-3", 3)
            ),
            (
                4,
                "missing field".to_string(),
                "`quantity` is empty".to_string(),
                raw(4711, "Gudang Bogor", "null", 4)
            ),
            (
                5,
                "unmapped sku".to_string(),
                "`8` of supplier `S1` is not in the SKU map".to_string(),
                raw(8, "Gudang Depok", "5", 4_000_000_000)
            ),
        ],
        "{v}"
    );

    let v = inspect(&w, &p, "wide");
    assert_eq!(v["rows"].as_array().unwrap().len(), 1, "{v}");
    let details = rejected_details(&v);
    assert_eq!(
        details,
        [
            "`1000000000000001` is beyond 10^15",
            "`18446744073709551615` is beyond 10^15"
        ],
        "{v}"
    );

    let v = inspect(&w, &p, "big");
    assert_eq!(v["rows"].as_array().unwrap().len(), 0, "{v}");
    let details = rejected_details(&v);
    assert_eq!(details.len(), 3, "{v}");
    assert_eq!(details[0], "`2000000000000000` is beyond 10^15", "{v}");
    assert_eq!(details[1], "`-7` is negative (-7)", "{v}");
    assert!(details[2].starts_with("`20261031` does not match"), "{v}");
}

/// A frame as a Parquet file in the work folder, written by polars.
fn write_parquet(w: &Workdir, name: &str, df: &mut polars::prelude::DataFrame) {
    let mut buf = Vec::new();
    polars::prelude::ParquetWriter::new(&mut buf)
        .finish(df)
        .unwrap();
    w.write(name, buf);
}

/// The `detail` of every rejected row of an `inspect --json`.
fn rejected_details(v: &Value) -> Vec<&str> {
    v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["detail"].as_str().unwrap())
        .collect()
}

/// A run keeps each source's bytes as they were read: local feeds are
/// copied by staging as it reads them (CSV in its one pass; NDJSON and
/// Parquet in their first), the reference tables at fetch. Copy, size and
/// sha256 agree with the source either way, on one thread and on many.
#[test]
fn raw_copies_are_the_source_bytes() {
    let w = Workdir::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(CSV.as_bytes()).unwrap();
    w.write("stock.csv.gz", gz.finish().unwrap());
    // Trailing bytes after the last record still belong to the copy.
    w.write("stock.csv", format!("{CSV}\n\n"));
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in CSV.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    w.write("stock_utf16.csv", utf16);
    let ndjson = "{\"supplier_sku\":\"K-01\",\"warehouse\":\"Gudang Jakarta\",\"quantity\":1000000,\"as_of\":\"2026-10-31T08:00:00+07:00\"}\n\
                  {\"supplier_sku\":\"007\",\"warehouse\":\"Gudang Bandung\",\"quantity\":250,\"as_of\":\"2026-10-31T08:00:00+07:00\"}\n\n";
    w.write("stock.ndjson", ndjson);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ndjson.as_bytes()).unwrap();
    w.write("stock.ndjson.gz", gz.finish().unwrap());
    let mut df = polars::prelude::df! {
        "supplier_sku" => ["K-01", "007"],
        "warehouse" => ["Gudang Jakarta", "Gudang Bandung"],
        "quantity" => [1_000_000i64, 250],
        "as_of" => ["2026-10-31T08:00:00+07:00", "2026-10-31T08:00:00+07:00"],
    }
    .unwrap();
    write_parquet(&w, "stock.parquet", &mut df);
    let p = pipeline(
        &w,
        "[[stock]]\nid = \"gz\"\nsupplier = \"S1\"\nlocation = \"stock.csv.gz\"\n\
         [[stock]]\nid = \"plain\"\nsupplier = \"S2\"\nlocation = \"stock.csv\"\n\
         [[stock]]\nid = \"u16\"\nsupplier = \"S3\"\nlocation = \"stock_utf16.csv\"\nencoding = \"utf-16\"\n\
         [[stock]]\nid = \"nd\"\nsupplier = \"S4\"\nlocation = \"stock.ndjson\"\n\
         [[stock]]\nid = \"ndgz\"\nsupplier = \"S5\"\nlocation = \"stock.ndjson.gz\"\nformat = \"ndjson\"\n\
         [[stock]]\nid = \"pq\"\nsupplier = \"S6\"\nlocation = \"stock.parquet\"\n",
    );
    for threads in ["1", "3"] {
        check_raw_copies(&w, &p, threads);
    }
}

fn check_raw_copies(w: &Workdir, p: &str, threads: &str) {
    use sha2::Digest;
    let _ = std::fs::remove_dir_all(w.join("work"));
    w.siap_env(
        &["run", p, "--date", "2026-11-01", "--work-dir", "work"],
        &[("SIAP_THREADS", threads)],
    )
    .assert_success();
    let m = crate::harness::manifest(&w.join("work"));
    let sources = m["sources"].as_array().unwrap();
    for (id, file) in [
        ("catalog", "catalog.csv"),
        ("gz", "stock.csv.gz"),
        ("plain", "stock.csv"),
        ("u16", "stock_utf16.csv"),
        ("nd", "stock.ndjson"),
        ("ndgz", "stock.ndjson.gz"),
        ("pq", "stock.parquet"),
    ] {
        let s = sources.iter().find(|s| s["id"] == id).unwrap();
        assert!(s["records_read"].as_u64().unwrap() >= 2, "{id}: {s}");
        let original = std::fs::read(w.join(file)).unwrap();
        let copy = std::fs::read(w.join("work/latest/raw").join(id)).unwrap();
        assert!(copy == original, "{id}: the raw copy differs from {file}");
        assert_eq!(
            s["bytes"].as_u64().unwrap() as usize,
            original.len(),
            "{id}"
        );
        assert_eq!(
            s["sha256"].as_str().unwrap(),
            hex::encode(sha2::Sha256::digest(&original)),
            "{id}"
        );
    }
}

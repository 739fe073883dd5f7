//! Feeds as suppliers really send them: one fixture per quirk under
//! `tests/fixtures/`, inspected through the real CLI, with the exact staged
//! values and the exact exception rows.

use serde_json::{Value, json};

use crate::harness::{Workdir, repo};

fn quirks() -> String {
    repo()
        .join("tests/fixtures/quirks.toml")
        .display()
        .to_string()
}

/// `siap inspect --json` of one source.
fn inspect(pipeline: &str, source: &str) -> Value {
    let w = Workdir::new();
    let r = w.siap(&[
        "inspect",
        pipeline,
        "--source",
        source,
        "--rows",
        "100",
        "--json",
        "--date",
        "2026-11-01",
    ]);
    r.assert_success();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// (line, quantity, warehouse, as_of) of each staged stock row.
fn stock_rows(v: &Value) -> Vec<(u64, i64, String, String)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["quantity"].as_i64().unwrap(),
                r["warehouse"].as_str().unwrap().to_string(),
                r["as_of"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (line, field, reason, raw) of each rejected row.
fn rejected(v: &Value) -> Vec<(u64, String, String, String)> {
    v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
                r["raw"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn row(line: u64, q: i64, wh: &str, as_of: &str) -> (u64, i64, String, String) {
    (line, q, wh.to_string(), as_of.to_string())
}

fn rej(line: u64, field: &str, reason: &str, raw: &str) -> (u64, String, String, String) {
    (line, field.to_string(), reason.to_string(), raw.to_string())
}

#[test]
fn indonesian_excel_export() {
    // BOM, `;`, CRLF, `1.000.000`, `8.000,00`, day-first timestamps, mapped headers.
    let v = inspect(&quirks(), "id-excel");
    assert_eq!(
        v["columns"],
        json!([
            ["supplier_id", null],
            ["supplier_sku", "Kode Barang"],
            ["warehouse", "Gudang"],
            ["quantity", "Jumlah"],
            ["as_of", "Per Tanggal"]
        ])
    );
    assert_eq!(
        stock_rows(&v),
        [
            row(2, 1_000_000, "Gudang Jakarta", "2026-10-31T14:00:00+07:00"),
            row(3, 8_000, "Gudang Bandung", "2026-10-31T14:00:00+07:00"),
        ]
    );
    assert_eq!(
        rejected(&v),
        [
            rej(
                4,
                "quantity",
                "bad number",
                "007;Gudang Jakarta;1.000.00;31/10/2026 14:00"
            ),
            rej(
                5,
                "quantity",
                "bad number",
                "007;Gudang Bandung;12,5;31/10/2026 14:00"
            ),
        ]
    );
}

#[test]
fn comma_grouping() {
    let v = inspect(&quirks(), "us-grouping");
    assert_eq!(
        stock_rows(&v),
        [
            row(2, 1_000_000, "WH Jakarta", "2026-10-31T00:00:00+07:00"),
            row(3, 2_500, "WH Bandung", "2026-10-31T00:00:00+07:00")
        ]
    );
    assert_eq!(
        rejected(&v),
        [
            rej(
                4,
                "quantity",
                "bad number",
                "007,WH Jakarta,\"10,00\",2026-10-31"
            ),
            rej(5, "quantity", "bad number", "007,WH Bandung,1e6,2026-10-31"),
        ]
    );
}

#[test]
fn space_grouping_with_no_break_spaces() {
    let v = inspect(&quirks(), "space-grouping");
    assert_eq!(
        stock_rows(&v),
        [
            row(2, 1_000_000, "Gudang Jakarta", "2026-10-31T00:00:00+07:00"),
            row(3, 2_500_000, "Gudang Bandung", "2026-10-31T00:00:00+07:00")
        ]
    );
    assert_eq!(
        rejected(&v),
        [rej(
            4,
            "quantity",
            "bad number",
            "007;Gudang Jakarta;1 00 000;2026-10-31"
        )]
    );
}

#[test]
fn quoted_fields_with_delimiters_quotes_and_newlines() {
    let v = inspect(&quirks(), "quoted");
    assert_eq!(
        stock_rows(&v),
        [
            row(
                2,
                500,
                "Gudang \"Utama\", Jakarta",
                "2026-10-31T00:00:00+07:00"
            ),
            row(3, 40, "Gudang\nBandung", "2026-10-31T00:00:00+07:00"),
        ]
    );
    // The record after the two-line one starts on line 5.
    assert_eq!(
        rejected(&v),
        [rej(
            5,
            "quantity",
            "bad number",
            "K-01,Gudang Bekasi,N/A,2026-10-31"
        )]
    );
    assert_eq!(v["rows"][1]["units"], 40 * 12, "pack size 12");
}

#[test]
fn preamble_lines_are_skipped_and_still_counted() {
    let v = inspect(&quirks(), "preamble");
    assert_eq!(
        stock_rows(&v),
        [row(4, 700, "Gudang Jakarta", "2026-10-31T00:00:00+07:00")]
    );
    assert_eq!(
        rejected(&v),
        [rej(
            5,
            "quantity",
            "missing field",
            "K-01,Gudang Bandung,,2026-10-31"
        )]
    );
}

#[test]
fn declared_day_first_formats_never_guess() {
    let v = inspect(&quirks(), "day-first");
    assert_eq!(
        stock_rows(&v),
        [
            row(2, 100, "Gudang Jakarta", "2026-10-31T14:00:00+07:00"),
            row(4, 300, "Gudang Bekasi", "2026-10-31T00:00:00+07:00")
        ]
    );
    assert_eq!(
        rejected(&v),
        [rej(
            3,
            "as_of",
            "bad date",
            "K-01,Gudang Bandung,200,10/31/2026 14:00"
        )]
    );
}

#[test]
fn windows_1252_is_decoded() {
    let v = inspect(&quirks(), "cp1252");
    assert_eq!(
        stock_rows(&v),
        [row(
            2,
            100,
            "Gudang Café “Pusat”",
            "2026-10-31T00:00:00+07:00"
        )]
    );
    assert_eq!(rejected(&v), []);
}

#[test]
fn invalid_utf8_rejects_only_its_row() {
    let v = inspect(&quirks(), "bad-utf8");
    assert_eq!(
        stock_rows(&v),
        [row(2, 100, "Gudang Jakarta", "2026-10-31T00:00:00+07:00")]
    );
    assert_eq!(
        rejected(&v),
        [rej(
            3,
            "",
            "bad encoding",
            "K-01,Gudang \u{FFFD}Bandung,200,2026-10-31"
        )]
    );
}

#[test]
fn ragged_rows() {
    let v = inspect(&quirks(), "ragged");
    assert_eq!(
        stock_rows(&v),
        [row(2, 100, "Gudang Jakarta", "2026-10-31T00:00:00+07:00")]
    );
    assert_eq!(
        rejected(&v),
        [
            rej(
                3,
                "",
                "ragged row",
                "K-01,Gudang Bandung,200,2026-10-31,extra"
            ),
            rej(4, "", "ragged row", "007,Gudang Bekasi"),
        ]
    );
}

#[test]
fn every_row_reason_in_a_multi_supplier_feed() {
    let v = inspect(&quirks(), "reasons");
    assert_eq!(
        rejected(&v),
        [
            rej(
                2,
                "warehouse",
                "missing field",
                "S1,K-01,,100,2026-10-30T08:00:00+07:00"
            ),
            rej(
                3,
                "quantity",
                "negative quantity",
                "S1,K-01,Gudang A,-5,2026-10-30T08:00:00+07:00"
            ),
            rej(
                4,
                "supplier_sku",
                "unmapped sku",
                "S1,K-99,Gudang A,5,2026-10-30T08:00:00+07:00"
            ),
            rej(
                5,
                "supplier_sku",
                "unknown product",
                "S2,X-GONE,Gudang A,5,2026-10-30T08:00:00+07:00"
            ),
            rej(
                6,
                "as_of",
                "as-of after run date",
                "S1,K-01,Gudang A,5,2026-11-02T08:00:00+07:00"
            ),
            rej(7, "as_of", "bad date", "S1,K-01,Gudang A,5,30-10-2026"),
            rej(
                8,
                "supplier_id",
                "missing field",
                ",K-01,Gudang A,5,2026-10-30T08:00:00+07:00"
            ),
            rej(
                10,
                "as_of",
                "conflicting duplicate",
                "S1,K-01,Gudang A,150,2026-10-30T08:00:00+07:00"
            ),
            rej(
                11,
                "as_of",
                "conflicting duplicate",
                "S1,K-01,Gudang A,175,2026-10-30T08:00:00+07:00"
            ),
            // Offset minutes past 59: not RFC 3339 (the fast path once
            // read `+07:80` as 8 h 20 min and counted the row).
            rej(
                15,
                "as_of",
                "bad date",
                "S1,K-01,Gudang A,5,2026-10-30T08:00:00+07:80"
            ),
        ]
    );
    let suppliers: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["supplier_id"].as_str().unwrap())
        .collect();
    assert_eq!(suppliers, ["S1", "S1", "S1", "S2", "S2", "S2"]);
}

#[test]
fn shipment_status_vocabulary_and_eta_as_written() {
    let v = inspect(&quirks(), "ships-vocab");
    let got: Vec<(u64, String, String, Option<String>)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["shipment_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["eta"].as_str().map(String::from),
            )
        })
        .collect();
    let s = |l: u64, id: &str, st: &str, eta: Option<&str>| {
        (l, id.to_string(), st.to_string(), eta.map(String::from))
    };
    assert_eq!(
        got,
        [
            s(2, "R-1", "departed", Some("2026-11-03")),
            s(3, "R-1", "in_transit", Some("2026-11-04")),
            s(4, "R-2", "arrived", None),
            s(5, "R-3", "cancelled", Some("2026-11-05")),
            // 09:00 at +09:00 is still the 6th as written (00:00 UTC).
            s(7, "R-5", "customs_hold", Some("2026-11-06")),
        ]
    );
    assert_eq!(
        rejected(&v),
        [
            rej(
                6,
                "status",
                "unknown status",
                "R-4,S1,007,10,HILANG,2026-10-20,2026-11-05,2026-10-26 12:00"
            ),
            rej(
                8,
                "updated_at",
                "missing field",
                "R-6,S2,M-85,3,in_transit,2026-10-20,2026-11-06,"
            ),
        ]
    );
}

#[test]
fn json_array_keeps_literals_and_lines() {
    let v = inspect(&quirks(), "json");
    assert_eq!(v["extra_columns"], json!(["note"]));
    assert_eq!(
        stock_rows(&v),
        [
            row(2, 1_000_000, "WH Jakarta", "2026-10-31T10:00:00+07:00"),
            row(3, 2_500, "WH Bandung", "2026-10-31T17:00:00+07:00"),
            row(6, 12, "WH Bekasi", "2026-10-31T00:00:00+07:00"),
        ]
    );
    assert_eq!(
        rejected(&v),
        [
            rej(
                4,
                "quantity",
                "bad number",
                r#"{"supplier_sku": "007", "warehouse": "WH Jakarta", "quantity": 1e6, "as_of": "2026-10-31T10:00:00+07:00"}"#
            ),
            rej(5, "", "malformed record", r#"["not", "an", "object"]"#),
        ]
    );
}

#[test]
fn ndjson_broken_line_is_one_exception() {
    let v = inspect(&quirks(), "ndjson");
    assert_eq!(
        stock_rows(&v),
        [row(1, 300, "WH Jakarta", "2026-10-31T10:00:00+07:00")]
    );
    assert_eq!(
        rejected(&v),
        [
            rej(
                3,
                "",
                "malformed record",
                r#"{"supplier_sku": "K-01", "warehouse": "WH Bandung", "quantity": 400, "as_of": "2026-10-31T10:00:00+07:00""#
            ),
            rej(
                4,
                "warehouse",
                "missing field",
                r#"{"supplier_sku": "007", "warehouse": null, "quantity": 5, "as_of": "2026-10-31T10:00:00+07:00"}"#
            ),
        ]
    );
}

#[test]
fn columns_in_any_order_and_extra_columns() {
    let v = inspect(&quirks(), "any-order");
    assert_eq!(
        stock_rows(&v),
        [row(2, 100, "Gudang Jakarta", "2026-10-31T00:00:00+07:00")]
    );
    assert_eq!(v["extra_columns"], json!(["Catatan"]));
}

#[test]
fn default_warehouse_for_a_feed_without_one() {
    let v = inspect(&quirks(), "no-warehouse");
    assert_eq!(
        stock_rows(&v),
        [row(2, 100, "Gudang Pusat", "2026-10-31T00:00:00+07:00")]
    );
}

#[test]
fn the_quirks_run_balances_and_flags_the_header_only_feed() {
    let w = Workdir::new();
    w.siap(&["run", &quirks(), "--out", "out", "--date", "2026-11-01"])
        .assert_success();
    let m = crate::harness::manifest(&w.join("out"));
    for s in m["sources"].as_array().unwrap() {
        let n = |k: &str| s[k].as_u64().unwrap();
        assert_eq!(
            n("records_read"),
            n("counted") + n("superseded") + n("rejected") + n("duplicates"),
            "{s}"
        );
        assert_eq!(n("accepted"), n("counted") + n("superseded"), "{s}");
        assert_eq!(s["header_only"], json!(s["id"] == "header-only"), "{s}");
    }
    let reasons = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "reasons")
        .unwrap()
        .clone();
    // 14 records: 10 rejected; line 13 repeats line 12 exactly; line 12
    // is superseded by line 14's later as_of; line 9 counts because the
    // conflicting rows on lines 10 and 11 were rejected.
    assert_eq!(
        (
            reasons["rejected"].as_u64(),
            reasons["duplicates"].as_u64(),
            reasons["counted"].as_u64(),
            reasons["superseded"].as_u64()
        ),
        (Some(10), Some(1), Some(2), Some(1))
    );
}

#[test]
fn unreadable_feeds_fail_their_source_by_name() {
    let w = Workdir::new();
    let p = repo().join("tests/fixtures/broken.toml");
    let r = w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        "out",
        "--date",
        "2026-11-01",
    ]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("source `dup-header`")
            && r.stderr.contains("names column `quantity` twice"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("source `missing-col`")
            && r.stderr
                .contains("missing required column `Jumlah` (quantity)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("source `empty`") && r.stderr.contains("empty (0 bytes)"),
        "{}",
        r.stderr
    );
    assert!(!w.join("out/latest").exists());
}

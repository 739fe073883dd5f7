//! `siap sniff`: for every feed of the sample and of the dialect fixtures,
//! the sniffed block stages the file exactly as the hand-written block
//! does (same records, staged rows, rejects and their reasons); an
//! ambiguous day/month order is refused.

use serde_json::Value;

use crate::harness::{Workdir, repo};

/// A feed of a pipeline file: id, kind, owner, location, default
/// warehouse: what a sample file cannot say, given on the command line.
type Feed = (String, String, Option<String>, String, Option<String>);

fn feeds(pipeline: &str) -> Vec<Feed> {
    let text = std::fs::read_to_string(repo().join(pipeline)).unwrap();
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    let mut out = Vec::new();
    for kind in ["stock", "shipments"] {
        let Some(arr) = doc.get(kind).and_then(|i| i.as_array_of_tables()) else {
            continue;
        };
        for t in arr.iter() {
            let get = |k: &str| t.get(k).and_then(|v| v.as_str()).map(String::from);
            let owner = get("supplier").or_else(|| get("provider"));
            let (id, location) = (get("id").unwrap(), get("location").unwrap());
            out.push((
                id,
                kind.to_string(),
                owner,
                location,
                get("default_warehouse"),
            ));
        }
    }
    out
}

fn json(r: &crate::harness::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", r.stdout, r.stderr))
}

/// What staging made of a feed, comparable across source ids.
fn staged(v: &Value) -> Value {
    let rejected: Vec<Value> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["line"], r["field"], r["reason"], r["raw"]]))
        .collect();
    serde_json::json!({
        "records_read": v["records_read"],
        "rows_staged": v["rows_staged"],
        "rows": v["rows"],
        "rejected": rejected,
    })
}

fn check(pipeline: &str, date: &str, skip: &[&str]) {
    let w = Workdir::new();
    let p = repo().join(pipeline);
    let dir = p.parent().unwrap();
    for (id, kind, owner, location, warehouse) in feeds(pipeline) {
        if skip.contains(&id.as_str()) {
            continue;
        }
        let hand = w.siap(&[
            "inspect",
            p.to_str().unwrap(),
            "--source",
            &id,
            "--rows",
            "1000",
            "--date",
            date,
            "--json",
        ]);
        let file = dir.join(&location);
        let mut args = vec![
            "sniff".to_string(),
            file.display().to_string(),
            "--kind".into(),
            kind.clone(),
            "--pipeline".into(),
            p.display().to_string(),
            "--date".into(),
            date.into(),
            "--json".into(),
        ];
        if let Some(h) = warehouse {
            args.extend(["--default-warehouse".into(), h]);
        }
        if let Some(o) = owner {
            args.push(
                if kind == "stock" {
                    "--supplier"
                } else {
                    "--provider"
                }
                .into(),
            );
            args.push(o);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let sniffed = w.siap(&args);
        assert_eq!(
            sniffed.status, 0,
            "{id}: {}{}",
            sniffed.stdout, sniffed.stderr
        );
        let s = json(&sniffed);
        assert!(s["staged"].is_object(), "{id}: not staged: {s}");
        assert_eq!(
            staged(&s["staged"]),
            staged(&json(&hand)),
            "{id}: the sniffed block stages differently:\n{}",
            s["block"].as_str().unwrap()
        );
    }
}

#[test]
fn every_sample_feed_sniffs_to_a_block_that_stages_like_the_hand_written_one() {
    check("pipelines/harbolnas.toml", "2026-11-27", &[]);
}

#[test]
fn every_fixture_feed_sniffs_to_a_block_that_stages_like_the_hand_written_one() {
    check("tests/fixtures/quirks.toml", "2026-11-01", &[]);
}

#[test]
fn an_ambiguous_day_month_order_is_refused_with_both_choices() {
    let w = Workdir::new();
    w.write(
        "stok.csv",
        "Kode Barang,Gudang,Jumlah,Tanggal\nK-01,A,100,03/04/2026 10:00\nK-01,B,200,05/06/2026 11:00\n",
    );
    let r = w.siap(&["sniff", "stok.csv", "--supplier", "S1"]);
    assert_eq!(r.status, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("siap will not guess"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("# timestamp_format = [\"%d/%m/%Y %H:%M\"]   # day first")
    );
    assert!(
        r.stdout
            .contains("# timestamp_format = [\"%m/%d/%Y %H:%M\"]   # month first")
    );
    assert!(
        !r.stdout.contains("\ntimestamp_format"),
        "never a silent guess"
    );
    // One value past the 12th settles it.
    w.write(
        "stok.csv",
        "Kode Barang,Gudang,Jumlah,Tanggal\nK-01,A,100,03/04/2026 10:00\nK-01,B,200,25/06/2026 11:00\n",
    );
    let r = w.siap(&["sniff", "stok.csv", "--supplier", "S1", "--json"]);
    r.assert_success();
    let v = json(&r);
    assert_eq!(v["ambiguous"], false);
    assert_eq!(v["kind"], "stock");
    assert!(v["staged"].is_null(), "no pipeline: nothing staged");
    let block = v["block"].as_str().unwrap();
    assert!(
        block.contains("timestamp_format = \"%d/%m/%Y %H:%M\""),
        "{block}"
    );
    assert!(
        block.contains(r#"columns = { supplier_sku = "Kode Barang", warehouse = "Gudang", quantity = "Jumlah", as_of = "Tanggal" }"#),
        "{block}"
    );
    // The block is a valid source: it loads in a pipeline file.
    let text = std::fs::read_to_string(repo().join("tests/fixtures/quirks.toml")).unwrap();
    let p = w.write("p.toml", format!("{text}\n{block}"));
    for f in ["catalog.csv", "sku_map.csv"] {
        std::fs::copy(repo().join("tests/fixtures").join(f), w.join(f)).unwrap();
    }
    let r = w.siap(&[
        "inspect",
        p.to_str().unwrap(),
        "--source",
        "stok",
        "--date",
        "2026-12-01",
    ]);
    assert!(
        r.stdout.contains("2 record(s) read"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn a_shipment_export_is_told_from_a_stock_one_and_its_status_words_mapped() {
    let w = Workdir::new();
    w.write(
        "kirim.csv",
        "No Resi;Pemasok;Kode Barang;Jumlah;Status;Tgl Berangkat;Perkiraan Tiba;Diperbarui\n\
         R-1;S1;K-01;1.000;DIKIRIM;20/11/2026;03/12/2026;26/11/2026 10:00\n\
         R-2;S1;007;250;TERTAHAN BEA CUKAI;21/11/2026;;26/11/2026 11:00\n",
    );
    let r = w.siap(&["sniff", "kirim.csv", "--provider", "LOG-X", "--json"]);
    r.assert_success();
    let v = json(&r);
    assert_eq!(v["kind"], "shipments");
    let block = v["block"].as_str().unwrap();
    for line in [
        "[[shipments]]",
        "provider = \"LOG-X\"",
        "delimiter = \";\"",
        "decimal = \",\"",
        "thousands = \".\"",
        "timestamp_format = \"%d/%m/%Y %H:%M\"",
        "date_format = \"%d/%m/%Y\"",
        r#"statuses = { DIKIRIM = "departed", "TERTAHAN BEA CUKAI" = "customs_hold" }"#,
    ] {
        assert!(block.contains(line), "{line}\n{block}");
    }
}

//! `siap generate`: deterministic synthetic campaigns that siap can run.

use crate::harness::Workdir;

fn generate(w: &Workdir, out: &str, seed: &str) {
    w.siap(&[
        "generate",
        "--out",
        out,
        "--products",
        "200",
        "--stock-rows",
        "20000",
        "--shipment-rows",
        "5000",
        "--seed",
        seed,
    ])
    .assert_success();
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let w = Workdir::new();
    generate(&w, "a", "7");
    generate(&w, "b", "7");
    generate(&w, "c", "8");
    assert_eq!(files(&w.join("a")), files(&w.join("b")));
    assert_ne!(files(&w.join("a")), files(&w.join("c")));
}

#[test]
fn a_generated_campaign_runs_with_every_kind_of_invalid_row_and_both_outcomes() {
    let w = Workdir::new();
    generate(&w, "g", "42");
    let r = w.siap(&[
        "run",
        "g/pipeline.toml",
        "--date",
        "2026-11-27",
        "--work-dir",
        "work",
    ]);
    r.assert_success();
    let (header, rows) = crate::harness::read_csv(&w.join("work/latest/exceptions.csv"));
    let reason = header.iter().position(|h| h == "reason").unwrap();
    let reasons: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r[reason].as_str()).collect();
    for want in [
        "negative quantity",
        "bad number",
        "bad date",
        "unmapped sku",
        "missing field",
        "as-of after run date",
        "unknown status",
        "conflicting duplicate",
    ] {
        assert!(reasons.contains(want), "no `{want}` among {reasons:?}");
    }
    let m = crate::harness::manifest(&w.join("work"));
    assert!(
        m["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["duplicates"].as_u64().unwrap() > 0),
        "exact duplicates"
    );
    assert!(
        m["summary"]["ready"].as_u64().unwrap() > 0
            && m["summary"]["not_ready"].as_u64().unwrap() > 0
    );
    for s in m["sources"].as_array().unwrap() {
        let n = |k: &str| s[k].as_u64().unwrap();
        assert_eq!(
            n("records_read"),
            n("counted") + n("superseded") + n("rejected") + n("duplicates"),
            "{s}"
        );
    }
}

/// The latest-row rules run per key partition, and large tables are
/// written in batches; how many partitions or batches there are must never
/// change a table or a count.
#[test]
fn partitioning_the_rules_changes_nothing() {
    let w = Workdir::new();
    generate(&w, "g", "11");
    let run = |work: &str, parts: &str, batch: &str| {
        w.siap_env(
            &[
                "run",
                "g/pipeline.toml",
                "--date",
                "2026-11-27",
                "--work-dir",
                work,
            ],
            &[("SIAP_PARTITIONS", parts), ("SIAP_BATCH_ROWS", batch)],
        )
        .assert_success();
        let staged = std::fs::read_dir(w.join(work).join("latest/staged")).unwrap();
        let mut staged: Vec<String> = staged
            .map(|e| format!("staged/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        staged.sort();
        assert!(!staged.is_empty());
        let tables: Vec<(String, Vec<u8>)> =
            ["readiness", "supplier_readiness", "exceptions", "shipments"]
                .iter()
                .flat_map(|t| ["csv", "parquet"].map(|e| format!("{t}.{e}")))
                .chain(staged)
                .map(|f| {
                    let path = w.join(work).join("latest").join(&f);
                    // Parquet files differ in row groups; compare their rows.
                    let bytes = if f.ends_with(".parquet") {
                        use polars::prelude::*;
                        let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
                            .finish()
                            .unwrap();
                        let cells: Vec<Vec<String>> = df
                            .columns()
                            .iter()
                            .map(|c| {
                                let s = c.as_materialized_series();
                                s.iter().map(|v| format!("{v:?}")).collect()
                            })
                            .collect();
                        format!("{:?} {cells:?}", df.schema()).into_bytes()
                    } else {
                        std::fs::read(&path).unwrap()
                    };
                    (f, bytes)
                })
                .collect();
        let m = crate::harness::manifest(&w.join(work));
        let counts: Vec<String> = m["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {} {} {} {} {}",
                    s["id"],
                    s["accepted"],
                    s["counted"],
                    s["superseded"],
                    s["rejected"],
                    s["duplicates"]
                )
            })
            .collect();
        (tables, counts)
    };
    let one = run("one", "1", "1000000");
    let many = run("many", "16", "100");
    // The staged copies of the second run hold many row groups, each with
    // its own string dictionaries.
    let mut f = std::fs::File::open(w.join("many/latest/staged/stock-00.parquet")).unwrap();
    let groups = polars_parquet::read::read_metadata(&mut f)
        .unwrap()
        .row_groups
        .len();
    assert!(groups > 10, "{groups} row groups");
    assert_eq!(one.1, many.1);
    for ((name, a), (_, b)) in one.0.iter().zip(&many.0) {
        assert!(a == b, "{name} differs between 1 and 16 partitions");
    }
    // And the conflicting duplicates quote their raw records.
    let (header, rows) = crate::harness::read_csv(&w.join("many/latest/exceptions.csv"));
    let (reason, raw) = (
        header.iter().position(|h| h == "reason").unwrap(),
        header.iter().position(|h| h == "raw").unwrap(),
    );
    let conflicts: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[reason] == "conflicting duplicate")
        .collect();
    assert!(!conflicts.is_empty());
    assert!(
        conflicts
            .iter()
            .all(|r| r[raw].starts_with('S') && r[raw].contains(','))
    );
}

/// The readiness chart is drawn for up to 1,000 products; a bigger campaign
/// gets the table without a chart nobody could read.
#[test]
fn the_chart_is_left_out_for_more_than_a_thousand_products() {
    let w = Workdir::new();
    let has_chart = |products: &str, dir: &str| {
        w.siap(&[
            "generate",
            "--out",
            dir,
            "--products",
            products,
            "--stock-rows",
            "3000",
            "--shipment-rows",
            "500",
            "--seed",
            "3",
        ])
        .assert_success();
        let work = format!("{dir}-work");
        let pipeline = format!("{dir}/pipeline.toml");
        w.siap(&[
            "run",
            &pipeline,
            "--date",
            "2026-11-27",
            "--work-dir",
            &work,
        ])
        .assert_success();
        let file = std::fs::File::open(w.join(&work).join("latest/readiness.xlsx")).unwrap();
        let zip = zip::ZipArchive::new(file).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.iter().any(|n| n.starts_with("xl/charts/"))
    };
    assert!(has_chart("200", "small"));
    assert!(!has_chart("1200", "large"));
}

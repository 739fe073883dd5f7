//! Nightly runs and reruns a scheduler can trust: supplier reruns, locks,
//! crashes, exit codes, JSON logs, run history.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Workdir, csv_by_key, edit, finish, repo};
use crate::server::{Response, Server};

const TABLES: [&str; 6] = [
    "readiness.csv",
    "readiness.parquet",
    "supplier_readiness.csv",
    "supplier_readiness.parquet",
    "exceptions.csv",
    "exceptions.parquet",
];

fn tables(dir: &Path) -> Vec<Vec<u8>> {
    TABLES
        .iter()
        .map(|t| std::fs::read(dir.join(t)).unwrap_or_default())
        .collect()
}

fn manifest_of(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn supplier_rerun_reads_only_that_supplier_and_equals_a_full_run() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap();
    w.siap(&["run", p, "--work-dir", "work", "--date", "2026-11-27"])
        .assert_success();

    // Kopi Nusantara corrects its Surabaya count. Every other feed is then
    // removed from disk: a rerun that read any of them again would fail.
    edit(
        &w.join("sample_data/stock/kopi_nusantara.csv"),
        "KN-SUSU-31;Gudang Surabaya;300.000",
        "KN-SUSU-31;Gudang Surabaya;800.000",
    );
    let corrected = Workdir::new();
    corrected.copy_sample();
    std::fs::copy(
        w.join("sample_data/stock/kopi_nusantara.csv"),
        corrected.join("sample_data/stock/kopi_nusantara.csv"),
    )
    .unwrap();
    for f in [
        "catalog.csv",
        "sku_map.csv",
        "stock/aroma_pagi.json",
        "stock/mie_jaya.csv",
        "shipments/cepat_express.json",
    ] {
        std::fs::remove_file(w.join("sample_data").join(f)).unwrap();
    }
    let r = w.siap(&[
        "run",
        p,
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
        "--supplier",
        "SUP-NUSA",
    ]);
    r.assert_success();
    assert!(
        r.stderr.contains("refreshed 1 source(s), reused 9"),
        "{}",
        r.stderr
    );

    let m = manifest_of(&w.join("work/latest"));
    for s in m["sources"].as_array().unwrap() {
        let refreshed = s["id"] == "kopi-nusantara";
        assert_eq!(s["refreshed"], refreshed, "{s}");
        if !refreshed {
            assert!(
                s["reused_from"]
                    .as_str()
                    .unwrap()
                    .starts_with("2026-11-27/"),
                "{s}"
            );
            assert_eq!(s["reused_age_days"], 0);
        }
    }
    assert_eq!(m["suppliers"], serde_json::json!(["SUP-NUSA"]));
    // KOPI-002 gains 500,000 units of stock and becomes READY.
    let t = csv_by_key(&w.join("work/latest/readiness.csv"), &["product_id"]);
    assert_eq!(
        t["KOPI-002"]["stock_units"],
        (800_000 + 250_000).to_string()
    );
    assert_eq!(t["KOPI-002"]["status"], "READY");

    // The same as a full run over the corrected inputs.
    let cp = corrected.join("pipelines/harbolnas.toml");
    corrected
        .siap(&[
            "run",
            cp.to_str().unwrap(),
            "--work-dir",
            "work",
            "--date",
            "2026-11-27",
        ])
        .assert_success();
    assert_eq!(
        tables(&w.join("work/latest")),
        tables(&corrected.join("work/latest"))
    );
}

#[test]
fn supplier_rerun_reuses_an_earlier_date_and_reports_its_age() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap();
    w.siap(&["run", p, "--work-dir", "work", "--date", "2026-11-25"])
        .assert_success();
    w.siap(&[
        "run",
        p,
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
        "--supplier",
        "SUP-WALET",
    ])
    .assert_success();
    let m = manifest_of(&w.join("work/latest"));
    let cat = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "catalog")
        .unwrap()
        .clone();
    assert_eq!(cat["reused_age_days"], 2);
    assert!(
        cat["reused_from"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-25/")
    );
}

#[test]
fn unknown_supplier_and_nothing_to_reuse_are_clear_errors() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap();
    let r = w.siap(&["run", p, "--work-dir", "work", "--supplier", "SUP-NOPE"]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no stock feed owned by supplier `SUP-NOPE`"),
        "{}",
        r.stderr
    );
    let r = w.siap(&[
        "run",
        p,
        "--work-dir",
        "work",
        "--supplier",
        "SUP-NUSA",
        "--date",
        "2026-11-27",
    ]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no earlier run on or before 2026-11-27 has a copy to reuse"),
        "{}",
        r.stderr
    );
}

/// The sample pipeline with one extra shipment feed served slowly over HTTP.
fn slow_pipeline(w: &Workdir, server: &Server, delay_ms: u64) -> String {
    let p = w.copy_sample();
    server.route(
        "/slow.csv",
        vec![
            Response::ok(
                "shipment_id,supplier_id,supplier_sku,quantity,status,etd,eta,updated_at\n",
            )
            .delayed(Duration::from_millis(delay_ms)),
        ],
    );
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(&format!(
        "\n[[shipments]]\nid = \"slow\"\nprovider = \"LOG-SLOW\"\nlocation = \"{}\"\n",
        server.url("/slow.csv")
    ));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn two_runs_started_together_one_proceeds_the_other_is_locked_out() {
    let server = Server::start();
    let w = Workdir::new();
    let p = slow_pipeline(&w, &server, 1500);
    let args = [
        "run",
        p.as_str(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
    ];
    let a = w.spawn(&args);
    let b = w.spawn(&args);
    let (a, b) = (finish(a), finish(b));
    let mut codes = [a.status, b.status];
    codes.sort();
    assert_eq!(codes, [0, 5], "a: {}\nb: {}", a.stderr, b.stderr);
    // Only the run holding the lock fetched anything.
    assert_eq!(server.hits("/slow.csv"), 1);
    assert!(server.requests()[0].starts_with("GET /slow.csv HTTP/1.1"));
    let loser = if a.status == 5 { &a } else { &b };
    assert!(
        loser.stderr.contains("is locked by another run (pid "),
        "{}",
        loser.stderr
    );
    assert!(w.join("work/latest/readiness.csv").is_file());
}

#[test]
fn sigkill_at_any_point_leaves_latest_intact_and_the_next_run_cleans_up() {
    let server = Server::start();
    let w = Workdir::new();
    let p = slow_pipeline(&w, &server, 300);
    // A large feed, so staging and publishing take measurable time.
    let mut big = String::from("supplier_sku,warehouse,quantity,as_of\n");
    for i in 0..300_000 {
        big.push_str(&format!(
            "MJ-KARI-72,WH {},{},2026-11-20T06:00:00+07:00\n",
            i,
            i % 7
        ));
    }
    w.write("sample_data/stock/mie_big.csv", big);
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("\n[[stock]]\nid = \"mie-big\"\nsupplier = \"SUP-MIEJAYA\"\nlocation = \"../sample_data/stock/mie_big.csv\"\n");
    std::fs::write(&p, text).unwrap();
    let args = [
        "run",
        p.as_str(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
    ];
    w.siap(&args).assert_success();
    let before = tables(&w.join("work/latest"));

    // Kill during fetch (the slow source), staging and publishing.
    for delay in [50u64, 250, 350, 450, 600, 800, 1100, 1500] {
        let mut child = w.spawn(&args);
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let target = std::fs::read_link(w.join("work/latest")).unwrap();
        // Either untouched, or (if the run got to the end) a complete run
        // over the same inputs, hence the same bytes.
        assert_eq!(
            tables(&w.join("work/latest")),
            before,
            "after a kill at {delay} ms"
        );
        assert!(w.join("work").join(&target).join("manifest.json").is_file());
        // Nothing half-written is visible under runs/.
        for date in std::fs::read_dir(w.join("work/runs")).unwrap() {
            for run in std::fs::read_dir(date.unwrap().path()).unwrap() {
                let run = run.unwrap().path();
                assert!(
                    run.join("manifest.json").is_file(),
                    "incomplete run {}",
                    run.display()
                );
                assert!(
                    TABLES.iter().all(|t| run.join(t).is_file()),
                    "incomplete run {}",
                    run.display()
                );
            }
        }
    }
    w.siap(&args).assert_success();
    assert_eq!(
        std::fs::read_dir(w.join("work/.tmp")).unwrap().count(),
        0,
        "leftovers cleaned"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let w = Workdir::new();
    let p = repo().join("pipelines/harbolnas.toml");
    let r = w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
        "--log-format",
        "json",
    ]);
    r.assert_success();
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines.len() > 5, "{}", r.stderr);
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{l}");
    }
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["message"], "Run finished.");
    assert_eq!(last["ready"], 5);
    // Errors too.
    let r = w.siap(&["run", "missing.toml", "--log-format", "json"]);
    assert_eq!(r.status, 3);
    for l in r.stderr.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
}

#[test]
fn runs_and_diff_over_a_sequence_of_dated_runs() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap();
    w.siap(&["run", p, "--work-dir", "work", "--date", "2026-11-27"])
        .assert_success();
    // 28th: Aroma Pagi's stock triples (KOPI-002 becomes READY) and the
    // Luwak shipment SHP-K-1004 is moved into the window (KOPI-003 READY).
    crate::harness::change_the_sample(&w);
    w.siap(&["run", p, "--work-dir", "work", "--date", "2026-11-28"])
        .assert_success();
    w.siap(&[
        "run",
        p,
        "--work-dir",
        "work",
        "--date",
        "2026-11-29",
        "--supplier",
        "SUP-PAGI",
    ])
    .assert_success();

    let r = w.siap(&["runs", p, "--work-dir", "work", "--json"]);
    r.assert_success();
    let runs: Value = serde_json::from_str(&r.stdout).unwrap();
    let summary: Vec<(String, u64, bool, u64)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_date"].as_str().unwrap().to_string(),
                r["ready"].as_u64().unwrap(),
                r["latest"].as_bool().unwrap(),
                r["reused"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("2026-11-27".to_string(), 5, false, 0),
            ("2026-11-28".to_string(), 7, false, 0),
            ("2026-11-29".to_string(), 7, true, 9)
        ]
    );
    let text = w.siap(&["runs", p, "--work-dir", "work"]);
    assert!(
        text.stdout.contains("SUP-PAGI") && text.stdout.contains("* latest"),
        "{}",
        text.stdout
    );

    let r = w.siap(&[
        "diff",
        p,
        "--work-dir",
        "work",
        "--from",
        "2026-11-27",
        "--to",
        "2026-11-28",
        "--json",
    ]);
    r.assert_success();
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    let changes = d["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{d}");
    assert_eq!(changes[0]["product_id"], "KOPI-002");
    assert_eq!(
        changes[0]["status"],
        serde_json::json!(["NOT_READY", "READY"])
    );
    assert_eq!(
        changes[0]["stock_units"],
        serde_json::json!([550_000, 550_000 + 50_000 * 10])
    );
    assert_eq!(changes[1]["product_id"], "KOPI-003");
    assert_eq!(
        changes[1]["misses_window"],
        serde_json::json!(["true", "false"])
    );
    assert_eq!(
        changes[1]["window_units"],
        serde_json::json!([480_000, 480_000 + 576_000])
    );
    // Default: the newest run against the one before it (no change).
    let r = w.siap(&["diff", p, "--work-dir", "work"]);
    r.assert_success();
    assert!(r.stdout.contains("no product changed"), "{}", r.stdout);
    let r = w.siap(&[
        "diff",
        p,
        "--work-dir",
        "work",
        "--from",
        "2026-11-27",
        "--to",
        "2026-11-28",
    ]);
    assert!(
        r.stdout.contains("KOPI-002: NOT_READY -> READY"),
        "{}",
        r.stdout
    );
}

#[test]
fn gates_warn_or_fail_their_source() {
    let w = Workdir::new();
    let p = w.copy_sample();
    // kerupuk-sidoarjo rejects 2 of its 6 records (33%).
    edit(
        &p,
        "location = \"../sample_data/stock/kerupuk_sidoarjo.csv\"",
        "location = \"../sample_data/stock/kerupuk_sidoarjo.csv\"\ngates = { max_rejected_share = { max = 0.25, level = \"warn\" }, max_age_hours = { max = 48 } }",
    );
    let r = w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
    ]);
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert!(r.stderr.contains("warning: source `kerupuk-sidoarjo`: gate `max_rejected_share` failed: 2 of 6 record(s) rejected (33.3%), limit 25.0%"), "{}", r.stderr);
    assert_eq!(
        manifest_of(&w.join("work/latest"))["status"],
        "success_with_warnings"
    );
    let before = std::fs::read_link(w.join("work/latest")).unwrap();

    // Freshness at level error: for a past date, ages are measured from the
    // end of that day; the newest row (26 Nov 16:00 WIB) is 32 hours older.
    edit(
        &p,
        "max_age_hours = { max = 48 }",
        "max_age_hours = { max = 24 }",
    );
    let r = w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
    ]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("gate `max_age_hours` failed: newest row is 32.0 h old, limit 24 h"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_link(w.join("work/latest")).unwrap(), before);
}

#[test]
fn systemd_units_verify() {
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        panic!("systemd-analyze is needed for this test (Debian package systemd)");
    };
    assert!(out.status.success());
    let w = Workdir::new();
    // The service runs `siap` from systemd's search path; verify it
    // against this build.
    for unit in ["siap.service", "siap.timer"] {
        let text = std::fs::read_to_string(repo().join("deploy/systemd").join(unit)).unwrap();
        let exec = format!("ExecStart={} run ", env!("CARGO_BIN_EXE_siap"));
        w.write(unit, text.replace("ExecStart=siap run ", &exec));
    }
    let r = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(w.join("siap.service"))
        .arg(w.join("siap.timer"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(
        !stderr.contains("siap."),
        "warnings about our units: {stderr}"
    );
}

//! What an operator reads, word for word: error messages and exit codes
//! checked exactly (stderr whole), and snapshots of the help, an
//! inspection and a run's summary (filtered only where they must vary:
//! times, run ids, the checkout's path).

use crate::harness::{Workdir, repo};

const CATALOG: &str = "product_id,product_name,category\nP1,Kopi,coffee\n";
const SKU_MAP: &str = "supplier_id,supplier_sku,product_id,pack_size\nS1,K-01,P1,1\n";

/// A campaign with one stock feed `x.csv`, all paths relative.
fn campaign(w: &Workdir, feed: &str) {
    w.write("catalog.csv", CATALOG);
    w.write("sku_map.csv", SKU_MAP);
    w.write("x.csv", feed);
    w.write(
        "p.toml",
        "[campaign]\nname = \"Msg\"\ntimezone = \"Asia/Jakarta\"\nwindow = { opens = 2026-11-03, closes = 2026-11-05 }\n\
         [catalog]\nlocation = \"catalog.csv\"\n[sku_map]\nlocation = \"sku_map.csv\"\n\
         [[stock]]\nid = \"x\"\nsupplier = \"S1\"\nlocation = \"x.csv\"\n",
    );
}

#[test]
fn an_invalid_pipeline_file_lists_every_problem_exactly() {
    let w = Workdir::new();
    w.write(
        "bad.toml",
        "[campaign]\nname = \"Bad\"\ntimezone = \"Asia/Jakart\"\nwindow = { opens = 2026-12-08, closes = 2026-12-01 }\n\
         [sku_map]\nlocation = \"s.csv\"\ndelimeter = \";\"\n",
    );
    w.cmd(&["validate", "bad.toml"]).run().code(3).stderr_is(
        "error: invalid pipeline file:\n  \
         bad.toml:1:1: missing table `[catalog]` (with `location = \"...\"`)\n  \
         bad.toml:3:12: `campaign.timezone`: `Asia/Jakart` is not an IANA timezone such as `Asia/Jakarta`\n  \
         bad.toml:4:41: `campaign.window` is reversed: closes 2026-12-01 is before opens 2026-12-08\n  \
         bad.toml:7:1: unknown key `sku_map.delimeter` (expected one of: location, format, gzip, encoding, delimiter, quote, skip_lines, decimal, thousands, timestamp_format, date_format, sheet, header_row, columns, headers, connect_timeout_secs, read_timeout_secs, total_timeout_secs, max_attempts, max_bytes, max_record_bytes, allow_redirect_hosts, method, body, records, paginate, on_fetch_failure, sftp, pick, name_date_format)\n",
    );
}

#[test]
fn a_source_that_fails_names_itself_and_its_problem_exactly() {
    let w = Workdir::new();
    campaign(
        &w,
        "supplier_sku,gudang,quantity,as_of\nK-01,A,1,2026-10-31 10:00\n",
    );
    w.cmd(&["run", "p.toml", "--work-dir", "work", "--date", "2026-11-01"])
        .env("SIAP_LOG", "off")
        .run()
        .code(4)
        .stderr_is(
            "error: source `x` (x.csv): missing required column `warehouse`; the header has: `supplier_sku`, `gudang`, `quantity`, `as_of`\n\
             error: 1 source(s) failed; nothing was published; the previous outputs are untouched\n",
        );
}

#[test]
fn an_unknown_supplier_or_source_is_a_usage_error_exactly() {
    let w = Workdir::new();
    campaign(&w, "supplier_sku,warehouse,quantity,as_of\n");
    w.cmd(&["run", "p.toml", "--supplier", "S9"])
        .run()
        .code(2)
        .stderr_is(
            "error: the pipeline has no stock feed owned by supplier `S9`; known suppliers: `S1`\n",
        );
    w.cmd(&["inspect", "p.toml", "--source", "y"])
        .run()
        .code(2)
        .stderr_is("error: the pipeline has no source `y`; it has `catalog`, `sku_map`, `x`\n");
    w.cmd(&["runs", "p.toml", "--work-dir", "work"])
        .run()
        .code(0)
        .stdout_is("no runs yet\n")
        .stderr_is("");
}

/// The snapshot settings: the checkout's path and the temporary folder
/// replaced.
fn filtered(w: &Workdir, f: impl FnOnce()) {
    let repo = regex_escape(&repo().display().to_string());
    let tmp = regex_escape(&w.path().display().to_string());
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&repo, "[repo]");
    settings.add_filter(&tmp, "[work]");
    settings.bind(f);
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[test]
fn help_reads_as_documented() {
    let w = Workdir::new();
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_run", &["run", "--help"][..]),
        ("help_inspect", &["inspect", "--help"][..]),
    ] {
        let r = w.cmd(args).run();
        r.code(0);
        insta::assert_snapshot!(name, r.stdout);
    }
}

#[test]
fn inspect_shows_a_feeds_mapping_rows_and_rejects() {
    let w = Workdir::new();
    let p = repo().join("tests/fixtures/quirks.toml");
    let r = w
        .cmd(&[
            "inspect",
            p.to_str().unwrap(),
            "--source",
            "reasons",
            "--rows",
            "3",
            "--date",
            "2026-11-01",
        ])
        .run();
    r.code(0);
    filtered(&w, || insta::assert_snapshot!("inspect_reasons", r.stdout));
}

#[test]
fn a_runs_summary_says_what_it_did() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let r = w
        .cmd(&[
            "run",
            p.to_str().unwrap(),
            "--work-dir",
            "work",
            "--date",
            "2026-11-27",
        ])
        .env("SIAP_LOG", "off")
        .run();
    r.code(0);
    filtered(&w, || {
        let mut settings = insta::Settings::clone_current();
        // Times, rates, memory and run ids vary from run to run.
        settings.add_filter(r"\d+\.\ds", "[s]");
        settings.add_filter(r"\(\d+ records/s\)", "([rate])");
        settings.add_filter(r"peak memory \d+ MiB", "peak memory [mem]");
        settings.add_filter(r"\d{8}T\d{6}\.\d{3}Z-\d+", "[run-id]");
        settings.bind(|| insta::assert_snapshot!("run_summary", r.stderr));
    });
}

//! What operators and their schedulers read after a run: `diff
//! --exit-code`, webhooks (real HTTP server on 127.0.0.1), the Prometheus
//! metrics file and the one-line JSON summary on stdout.

use std::path::Path;

use serde_json::Value;

use crate::harness::{Workdir, change_the_sample};
use crate::server::{Response, Server};

fn run(
    w: &Workdir,
    p: &str,
    date: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> crate::harness::Run {
    let mut args = vec!["run", p, "--work-dir", "work", "--date", date];
    args.extend_from_slice(extra);
    w.siap_env(&args, env)
}

#[test]
fn diff_exit_code_is_8_when_a_product_flipped_and_0_when_none() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap();
    run(&w, p, "2026-11-27", &[], &[]).assert_success();
    change_the_sample(&w);
    run(&w, p, "2026-11-28", &[], &[]).assert_success();
    let r = w.siap(&["diff", p, "--work-dir", "work", "--exit-code"]);
    assert_eq!(r.status, 8, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("KOPI-002: NOT_READY -> READY"),
        "{}",
        r.stdout
    );
    // Without the flag, a change is not a failure.
    w.siap(&["diff", p, "--work-dir", "work"]).assert_success();
    // The same inputs again: nothing flipped.
    run(&w, p, "2026-11-28", &[], &[]).assert_success();
    let r = w.siap(&["diff", p, "--work-dir", "work", "--exit-code", "--json"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(d["changes"], serde_json::json!([]));
}

const SECRET: &str = "T0KEN-8d41";

/// The sample with four webhooks on one local server: siap's JSON (every
/// event), Slack and Teams (the default events), and one that always
/// answers 404; plus one whose URL variable is not set.
fn with_webhooks(w: &Workdir, server: &Server) -> String {
    let p = w.copy_sample();
    let text = std::fs::read_to_string(&p).unwrap()
        + &format!(
            r#"
[notify]
max_attempts = 3
timeout_secs = 5

[[notify.webhooks]]
url = "${{SIAP_TEST_HOOK_BASE}}/services/{SECRET}/json"
on = ["published", "failed"]

[[notify.webhooks]]
url = "{}"
format = "slack"

[[notify.webhooks]]
url = "{}"
format = "teams"

[[notify.webhooks]]
url = "{}"
on = ["published"]

[[notify.webhooks]]
url = "${{SIAP_TEST_UNSET_HOOK}}"
"#,
            server.url("/slack"),
            server.url("/teams"),
            server.url("/gone"),
        );
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn webhooks_hear_every_flip_and_failure_and_never_change_the_exit_code() {
    let server = Server::start();
    let json_path = format!("/services/{SECRET}/json");
    // The first post meets a 503 and is retried.
    server.route(
        &json_path,
        vec![Response::status(503, "busy"), Response::ok("ok")],
    );
    server.route("/slack", vec![Response::ok("ok")]);
    server.route("/teams", vec![Response::ok("")]);
    server.route("/gone", vec![Response::status(404, "no such hook")]);
    let base = server.url("");
    let env = [("SIAP_TEST_HOOK_BASE", base.as_str())];
    let w = Workdir::new();
    let p = with_webhooks(&w, &server);
    let r = w.siap_env(&["validate", &p], &env);
    r.assert_success();
    assert!(r.stderr.contains(", 5 webhook(s)"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("notify.webhooks[4] uses `SIAP_TEST_UNSET_HOOK`, which is not set"),
        "{}",
        r.stderr
    );

    // A first run: published, nothing to compare with. Only the hooks
    // subscribed to "published" hear of it; the 404 is logged, not fatal.
    let r = run(&w, &p, "2026-11-27", &[], &env);
    r.assert_success();
    assert_eq!(server.hits(&json_path), 2, "retried once after the 503");
    let first: Value = serde_json::from_str(&server.bodies(&json_path)[1]).unwrap();
    assert_eq!(first["status"], "published");
    assert_eq!(first["events"], serde_json::json!(["published"]));
    assert_eq!(first["ready"], 5);
    assert_eq!(server.hits("/slack"), 0);
    assert_eq!(server.hits("/gone"), 1, "a 404 is not retried");
    assert!(r.stderr.contains("HTTP 404"), "{}", r.stderr);
    assert!(
        !r.stderr.contains(SECRET),
        "a webhook URL leaked: {}",
        r.stderr
    );

    // The 28th: two products flip to READY; every hook hears of it.
    change_the_sample(&w);
    let r = run(&w, &p, "2026-11-28", &[], &env);
    r.assert_success();
    assert!(
        r.stderr
            .contains("the environment variable `SIAP_TEST_UNSET_HOOK` in its URL is not set"),
        "{}",
        r.stderr
    );
    let second: Value = serde_json::from_str(server.bodies(&json_path).last().unwrap()).unwrap();
    assert_eq!(
        second["events"],
        serde_json::json!(["published", "changed"])
    );
    assert_eq!(second["changes_total"], 2);
    let flip = &second["changes"][0];
    assert_eq!(flip["product_id"], "KOPI-002");
    assert_eq!(flip["status"], serde_json::json!(["NOT_READY", "READY"]));
    assert!(
        flip["reason"].as_str().unwrap().starts_with("ready:"),
        "{flip}"
    );
    assert!(
        second["previous_run"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-27/")
    );
    let slack: Value = serde_json::from_str(&server.bodies("/slack")[0]).unwrap();
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.starts_with("*Harbolnas 12.12 pantry: the run for 2026-11-28 published*"),
        "{text}"
    );
    assert!(
        text.contains("2 product(s) changed since 2026-11-27/"),
        "{text}"
    );
    assert!(text.contains("• KOPI-002 "), "{text}");
    assert!(text.contains("NOT_READY → READY"), "{text}");
    let teams: Value = serde_json::from_str(&server.bodies("/teams")[0]).unwrap();
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    let blocks = card["content"]["body"].as_array().unwrap();
    assert!(
        blocks
            .iter()
            .any(|b| b["text"].as_str().unwrap().contains("KOPI-003"))
    );

    // A feed goes missing: nothing is published, exit 4 as always, and
    // the hooks subscribed to failures hear why.
    std::fs::remove_file(w.join("sample_data/stock/mie_jaya.csv")).unwrap();
    let r = run(&w, &p, "2026-11-29", &[], &env);
    assert_eq!(r.status, 4, "{}", r.stderr);
    let failed: Value = serde_json::from_str(server.bodies(&json_path).last().unwrap()).unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["exit_code"], 4);
    assert!(
        failed["failed_sources"][0]
            .as_str()
            .unwrap()
            .contains("mie-jaya"),
        "{failed}"
    );
    let slack = server.bodies("/slack");
    assert_eq!(slack.len(), 2);
    assert!(
        slack[1].contains("the run for 2026-11-29 FAILED"),
        "{}",
        slack[1]
    );
    assert_eq!(server.hits("/gone"), 2, "not subscribed to failures");

    // --no-notify: a trial run tells nobody.
    let before = server.requests().len();
    let r = run(&w, &p, "2026-11-29", &["--no-notify"], &env);
    assert_eq!(r.status, 4);
    assert_eq!(server.requests().len(), before);
}

#[test]
fn a_webhook_that_hangs_is_given_up_on_and_the_run_still_exits_0() {
    let server = Server::start();
    server.route(
        "/slow",
        vec![Response::ok("late").delayed(std::time::Duration::from_secs(30))],
    );
    let w = Workdir::new();
    let p = w.copy_sample();
    let text = std::fs::read_to_string(&p).unwrap()
        + &format!(
            "\n[notify]\non = [\"published\"]\ntimeout_secs = 1\nmax_attempts = 2\n[[notify.webhooks]]\nurl = \"{}\"\n",
            server.url("/slow")
        );
    std::fs::write(&p, text).unwrap();
    let started = std::time::Instant::now();
    let r = run(&w, p.to_str().unwrap(), "2026-11-27", &[], &[]);
    r.assert_success();
    assert!(
        started.elapsed().as_secs() < 25,
        "the run waited for the hook"
    );
    assert_eq!(server.hits("/slow"), 2);
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
}

/// The metrics file, parsed with a Prometheus text-format parser:
/// (metric, labels other than `pipeline`) → value.
type Samples = Vec<(String, Vec<(String, String)>, f64)>;

fn metrics(path: &Path) -> Samples {
    let text = std::fs::read_to_string(path).unwrap();
    // Every family has HELP and TYPE gauge, every line ends with \n.
    assert!(text.ends_with('\n'));
    for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
        assert!(line.ends_with(" gauge"), "{line}");
    }
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let mut out = Vec::new();
    for s in scrape.samples {
        assert_eq!(s.labels.get("pipeline"), Some("harbolnas"), "{}", s.metric);
        assert!(
            scrape.docs.contains_key(&s.metric),
            "no HELP for {}",
            s.metric
        );
        let prometheus_parse::Value::Gauge(v) = s.value else {
            panic!("{} is not a gauge", s.metric);
        };
        let mut labels: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "pipeline")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        out.push((s.metric, labels, v));
    }
    out
}

fn value(m: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn the_metrics_file_parses_and_keeps_the_last_success_through_a_failure() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap();
    std::fs::create_dir(w.join("textfile")).unwrap();
    let file = w.join("textfile/siap.prom");
    let flag = ["--metrics-file", "textfile/siap.prom"];
    run(&w, p, "2026-11-27", &flag, &[]).assert_success();
    let m = metrics(&file);
    assert_eq!(value(&m, "siap_run_success", &[]), Some(1.0));
    assert_eq!(value(&m, "siap_run_exit_code", &[]), Some(0.0));
    assert_eq!(
        value(&m, "siap_products", &[("status", "READY")]),
        Some(5.0)
    );
    assert_eq!(
        value(&m, "siap_products", &[("status", "NOT_READY")]),
        Some(7.0)
    );
    assert_eq!(
        value(
            &m,
            "siap_source_records_read",
            &[("source", "kopi-nusantara")]
        ),
        Some(6.0)
    );
    assert_eq!(
        value(&m, "siap_source_rows_rejected", &[("source", "mie-jaya")]),
        Some(2.0)
    );
    assert!(value(&m, "siap_source_age_seconds", &[("source", "mie-jaya")]).unwrap() > 0.0);
    assert!(value(&m, "siap_phase_duration_seconds", &[("phase", "stage")]).is_some());
    assert_eq!(
        value(&m, "siap_products_changed", &[]),
        None,
        "a first run has nothing to compare"
    );
    let success = value(&m, "siap_last_success_timestamp_seconds", &[]).unwrap();
    let manifest = crate::harness::manifest(&w.join("work"));
    let finished =
        chrono::DateTime::parse_from_rfc3339(manifest["finished_at"].as_str().unwrap()).unwrap();
    assert_eq!(success, finished.timestamp_millis() as f64 / 1000.0);

    // A failed run rewrites the file: success 0, its code, and the last
    // success still there, for a staleness alert.
    std::fs::remove_file(w.join("sample_data/stock/mie_jaya.csv")).unwrap();
    let r = run(&w, p, "2026-11-28", &flag, &[]);
    assert_eq!(r.status, 4);
    let m = metrics(&file);
    assert_eq!(value(&m, "siap_run_success", &[]), Some(0.0));
    assert_eq!(value(&m, "siap_run_exit_code", &[]), Some(4.0));
    assert_eq!(
        value(&m, "siap_last_success_timestamp_seconds", &[]),
        Some(success)
    );
    assert_eq!(value(&m, "siap_products", &[("status", "READY")]), None);
    // A command line that runs nothing (an unknown supplier) leaves the
    // file to the last run that ran.
    let before = std::fs::read(&file).unwrap();
    let mut typo = flag.to_vec();
    typo.extend(["--supplier", "SUP-TYPO"]);
    let r = run(&w, p, "2026-11-28", &typo, &[]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // Written by rename: nothing else left in the collector's folder.
    let names: Vec<_> = std::fs::read_dir(w.join("textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["siap.prom"]);

    // A metrics file that cannot be written is a warning, not a failure.
    let r = run(
        &w,
        p,
        "2026-11-27",
        &[
            "--metrics-file",
            "no/such/dir/siap.prom",
            "--supplier",
            "SUP-PAGI",
        ],
        &[],
    );
    r.assert_success();
    assert!(
        r.stderr
            .contains("cannot write the metrics file `no/such/dir/siap.prom`"),
        "{}",
        r.stderr
    );
}

#[test]
fn summary_json_is_one_line_on_stdout_for_success_and_failure() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap();
    let r = run(&w, p, "2026-11-27", &["--summary", "json", "--quiet"], &[]);
    r.assert_success();
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    let s: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(s["status"], "published");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["campaign"], "Harbolnas 12.12 pantry");
    assert_eq!(
        (s["ready"].as_u64(), s["not_ready"].as_u64()),
        (Some(5), Some(7))
    );
    let manifest = w.path().join(s["manifest"].as_str().unwrap());
    let m: Value = serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    assert_eq!(m["run_date"], "2026-11-27");

    std::fs::remove_file(w.join("sample_data/stock/mie_jaya.csv")).unwrap();
    let r = run(&w, p, "2026-11-28", &["--summary", "json"], &[]);
    assert_eq!(r.status, 4);
    let s: Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(s["status"], "failed");
    assert_eq!(s["exit_code"], 4);
    assert_eq!(s["run_date"], "2026-11-28");
    assert!(s["error"].as_str().unwrap().contains("failed"), "{s}");
    assert!(s["last_success"].is_string());
    // A pipeline that cannot be read still gives a line.
    let r = w.siap(&["run", "missing.toml", "--summary", "json"]);
    assert_eq!(r.status, 3);
    let s: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("failed"), Some(3))
    );
}

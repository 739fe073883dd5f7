//! Fetching over HTTP against a real server on 127.0.0.1: retries,
//! timeouts, integrity checks, conditional GET, redirects, secrets.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Run, Workdir, repo};
use crate::server::{Response, Server};

const FEED: &str = "supplier_sku,warehouse,quantity,as_of\nK-01,Gudang Jakarta,100,2026-10-31\n007,Gudang Bandung,5,2026-10-31\n";

/// A pipeline over the fixture catalog with one stock feed at `url`.
fn pipeline(w: &Workdir, url: &str, extra: &str) -> String {
    for f in ["catalog.csv", "sku_map.csv"] {
        std::fs::copy(repo().join("tests/fixtures").join(f), w.join(f)).unwrap();
    }
    let text = format!(
        "[campaign]\nname = \"HTTP\"\ntimezone = \"Asia/Jakarta\"\nwindow = {{ opens = 2026-11-03, closes = 2026-11-05 }}\n\
         [catalog]\nlocation = \"catalog.csv\"\n[sku_map]\nlocation = \"sku_map.csv\"\n\
         [[stock]]\nid = \"remote\"\nsupplier = \"S1\"\nlocation = \"{url}\"\nformat = \"csv\"\n{extra}\n"
    );
    w.write("p.toml", text).display().to_string()
}

fn run(w: &Workdir, p: &str) -> Run {
    w.siap(&["run", p, "--work-dir", "work", "--date", "2026-11-01"])
}

fn remote(w: &Workdir) -> Value {
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(w.join("work/latest/manifest.json")).unwrap(),
    )
    .unwrap();
    m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "remote")
        .unwrap()
        .clone()
}

#[test]
fn a_500_then_200_is_retried() {
    let s = Server::start();
    s.route(
        "/f.csv",
        vec![Response::status(500, "oops"), Response::ok(FEED)],
    );
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "");
    run(&w, &p).assert_success();
    assert_eq!(s.hits("/f.csv"), 2);
    assert_eq!(remote(&w)["attempts"], 2);
    assert_eq!(
        std::fs::read(w.join("work/latest/raw/remote")).unwrap(),
        FEED.as_bytes()
    );
}

#[test]
fn a_429_with_retry_after_in_seconds_is_honoured() {
    let s = Server::start();
    s.route(
        "/f.csv",
        vec![
            Response::status(429, "slow down").header("Retry-After", "1"),
            Response::ok(FEED),
        ],
    );
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "");
    let start = std::time::Instant::now();
    run(&w, &p).assert_success();
    assert_eq!(s.hits("/f.csv"), 2);
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
}

#[test]
fn a_429_with_retry_after_as_a_date_is_honoured() {
    let s = Server::start();
    let when = (chrono::Utc::now() + chrono::Duration::seconds(2))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    s.route(
        "/f.csv",
        vec![
            Response::status(429, "slow down").header("Retry-After", &when),
            Response::ok(FEED),
        ],
    );
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "");
    let start = std::time::Instant::now();
    run(&w, &p).assert_success();
    assert_eq!(s.hits("/f.csv"), 2);
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
}

#[test]
fn a_retry_after_beyond_the_budget_fails_at_once() {
    let s = Server::start();
    s.route(
        "/f.csv",
        vec![
            Response::status(503, "maintenance").header("Retry-After", "3600"),
            Response::ok(FEED),
        ],
    );
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "total_timeout_secs = 60");
    let r = run(&w, &p);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(r.stderr.contains("answered 503 Service Unavailable; waiting 3600.0s to retry would overrun the total timeout of 60s"), "{}", r.stderr);
    assert_eq!(s.hits("/f.csv"), 1);
}

#[test]
fn a_401_is_not_retried() {
    let s = Server::start();
    s.route("/f.csv", vec![Response::status(401, "who are you")]);
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "");
    let r = run(&w, &p);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("source `remote`")
            && r.stderr
                .contains("answered 401 Unauthorized (attempt 1, not retried)"),
        "{}",
        r.stderr
    );
    assert_eq!(s.hits("/f.csv"), 1);
}

#[test]
fn a_stalled_body_hits_the_read_timeout() {
    let s = Server::start();
    let mut stalled = Response::ok(FEED);
    stalled.stall = Some((20, Duration::from_secs(4)));
    s.route("/f.csv", vec![stalled]);
    let w = Workdir::new();
    let p = pipeline(
        &w,
        &s.url("/f.csv"),
        "read_timeout_secs = 1\nmax_attempts = 2",
    );
    let r = run(&w, &p);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the body stalled: nothing for 1s after 20 bytes (gave up after 2 attempts)"),
        "{}",
        r.stderr
    );
    assert_eq!(s.hits("/f.csv"), 2);
}

#[test]
fn a_body_shorter_than_its_content_length_fails() {
    let s = Server::start();
    s.route(
        "/f.csv",
        vec![Response::ok(FEED).header("Content-Length", "500")],
    );
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "max_attempts = 2");
    let r = run(&w, &p);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("(gave up after 2 attempts)"),
        "{}",
        r.stderr
    );
    assert_eq!(s.hits("/f.csv"), 2);
    assert!(!w.join("work/latest").exists());
}

#[test]
fn a_truncated_gzip_stream_fails() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(FEED.repeat(50).as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let s = Server::start();
    s.route("/f.csv.gz", vec![Response::ok(&bytes[..bytes.len() / 2])]);
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv.gz"), "gzip = true");
    let r = run(&w, &p);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot decompress gzip (truncated or corrupt)"),
        "{}",
        r.stderr
    );
    assert_eq!(s.hits("/f.csv.gz"), 1);
}

#[test]
fn an_oversized_body_fails_and_so_does_an_oversized_decompression() {
    let s = Server::start();
    s.route("/f.csv", vec![Response::ok(FEED)]);
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "max_bytes = 50");
    let r = run(&w, &p);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the body is {} bytes, more than max_bytes = 50",
            FEED.len()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(s.hits("/f.csv"), 1);

    // A small gzip that inflates past the limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(FEED.repeat(1000).as_bytes()).unwrap();
    s.route("/f.csv.gz", vec![Response::ok(gz.finish().unwrap())]);
    let p = pipeline(&w, &s.url("/f.csv.gz"), "gzip = true\nmax_bytes = 10000");
    let r = run(&w, &p);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the decompressed body is more than max_bytes = 10000 bytes"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_html_page_instead_of_csv_fails_saying_so() {
    let s = Server::start();
    s.route(
        "/f.csv",
        vec![
            Response::ok("<!DOCTYPE html><html><body>Login</body></html>")
                .header("Content-Type", "text/html; charset=utf-8"),
        ],
    );
    s.route(
        "/g.csv",
        vec![Response::ok("\n  <html><body>Maintenance</body></html>")],
    );
    let w = Workdir::new();
    for path in ["/f.csv", "/g.csv"] {
        let p = pipeline(&w, &s.url(path), "");
        let r = run(&w, &p);
        assert_eq!(r.status, 4, "{}", r.stderr);
        assert!(
            r.stderr.contains("the server sent an HTML page")
                && r.stderr.contains("not the csv feed expected"),
            "{}",
            r.stderr
        );
        assert_eq!(s.hits(path), 1);
    }
}

#[test]
fn a_304_reuses_the_previous_copy() {
    let s = Server::start();
    let mut r = Response::ok(FEED);
    r.etag = Some("\"v1\"".into());
    s.route("/f.csv", vec![r]);
    let w = Workdir::new();
    let p = pipeline(&w, &s.url("/f.csv"), "");
    run(&w, &p).assert_success();
    assert_eq!(remote(&w)["unchanged"], false);
    assert_eq!(remote(&w)["etag"], "\"v1\"");
    let first = std::fs::read(w.join("work/latest/readiness.csv")).unwrap();
    run(&w, &p).assert_success();
    assert_eq!(s.hits("/f.csv"), 2);
    assert!(
        s.requests()[1]
            .to_ascii_lowercase()
            .contains("if-none-match: \"v1\""),
        "{:?}",
        s.requests()
    );
    let rec = remote(&w);
    assert_eq!(rec["unchanged"], true);
    assert_eq!(rec["bytes"], FEED.len());
    assert_eq!(
        std::fs::read(w.join("work/latest/raw/remote")).unwrap(),
        FEED.as_bytes()
    );
    assert_eq!(
        std::fs::read(w.join("work/latest/readiness.csv")).unwrap(),
        first
    );
}

#[test]
fn a_redirect_to_another_host_keeps_the_credentials_home() {
    let s = Server::start();
    // 127.0.0.1 and localhost are different hosts to a client.
    let elsewhere = format!("http://localhost:{}/g.csv", s.port);
    s.route(
        "/f.csv",
        vec![Response::status(302, "").header("Location", &elsewhere)],
    );
    s.route("/g.csv", vec![Response::ok(FEED)]);
    let w = Workdir::new();
    let p = pipeline(
        &w,
        &s.url("/f.csv"),
        "headers = { \"X-Api-Key\" = \"${SIAP_TEST_KEY}\" }",
    );
    let r = w.siap_env(
        &["run", &p, "--work-dir", "work", "--date", "2026-11-01"],
        &[("SIAP_TEST_KEY", "k-123")],
    );
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(r.stderr.contains("refusing to follow a redirect to another host (`localhost`) with this source's credentials"), "{}", r.stderr);
    assert_eq!(s.hits("/g.csv"), 0);
    // Without credentials the same redirect is followed.
    let p = pipeline(&w, &s.url("/f.csv"), "");
    run(&w, &p).assert_success();
    assert_eq!(s.hits("/g.csv"), 1);
}

/// Issue 24, also seen: a redirect to the same host on another port
/// carried custom headers such as `X-Api-Key` along (reqwest strips only
/// `Authorization`): the port is part of the origin.
#[test]
fn regression_a_redirect_to_another_port_keeps_the_credentials_home() {
    let s = Server::start();
    let other = Server::start();
    other.route("/g.csv", vec![Response::ok(FEED)]);
    s.route(
        "/f.csv",
        vec![Response::status(302, "").header("Location", &other.url("/g.csv"))],
    );
    let w = Workdir::new();
    let p = pipeline(
        &w,
        &s.url("/f.csv"),
        "headers = { \"X-Api-Key\" = \"${SIAP_TEST_KEY}\" }",
    );
    let r = w.siap_env(
        &["run", &p, "--work-dir", "work", "--date", "2026-11-01"],
        &[("SIAP_TEST_KEY", "k-123")],
    );
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "refusing to follow a redirect to another port (`127.0.0.1:{}`) with this source's credentials",
            other.port
        )),
        "{}",
        r.stderr
    );
    assert_eq!(other.hits("/g.csv"), 0);
    assert!(!other.requests().iter().any(|q| q.contains("k-123")));
}

#[test]
fn a_missing_environment_variable_is_a_config_error() {
    let w = Workdir::new();
    let p = pipeline(
        &w,
        "http://127.0.0.1:9/f.csv",
        "headers = { Authorization = \"Bearer ${SIAP_TEST_UNSET_TOKEN}\" }",
    );
    let r = run(&w, &p);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("uses the environment variable `SIAP_TEST_UNSET_TOKEN`, which is not set"),
        "{}",
        r.stderr
    );
}

#[test]
fn secrets_appear_nowhere() {
    const HEADER_CANARY: &str = "canary-header-7f3a9c";
    const QUERY_CANARY: &str = "canary-query-51be20";
    let s = Server::start();
    s.route(
        "/f.csv",
        vec![Response::status(500, "flaky"), Response::ok(FEED)],
    );
    s.route("/gone.csv", vec![Response::status(404, "")]);
    let w = Workdir::new();
    let url = format!("{}?token=${{SIAP_TEST_QUERY}}", s.url("/f.csv"));
    let p = pipeline(
        &w,
        &url,
        "headers = { Authorization = \"Bearer ${SIAP_TEST_HEADER}\" }",
    );
    let env = [
        ("SIAP_TEST_HEADER", HEADER_CANARY),
        ("SIAP_TEST_QUERY", QUERY_CANARY),
    ];
    let ok = w.siap_env(
        &[
            "run",
            &p,
            "--work-dir",
            "work",
            "--date",
            "2026-11-01",
            "--log-format",
            "json",
            "-vv",
        ],
        &env,
    );
    ok.assert_success();
    // The server did get both.
    let reqs = s.requests().join("\n");
    assert!(reqs.contains(HEADER_CANARY) && reqs.contains(QUERY_CANARY));
    // A failing run prints errors with the URL.
    let bad_url = format!("{}?token=${{SIAP_TEST_QUERY}}", s.url("/gone.csv"));
    let p2 = pipeline(
        &w,
        &bad_url,
        "headers = { Authorization = \"Bearer ${SIAP_TEST_HEADER}\" }",
    );
    let failed = w.siap_env(
        &[
            "run",
            &p2,
            "--work-dir",
            "work2",
            "--date",
            "2026-11-01",
            "-vv",
        ],
        &env,
    );
    assert_eq!(failed.status, 4);
    assert!(failed.stderr.contains("token=***"), "{}", failed.stderr);
    for text in [&ok.stderr, &ok.stdout, &failed.stderr, &failed.stdout] {
        assert!(
            !text.contains(HEADER_CANARY) && !text.contains(QUERY_CANARY),
            "leaked: {text}"
        );
    }
    // Nor in any file of the work directory.
    for canary in [HEADER_CANARY, QUERY_CANARY] {
        crate::harness::assert_nowhere_in(&w.join("work"), canary);
    }
}

#[test]
fn the_sample_campaign_over_http_equals_the_local_run() {
    let s = Server::start();
    let w = Workdir::new();
    let p = w.copy_sample();
    let mut text = std::fs::read_to_string(&p).unwrap();
    for f in [
        "catalog.csv",
        "sku_map.csv",
        "stock/kopi_nusantara.csv",
        "stock/aroma_pagi.json",
        "stock/renyah_jaya.csv",
        "stock/kerupuk_sidoarjo.csv",
        "stock/mie_jaya.csv",
        "stock/walet_emas.ndjson",
        "shipments/kapal_nusantara.csv",
        "shipments/cepat_express.json",
    ] {
        s.route(
            &format!("/{f}"),
            vec![Response::ok(
                std::fs::read(w.join("sample_data").join(f)).unwrap(),
            )],
        );
        text = text.replace(
            &format!("\"../sample_data/{f}\""),
            &format!("\"{}\"", s.url(&format!("/{f}"))),
        );
    }
    assert!(!text.contains("../sample_data"));
    std::fs::write(&p, text).unwrap();
    w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        "http",
        "--date",
        "2026-11-27",
    ])
    .assert_success();
    w.assert_tables_equal_the_sample("http", &["readiness", "supplier_readiness", "exceptions"]);
}

/// An export link that hands the file to another host (Google Sheets to
/// googleusercontent.com) is followed when the pipeline names that host,
/// and only that host.
#[test]
fn a_redirect_to_a_named_host_is_followed_and_no_further() {
    let s = Server::start();
    let named = Server::start();
    let third = Server::start();
    s.route(
        "/export",
        vec![Response::status(307, "").header("Location", &named.url("/file.csv"))],
    );
    named.route("/file.csv", vec![Response::ok(FEED)]);
    named.route(
        "/bounce.csv",
        vec![Response::status(302, "").header("Location", &third.url("/file.csv"))],
    );
    third.route("/file.csv", vec![Response::ok(FEED)]);
    let w = Workdir::new();
    let allow = format!(
        "allow_redirect_hosts = [\"127.0.0.1:{}\"]\nheaders = {{ Authorization = \"Bearer ${{SIAP_TEST_KEY}}\" }}",
        named.port
    );
    let p = pipeline(&w, &format!("{}?format=csv", s.url("/export")), &allow);
    let env = [("SIAP_TEST_KEY", "k-123")];
    w.siap_env(
        &["run", &p, "--work-dir", "work", "--date", "2026-11-01"],
        &env,
    )
    .assert_success();
    assert_eq!(named.hits("/file.csv"), 1);
    assert!(
        s.requests().iter().any(|q| q.contains("k-123")),
        "sent home"
    );
    assert!(
        !named.requests().iter().any(|q| q.contains("k-123")),
        "Authorization never leaves the first host"
    );
    // From the named host on, a redirect elsewhere is refused again.
    s.route(
        "/export",
        vec![Response::status(307, "").header("Location", &named.url("/bounce.csv"))],
    );
    let r = w.siap_env(
        &["run", &p, "--work-dir", "work", "--date", "2026-11-01"],
        &env,
    );
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("another port (`127.0.0.1:{}`)", third.port))
            && r.stderr.contains("allow_redirect_hosts"),
        "{}",
        r.stderr
    );
    assert_eq!(third.hits("/file.csv"), 0);
}

//! HTTP API sources against a real server on 127.0.0.1: POST with a JSON
//! or form body, records at a path, nested fields, and the three kinds of
//! paging, each run compared with the local sample.

use serde_json::{Value, json};

use crate::harness::{Run, Workdir, edit, manifest, manifest_source, repo};
use crate::server::{Response, Server};

const KEY_CANARY: &str = "canary-api-key-93d1e2";
const LOCATION: &str = "location = \"../sample_data/shipments/cepat_express.json\"";

/// The sample's Cepat Express shipments as a provider's API sends them:
/// `eta` and `etd` nested under `details`.
pub fn nested_records() -> Vec<Value> {
    let text = std::fs::read(repo().join("sample_data/shipments/cepat_express.json")).unwrap();
    let flat: Vec<Value> = serde_json::from_slice(&text).unwrap();
    flat.into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            let eta = o.remove("eta").unwrap();
            let etd = o.remove("etd").unwrap();
            o.insert("details".into(), json!({ "eta": eta, "etd": etd }));
            r
        })
        .collect()
}

/// Pages of `size` records in the provider's envelope, each made by
/// `page(records, index, last)`, then an empty one.
pub fn pages(
    records: &[Value],
    size: usize,
    page: impl Fn(&[Value], usize, bool) -> Value,
) -> Vec<Response> {
    let chunks: Vec<&[Value]> = records.chunks(size).collect();
    let mut out: Vec<Response> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let body =
                serde_json::to_string_pretty(&page(c, i + 1, i + 1 == chunks.len())).unwrap();
            Response::ok(body).header("Content-Type", "application/json")
        })
        .collect();
    out.push(Response::ok(page(&[], chunks.len() + 1, true).to_string()));
    out
}

/// The sample with Cepat Express read from `url` with `keys`.
fn pipeline(w: &Workdir, url: &str, keys: &str) -> String {
    let p = w.copy_sample();
    edit(
        &p,
        LOCATION,
        &format!(
            "location = \"{url}\"\n{keys}\ncolumns = {{ eta = \"details.eta\", etd = \"details.etd\" }}"
        ),
    );
    p.to_str().unwrap().to_string()
}

fn run(w: &Workdir, p: &str, dir: &str) -> Run {
    w.siap_env(
        &[
            "run",
            p,
            "--work-dir",
            dir,
            "--date",
            "2026-11-27",
            "--log-format",
            "json",
            "-vv",
        ],
        &[("SIAP_TEST_API_KEY", KEY_CANARY)],
    )
}

/// A POST API with the key in a JSON body, records at `data.items`,
/// nested ETAs and page numbers in the body: the same tables as the local
/// file; every page kept; the bad record's `raw` as the provider sent it;
/// the key nowhere but in the requests.
#[test]
fn a_paged_post_api_with_nested_records_equals_the_local_file() {
    let w = Workdir::new();
    let s = Server::start();
    let records = nested_records();
    s.route(
        "/v2/shipments",
        pages(
            &records,
            4,
            |c, _, _| json!({ "status": true, "data": { "items": c } }),
        ),
    );
    let p = pipeline(
        &w,
        &s.url("/v2/shipments"),
        "method = \"POST\"\nbody = { json = { api_key = \"${SIAP_TEST_API_KEY}\", since = \"{date:%Y-%m-%d}\" } }\nrecords = \"data.items\"\npaginate = { page_param = \"page\" }",
    );
    let r = run(&w, &p, "api");
    r.assert_success();
    // Three pages of records, then the empty one that ends the feed.
    let bodies = s.bodies("/v2/shipments");
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    for (i, b) in bodies.iter().enumerate() {
        let v: Value = serde_json::from_str(b).unwrap();
        assert_eq!(v["page"], json!(i + 1), "{b}");
        assert_eq!(v["api_key"], json!(KEY_CANARY));
        assert_eq!(v["since"], json!("2026-11-27"));
    }
    assert!(s.requests()[0].starts_with("POST /v2/shipments "));
    w.assert_tables_equal_the_sample("api", &["readiness", "supplier_readiness", "shipments"]);

    let latest = w.join("api/latest");
    let src = manifest_source(&w.join("api"), "cepat-express");
    assert_eq!(src["pages"], json!(4));
    assert_eq!(src["records_read"], json!(10));
    for n in 1..=4 {
        assert!(
            latest
                .join(format!("raw/cepat-express.pages/{n:04}.json"))
                .is_file()
        );
    }
    // The bad status's exception: the record as sent (nested), its
    // position across the pages.
    let exceptions = std::fs::read_to_string(latest.join("exceptions.csv")).unwrap();
    let row = exceptions
        .lines()
        .find(|l| l.starts_with("cepat-express,"))
        .unwrap();
    assert!(row.contains(",10,status,"), "{row}");
    assert!(row.contains(r#"""details"": {"#), "{row}");

    for text in [&r.stderr, &r.stdout] {
        assert!(!text.contains(KEY_CANARY), "leaked: {text}");
    }
    crate::harness::assert_nowhere_in(&w.join("api"), KEY_CANARY);
}

/// A GET API paged by a relative next link, and one paged by a cursor
/// sent in the query: both equal the local file.
#[test]
fn next_links_and_cursors_are_followed_to_the_end() {
    let w = Workdir::new();
    let s = Server::start();
    let records = nested_records();
    s.route(
        "/links",
        pages(&records, 3, |c, i, last| {
            let next = if last {
                Value::Null
            } else {
                json!(format!("/links?page={}", i + 1))
            };
            json!({ "data": c, "links": { "next": next } })
        }),
    );
    let p = pipeline(
        &w,
        &s.url("/links"),
        "records = \"data\"\npaginate = { next_link = \"links.next\" }",
    );
    run(&w, &p, "links").assert_success();
    assert_eq!(s.hits("/links"), 4);
    w.assert_tables_equal_the_sample("links", &["readiness", "supplier_readiness", "shipments"]);

    s.route(
        "/cursor",
        pages(&records, 6, |c, i, last| {
            let next = if last {
                json!("")
            } else {
                json!(format!("c{i}"))
            };
            json!({ "items": c, "meta": { "next_cursor": next } })
        }),
    );
    let p = pipeline(
        &w,
        &s.url("/cursor"),
        "method = \"POST\"\nbody = { form = { key = \"${SIAP_TEST_API_KEY}\" } }\nrecords = \"items\"\npaginate = { cursor = \"meta.next_cursor\", cursor_param = \"after\", param_in = \"query\" }",
    );
    run(&w, &p, "cursor").assert_success();
    let heads = s.requests();
    let asked: Vec<&str> = heads
        .iter()
        .filter(|h| h.contains("/cursor"))
        .map(|h| h.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(asked, ["/cursor", "/cursor?after=c1"]);
    assert_eq!(s.bodies("/cursor")[0], format!("key={KEY_CANARY}"));
    let m = manifest(&w.join("cursor"));
    assert!(m.to_string().contains("\"pages\":2"), "{m}");
}

/// Paging that loops, a cap reached, a page that fails mid-way and a
/// missing records path each fail the source with exit 4, naming the
/// page; the previous good outputs stay.
#[test]
fn paging_that_loops_or_breaks_fails_the_source_and_keeps_the_last_good_run() {
    let w = Workdir::new();
    let s = Server::start();
    let records = nested_records();
    // The source read from `path` with `keys` fails with exit 4, saying
    // `want`.
    let fails = |path: &str, keys: &str, want: &str| {
        let r = run(&w, &pipeline(&w, &s.url(path), keys), "work");
        assert_eq!(r.status, 4, "{}", r.stderr);
        assert!(r.stderr.contains("cepat-express"), "{}", r.stderr);
        assert!(r.stderr.contains(want), "{want}\n{}", r.stderr);
    };
    let paged = "records = \"data\"\npaginate = { page_param = \"page\" }";
    let page1 = json!({ "data": &records[..5], "next": "/loop?p=2" }).to_string();
    let page2 = json!({ "data": &records[5..], "next": "/loop?p=2" }).to_string();
    s.route(
        "/loop",
        vec![Response::ok(page1.clone()), Response::ok(page2)],
    );
    fails(
        "/loop",
        "records = \"data\"\npaginate = { next_link = \"next\" }",
        "page 2: the next page's link or cursor repeats an earlier one (a loop)",
    );

    // A server that ignores the page number sends the same page again.
    s.route("/same", vec![Response::ok(page1)]);
    fails("/same", paged, "page 2: the page is the same as page 1");

    // A cap reached.
    s.route("/long", pages(&records, 2, |c, _, _| json!({ "data": c })));
    fails(
        "/long",
        "records = \"data\"\npaginate = { page_param = \"page\", max_pages = 3 }",
        "page 4: more than max_pages = 3 pages",
    );

    // A good run, then a page failing mid-way: nothing of it is published.
    s.route("/good", pages(&records, 4, |c, _, _| json!({ "data": c })));
    run(&w, &pipeline(&w, &s.url("/good"), paged), "work").assert_success();
    let before = std::fs::read(w.join("work/latest/readiness.csv")).unwrap();
    s.route(
        "/breaks",
        vec![
            Response::ok(json!({ "data": &records[..4] }).to_string()),
            Response::status(404, "gone"),
        ],
    );
    fails("/breaks", paged, "404");
    assert_eq!(
        std::fs::read(w.join("work/latest/readiness.csv")).unwrap(),
        before
    );

    // No records where the pipeline says.
    s.route(
        "/moved",
        vec![Response::ok(json!({ "result": [] }).to_string())],
    );
    fails(
        "/moved",
        "records = \"data.items\"",
        "page 1: the page has no `data.items`",
    );
}

/// A next link to another host is not followed with the source's
/// credentials unless the pipeline names that host.
#[test]
fn a_next_link_to_another_host_keeps_the_credentials_home() {
    let w = Workdir::new();
    let s = Server::start();
    let records = nested_records();
    let elsewhere = format!("http://localhost:{}/more", s.port);
    s.route(
        "/first",
        vec![Response::ok(
            json!({ "data": &records[..5], "next": elsewhere }).to_string(),
        )],
    );
    s.route(
        "/more",
        vec![Response::ok(
            json!({ "data": &records[5..], "next": null }).to_string(),
        )],
    );
    let keys = "headers = { \"X-Api-Key\" = \"${SIAP_TEST_API_KEY}\" }\nrecords = \"data\"\npaginate = { next_link = \"next\" }";
    let p = pipeline(&w, &s.url("/first"), keys);
    let r = run(&w, &p, "work");
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the next link leads to another host (`localhost`)"),
        "{}",
        r.stderr
    );
    assert_eq!(s.hits("/more"), 0);
    let p = pipeline(
        &w,
        &s.url("/first"),
        &format!("{keys}\nallow_redirect_hosts = [\"localhost:{}\"]", s.port),
    );
    run(&w, &p, "work").assert_success();
    assert_eq!(s.hits("/more"), 1);
}

/// Mistakes in the API keys are configuration errors with their line.
#[test]
fn api_keys_are_checked_with_their_line() {
    let w = Workdir::new();
    let p = pipeline(
        &w,
        "https://api.example/v1",
        "body = { json = { a = 1 } }\nrecords = \"data..items\"\npaginate = { next_link = \"n\", cursor = \"c\" }",
    );
    let r = w.siap(&["validate", &p]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`shipments[1].body` needs `method = \"POST\"`"),
        "{}",
        r.stderr
    );
    let p = pipeline(&w, "https://api.example/v1", "method = \"PUT\"");
    let r = w.siap(&["validate", &p]);
    assert_eq!(r.status, 3);
    assert!(
        r.stderr
            .contains("`shipments[1].method` `PUT`: use \"GET\" or \"POST\""),
        "{}",
        r.stderr
    );
    let p = pipeline(
        &w,
        "https://api.example/v1",
        "records = \"data..items\"\npaginate = { next_link = \"n\", cursor = \"c\" }",
    );
    let r = w.siap(&["validate", &p]);
    assert_eq!(r.status, 3);
    assert!(
        r.stderr
            .contains("must be a dotted path such as \"data.items\""),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("needs exactly one of `next_link`, `page_param` or `cursor`"),
        "{}",
        r.stderr
    );
}

/// `on_fetch_failure = "reuse"`: a night the API is down, the last good
/// copy is used, the run warns (exit 7), the manifest says why and how old
/// the copy is, and the readiness table names the stale feed on the
/// products it touches; the `max_age_hours` gate still bounds it, and
/// without the key the run fails.
#[test]
fn a_failed_fetch_reuses_the_last_good_copy_when_the_pipeline_says_so() {
    let w = Workdir::new();
    let s = Server::start();
    let records = nested_records();
    s.route("/up", pages(&records, 4, |c, _, _| json!({ "data": c })));
    s.route("/down", vec![Response::status(503, "maintenance")]);
    let keys = "records = \"data\"\npaginate = { page_param = \"page\" }\nmax_attempts = 1\non_fetch_failure = \"reuse\"";
    let p = pipeline(&w, &s.url("/up"), keys);
    run(&w, &p, "work").assert_success();
    let good = std::fs::read(w.join("work/latest/raw/cepat-express")).unwrap();

    // The next night the API is down.
    let p = pipeline(&w, &s.url("/down"), keys);
    let night = |date: &str| {
        w.siap_env(
            &["run", &p, "--work-dir", "work", "--date", date],
            &[("SIAP_TEST_API_KEY", KEY_CANARY)],
        )
    };
    let r = night("2026-11-28");
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("used the last good copy, of run 2026-11-27/"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(w.join("work/latest/raw/cepat-express")).unwrap(),
        good
    );
    let m = manifest(&w.join("work"));
    let src = manifest_source(&w.join("work"), "cepat-express");
    assert_eq!(src["refreshed"], json!(false));
    assert!(
        src["reused_from"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-27/")
    );
    assert!(
        src["fetch_failed"].as_str().unwrap().contains("503"),
        "{src}"
    );
    assert!(src["copy_age_hours"].as_f64().unwrap() >= 0.0);
    assert_eq!(m["status"], json!("success_with_warnings"));
    // Products with Cepat Express shipments say so; the others do not.
    let (header, rows) = crate::harness::read_csv(&w.join("work/latest/readiness.csv"));
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (id, stale) = (at("product_id"), at("stale_feeds"));
    let flagged: Vec<&str> = rows
        .iter()
        .filter(|r| !r[stale].is_empty())
        .map(|r| r[id].as_str())
        .collect();
    assert!(
        !flagged.is_empty() && flagged.len() < rows.len(),
        "{flagged:?}"
    );
    for r in rows.iter().filter(|r| !r[stale].is_empty()) {
        assert!(
            r[stale].starts_with("cepat-express: copy of 2026-11-27/"),
            "{r:?}"
        );
    }
    // Exactly the products with a Cepat Express shipment.
    let (sh, shipments) = crate::harness::read_csv(&w.join("work/latest/shipments.csv"));
    let col = |name: &str| sh.iter().position(|h| h == name).unwrap();
    let mut cepat: Vec<&str> = shipments
        .iter()
        .filter(|r| r[col("provider")] == "LOG-CEPAT")
        .map(|r| r[col("product_id")].as_str())
        .collect();
    cepat.sort();
    cepat.dedup();
    let mut flagged = flagged;
    flagged.sort();
    assert_eq!(flagged, cepat);

    // Bounded by the age gate: four days on, the copy is too old.
    let gated = p.clone();
    edit(
        std::path::Path::new(&gated),
        "on_fetch_failure = \"reuse\"",
        "on_fetch_failure = \"reuse\"\ngates = { max_age_hours = { max = 48 } }",
    );
    let r = night("2026-12-01");
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(r.stderr.contains("max_age_hours"), "{}", r.stderr);

    // Without `on_fetch_failure`, the source fails the run.
    let p = pipeline(&w, &s.url("/down"), "records = \"data\"\nmax_attempts = 1");
    let r = w.siap_env(
        &["run", &p, "--work-dir", "work", "--date", "2026-11-28"],
        &[("SIAP_TEST_API_KEY", KEY_CANARY)],
    );
    assert_eq!(r.status, 4, "{}", r.stderr);
}

//! Pipeline files: every problem reported at once, with file, line and key.

use crate::harness::{Workdir, repo};

const GOOD: &str = r#"
[campaign]
name = "Test"
timezone = "Asia/Jakarta"
window = { opens = 2026-12-01, closes = 2026-12-08 }

[catalog]
location = "catalog.csv"

[sku_map]
location = "sku_map.csv"
"#;

#[test]
fn sample_pipeline_validates() {
    let w = Workdir::new();
    let p = repo().join("pipelines/harbolnas.toml");
    let r = w.siap(&["validate", p.to_str().unwrap()]);
    r.assert_success();
    assert!(r.stderr.contains("is valid"), "{}", r.stderr);
}

#[test]
fn every_problem_is_reported_with_line_and_key() {
    let w = Workdir::new();
    let p = w.write(
        "bad.toml",
        r#"[campaign]
name = "Bad"
timezone = "Asia/Jakarta"
minimum_unit = 5
window = { opens = 2026-12-08, closes = 2026-12-01 }

[sku_map]
location = "sku_map.csv"

[[stock]]
id = "a"
supplier = "S"
location = "a.csv"
delimeter = ";"
"#,
    );
    let r = w.siap(&["validate", p.to_str().unwrap()]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    let file = p.display().to_string();
    let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains(&file)).collect();
    assert_eq!(lines.len(), 4, "one line per problem:\n{}", r.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":1:1: missing table `[catalog]`")),
        "{}",
        r.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":4:1: unknown key `campaign.minimum_unit`")),
        "{}",
        r.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":5:") && l.contains("`campaign.window` is reversed")),
        "{}",
        r.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":14:1: unknown key `stock[0].delimeter`")),
        "{}",
        r.stderr
    );
}

#[test]
fn run_refuses_a_bad_pipeline_and_writes_nothing() {
    let w = Workdir::new();
    let p = w.write(
        "bad.toml",
        GOOD.replace(
            "timezone = \"Asia/Jakarta\"",
            "timezone = \"Asia/Atlantis\"",
        ),
    );
    let r = w.siap(&["run", p.to_str().unwrap(), "--out", "out"]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("`Asia/Atlantis` is not an IANA timezone"),
        "{}",
        r.stderr
    );
    assert!(!w.join("out").exists(), "nothing written");
}

#[test]
fn syntax_errors_name_the_position() {
    let w = Workdir::new();
    let p = w.write("broken.toml", "[campaign\nname = 1\n");
    let r = w.siap(&["validate", p.to_str().unwrap()]);
    assert_eq!(r.status, 3);
    assert!(
        r.stderr.contains(&format!("{}:1:", p.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("invalid TOML"), "{}", r.stderr);
}

#[test]
fn validate_reports_missing_local_sources() {
    let w = Workdir::new();
    let p = w.write("p.toml", GOOD);
    let r = w.siap(&["validate", p.to_str().unwrap()]);
    assert_eq!(r.status, 3);
    assert!(
        r.stderr.contains("source `catalog`: local file"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("source `sku_map`: local file"),
        "{}",
        r.stderr
    );
}

#[test]
fn output_language_and_notify_mistakes_are_named() {
    let w = Workdir::new();
    let p = w.write(
        "bad.toml",
        format!(
            "{GOOD}\n[output]\nlanguage = \"fr\"\n\n[notify]\non = [\"always\"]\n[[notify.webhooks]]\nurl = \"ftp://example.com/hook\"\n"
        ),
    );
    let r = w.siap(&["validate", p.to_str().unwrap()]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    for said in [
        "`output.language` must be \"en\" (English) or \"id\" (Bahasa Indonesia)",
        "`notify.on`: unknown event `always`",
        "`notify.webhooks[0].url` must be an http(s) URL",
    ] {
        assert!(r.stderr.contains(said), "{said}\n{}", r.stderr);
    }
}

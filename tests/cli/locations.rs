//! Dated and patterned locations: a drop folder with a file per day, runs
//! for several dates each taking the right one, globs with a declared
//! pick, and the failures (no file, several without a rule) named.

use serde_json::Value;

use crate::harness::{Workdir, edit};

/// Mie Jaya's feed, with this day's quantity for one SKU.
fn mie_jaya(w: &Workdir, quantity: u32) -> String {
    let text = std::fs::read_to_string(w.join("sample_data/stock/mie_jaya.csv")).unwrap();
    let first = text.lines().nth(1).unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    let changed = format!(
        "{},{},{quantity},{}",
        fields[0],
        fields[1],
        fields[3..].join(",")
    );
    text.replacen(first, &changed, 1)
}

fn sources(manifest: &Value) -> Vec<Value> {
    manifest["sources"].as_array().unwrap().clone()
}

fn source<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter().find(|s| s["id"] == id).unwrap()
}

fn run(w: &Workdir, p: &str, date: &str, extra: &[&str]) -> crate::harness::Run {
    let mut args = vec!["run", p, "--work-dir", "work", "--date", date];
    args.extend_from_slice(extra);
    w.siap(&args)
}

#[test]
fn a_dated_drop_folder_gives_each_run_its_own_day() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap().to_string();
    std::fs::create_dir(w.join("drop")).unwrap();
    for (day, q) in [("25112026", 1111), ("26112026", 2222), ("27112026", 3333)] {
        w.write(&format!("drop/stok_{day}.csv"), mie_jaya(&w, q));
    }
    edit(
        std::path::Path::new(&p),
        "location = \"../sample_data/stock/mie_jaya.csv\"",
        "location = \"../drop/stok_{date:%d%m%Y}.csv\"",
    );
    let r = w.siap(&["validate", &p, "--date", "2026-11-26"]);
    r.assert_success();
    assert!(
        r.stderr
            .contains("source `mie-jaya`: `../drop/stok_{date:%d%m%Y}.csv` -> `")
            && r.stderr.contains("stok_26112026.csv`"),
        "{}",
        r.stderr
    );
    for (date, day) in [
        ("2026-11-25", "25112026"),
        ("2026-11-26", "26112026"),
        ("2026-11-27", "27112026"),
    ] {
        run(&w, &p, date, &[]).assert_success();
        let m = crate::harness::manifest(&w.join("work"));
        let s = sources(&m);
        let mie = source(&s, "mie-jaya");
        assert!(
            mie["location"]
                .as_str()
                .unwrap()
                .ends_with(&format!("drop/stok_{day}.csv")),
            "{mie}"
        );
        assert_eq!(mie["pattern"], "../drop/stok_{date:%d%m%Y}.csv");
    }
    // A --supplier rerun refetches the dated feed and reuses the others.
    run(&w, &p, "2026-11-27", &["--supplier", "SUP-MIEJAYA"]).assert_success();
    let m = crate::harness::manifest(&w.join("work"));
    let s = sources(&m);
    assert_eq!(source(&s, "mie-jaya")["refreshed"], true);
    assert!(
        source(&s, "mie-jaya")["location"]
            .as_str()
            .unwrap()
            .ends_with("stok_27112026.csv")
    );
    assert_eq!(source(&s, "kopi-nusantara")["refreshed"], false);
    // No file for the day: the source fails, naming the file it looked for.
    let r = run(&w, &p, "2026-11-28", &[]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("mie-jaya") && r.stderr.contains("stok_28112026.csv"),
        "{}",
        r.stderr
    );
    let r = w.siap(&["validate", &p, "--date", "2026-11-28"]);
    assert_eq!(r.status, 3);
    assert!(
        r.stderr.contains("no file") && r.stderr.contains("stok_28112026.csv"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_glob_takes_the_match_its_rule_names_and_never_an_arbitrary_one() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap().to_string();
    std::fs::create_dir(w.join("drop")).unwrap();
    for (day, q) in [
        ("2026-11-25", 1111),
        ("2026-11-26", 2222),
        ("2026-11-28", 4444),
    ] {
        w.write(&format!("drop/Laporan Stok {day}.csv"), mie_jaya(&w, q));
    }
    let pipeline = std::fs::read_to_string(&p).unwrap();
    let with = |keys: &str| {
        let text = pipeline.replace(
            "location = \"../sample_data/stock/mie_jaya.csv\"",
            &format!("location = \"../drop/Laporan Stok *.csv\"\n{keys}"),
        );
        std::fs::write(&p, text).unwrap();
    };
    // Several matches and no rule: the source fails, listing them.
    with("");
    let r = run(&w, &p, "2026-11-27", &[]);
    assert_eq!(r.status, 4);
    assert!(
        r.stderr.contains("3 files match") && r.stderr.contains("set `pick`"),
        "{}",
        r.stderr
    );
    // The newest date in the names, never after the run date.
    with("pick = \"newest-by-name\"\nname_date_format = \"%Y-%m-%d\"");
    run(&w, &p, "2026-11-27", &[]).assert_success();
    let m = crate::harness::manifest(&w.join("work"));
    let s = sources(&m);
    assert!(
        source(&s, "mie-jaya")["location"]
            .as_str()
            .unwrap()
            .ends_with("Laporan Stok 2026-11-26.csv")
    );
    assert_eq!(
        source(&s, "mie-jaya")["pattern"],
        "../drop/Laporan Stok *.csv"
    );
    // The newest modification time.
    with("pick = \"newest-by-mtime\"");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for day in ["2026-11-25", "2026-11-28"] {
        let f = std::fs::File::options()
            .write(true)
            .open(w.join(&format!("drop/Laporan Stok {day}.csv")))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    run(&w, &p, "2026-11-27", &[]).assert_success();
    let m = crate::harness::manifest(&w.join("work"));
    assert!(
        source(&sources(&m), "mie-jaya")["location"]
            .as_str()
            .unwrap()
            .ends_with("2026-11-26.csv")
    );
    // A rule without what it needs is a configuration problem.
    with("pick = \"newest-by-name\"");
    let r = w.siap(&["validate", &p]);
    assert_eq!(r.status, 3);
    assert!(
        r.stderr.contains("needs `name_date_format`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_dated_url_asks_for_the_run_date() {
    let server = crate::server::Server::start();
    let w = Workdir::new();
    let p = w.copy_sample();
    let p = p.to_str().unwrap().to_string();
    server.route(
        "/stok/2026-11-27.csv",
        vec![crate::server::Response::ok(mie_jaya(&w, 4321))],
    );
    edit(
        std::path::Path::new(&p),
        "location = \"../sample_data/stock/mie_jaya.csv\"",
        &format!("location = \"{}\"", server.url("/stok/{date}.csv")),
    );
    run(&w, &p, "2026-11-27", &[]).assert_success();
    assert_eq!(server.hits("/stok/2026-11-27.csv"), 1);
    let m = crate::harness::manifest(&w.join("work"));
    let s = sources(&m);
    let mie = source(&s, "mie-jaya");
    assert_eq!(mie["location"], server.url("/stok/2026-11-27.csv"));
    assert_eq!(mie["pattern"], server.url("/stok/{date}.csv"));
    // Another day's file is not there: a 404 fails the source.
    let r = run(&w, &p, "2026-11-28", &[]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(r.stderr.contains("/stok/2026-11-28.csv"), "{}", r.stderr);
}

//! Publishing: failed runs leave `latest` alone; overlapping runs are refused.

use crate::harness::Workdir;

#[test]
fn a_failed_source_publishes_nothing_and_keeps_latest() {
    let w = Workdir::new();
    let pipeline = w.copy_sample();
    let p = pipeline.to_str().unwrap();
    w.siap(&["run", p, "--out", "out", "--date", "2026-11-27"])
        .assert_success();
    let before = std::fs::read_link(w.join("out/latest")).unwrap();
    let readiness = std::fs::read(w.join("out/latest/readiness.csv")).unwrap();

    // A zero-byte feed fails its source.
    w.write("sample_data/stock/mie_jaya.csv", "");
    let r = w.siap(&["run", p, "--out", "out", "--date", "2026-11-27"]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(r.stderr.contains("source `mie-jaya`"), "{}", r.stderr);
    assert!(r.stderr.contains("mie_jaya.csv"), "{}", r.stderr);
    assert!(r.stderr.contains("empty"), "{}", r.stderr);
    assert_eq!(std::fs::read_link(w.join("out/latest")).unwrap(), before);
    assert_eq!(
        std::fs::read(w.join("out/latest/readiness.csv")).unwrap(),
        readiness
    );
    assert_eq!(
        std::fs::read_dir(w.join("out/.tmp")).unwrap().count(),
        0,
        "no temporary files left"
    );
}

#[test]
fn a_missing_column_fails_the_source_naming_it() {
    let w = Workdir::new();
    let pipeline = w.copy_sample();
    w.write(
        "sample_data/stock/renyah_jaya.csv",
        "supplier_sku,gudang,quantity,as_of\nRJ-KLP-300,WH Cikarang,30000,2026-11-26 07:00\n",
    );
    let r = w.siap(&[
        "run",
        pipeline.to_str().unwrap(),
        "--out",
        "out",
        "--date",
        "2026-11-27",
    ]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(r.stderr.contains("source `renyah-jaya`"), "{}", r.stderr);
    assert!(
        r.stderr.contains("missing required column `warehouse`"),
        "{}",
        r.stderr
    );
    assert!(!w.join("out/latest").exists());
}

#[test]
fn a_second_run_is_refused_while_the_lock_is_held() {
    let w = Workdir::new();
    let pipeline = w.copy_sample();
    std::fs::create_dir_all(w.join("out")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(w.join("out/.lock"))
        .unwrap();
    lock.lock().unwrap();
    std::fs::write(w.join("out/.lock"), "pid 4242 since 2026-11-27T01:00:00Z").unwrap();
    let r = w.siap(&[
        "run",
        pipeline.to_str().unwrap(),
        "--out",
        "out",
        "--date",
        "2026-11-27",
    ]);
    assert_eq!(r.status, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("locked by another run (pid 4242"),
        "{}",
        r.stderr
    );
    drop(lock);
    w.siap(&[
        "run",
        pipeline.to_str().unwrap(),
        "--out",
        "out",
        "--date",
        "2026-11-27",
    ])
    .assert_success();
}

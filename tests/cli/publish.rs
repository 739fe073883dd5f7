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
    // The holder (this test) writes its line as siap does.
    let holder = format!("pid {} since 2026-11-27T01:00:00Z", std::process::id());
    std::fs::write(w.join("out/.lock"), format!("{holder}\n")).unwrap();
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
        r.stderr
            .contains(&format!("locked by another run ({holder})")),
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

/// With stderr and stdout unwritable (a scheduler's log file on a full
/// disk), a run still does its work and exits with its own code, not a
/// panic's 101.
#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_stderr_keeps_the_exit_code() {
    let w = Workdir::new();
    let pipeline = crate::harness::repo().join("pipelines/harbolnas.toml");
    let out = w.join("out");
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full")
    };
    let run = |pipeline: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_siap"))
            .args(["run", pipeline, "--out", out.to_str().unwrap()])
            .args(["--date", "2026-11-27"])
            .current_dir(w.path())
            .env_remove("SIAP_LOG")
            .env_remove("SIAP_OUT")
            .env_remove("SIAP_LOG_FORMAT")
            .stdout(full())
            .stderr(full())
            .status()
            .expect("run siap")
            .code()
    };
    assert_eq!(run(pipeline.to_str().unwrap()), Some(0));
    assert!(out.join("latest/readiness.csv").exists());
    // A pipeline file that is not there: the configuration error's code.
    assert_eq!(run("missing.toml"), Some(3));
    // A command whose output cannot be written: an error (1), not a panic.
    let runs = std::process::Command::new(env!("CARGO_BIN_EXE_siap"))
        .args([
            "runs",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(w.path())
        .stdout(full())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run siap");
    assert_eq!(runs.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&runs.stderr);
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
}

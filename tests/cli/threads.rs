//! A large feed staged on several threads: the same bytes as on one.

use std::path::Path;

use crate::harness::Workdir;

/// Every file the run published, by path; the manifest without what
/// differs from run to run (ids, times, timings, memory).
fn published(run: &Path) -> Vec<(String, Vec<u8>)> {
    let latest = run.join("latest");
    let mut out = Vec::new();
    let mut stack = vec![latest.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.strip_prefix(&latest).unwrap().display().to_string();
            let bytes = if name == "manifest.json" {
                let mut m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                let o = m.as_object_mut().unwrap();
                for k in [
                    "run_id",
                    "started_at",
                    "finished_at",
                    "timings_ms",
                    "peak_memory_mib",
                ] {
                    o.remove(k);
                }
                for s in o["sources"].as_array_mut().unwrap() {
                    s.as_object_mut().unwrap().remove("stage_ms");
                }
                serde_json::to_vec_pretty(&m).unwrap()
            } else {
                std::fs::read(&p).unwrap()
            };
            out.push((name, bytes));
        }
    }
    out.sort();
    out
}

/// Records that make cutting a feed into chunks hard, put among its
/// lines: quoted fields with line breaks and doubled quotes, CRLF line
/// ends, blank lines, records longer than the cap (one on a single line,
/// one over several), a record whose fields are all quoted, a ragged one.
fn make_hostile(feed: &Path) {
    let text = std::fs::read_to_string(feed).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let sample = lines[10].clone();
    let quoted: Vec<String> = sample.split(',').map(|f| format!("\"{f}\"")).collect();
    let specials = [
        "SUP00001,\"MIE-\n000001\",WH-JKT-01,5,2026-11-20T10:00:00".to_string(),
        "\"SUP\"\"X\",A,WH,1,2026-11-20T10:00:00".to_string(),
        format!("SUP00001,{},WH,1,2026-11-20T10:00:00", "x".repeat(400)),
        format!("SUP00001,\"{}\",WH,1,2026-11-20", "y\n".repeat(300)),
        format!(
            "SUP00002,\"{}\",WH,1,2026-11-20T10:00:00",
            "z,\r\n".repeat(20)
        ),
        quoted.join(","),
        format!("{sample}\r"),
        String::new(),
        "only,three,fields".to_string(),
    ];
    let step = lines.len() / (specials.len() * 3);
    for (k, s) in specials.iter().cycle().take(specials.len() * 3).enumerate() {
        lines.insert(1 + (k + 1) * step, s.clone());
    }
    std::fs::write(feed, lines.join("\n") + "\n").unwrap();
}

/// One big multi-supplier stock file (timestamps without offsets, longer
/// ids, many rejected rows, hostile records) staged on one thread, and on
/// three threads in chunks of a few hundred bytes, or of one record each:
/// every published file is the same, byte for byte (the staged copy's row
/// groups, the exceptions' order and line numbers included).
#[test]
fn one_feed_on_many_threads_gives_the_same_bytes() {
    let w = Workdir::new();
    w.siap(&[
        "generate",
        "--out",
        "g",
        "--products",
        "300",
        "--stock-rows",
        "20000",
        "--shipment-rows",
        "4000",
        "--stock-files",
        "1",
        "--naive-timestamps",
        "--timestamp-step",
        "second",
        "--long-ids",
        "--reject-share",
        "0.1",
    ])
    .assert_success();
    make_hostile(&w.join("g/stock/stock_00.csv"));
    crate::harness::edit(
        &w.join("g/pipeline.toml"),
        "location = \"stock/stock_00.csv\"\n",
        "location = \"stock/stock_00.csv\"\nmax_record_bytes = 300\n",
    );
    let run = |work: &str, threads: &str, chunk: &str| {
        w.siap_env(
            &[
                "run",
                "g/pipeline.toml",
                "--date",
                "2026-11-27",
                "--work-dir",
                work,
            ],
            &[
                ("SIAP_THREADS", threads),
                ("SIAP_CHUNK_BYTES", chunk),
                ("SIAP_BATCH_ROWS", "1000"),
            ],
        )
        .assert_success();
        published(&w.join(work))
    };
    let one = run("one", "1", "1048576");
    // Not trivially equal: hostile records were met, and rows staged in
    // several row groups.
    let exceptions = &one.iter().find(|(n, _)| n == "exceptions.csv").unwrap().1;
    let exceptions = String::from_utf8_lossy(exceptions);
    for want in ["malformed record", "ragged row", "MIE-\n000001"] {
        assert!(exceptions.contains(want), "no {want:?} in the exceptions");
    }
    for (threads, chunk) in [("3", "777"), ("2", "1")] {
        let many = run(&format!("t{threads}"), threads, chunk);
        assert_eq!(
            one.iter().map(|f| &f.0).collect::<Vec<_>>(),
            many.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for ((name, a), (_, b)) in one.iter().zip(&many) {
            assert!(
                a == b,
                "{name} differs between 1 thread and {threads} (chunks of {chunk} bytes)"
            );
        }
    }
}

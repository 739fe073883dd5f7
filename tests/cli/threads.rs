//! A large feed staged on several threads: the same bytes as on one.

use std::path::Path;

use crate::harness::{Workdir, published};

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
    let one = same_bytes_on_threads(&w);
    // Not trivially equal: hostile records were met, and rows staged in
    // several row groups.
    let exceptions = &one.iter().find(|(n, _)| n == "exceptions.csv").unwrap().1;
    let exceptions = String::from_utf8_lossy(exceptions);
    for want in ["malformed record", "ragged row", "MIE-\n000001"] {
        assert!(exceptions.contains(want), "no {want:?} in the exceptions");
    }
}

/// Runs `g/pipeline.toml` on one thread, then on three threads in chunks
/// of 777 bytes and on two in chunks of one byte (one record each): every
/// published file is the same, byte for byte. Gives the one-thread files.
fn same_bytes_on_threads(w: &Workdir) -> Vec<(String, Vec<u8>)> {
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
    one
}

/// Lines that make an NDJSON feed hard to cut and to read: broken JSON,
/// a value that is not an object, blank and CRLF lines, a line longer
/// than the cap, invalid UTF-8, a field no other line has, a string with
/// an escaped line break.
fn make_hostile_ndjson(feed: &Path) {
    let text = std::fs::read(feed).unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    lines.retain(|l| !l.is_empty());
    let sample = String::from_utf8(lines[10].clone()).unwrap();
    let specials: Vec<Vec<u8>> = vec![
        b"{\"supplier_id\": \"SUP00001\", \"quantity\": ".to_vec(),
        b"[1, 2, 3]".to_vec(),
        Vec::new(),
        format!("{sample}\r").into_bytes(),
        format!("{{\"note\": \"{}\"}}", "x".repeat(400)).into_bytes(),
        b"{\"supplier_id\": \"SUP\xff\"}".to_vec(),
        sample
            .replacen('{', "{\"extra_field\": \"a\\nb\", ", 1)
            .into_bytes(),
        b"   ".to_vec(),
    ];
    let step = lines.len() / (specials.len() * 3);
    for (k, s) in specials.iter().cycle().take(specials.len() * 3).enumerate() {
        lines.insert(1 + (k + 1) * step, s.clone());
    }
    let mut text = lines.join(&b'\n');
    text.push(b'\n');
    std::fs::write(feed, text).unwrap();
}

/// The same for one big NDJSON stock feed: its lines are cut into chunks
/// parsed on several threads, and every published file is the same.
#[test]
fn one_ndjson_feed_on_many_threads_gives_the_same_bytes() {
    let w = Workdir::new();
    w.siap(&[
        "generate",
        "--out",
        "g",
        "--products",
        "300",
        "--stock-rows",
        "8000",
        "--shipment-rows",
        "2000",
        "--stock-files",
        "1",
        "--stock-format",
        "ndjson",
        "--naive-timestamps",
        "--reject-share",
        "0.1",
    ])
    .assert_success();
    let toml = std::fs::read_to_string(w.join("g/pipeline.toml")).unwrap();
    let location = toml
        .lines()
        .find(|l| l.starts_with("location = \"stock/"))
        .expect("a stock location")
        .to_string();
    let feed = location
        .trim_start_matches("location = \"")
        .trim_end_matches('"');
    make_hostile_ndjson(&w.join("g").join(feed));
    crate::harness::edit(
        &w.join("g/pipeline.toml"),
        &format!("{location}\n"),
        &format!("{location}\nmax_record_bytes = 300\n"),
    );
    let one = same_bytes_on_threads(&w);
    let exceptions = &one.iter().find(|(n, _)| n == "exceptions.csv").unwrap().1;
    let exceptions = String::from_utf8_lossy(exceptions);
    for want in ["malformed record", "not a JSON object", "invalid UTF-8"] {
        assert!(exceptions.contains(want), "no {want:?} in the exceptions");
    }
}

/// The same for one Parquet stock feed of many small row groups (with
/// rejected rows among them): the groups are read and parsed on several
/// threads, and every published file is the same.
#[test]
fn one_parquet_feed_on_many_threads_gives_the_same_bytes() {
    use polars::prelude::*;
    let w = Workdir::new();
    w.siap(&[
        "generate",
        "--out",
        "g",
        "--products",
        "300",
        "--stock-rows",
        "8000",
        "--shipment-rows",
        "2000",
        "--stock-files",
        "1",
        "--stock-format",
        "parquet",
        "--reject-share",
        "0.1",
    ])
    .assert_success();
    let feed = w.join("g/stock/stock_00.parquet");
    let mut df = ParquetReader::new(std::fs::File::open(&feed).unwrap())
        .finish()
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&feed).unwrap())
        .with_row_group_size(Some(333))
        .finish(&mut df)
        .unwrap();
    let one = same_bytes_on_threads(&w);
    let exceptions = &one.iter().find(|(n, _)| n == "exceptions.csv").unwrap().1;
    let exceptions = String::from_utf8_lossy(exceptions);
    assert!(exceptions.lines().count() > 100, "{exceptions}");
    // A conflicting row's raw text is read back from the file after the
    // rules: it is the row at its line, whichever row group holds it.
    let table = &one
        .iter()
        .find(|(n, _)| n == "exceptions.parquet")
        .unwrap()
        .1;
    let table = ParquetReader::new(std::io::Cursor::new(table.clone()))
        .finish()
        .unwrap();
    let (lines, reasons, raws) = (
        table.column("line").unwrap().u64().unwrap(),
        table.column("reason").unwrap().str().unwrap(),
        table.column("raw").unwrap().str().unwrap(),
    );
    let skus = df.column("supplier_sku").unwrap().str().unwrap();
    let mut conflicts = 0;
    for i in 0..table.height() {
        if reasons.get(i) != Some("conflicting duplicate") {
            continue;
        }
        conflicts += 1;
        let row = lines.get(i).unwrap() as usize - 1;
        let raw: serde_json::Value = serde_json::from_str(raws.get(i).unwrap()).unwrap();
        assert_eq!(
            raw["supplier_sku"].as_str(),
            skus.get(row),
            "line {}",
            row + 1
        );
    }
    assert!(conflicts > 0, "no conflicting rows to read back");
}

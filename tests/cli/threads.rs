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
/// of 777 bytes and on two in chunks of one byte (one record each), an
/// NDJSON feed's header guessed from its first 3000 bytes: every
/// published file is the same, byte for byte (the manifest's column maps
/// and extra columns included). Gives the one-thread files.
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
                ("SIAP_GUESS_BYTES", "3000"),
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
    let hard = ["--naive-timestamps", "--reject-share", "0.1"];
    generate_one_stock_feed(&w, "ndjson", &hard);
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
    // A field first named past the guessed header's lines is still one of
    // the feed's extra columns.
    let manifest = &one.iter().find(|(n, _)| n == "manifest.json").unwrap().1;
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let stock = (manifest["sources"].as_array().unwrap().iter())
        .find(|s| s["id"] == "stock-00")
        .unwrap();
    assert_eq!(stock["extra_columns"], serde_json::json!(["extra_field"]));
}

/// A campaign in `g/` whose stock is one feed of 8,000 records in
/// `format`, generated with `more` options.
fn generate_one_stock_feed(w: &Workdir, format: &str, more: &[&str]) {
    let mut args = vec![
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
        format,
    ];
    args.extend(more);
    w.siap(&args).assert_success();
}

/// A generated NDJSON stock feed (`g/`, 8,000 records) whose first 200
/// lines are passed through `edit`.
fn ndjson_stock_edited(w: &Workdir, edit: impl Fn(&str) -> String) {
    generate_one_stock_feed(w, "ndjson", &[]);
    let feed = w.join("g/stock/stock_00.ndjson");
    let text = std::fs::read_to_string(&feed).unwrap();
    let lines: Vec<String> = (text.lines().enumerate())
        .map(|(i, l)| if i < 200 { edit(l) } else { l.to_string() })
        .collect();
    std::fs::write(&feed, lines.join("\n") + "\n").unwrap();
}

/// A header guessed from an NDJSON feed's first lines that the rest of
/// the feed proves wrong: the first 200 lines lack the warehouse, which
/// the pipeline file supplies, so the guess maps no warehouse column and
/// the later lines name one. On several threads the feed is staged again
/// with the whole feed's header (and says so): every published file is
/// the same as on one thread, where the whole header is read first.
#[test]
fn an_ndjson_header_guessed_wrong_is_staged_again() {
    let w = Workdir::new();
    ndjson_stock_edited(&w, |l| {
        let cut = l.find(",\"warehouse\"").expect("a warehouse field");
        format!("{}}}", &l[..cut])
    });
    crate::harness::edit(
        &w.join("g/pipeline.toml"),
        "location = \"stock/stock_00.ndjson\"\n",
        "location = \"stock/stock_00.ndjson\"\ndefault_warehouse = \"WH-9\"\n",
    );
    let (one, _) = run_guessing(&w, "one", "1");
    let (two, log) = run_guessing(&w, "two", "2");
    assert!(log.contains("staging it again"), "{log}");
    assert_same(&one, &two);
    let readiness = &one.iter().find(|(n, _)| n == "readiness.csv").unwrap().1;
    assert!(readiness.len() > 1000);
}

/// The first 200 lines of an NDJSON feed lack its quantity, a required
/// column: no header is guessed from them (it would fail the feed), the
/// whole feed's header is read first, and every published file is the
/// same as on one thread (those lines rejected for their quantity).
#[test]
fn an_ndjson_header_not_guessed_from_lines_lacking_a_column() {
    let w = Workdir::new();
    ndjson_stock_edited(&w, |l| {
        let start = l.find("\"quantity\"").expect("a quantity field");
        let end = start + l[start..].find(',').unwrap() + 1;
        format!("{}{}", &l[..start], &l[end..])
    });
    let (one, _) = run_guessing(&w, "one", "1");
    assert_same(&one, &run_guessing(&w, "two", "2").0);
    let exceptions = &one.iter().find(|(n, _)| n == "exceptions.csv").unwrap().1;
    assert!(String::from_utf8_lossy(exceptions).contains("quantity"));
}

/// Runs `g/pipeline.toml` into `work` on `threads` threads, in chunks of
/// 4000 bytes, an NDJSON feed's header guessed from its first 3000 bytes
/// (on more than one): its published files, and its log.
fn run_guessing(w: &Workdir, work: &str, threads: &str) -> (Vec<(String, Vec<u8>)>, String) {
    let r = w.siap_env(
        &["run", "g/pipeline.toml", "--date", "2026-11-27"],
        &[
            ("SIAP_WORK_DIR", work),
            ("SIAP_THREADS", threads),
            ("SIAP_CHUNK_BYTES", "4000"),
            ("SIAP_GUESS_BYTES", "3000"),
        ],
    );
    r.assert_success();
    (published(&w.join(work)), r.stderr)
}

/// A run that needs more files open than the soft open-files limit it
/// starts under: 256 key partitions of each kind held open while staging,
/// and an NDJSON feed's own, under a soft limit of 200 (the hard one
/// 4096). siap raises its soft limit as far as the hard one and the run
/// succeeds, its files the same as a run's without the limit.
#[cfg(target_os = "linux")]
#[test]
fn the_open_files_limit_is_raised_for_the_partitions() {
    let w = Workdir::new();
    generate_one_stock_feed(&w, "ndjson", &[]);
    let env = &[
        ("SIAP_THREADS", "2"),
        ("SIAP_PARTITIONS", "256"),
        ("SIAP_GUESS_BYTES", "3000"),
    ];
    let run = |work: &str, open_files| {
        let args = ["run", "g/pipeline.toml", "--date", "2026-11-27"];
        let args = [&args[..], &["--work-dir", work]].concat();
        let limits = crate::harness::Limits {
            open_files,
            env,
            ..Default::default()
        };
        w.siap_limited(&args, limits).assert_success();
        published(&w.join(work))
    };
    let free = run("free", None);
    assert_same(&free, &run("limited", Some((200, 4096))));
}

/// Two runs' published files are the same, byte for byte.
fn assert_same(one: &[(String, Vec<u8>)], other: &[(String, Vec<u8>)]) {
    let names = |r: &[(String, Vec<u8>)]| r.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(one), names(other));
    for ((name, a), (_, b)) in one.iter().zip(other) {
        assert!(a == b, "{name} differs");
    }
}

/// The same for one Parquet stock feed of many small row groups (with
/// rejected rows among them): the groups are read and parsed on several
/// threads, and every published file is the same.
#[test]
fn one_parquet_feed_on_many_threads_gives_the_same_bytes() {
    use polars::prelude::*;
    let w = Workdir::new();
    generate_one_stock_feed(&w, "parquet", &["--reject-share", "0.1"]);
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

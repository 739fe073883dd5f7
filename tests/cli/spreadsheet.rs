//! Spreadsheet-ready outputs: the workbook read back with an XLSX reader,
//! formula injection, CSV options, explanations.

use std::io::Read;
use std::path::Path;

use calamine::{Data, Reader, Xlsx};

use crate::harness::{Workdir, edit, read_csv, repo};

fn sample(w: &Workdir) -> std::path::PathBuf {
    let p = repo().join("pipelines/harbolnas.toml");
    w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
    ])
    .assert_success();
    w.join("work/latest")
}

fn open(path: &Path) -> Xlsx<std::io::BufReader<std::fs::File>> {
    calamine::open_workbook(path).expect("a readable workbook")
}

/// A cell as the CSV writes it.
fn as_csv(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d
            .as_datetime()
            .map(|d| d.date().to_string())
            .unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

#[test]
fn workbook_sheets_hold_typed_cells_equal_to_the_csv_tables() {
    let w = Workdir::new();
    let out = sample(&w);
    let mut wb = open(&out.join("readiness.xlsx"));
    assert_eq!(
        wb.sheet_names(),
        [
            "Readiness",
            "By supplier",
            "Shipments",
            "Exceptions",
            "About"
        ]
    );
    for (sheet, csv) in [
        ("Readiness", "readiness.csv"),
        ("By supplier", "supplier_readiness.csv"),
        ("Shipments", "shipments.csv"),
        ("Exceptions", "exceptions.csv"),
    ] {
        let range = wb.worksheet_range(sheet).unwrap();
        let (header, rows) = read_csv(&out.join(csv));
        let cells: Vec<&[Data]> = range.rows().collect();
        assert_eq!(
            cells[0].iter().map(as_csv).collect::<Vec<_>>(),
            header,
            "{sheet} header"
        );
        assert_eq!(cells.len(), rows.len() + 1, "{sheet} rows");
        for (r, row) in rows.iter().enumerate() {
            for (c, want) in row.iter().enumerate() {
                let got = &cells[r + 1][c];
                match got {
                    // Numbers compare as numbers (1.0 is written `1.0` in CSV).
                    Data::Float(v) => assert_eq!(
                        want.parse::<f64>().ok(),
                        Some(*v),
                        "{sheet} row {r} col {c}"
                    ),
                    // CSV text is neutralized against formula injection.
                    _ => assert_eq!(
                        siap::publish::table::neutralize(&as_csv(got)),
                        want.as_str(),
                        "{sheet} row {r} col {c}"
                    ),
                }
            }
        }
    }
    let r = wb.worksheet_range("Readiness").unwrap();
    let header: Vec<String> = r.rows().next().unwrap().iter().map(as_csv).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let kopi = r.rows().find(|row| as_csv(&row[0]) == "KOPI-001").unwrap();
    assert!(
        matches!(kopi[col("stock_units")], Data::Float(v) if v == 1_080_000.0),
        "numbers are numeric cells"
    );
    assert!(
        matches!(kopi[col("earliest_eta")], Data::DateTime(_)),
        "dates are date cells: {:?}",
        kopi[col("earliest_eta")]
    );
    assert!(matches!(kopi[col("short_of_minimum")], Data::Bool(false)));
    assert!(matches!(kopi[col("window_coverage")], Data::Float(v) if (v - 1.02).abs() < 1e-9));
}

fn unzip(path: &Path, name: &str) -> Option<String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut f = z.by_name(name).ok()?;
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    Some(s)
}

#[test]
fn workbook_has_conditional_formats_filters_frozen_header_and_a_chart() {
    let w = Workdir::new();
    let out = sample(&w);
    let sheet = unzip(&out.join("readiness.xlsx"), "xl/worksheets/sheet1.xml").unwrap();
    assert!(
        sheet.contains("<conditionalFormatting"),
        "conditional formats"
    );
    assert!(
        sheet.contains("=\"NOT_READY\"") || sheet.contains("&quot;NOT_READY&quot;"),
        "NOT_READY rule"
    );
    assert!(sheet.contains("<autoFilter"), "filters");
    assert!(sheet.contains("state=\"frozen\""), "frozen header");
    assert!(sheet.contains("<drawing"), "chart placed on the sheet");
    // Unit counts show thousands separators and ratios as percentages:
    // each such cell's style is one with that number format.
    let styles = unzip(&out.join("readiness.xlsx"), "xl/styles.xml").unwrap();
    let style_of = |code: &str| -> String {
        let at = styles.find(&format!("formatCode=\"{code}\"")).expect(code);
        let id = styles[..at].rsplit("numFmtId=\"").next().unwrap();
        let id = &id[..id.find('"').unwrap()];
        let xfs = &styles[styles.find("<cellXfs").unwrap()..];
        let index = xfs
            .split("<xf ")
            .skip(1)
            .position(|xf| xf.starts_with(&format!("numFmtId=\"{id}\"")))
            .expect("a cell style with the format");
        index.to_string()
    };
    let table = std::fs::read_to_string(out.join("readiness.csv")).unwrap();
    let names: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    for (name, code) in [("stock_units", "#,##0"), ("window_coverage", "0.0%")] {
        let col = names.iter().position(|n| *n == name).unwrap();
        let letter = (b'A' + col as u8) as char;
        let cell = format!("<c r=\"{letter}2\" s=\"{}\">", style_of(code));
        assert!(sheet.contains(&cell), "{name}: {cell} in the sheet");
    }
    let chart = unzip(&out.join("readiness.xlsx"), "xl/charts/chart1.xml").expect("a chart");
    assert!(
        chart.contains("<c:barChart>") && chart.contains("<c:lineChart>"),
        "columns and the minimum line"
    );
}

#[test]
fn rerun_gives_a_byte_identical_workbook() {
    let w = Workdir::new();
    let first = std::fs::read(sample(&w).join("readiness.xlsx")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = std::fs::read(sample(&w).join("readiness.xlsx")).unwrap();
    assert_eq!(first, second);
}

// Product names are trimmed when staged, so the leading tab is tested in a
// raw record (below), which is kept exactly.
const HOSTILE: [&str; 4] = [
    "=HYPERLINK(\"http://x\",\"y\")",
    "+62 812",
    "-1+1",
    "@SUM(A1)",
];

#[test]
fn hostile_strings_stay_text() {
    let w = Workdir::new();
    let p = w.copy_sample();
    // Hostile product names, a hostile warehouse, and a hostile raw record.
    let mut catalog = std::fs::read_to_string(w.join("sample_data/catalog.csv")).unwrap();
    for (i, h) in HOSTILE.iter().enumerate() {
        catalog.push_str(&format!(
            "EVIL-{i},\"{}\",hostile\n",
            h.replace('"', "\"\"")
        ));
    }
    std::fs::write(w.join("sample_data/catalog.csv"), catalog).unwrap();
    edit(
        &w.join("sample_data/stock/mie_jaya.csv"),
        "MJ-KARI-72,WH Semarang,26000",
        "MJ-KARI-72,@WH Semarang,26000",
    );
    let mut feed = std::fs::read_to_string(w.join("sample_data/stock/mie_jaya.csv")).unwrap();
    feed.push_str("=cmd|' /C calc'!A0,WH X,1,2026-11-26T06:00:00+07:00\n");
    feed.push_str("\tMJ-TAB,WH X,1,2026-11-26T06:00:00+07:00,ragged\n");
    std::fs::write(w.join("sample_data/stock/mie_jaya.csv"), feed).unwrap();
    w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
    ])
    .assert_success();
    let out = w.join("work/latest");

    let mut wb = open(&out.join("readiness.xlsx"));
    for sheet in [
        "Readiness",
        "By supplier",
        "Shipments",
        "Exceptions",
        "About",
    ] {
        let formulas = wb.worksheet_formula(sheet).unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no formula on {sheet}"
        );
    }
    let r = wb.worksheet_range("Readiness").unwrap();
    let names: Vec<Data> = r
        .rows()
        .filter(|row| as_csv(&row[0]).starts_with("EVIL-"))
        .map(|row| row[1].clone())
        .collect();
    assert_eq!(names, HOSTILE.map(|h| Data::String(h.to_string())));
    let exc = wb.worksheet_range("Exceptions").unwrap();
    assert!(exc.rows().any(|row| {
        row.iter().any(|c| {
            *c == Data::String("=cmd|' /C calc'!A0,WH X,1,2026-11-26T06:00:00+07:00".into())
        })
    }));
    assert!(exc.rows().any(|row| {
        row.iter()
            .any(|c| *c == Data::String("\tMJ-TAB,WH X,1,2026-11-26T06:00:00+07:00,ragged".into()))
    }));

    // CSV: a leading `'` neutralizes each, per OWASP; Parquet keeps them exact.
    let (_, rows) = read_csv(&out.join("readiness.csv"));
    let names: Vec<String> = rows
        .iter()
        .filter(|r| r[0].starts_with("EVIL-"))
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(names, HOSTILE.map(|h| format!("'{h}")));
    let (_, exc) = read_csv(&out.join("exceptions.csv"));
    assert!(
        exc.iter()
            .any(|r| r.last().unwrap() == "'=cmd|' /C calc'!A0,WH X,1,2026-11-26T06:00:00+07:00")
    );
    assert!(
        exc.iter()
            .any(|r| r.last().unwrap() == "'\tMJ-TAB,WH X,1,2026-11-26T06:00:00+07:00,ragged")
    );
    // Numbers keep their sign and are not quoted.
    let (header, rows) = read_csv(&out.join("readiness.csv"));
    let s = header.iter().position(|h| h == "stock_units").unwrap();
    assert!(rows.iter().all(|r| r[s].parse::<i64>().is_ok()));
}

#[test]
fn csv_for_indonesian_excel_bom_semicolons_and_decimal_commas() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("\n[output]\ncsv_bom = true\ncsv_delimiter = \";\"\ncsv_decimal_comma = true\n");
    std::fs::write(&p, text).unwrap();
    w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
    ])
    .assert_success();
    let bytes = std::fs::read(w.join("work/latest/readiness.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBFproduct_id;product_name;category;"));
    let text = String::from_utf8(bytes).unwrap();
    let kopi = text.lines().find(|l| l.starts_with("KOPI-001;")).unwrap();
    assert!(
        kopi.contains(";1,08;1,02;"),
        "coverage with decimal commas: {kopi}"
    );
}

#[test]
fn reasons_explain_each_status() {
    let w = Workdir::new();
    let out = sample(&w);
    let t = crate::harness::csv_by_key(&out.join("readiness.csv"), &["product_id"]);
    assert_eq!(
        t["KOPI-001"]["reason"],
        "ready: stock 1,080,000 and 1,020,000 units in the window, minimum 1,000,000"
    );
    assert_eq!(
        t["KOPI-002"]["reason"],
        "stock 550,000: 450,000 short of the 1,000,000 minimum"
    );
    assert_eq!(
        t["KOPI-003"]["reason"],
        "480,000 units arrive in the window (2026-12-01 to 2026-12-08): 520,000 short; 576,000 units arrive after the window closes on 2026-12-08 or have no ETA"
    );
    assert_eq!(
        t["WLT-001"]["reason"],
        "no supplier offers it: no stock and no shipments (minimum 1,000,000)"
    );
    // Informational columns.
    assert_eq!(
        t["KOPI-001"]["minimum_reached_on"], "2026-12-08",
        "540,000 on 1 Dec, +480,000 on 8 Dec"
    );
    assert_eq!(t["MIE-002"]["minimum_reached_on"], "");
    assert_eq!(t["MIE-001"]["no_eta_units"], (5_000 * 40).to_string());
    assert_eq!(
        t["KRUP-002"]["customs_hold_units"],
        (60_000 * 20).to_string()
    );
    assert_eq!(
        t["MIE-001"]["exceptions"], "2",
        "the two conflicting Makassar rows"
    );
    assert_eq!(t["KOPI-001"]["earliest_eta"], "2026-12-01");
    assert_eq!(t["KOPI-001"]["latest_eta"], "2026-12-08");
    assert_eq!(t["KOPI-002"]["stock_coverage"], "0.55");
    assert_eq!(
        t["KOPI-001"]["oldest_stock_as_of"],
        "2026-11-25T08:00:00+07:00"
    );
}

#[test]
fn a_campaign_of_200_000_products_has_every_row_on_its_readiness_sheets() {
    let w = Workdir::new();
    w.siap(&[
        "generate",
        "--products",
        "200000",
        "--stock-rows",
        "400000",
        "--shipment-rows",
        "250000",
        "--out",
        "campaign",
    ])
    .assert_success();
    let r = w.siap(&[
        "run",
        "campaign/pipeline.toml",
        "--work-dir",
        "work",
        "--date",
        "2026-11-27",
        "--log-format",
        "json",
    ]);
    r.assert_success();
    // Constant-memory sheets, written a slice at a time.
    assert!(r.peak_mib() < 1024.0, "peak {} MiB", r.peak_mib());
    let out = w.join("work/latest");
    let mut wb = open(&out.join("readiness.xlsx"));
    let readiness = wb.worksheet_range("Readiness").unwrap();
    assert_eq!(readiness.height(), 200_000 + 1);
    let (_, csv) = read_csv(&out.join("readiness.csv"));
    let last: Vec<String> = readiness
        .rows()
        .next_back()
        .unwrap()
        .iter()
        .map(as_csv)
        .collect();
    assert_eq!(last[0], csv[199_999][0], "the last product is on the sheet");
    let (_, suppliers) = read_csv(&out.join("supplier_readiness.csv"));
    assert!(suppliers.len() > 200_000);
    assert_eq!(
        wb.worksheet_range("By supplier").unwrap().height(),
        suppliers.len() + 1
    );
    // Shipments are capped (10,000 rows by default), and say so in their
    // first row and on About.
    let said = assert_capped(&mut wb, &out, ("Shipments", "shipments"), 10_000);
    assert!(
        !said.iter().any(|l| l.starts_with("Readiness sheet")),
        "{said:?}"
    );
}

/// A number as the workbook's English notes write it: `12,345`.
fn thousands(n: usize) -> String {
    n.to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",")
}

/// The sheet shows the first `shown` rows of its table (which has more,
/// in `out`) under a note saying so, which the About sheet repeats; gives
/// About's lines.
fn assert_capped(
    wb: &mut Xlsx<std::io::BufReader<std::fs::File>>,
    out: &Path,
    (sheet, table): (&str, &str),
    shown: usize,
) -> Vec<String> {
    let (header, csv) = read_csv(&out.join(format!("{table}.csv")));
    let total = csv.len();
    assert!(total > shown, "{table}: {total} rows");
    let range = wb.worksheet_range(sheet).unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    let note = format!(
        "Showing the first {} of {} rows; every row is in {table}.csv and {table}.parquet.",
        thousands(shown),
        thousands(total),
    );
    assert_eq!(as_csv(&rows[0][0]), note);
    assert_eq!(as_csv(&rows[1][0]), header[0], "the header, under the note");
    assert_eq!(rows.len(), 2 + shown, "{sheet}");
    // The first rows of the table.
    for (row, line) in rows[2..].iter().zip(&csv) {
        assert_eq!(as_csv(&row[0]), line[0], "{sheet}");
    }
    let about = wb.worksheet_range("About").unwrap();
    let said: Vec<String> = about
        .rows()
        .map(|r| r.iter().map(as_csv).collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        // (A small campaign's About sheet has the chart's column beside.)
        said.iter()
            .any(|l| l.starts_with(&format!("{sheet} sheet {note}"))),
        "{said:?}"
    );
    said
}

/// `[output] detail_sheet_rows` sets how many rows the Shipments and
/// Exceptions sheets show (the CSV and Parquet tables keep every row);
/// a value out of range is refused by name.
#[test]
fn detail_sheets_show_the_rows_the_pipeline_asks_for() {
    let w = Workdir::new();
    let p = w.copy_sample();
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("{text}\n[output]\ndetail_sheet_rows = 3\n")).unwrap();
    let run = ["run", p.to_str().unwrap(), "--work-dir", "work"];
    w.siap(&[&run[..], &["--date", "2026-11-27"]].concat())
        .assert_success();
    let out = w.join("work/latest");
    let mut wb = open(&out.join("readiness.xlsx"));
    for (sheet, table) in [("Shipments", "shipments"), ("Exceptions", "exceptions")] {
        let said = assert_capped(&mut wb, &out, (sheet, table), 3);
        assert!(
            said.iter()
                .any(|l| l.contains("Shipments and Exceptions show their first 3;")),
            "{said:?}"
        );
    }
    for bad in ["-1", "1048575", "\"ten\""] {
        std::fs::write(&p, format!("{text}\n[output]\ndetail_sheet_rows = {bad}\n")).unwrap();
        let r = w.siap(&["validate", p.to_str().unwrap()]);
        assert_eq!(r.status, 3, "{bad}: {}", r.stderr);
        assert!(
            r.stderr.contains("`output.detail_sheet_rows`"),
            "{}",
            r.stderr
        );
    }
}

/// The sample run with `[output] language = …` (none: the default), in
/// its own work folder of one copy of the sample (so the sources' paths,
/// which the About sheet lists, are the same for every language).
fn sample_in(w: &Workdir, language: Option<&str>) -> std::path::PathBuf {
    let p = w.join("pipelines/harbolnas.toml");
    if !p.is_file() {
        w.copy_sample();
    }
    let text = std::fs::read_to_string(&p).unwrap();
    let text = text.split("\n[output]\n").next().unwrap().to_string();
    let text = match language {
        Some(l) => format!("{text}\n[output]\nlanguage = \"{l}\"\n"),
        None => text,
    };
    std::fs::write(&p, text).unwrap();
    let work = format!("work-{}", language.unwrap_or("default"));
    w.siap(&[
        "run",
        p.to_str().unwrap(),
        "--work-dir",
        &work,
        "--date",
        "2026-11-27",
    ])
    .assert_success();
    w.join(&work).join("latest")
}

#[test]
fn an_indonesian_workbook_reads_in_indonesian_and_the_tables_stay_canonical() {
    let w = Workdir::new();
    let (default, en, id) = (
        sample_in(&w, None),
        sample_in(&w, Some("en")),
        sample_in(&w, Some("id")),
    );
    // The English default is unchanged, byte for byte; the tables never
    // change with the language.
    let bytes = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap();
    assert!(bytes(&en, "readiness.xlsx") == bytes(&default, "readiness.xlsx"));
    for t in ["readiness", "supplier_readiness", "shipments", "exceptions"] {
        for ext in ["csv", "parquet"] {
            let f = format!("{t}.{ext}");
            assert!(
                bytes(&id, &f) == bytes(&en, &f),
                "{f} changed with the language"
            );
        }
    }
    let mut wb = open(&id.join("readiness.xlsx"));
    assert_eq!(
        wb.sheet_names(),
        [
            "Kesiapan",
            "Per pemasok",
            "Pengiriman",
            "Pengecualian",
            "Tentang"
        ]
    );
    let sheet = wb.worksheet_range("Kesiapan").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(as_csv).collect())
        .collect();
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert_eq!(
        &rows[0][..4],
        ["ID produk", "Nama produk", "Kategori", "Pemasok"]
    );
    let kopi = |id: &str| rows.iter().find(|r| r[0] == id).unwrap();
    assert_eq!(kopi("KOPI-001")[col("Status")], "SIAP");
    assert_eq!(kopi("KOPI-002")[col("Status")], "BELUM SIAP");
    assert_eq!(
        kopi("KOPI-002")[col("Alasan")],
        "stok 550.000: kurang 450.000 dari minimum 1.000.000"
    );
    assert_eq!(
        kopi("KOPI-003")[col("Alasan")],
        "480.000 unit tiba dalam jendela (1 Desember 2026 s.d. 8 Desember 2026): kurang 520.000; 576.000 unit tiba setelah jendela ditutup pada 8 Desember 2026 atau tanpa ETA"
    );
    assert_eq!(
        kopi("WLT-001")[col("Alasan")],
        "tidak ada pemasok: tanpa stok dan tanpa pengiriman (minimum 1.000.000)"
    );
    // Numbers stay numbers; dates are date cells shown day first.
    let typed = sheet.rows().find(|r| as_csv(&r[0]) == "KOPI-001").unwrap();
    assert!(matches!(typed[col("Unit stok")], Data::Float(v) if v == 1_080_000.0));
    assert!(matches!(typed[col("ETA paling awal")], Data::DateTime(_)));
    let styles = unzip(&id.join("readiness.xlsx"), "xl/styles.xml").unwrap();
    assert!(styles.contains("formatCode=\"dd/mm/yyyy\""), "{styles}");
    // The highlight follows the Indonesian status.
    let xml = unzip(&id.join("readiness.xlsx"), "xl/worksheets/sheet1.xml").unwrap();
    assert!(xml.contains("&quot;BELUM SIAP&quot;") || xml.contains("\"BELUM SIAP\""));
    // Other sheets' headers, and the About sheet, in Indonesian, each
    // column mapped back to its CSV name.
    let by_supplier = wb.worksheet_range("Per pemasok").unwrap();
    assert_eq!(as_csv(&by_supplier.rows().next().unwrap()[1]), "ID pemasok");
    let about: Vec<Vec<String>> = wb
        .worksheet_range("Tentang")
        .unwrap()
        .rows()
        .map(|r| r.iter().map(as_csv).collect())
        .collect();
    assert_eq!(
        about[0][..2],
        ["kampanye".to_string(), "Harbolnas 12.12 pantry".to_string()]
    );
    assert!(about.iter().any(|r| r[0] == "jendela pengiriman"
        && r[1].starts_with("1 Desember 2026 s.d. 8 Desember 2026")));
    assert!(about.iter().any(|r| r[0] == "Unit stok"
        && r[1] == "jumlah kuantitas stok terbaru × isi kemasan (stock_units)"));
}

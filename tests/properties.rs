//! Property tests: number parsing across separator settings, and staging
//! random or truncated bytes in every format never panics.

use proptest::prelude::*;
use siap::pipeline::{Format, Source};
use siap::stage::values::{NumberError, parse_quantity};

/// Writes `v` with `thousands` between proper groups of three.
fn grouped(v: u64, thousands: Option<char>) -> String {
    let digits = v.to_string();
    let Some(t) = thousands else { return digits };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(t);
        }
        out.push(c);
    }
    out
}

const DIALECTS: [(char, Option<char>); 6] = [
    (',', Some('.')),
    ('.', Some(',')),
    ('.', Some(' ')),
    (',', Some(' ')),
    ('.', Some('\'')),
    ('.', None),
];

proptest! {
    #[test]
    fn grouped_numbers_round_trip(v in 0u64..=1_000_000_000_000_000, d in 0usize..6, zeros in 0usize..3) {
        let (decimal, thousands) = DIALECTS[d];
        let mut text = grouped(v, thousands);
        if zeros > 0 {
            text.push(decimal);
            text.push_str(&"0".repeat(zeros));
        }
        prop_assert_eq!(parse_quantity(&text, decimal, thousands), Ok(v as i64), "{}", text);
        // Ungrouped is accepted in every dialect.
        prop_assert_eq!(parse_quantity(&v.to_string(), decimal, thousands), Ok(v as i64));
    }

    #[test]
    fn a_separator_off_the_groups_of_three_is_rejected(v in 10u64..=1_000_000_000_000_000, d in 0usize..5, pos in 1usize..20) {
        let (decimal, thousands) = DIALECTS[d];
        let t = thousands.unwrap();
        let digits = v.to_string();
        let at = pos % (digits.len() - 1) + 1;
        // One separator leaves a last group of `len - at` digits: anything
        // but a multiple of three is malformed.
        if !(digits.len() - at).is_multiple_of(3) {
            let text = format!("{}{}{}", &digits[..at], t, &digits[at..]);
            prop_assert!(matches!(parse_quantity(&text, decimal, thousands), Err(NumberError::Bad(_))), "{}", text);
        }
    }

    #[test]
    fn a_non_zero_fraction_is_rejected(v in 0u64..1_000_000, frac in 1u32..1000, d in 0usize..6) {
        let (decimal, thousands) = DIALECTS[d];
        let text = format!("{}{}{:03}", grouped(v, thousands), decimal, frac);
        prop_assert!(parse_quantity(&text, decimal, thousands).is_err(), "{}", text);
    }

    #[test]
    fn beyond_ten_to_the_fifteen_is_rejected(v in 1_000_000_000_000_001u64..=u64::MAX, d in 0usize..6) {
        let (decimal, thousands) = DIALECTS[d];
        prop_assert_eq!(parse_quantity(&grouped(v, thousands), decimal, thousands), Err(NumberError::Bad("beyond 10^15")));
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,40}", d in 0usize..6) {
        let (decimal, thousands) = DIALECTS[d];
        let _ = parse_quantity(&s, decimal, thousands);
    }
}

struct Fixture {
    pipeline: siap::pipeline::Pipeline,
    catalog: siap::stage::Catalog,
    sku_map: siap::stage::SkuMap,
}

fn fixture() -> Fixture {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let pipeline = siap::pipeline::load(&dir.join("quirks.toml")).unwrap();
    let catalog = siap::stage::reference::stage_catalog(
        &pipeline.sources.catalog,
        &std::fs::read(dir.join("catalog.csv")).unwrap(),
    )
    .unwrap();
    let mut sku_map = siap::stage::reference::stage_sku_map(
        &pipeline.sources.sku_map,
        &std::fs::read(dir.join("sku_map.csv")).unwrap(),
    )
    .unwrap();
    sku_map.link(&catalog);
    Fixture {
        pipeline,
        catalog,
        sku_map,
    }
}

/// Counts the rows staging accepts.
struct Count(usize);

impl siap::stage::Sink for Count {
    fn batch(&mut self, b: &siap::stage::Batch) -> Result<(), siap::error::Problem> {
        self.0 += b.len();
        Ok(())
    }

    fn exception(&mut self, _: &siap::stage::Rejection<'_>) -> Result<(), siap::error::Problem> {
        Ok(())
    }
}

fn stage_all_formats(f: &Fixture, bytes: &[u8]) {
    let names = siap::stage::Names::default();
    let ctx = siap::stage::Context {
        run_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        timezone: chrono_tz::Asia::Jakarta,
        catalog: &f.catalog,
        sku_map: &f.sku_map,
        names: &names,
        batch_rows: 131_072,
        chunk_bytes: 1 << 20,
        guess_bytes: 8 << 20,
    };
    for base in ["reasons", "ships-vocab"] {
        let base: &Source = f.pipeline.sources.get(base).unwrap();
        for format in [
            Format::Csv,
            Format::Json,
            Format::Ndjson,
            Format::Parquet,
            Format::Xlsx,
        ] {
            for gzip in [false, true] {
                let mut s = base.clone();
                s.dialect.format = format;
                s.dialect.gzip = gzip;
                let r = std::panic::catch_unwind(|| {
                    let mut sink = Count(0);
                    siap::stage::stage_feed(&s, bytes, &ctx, &mut sink)
                        .map(|f| assert_eq!(f.accepted as usize, sink.0))
                });
                assert!(
                    r.is_ok(),
                    "staging panicked: format {format:?}, gzip {gzip}, {} bytes",
                    bytes.len()
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        stage_all_formats(&fixture(), &bytes);
    }
}

#[test]
fn truncated_real_files_never_panic() {
    use polars::prelude::*;
    let f = fixture();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut samples: Vec<Vec<u8>> = [
        "reasons.csv",
        "stock.json",
        "stock.ndjson",
        "ships_vocab.csv",
    ]
    .iter()
    .map(|n| std::fs::read(dir.join(n)).unwrap())
    .collect();
    // A real Parquet file, a real XLSX workbook and a real gzip stream too.
    let mut df = df! { "supplier_sku" => ["K-01"], "warehouse" => ["A"], "quantity" => [5i64], "as_of" => ["2026-10-31"] }.unwrap();
    let mut pq = Vec::new();
    ParquetWriter::new(&mut pq).finish(&mut df).unwrap();
    samples.push(pq);
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["supplier_sku", "warehouse", "quantity", "as_of"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
        ws.write_string(1, c as u16, "x").unwrap();
    }
    samples.push(wb.save_to_buffer().unwrap());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &samples[0]).unwrap();
    samples.push(gz.finish().unwrap());
    for s in &samples {
        let step = (s.len() / 40).max(1);
        for cut in (0..s.len()).step_by(step) {
            stage_all_formats(&f, &s[..cut]);
        }
    }
}

proptest! {
    /// SKU map lookups (short keys packed into numbers, long ones by text)
    /// find exactly what a scan of the entries finds, for keys of every
    /// length around the 15-byte packing limit and near misses.
    #[test]
    fn sku_lookups_match_a_scan(
        keys in proptest::collection::vec(("[Sé1]{0,17}", "[Ké0-]{0,18}"), 1..30),
        probes in proptest::collection::vec(("[Sé1]{0,17}", "[Ké0-]{0,18}"), 0..30),
    ) {
        let f = fixture();
        let mut text = String::from("supplier_id,supplier_sku,product_id,pack_size\n");
        let keys: Vec<(String, String)> = keys
            .into_iter()
            .filter(|(s, k)| !s.is_empty() && !k.is_empty())
            .collect();
        for (s, k) in &keys {
            text.push_str(&format!("{s},{k},P1,1\n"));
        }
        let Ok(map) = siap::stage::reference::stage_sku_map(&f.pipeline.sources.sku_map, text.as_bytes()) else {
            return Ok(());
        };
        let scan = |s: &str, k: &str| {
            map.entries
                .iter()
                .position(|e| e.supplier_id == s && e.supplier_sku == k)
                .map(|i| i as u32)
        };
        for (s, k) in keys.iter().chain(&probes) {
            prop_assert_eq!(map.lookup(s, k), scan(s, k), "{} {}", s, k);
            let longer = format!("{k}\0");
            prop_assert_eq!(map.lookup(s, &longer), scan(s, &longer));
            let shorter: String = k.chars().take(k.chars().count().saturating_sub(1)).collect();
            prop_assert_eq!(map.lookup(s, &shorter), scan(s, &shorter));
        }
    }
}

/// A large SKU map (long probe runs in its table of packed keys, keys of
/// every length around the packing limit): every key is found at its
/// entry, and near misses are not found.
#[test]
fn a_large_sku_map_finds_every_key() {
    let f = fixture();
    let mut text = String::from("supplier_id,supplier_sku,product_id,pack_size\n");
    let mut keys = Vec::new();
    for i in 0..40_000u32 {
        let supplier = format!("S{}", i % 97);
        let sku = format!("{}{i}", "K".repeat((i % 17) as usize));
        text.push_str(&format!("{supplier},{sku},P1,1\n"));
        keys.push((supplier, sku));
    }
    let map = siap::stage::reference::stage_sku_map(&f.pipeline.sources.sku_map, text.as_bytes())
        .unwrap();
    assert_eq!(map.len(), keys.len());
    for (i, (s, k)) in keys.iter().enumerate() {
        assert_eq!(map.lookup(s, k), Some(i as u32), "{s} {k}");
        assert_eq!(map.lookup(s, &format!("{k}x")), None, "{s} {k}x");
        assert_eq!(map.lookup(&format!("{s}0"), k), None, "{s}0 {k}");
    }
}

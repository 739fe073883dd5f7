//! Guesses from a column's sample values: which canonical column a header
//! names, the number marks, the date and timestamp formats that read
//! every value (checked with staging's own parsers), and status words.

use std::collections::BTreeMap;

use crate::model::{Status, fold};
use crate::stage::values::{TimeParser, parse_quantity};

/// Header names (folded: lowercase, letters and digits only) that mean a
/// canonical column, in English and Indonesian as exports write them.
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "supplier_id",
        &[
            "supplierid",
            "supplier",
            "suppliercode",
            "vendor",
            "vendorid",
            "vendorcode",
            "pemasok",
            "kodepemasok",
            "idpemasok",
            "kodesupplier",
            "supplierkode",
        ],
    ),
    (
        "supplier_sku",
        &[
            "suppliersku",
            "sku",
            "kodebarang",
            "kode",
            "kodeproduk",
            "kodeitem",
            "itemcode",
            "productcode",
            "partnumber",
            "artikel",
            "plu",
            "skupemasok",
        ],
    ),
    (
        "warehouse",
        &[
            "warehouse",
            "gudang",
            "lokasi",
            "location",
            "wh",
            "site",
            "depo",
            "namagudang",
            "lokasigudang",
        ],
    ),
    (
        "quantity",
        &[
            "quantity",
            "qty",
            "jumlah",
            "stok",
            "stock",
            "qtyonhand",
            "onhand",
            "available",
            "tersedia",
            "saldo",
            "jumlahstok",
            "kuantitas",
            "qtytersedia",
        ],
    ),
    (
        "as_of",
        &[
            "asof",
            "pertanggal",
            "tanggal",
            "date",
            "snapshot",
            "snapshotat",
            "tgl",
            "waktu",
            "tanggalstok",
            "stockdate",
            "updatedat",
            "timestamp",
        ],
    ),
    (
        "shipment_id",
        &[
            "shipmentid",
            "shipment",
            "resi",
            "noresi",
            "nomorresi",
            "awb",
            "tracking",
            "trackingnumber",
            "trackingno",
            "nopengiriman",
            "idpengiriman",
        ],
    ),
    (
        "status",
        &["status", "state", "statuspengiriman", "shipmentstatus"],
    ),
    (
        "etd",
        &[
            "etd",
            "berangkat",
            "departure",
            "departed",
            "tanggalberangkat",
            "shipdate",
            "tglberangkat",
        ],
    ),
    (
        "eta",
        &[
            "eta",
            "tiba",
            "arrival",
            "estimasitiba",
            "perkiraantiba",
            "tanggaltiba",
            "tgltiba",
            "estimatedarrival",
        ],
    ),
    (
        "updated_at",
        &[
            "updatedat",
            "diperbarui",
            "updated",
            "lastupdate",
            "lastupdated",
            "waktuupdate",
            "modified",
            "terakhirdiperbarui",
            "timestamp",
        ],
    ),
];

fn folded_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// canonical → header name, for the canonical columns `wanted` (in
/// order): an exact name first, then a synonym; each header used once.
pub fn map_columns(header: &[String], wanted: &[&'static str]) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    let mut used = vec![false; header.len()];
    let mut take = |want: &'static str, test: &dyn Fn(&str) -> bool, out: &mut BTreeMap<_, _>| {
        if out.contains_key(want) {
            return;
        }
        if let Some(i) = (0..header.len()).find(|&i| !used[i] && test(&header[i])) {
            used[i] = true;
            out.insert(want, header[i].clone());
        }
    };
    for want in wanted {
        take(
            want,
            &|h: &str| h.trim().eq_ignore_ascii_case(want),
            &mut out,
        );
    }
    for want in wanted {
        let names = SYNONYMS
            .iter()
            .find(|(c, _)| c == want)
            .map_or(&[][..], |(_, n)| n);
        take(
            want,
            &|h: &str| names.contains(&folded_name(h).as_str()),
            &mut out,
        );
    }
    out
}

/// How many header names mean some canonical column (to find the header
/// row among title rows).
pub fn known_names(row: &[String]) -> usize {
    row.iter()
        .filter(|h| {
            let f = folded_name(h);
            SYNONYMS
                .iter()
                .any(|(c, n)| folded_name(c) == f || n.contains(&f.as_str()))
        })
        .count()
}

/// The number marks a quantity column is written with.
#[derive(Debug, PartialEq)]
pub struct Marks {
    pub decimal: char,
    pub thousands: Option<char>,
    /// Values read with them.
    pub read: usize,
    /// Another reading of the same values gives other numbers (`1.000`:
    /// one, or a thousand) and nothing in the file settles it.
    pub ambiguous: Option<String>,
}

/// Decimal mark, thousands mark, and each value as they read it.
type Reading = (char, Option<char>, Vec<Option<i64>>);

/// The number marks that read the most values. When several read as
/// many but give different numbers, a `;`-separated file (a comma-decimal
/// locale) or a value grouped twice (`1.000.000`) settles it; else it is
/// ambiguous, never guessed.
pub fn number_marks(values: &[&str], semicolons: bool) -> Marks {
    let candidates = [
        ('.', None),
        ('.', Some(',')),
        (',', Some('.')),
        (',', None),
        ('.', Some(' ')),
        (',', Some(' ')),
    ];
    let read: Vec<Reading> = candidates
        .iter()
        .map(|&(d, t)| {
            (
                d,
                t,
                values
                    .iter()
                    .map(|v| parse_quantity(v, d, t).ok())
                    .collect(),
            )
        })
        .collect();
    let count = |r: &[Option<i64>]| r.iter().filter(|x| x.is_some()).count();
    let most = read.iter().map(|r| count(&r.2)).max().unwrap_or(0);
    let best: Vec<&Reading> = read.iter().filter(|r| count(&r.2) == most).collect();
    let marks = |r: &Reading| Marks {
        decimal: r.0,
        thousands: r.1,
        read: most,
        ambiguous: None,
    };
    let first = best[0];
    if best.iter().all(|r| r.2 == first.2) {
        return marks(first);
    }
    let grouped_twice = |sep: char| {
        values.iter().any(|v| {
            let parts: Vec<&str> = v.trim().split(sep).collect();
            parts.len() >= 3 && parts[1..].iter().all(|p| p.len() == 3)
        })
    };
    let settled = best.iter().find(|r| {
        (semicolons && r.0 == ',' && r.1 == Some('.'))
            || r.1.is_some_and(|t| t != ' ' && grouped_twice(t))
    });
    match settled {
        Some(r) => marks(r),
        None => {
            // Some value reads differently (the readings are not all equal).
            let i = (0..values.len())
                .find(|&i| best.iter().any(|r| r.2[i] != first.2[i]))
                .unwrap_or(0);
            let differing = values.get(i).copied().unwrap_or_default();
            let readings: Vec<String> = best
                .iter()
                .map(|r| {
                    let n = r.2[i].map_or("—".into(), |n| n.to_string());
                    let t = r.1.map_or("none".into(), |t| format!("{t:?}"));
                    format!("{n} (decimal {:?}, thousands {t})", r.0)
                })
                .collect();
            Marks {
                ambiguous: Some(format!("`{differing}` reads as {}", readings.join(" or "))),
                ..marks(first)
            }
        }
    }
}

/// A family of formats with the same order of day, month and year.
struct Family {
    name: &'static str,
    formats: &'static [&'static str],
}

const TIMESTAMP_FAMILIES: &[Family] = &[
    Family {
        name: "year first",
        formats: &[
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y/%m/%d %H:%M:%S",
            "%Y/%m/%d %H:%M",
            "%Y-%m-%d",
            "%Y/%m/%d",
        ],
    },
    Family {
        name: "day first",
        formats: &[
            "%d/%m/%Y %H:%M:%S",
            "%d/%m/%Y %H:%M",
            "%d-%m-%Y %H:%M:%S",
            "%d-%m-%Y %H:%M",
            "%d.%m.%Y %H:%M",
            "%d/%m/%Y",
            "%d-%m-%Y",
            "%d.%m.%Y",
        ],
    },
    Family {
        name: "month first",
        formats: &[
            "%m/%d/%Y %H:%M:%S",
            "%m/%d/%Y %H:%M",
            "%m/%d/%Y %I:%M %p",
            "%m/%d/%Y",
            "%m-%d-%Y",
        ],
    },
];

const DATE_FAMILIES: &[Family] = &[
    Family {
        name: "year first",
        formats: &["%Y/%m/%d", "%d %b %Y"],
    },
    Family {
        name: "day first",
        formats: &["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"],
    },
    Family {
        name: "month first",
        formats: &["%m/%d/%Y", "%m-%d-%Y"],
    },
];

/// What the values of a date or timestamp column call for.
#[derive(Debug, Default, PartialEq)]
pub struct Formats {
    /// The formats to declare (empty: ISO 8601, the default).
    pub formats: Vec<String>,
    /// Values no candidate reads (they will be rejected), a few.
    pub unread: Vec<String>,
    pub unread_count: usize,
    /// Day-first and month-first both read every value: siap will not
    /// guess. Examples of the values.
    pub ambiguous: Option<Vec<String>>,
    /// When ambiguous: the day-first formats, then the month-first ones.
    pub choices: [Vec<String>; 2],
}

/// The formats that read a column's values, tried with staging's parser:
/// ISO first; else the family (year, day or month first) reading the most
/// values, with only the formats some value needs.
pub fn formats(values: &[&str], timestamps: bool) -> Formats {
    let reads = |fmts: &[String], v: &str| {
        let (ts, dates): (&[String], &[String]) =
            if timestamps { (fmts, &[]) } else { (&[], fmts) };
        let p = TimeParser::new(ts, dates, chrono_tz::UTC);
        if timestamps {
            p.written_timestamp(v).is_some()
        } else {
            p.date(v).is_some()
        }
    };
    let values: Vec<&str> = values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect();
    let iso_read = values.iter().filter(|v| reads(&[], v)).count();
    if iso_read == values.len() {
        return Formats::default();
    }
    let families = if timestamps {
        TIMESTAMP_FAMILIES
    } else {
        DATE_FAMILIES
    };
    // Per family: the formats each value is read by (its first).
    let fits: Vec<Vec<Option<&str>>> = families
        .iter()
        .map(|f| {
            values
                .iter()
                .map(|v| {
                    if !timestamps && reads(&[], v) {
                        return Some("");
                    }
                    f.formats
                        .iter()
                        .copied()
                        .find(|fmt| reads(&[fmt.to_string()], v))
                })
                .collect()
        })
        .collect();
    let count = |i: usize| fits[i].iter().filter(|f| f.is_some()).count();
    let best = (0..families.len())
        .max_by_key(|&i| (count(i), usize::MAX - i))
        .unwrap_or(0);
    let mut out = Formats::default();
    if count(best) <= iso_read {
        out.unread = values
            .iter()
            .filter(|v| !reads(&[], v))
            .take(3)
            .map(|v| v.to_string())
            .collect();
        out.unread_count = values.len() - iso_read;
        return out;
    }
    let day = families.iter().position(|f| f.name == "day first");
    let month = families.iter().position(|f| f.name == "month first");
    let used = |i: usize| -> Vec<String> {
        families[i]
            .formats
            .iter()
            .filter(|f| fits[i].iter().any(|x| x == &Some(**f)))
            .map(|f| f.to_string())
            .collect()
    };
    if let (Some(d), Some(m)) = (day, month)
        && count(d) == values.len()
        && count(m) == values.len()
    {
        out.ambiguous = Some(values.iter().take(3).map(|v| v.to_string()).collect());
        out.choices = [used(d), used(m)];
        return out;
    }
    out.formats = used(best);
    let unread: Vec<&str> = values
        .iter()
        .zip(&fits[best])
        .filter(|(_, f)| f.is_none())
        .map(|(v, _)| *v)
        .collect();
    out.unread_count = unread.len();
    out.unread = unread.into_iter().take(3).map(String::from).collect();
    out
}

/// Status words siap does not know, with the canonical status each
/// probably means (Indonesian and English logistics words), or None.
pub fn statuses(values: &[&str]) -> Vec<(String, Option<Status>)> {
    let mut out: Vec<(String, Option<Status>)> = Vec::new();
    for v in values {
        if v.trim().is_empty() || Status::parse(v).is_some() {
            continue;
        }
        let word = v.trim().to_string();
        if out.iter().any(|(w, _)| fold(w) == fold(&word)) {
            continue;
        }
        let guess =
            match fold(&word).as_str() {
                "dipesan" | "dibuat" | "pesanan" | "ordered" | "created" | "pending"
                | "menunggu" => Some(Status::Booked),
                "dikirim" | "berangkat" | "shipped" | "dispatched" | "picked_up" | "diambil" => {
                    Some(Status::Departed)
                }
                "dalam_perjalanan" | "transit" | "on_the_way" | "in_delivery" | "diantar"
                | "sedang_diantar" => Some(Status::InTransit),
                "bea_cukai" | "ditahan_bea_cukai" | "customs" | "held_at_customs" | "tertahan" => {
                    Some(Status::CustomsHold)
                }
                "tiba" | "diterima" | "sampai" | "delivered" | "received" | "selesai"
                | "terkirim" => Some(Status::Arrived),
                "dibatalkan" | "batal" | "canceled_by_shipper" | "void" | "retur" => {
                    Some(Status::Cancelled)
                }
                f if f.contains("bea_cukai") || f.contains("customs") => Some(Status::CustomsHold),
                f if f.contains("perjalanan") || f.contains("transit") => Some(Status::InTransit),
                f if f.contains("batal") || f.contains("cancel") => Some(Status::Cancelled),
                _ => None,
            };
        out.push((word, guess));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_english_and_indonesian_headers() {
        let header: Vec<String> = ["Kode Barang", "Gudang", "Jumlah", "Per Tanggal", "Catatan"]
            .map(String::from)
            .to_vec();
        let m = map_columns(
            &header,
            &[
                "supplier_id",
                "supplier_sku",
                "warehouse",
                "quantity",
                "as_of",
            ],
        );
        assert_eq!(m["supplier_sku"], "Kode Barang");
        assert_eq!(m["as_of"], "Per Tanggal");
        assert!(!m.contains_key("supplier_id"));
    }

    #[test]
    fn day_first_is_found_and_never_guessed_when_both_orders_read() {
        let f = formats(&["31/10/2026 14:00", "01/11/2026 09:30"], true);
        assert_eq!(f.formats, ["%d/%m/%Y %H:%M"]);
        let f = formats(&["03/04/2026 14:00", "05/06/2026 09:30"], true);
        assert!(f.ambiguous.is_some(), "{f:?}");
        assert!(f.formats.is_empty());
        assert_eq!(
            f.choices,
            [
                vec!["%d/%m/%Y %H:%M".to_string()],
                vec!["%m/%d/%Y %H:%M".to_string()]
            ]
        );
        assert!(
            formats(&["2026-10-31T14:00:00+07:00"], true)
                .formats
                .is_empty()
        );
    }

    #[test]
    fn number_marks_follow_the_values() {
        let m = |v: &[&str], semi| {
            let m = number_marks(v, semi);
            (m.decimal, m.thousands, m.read, m.ambiguous.is_some())
        };
        assert_eq!(
            m(&["1.000.000", "8.000,00"], true),
            (',', Some('.'), 2, false)
        );
        assert_eq!(m(&["1,000,000", "500"], false), ('.', Some(','), 2, false));
        assert_eq!(m(&["700", "12"], false), ('.', None, 2, false));
        // `1.000` is one or a thousand: a `;` file settles it, else no guess.
        assert_eq!(m(&["1.000", "250"], true), (',', Some('.'), 2, false));
        assert!(m(&["1.000", "250"], false).3);
    }
}

//! What the workbook says, in its language (`[output] language`): sheet
//! names, column headers, statuses, notes and the About sheet. English
//! keeps the tables' own column names as headers, so the default workbook
//! reads like the CSV; Indonesian gives every header a label and the
//! About sheet maps each back to its CSV name. The CSV and Parquet tables
//! never change with the language.

use crate::aggregate::reason::{date_words, grouped};
use crate::pipeline::Language;

/// A readiness column: its name in the tables, its Indonesian header, and
/// what it means in each language (the About sheet; the README's table).
pub struct Column {
    pub name: &'static str,
    pub header_id: &'static str,
    pub meaning_en: &'static str,
    pub meaning_id: &'static str,
}

const fn col(
    name: &'static str,
    header_id: &'static str,
    meaning_en: &'static str,
    meaning_id: &'static str,
) -> Column {
    Column {
        name,
        header_id,
        meaning_en,
        meaning_id,
    }
}

/// The readiness table's columns, in order.
pub const READINESS_COLUMNS: &[Column] = &[
    col(
        "product_id",
        "ID produk",
        "the catalog's product id",
        "ID produk di katalog",
    ),
    col(
        "product_name",
        "Nama produk",
        "the catalog's product name",
        "nama produk di katalog",
    ),
    col(
        "category",
        "Kategori",
        "the catalog's product line",
        "lini produk di katalog",
    ),
    col(
        "suppliers",
        "Pemasok",
        "suppliers with a counted latest stock row or latest non-cancelled shipment",
        "pemasok dengan baris stok terbaru yang dihitung atau pengiriman terbaru yang tidak dibatalkan",
    ),
    col(
        "stock_units",
        "Unit stok",
        "sum of latest stock quantity × pack size",
        "jumlah kuantitas stok terbaru × isi kemasan",
    ),
    col(
        "window_units",
        "Unit dalam jendela",
        "latest non-cancelled shipments with an ETA inside the window, in units",
        "pengiriman terbaru yang tidak dibatalkan dengan ETA di dalam jendela, dalam unit",
    ),
    col(
        "early_units",
        "Unit sebelum jendela",
        "same, ETA before the window opens",
        "sama, ETA sebelum jendela dibuka",
    ),
    col(
        "late_units",
        "Unit setelah jendela",
        "same, ETA after the window closes, or no ETA and not arrived",
        "sama, ETA setelah jendela ditutup, atau tanpa ETA dan belum tiba",
    ),
    col(
        "stock_shortfall",
        "Kurang stok",
        "max(0, minimum − stock_units)",
        "maks(0, minimum − unit stok)",
    ),
    col(
        "window_shortfall",
        "Kurang dalam jendela",
        "max(0, minimum − window_units)",
        "maks(0, minimum − unit dalam jendela)",
    ),
    col(
        "short_of_minimum",
        "Stok di bawah minimum",
        "stock_units < minimum",
        "unit stok < minimum",
    ),
    col(
        "misses_window",
        "Tidak cukup dalam jendela",
        "window_units < minimum",
        "unit dalam jendela < minimum",
    ),
    col(
        "status",
        "Status",
        "READY when neither flag is set, else NOT_READY",
        "SIAP bila kedua tanda tidak menyala, selain itu BELUM SIAP",
    ),
    col(
        "reason",
        "Alasan",
        "why, in plain words",
        "alasannya, dengan kata-kata sederhana",
    ),
    col(
        "stock_coverage",
        "Cakupan stok",
        "stock_units / minimum",
        "unit stok / minimum",
    ),
    col(
        "window_coverage",
        "Cakupan jendela",
        "window_units / minimum",
        "unit dalam jendela / minimum",
    ),
    col(
        "in_transit_units",
        "Unit dalam perjalanan",
        "units of latest shipments departed or in transit",
        "unit pengiriman terbaru yang sudah berangkat atau dalam perjalanan",
    ),
    col(
        "customs_hold_units",
        "Unit ditahan bea cukai",
        "units of latest shipments held in customs (they count by their ETA)",
        "unit pengiriman terbaru yang ditahan bea cukai (dihitung menurut ETA-nya)",
    ),
    col(
        "no_eta_units",
        "Unit tanpa ETA",
        "units of latest non-cancelled shipments without an ETA",
        "unit pengiriman terbaru yang tidak dibatalkan dan tanpa ETA",
    ),
    col(
        "oldest_stock_as_of",
        "Data stok tertua",
        "the oldest as_of among the latest stock rows",
        "as_of paling lama di antara baris stok terbaru",
    ),
    col(
        "exceptions",
        "Baris ditolak",
        "rejected rows whose supplier and SKU map to the product",
        "baris ditolak yang pemasok dan SKU-nya terpetakan ke produk ini",
    ),
    col(
        "earliest_eta",
        "ETA paling awal",
        "earliest ETA of the latest non-cancelled shipments",
        "ETA paling awal dari pengiriman terbaru yang tidak dibatalkan",
    ),
    col(
        "latest_eta",
        "ETA paling akhir",
        "latest ETA of the latest non-cancelled shipments",
        "ETA paling akhir dari pengiriman terbaru yang tidak dibatalkan",
    ),
    col(
        "minimum_reached_on",
        "Minimum tercapai pada",
        "the first ETA at which cumulative in-window units reach the minimum; empty if never",
        "ETA pertama saat akumulasi unit dalam jendela mencapai minimum; kosong bila tidak pernah",
    ),
    col(
        "stale_feeds",
        "Data lama dipakai",
        "feeds whose fetch failed tonight and whose last good copy was used instead (on_fetch_failure = \"reuse\"), with the copy's run and age; empty when every feed is fresh",
        "feed yang gagal diambil malam ini sehingga salinan baik terakhirnya dipakai (on_fetch_failure = \"reuse\"), dengan run dan umur salinan; kosong bila semua feed baru",
    ),
];

/// The workbook's sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sheet {
    Readiness,
    BySupplier,
    Shipments,
    Exceptions,
    About,
}

/// The workbook's words in one language.
#[derive(Debug, Clone, Copy)]
pub struct Words(pub Language);

impl Words {
    fn id(self) -> bool {
        self.0 == Language::Id
    }

    fn pick(self, en: &'static str, id: &'static str) -> &'static str {
        if self.id() { id } else { en }
    }

    pub fn sheet(self, s: Sheet) -> &'static str {
        match s {
            Sheet::Readiness => self.pick("Readiness", "Kesiapan"),
            Sheet::BySupplier => self.pick("By supplier", "Per pemasok"),
            Sheet::Shipments => self.pick("Shipments", "Pengiriman"),
            Sheet::Exceptions => self.pick("Exceptions", "Pengecualian"),
            Sheet::About => self.pick("About", "Tentang"),
        }
    }

    /// A sheet, as the About sheet names it: `Shipments sheet`.
    pub fn sheet_label(self, s: Sheet) -> String {
        if self.id() {
            format!("lembar {}", self.sheet(s))
        } else {
            format!("{} sheet", self.sheet(s))
        }
    }

    /// A column's header: its table name in English.
    pub fn header(self, name: &str) -> &str {
        if !self.id() {
            return name;
        }
        if let Some(c) = READINESS_COLUMNS.iter().find(|c| c.name == name) {
            return c.header_id;
        }
        match name {
            "supplier_id" => "ID pemasok",
            "provider" => "Penyedia logistik",
            "shipment_id" => "ID pengiriman",
            "supplier_sku" => "SKU pemasok",
            "quantity" => "Kuantitas",
            "units" => "Unit",
            "etd" => "ETD",
            "eta" => "ETA",
            "updated_at" => "Diperbarui",
            "bucket" => "Kelompok ETA",
            "counts_in_window" => "Dihitung dalam jendela",
            "source" => "Sumber",
            "line" => "Baris",
            "field" => "Kolom",
            "detail" => "Keterangan",
            "raw" => "Baris asli",
            other => other,
        }
    }

    /// A readiness status as shown.
    pub fn status(self, status: &str) -> &str {
        match (self.id(), status) {
            (true, "READY") => "SIAP",
            (true, "NOT_READY") => "BELUM SIAP",
            _ => status,
        }
    }

    /// A number as written in text cells.
    pub fn number(self, n: u64) -> String {
        grouped(n as i64, self.0)
    }

    /// Dates' cell format.
    pub fn date_format(self) -> &'static str {
        self.pick("yyyy-mm-dd", "dd/mm/yyyy")
    }

    /// The first row of a sheet showing only a table's first rows.
    pub fn capped(self, shown: u64, total: u64, table: &str) -> String {
        let (s, t) = (self.number(shown), self.number(total));
        if self.id() {
            format!(
                "Menampilkan {s} baris pertama dari {t}; semua baris ada di {table}.csv dan {table}.parquet."
            )
        } else {
            format!(
                "Showing the first {s} of {t} rows; every row is in {table}.csv and {table}.parquet."
            )
        }
    }

    pub fn chart_title(self) -> &'static str {
        self.pick(
            "Stock and in-window units against the minimum",
            "Unit stok dan unit dalam jendela dibanding minimum",
        )
    }

    /// The About sheet's label for `key` (English labels are the keys).
    pub fn label(self, key: &'static str) -> &'static str {
        if !self.id() {
            return key;
        }
        match key {
            "campaign" => "kampanye",
            "run date" => "tanggal jalan",
            "minimum units" => "unit minimum",
            "window" => "jendela pengiriman",
            "timezone" => "zona waktu",
            "sheet rows" => "baris lembar",
            "Readiness column" => "Kolom Kesiapan",
            "meaning" => "arti (nama kolom di CSV)",
            "Source" => "Sumber",
            "cut cells" => "sel terpotong",
            "minimum (chart)" => "minimum (grafik)",
            _ => key,
        }
    }

    /// The delivery window, as the About sheet states it.
    pub fn window(self, opens: chrono::NaiveDate, closes: chrono::NaiveDate) -> String {
        let (o, c) = (date_words(opens, self.0), date_words(closes, self.0));
        if self.id() {
            format!("{o} s.d. {c} (inklusif, menurut tanggal ETA seperti tertulis)")
        } else {
            format!("{o} to {c} (inclusive, by ETA date as written)")
        }
    }

    pub fn sheet_rows(self, excel: u64, detail: u64) -> String {
        let (e, d) = (self.number(excel), self.number(detail));
        if self.id() {
            format!(
                "Kesiapan dan Per pemasok memuat semua baris (hingga batas Excel {e}); Pengiriman dan Pengecualian menampilkan {d} baris pertama; tabel CSV dan Parquet memuat semua baris"
            )
        } else {
            format!(
                "Readiness and By supplier hold every row (up to Excel's {e}); Shipments and Exceptions show their first {d}; the CSV and Parquet tables hold every row"
            )
        }
    }

    /// A readiness column's line on the About sheet: (label, meaning).
    pub fn column(self, c: &Column) -> (String, String) {
        if self.id() {
            (
                c.header_id.to_string(),
                format!("{} ({})", c.meaning_id, c.name),
            )
        } else {
            (c.name.to_string(), c.meaning_en.to_string())
        }
    }

    pub fn source_heading(self) -> &'static str {
        self.pick(
            "location · sha256 · records read / accepted / rejected",
            "lokasi · sha256 · baris dibaca / diterima / ditolak",
        )
    }

    pub fn cut_cells(self, cut: usize, limit: usize, mark: &str) -> String {
        if self.id() {
            format!(
                "{cut} sel teks yang lebih panjang dari batas Excel {} karakter berakhir dengan `{mark}`; tabel CSV dan Parquet memuat teks lengkap",
                self.number(limit as u64)
            )
        } else {
            format!(
                "{cut} text cell(s) longer than Excel's limit of {limit} characters end in `{mark}`; the CSV and Parquet tables hold the whole text"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_readiness_column_has_both_languages() {
        for c in READINESS_COLUMNS {
            assert!(
                !c.header_id.is_empty() && !c.meaning_id.is_empty(),
                "{}",
                c.name
            );
            assert_eq!(Words(Language::En).header(c.name), c.name);
        }
    }

    #[test]
    fn english_words_are_the_tables_own() {
        let en = Words(Language::En);
        assert_eq!(en.header("supplier_id"), "supplier_id");
        assert_eq!(en.status("NOT_READY"), "NOT_READY");
        assert_eq!(
            en.capped(50_000, 83_144, "shipments"),
            "Showing the first 50,000 of 83,144 rows; every row is in shipments.csv and shipments.parquet."
        );
        let id = Words(Language::Id);
        assert_eq!(id.status("NOT_READY"), "BELUM SIAP");
        assert_eq!(
            id.capped(50_000, 83_144, "shipments"),
            "Menampilkan 50.000 baris pertama dari 83.144; semua baris ada di shipments.csv dan shipments.parquet."
        );
    }
}

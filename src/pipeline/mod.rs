//! The pipeline file: what a campaign is, its rules, and where its feeds are.
//!
//! Two shapes: [`doc`] reads the TOML with positions and reports every
//! problem at once (unknown keys, wrong types, missing keys), and
//! [`resolve`] turns that into the checked [`Pipeline`] the stages use:
//! defaults applied, paths resolved against the file's folder, dialects
//! validated. Nothing here touches a feed's bytes.

pub mod api;
pub mod doc;
pub mod locate;
pub mod notify;
pub mod resolve;
pub mod sftp;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;

pub use resolve::load;

/// The default campaign minimum (SPEC: 1,000,000 units).
pub const fn default_minimum_units() -> i64 {
    1_000_000
}

/// A checked pipeline file.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The pipeline file itself.
    pub file: PathBuf,
    pub campaign: Campaign,
    pub sources: Sources<Source>,
    pub output: OutputOptions,
    /// Webhooks told when a run publishes or fails.
    pub notify: notify::NotifyOptions,
}

/// One value per source of a pipeline: the two reference tables, and the
/// feeds (stock feeds, then shipment feeds, in file order). Every phase
/// hands its results on in this shape, so a source is addressed by what it
/// is, never by a position in a list of all of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources<T> {
    pub catalog: T,
    pub sku_map: T,
    pub feeds: Vec<T>,
}

impl<T> Sources<T> {
    /// Every value, the reference tables first, then the feeds.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        [&self.catalog, &self.sku_map]
            .into_iter()
            .chain(self.feeds.iter())
    }

    pub fn as_ref(&self) -> Sources<&T> {
        Sources {
            catalog: &self.catalog,
            sku_map: &self.sku_map,
            feeds: self.feeds.iter().collect(),
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Sources<U> {
        Sources {
            catalog: f(self.catalog),
            sku_map: f(self.sku_map),
            feeds: self.feeds.into_iter().map(f).collect(),
        }
    }

    /// Pairs each value with the same source's value of `other`.
    pub fn zip<U>(self, other: Sources<U>) -> Sources<(T, U)> {
        Sources {
            catalog: (self.catalog, other.catalog),
            sku_map: (self.sku_map, other.sku_map),
            feeds: self.feeds.into_iter().zip(other.feeds).collect(),
        }
    }
}

impl<T, E> Sources<Result<T, E>> {
    /// Every value, or every error (in source order).
    pub fn collect_errors(self) -> Result<Sources<T>, Vec<E>> {
        let mut errors = Vec::new();
        let mut keep = |r: Result<T, E>| match r {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let catalog = keep(self.catalog);
        let sku_map = keep(self.sku_map);
        let feeds: Vec<Option<T>> = self.feeds.into_iter().map(&mut keep).collect();
        match (catalog, sku_map) {
            (Some(catalog), Some(sku_map)) if errors.is_empty() => Ok(Sources {
                catalog,
                sku_map,
                feeds: feeds.into_iter().map(|f| f.expect("no error")).collect(),
            }),
            _ => Err(errors),
        }
    }
}

impl Sources<Source> {
    pub fn get(&self, id: &str) -> Option<&Source> {
        self.iter().find(|s| s.id == id)
    }

    /// The reference tables and the one feed `id` (for `siap inspect`).
    pub fn only(&self, id: &str) -> Sources<Source> {
        Sources {
            catalog: self.catalog.clone(),
            sku_map: self.sku_map.clone(),
            feeds: self.feeds.iter().filter(|f| f.id == id).cloned().collect(),
        }
    }
}

/// How the CSV outputs are written (`[output]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// Start CSV files with a UTF-8 byte-order mark (Excel on Windows needs
    /// it to read UTF-8).
    pub csv_bom: bool,
    pub csv_delimiter: u8,
    /// Write decimals with `,` (set with `csv_delimiter = ";"` for Excel
    /// in locales like Indonesia's).
    pub csv_decimal_comma: bool,
    /// The workbook's language (CSV and Parquet stay canonical).
    pub language: Language,
    /// The rows the workbook's Shipments and Exceptions sheets show (their
    /// tables' first rows; the CSV and Parquet files hold every row).
    pub detail_sheet_rows: usize,
}

/// The rows the Shipments and Exceptions sheets show by default: a look
/// at the tables, whose every row is in their CSV and Parquet files (a
/// larger preview made the workbook the run's longest output, and a
/// slower file to open).
pub const DETAIL_SHEET_ROWS: usize = 10_000;

/// The most `detail_sheet_rows` can be: a sheet's 1,048,576 rows, less its
/// header and the note of a capped sheet.
pub const MAX_DETAIL_SHEET_ROWS: usize = 1_048_574;

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            csv_bom: false,
            csv_delimiter: b',',
            csv_decimal_comma: false,
            language: Language::En,
            detail_sheet_rows: DETAIL_SHEET_ROWS,
        }
    }
}

/// The language of the workbook people read: sheet names, headers,
/// statuses, reasons and the About sheet (`[output] language`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English, with the tables' own column names as headers.
    #[default]
    En,
    /// Bahasa Indonesia.
    Id,
}

#[derive(Debug, Clone)]
pub struct Campaign {
    pub name: String,
    pub minimum_units: i64,
    /// First day (inclusive) goods may arrive.
    pub opens: NaiveDate,
    /// Last day (inclusive) goods may arrive.
    pub closes: NaiveDate,
    pub timezone: Tz,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    Catalog,
    SkuMap,
    Stock,
    Shipments,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Catalog => "catalog",
            SourceKind::SkuMap => "sku_map",
            SourceKind::Stock => "stock",
            SourceKind::Shipments => "shipments",
        }
    }

    /// The canonical columns of this kind of table, in output order, and
    /// whether each is required.
    pub fn canonical_columns(self) -> &'static [(&'static str, bool)] {
        match self {
            SourceKind::Catalog => &[
                ("product_id", true),
                ("product_name", true),
                ("category", true),
            ],
            SourceKind::SkuMap => &[
                ("supplier_id", true),
                ("supplier_sku", true),
                ("product_id", true),
                ("pack_size", false),
            ],
            SourceKind::Stock => &[
                ("supplier_id", true),
                ("supplier_sku", true),
                ("warehouse", true),
                ("quantity", true),
                ("as_of", true),
            ],
            SourceKind::Shipments => &[
                ("shipment_id", true),
                ("supplier_id", true),
                ("supplier_sku", true),
                ("quantity", true),
                ("status", true),
                ("etd", false),
                ("eta", false),
                ("updated_at", true),
            ],
        }
    }
}

/// Where a source's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Http(String),
    /// `sftp://user@host[:port]/path`.
    Sftp(String),
    /// `s3://bucket/key`, `gs://bucket/key`, `az://container/key`.
    Object(String),
}

impl Location {
    /// How the location is shown in logs, errors and the manifest: local
    /// paths as written, URLs with credentials and query values masked.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::Http(u) | Location::Sftp(u) | Location::Object(u) => redact_url(u),
        }
    }

    /// The file name the location ends in (used to infer the format).
    pub fn file_name(&self) -> String {
        match self {
            Location::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Location::Http(u) | Location::Sftp(u) | Location::Object(u) => {
                let path = u.split(['?', '#']).next().unwrap_or("");
                path.rsplit('/').next().unwrap_or("").to_string()
            }
        }
    }
}

/// A URL as it may be shown: user and password removed, every query value
/// masked (API keys often travel as `?token=`).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("***");
                let _ = u.set_password(None);
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, _)| (k.into_owned(), "***".to_string()))
                .collect();
            if !pairs.is_empty() {
                let q = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                u.set_query(Some(&q));
            }
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<unparsable URL>".to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
    Parquet,
    Xlsx,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "parquet" => Format::Parquet,
            "xlsx" => Format::Xlsx,
            _ => return None,
        })
    }

    /// Infers the format (and gzip) from a file name: `stok.csv.gz`.
    pub fn infer(file_name: &str) -> Option<(Self, bool)> {
        let lower = file_name.to_ascii_lowercase();
        let (stem, gz) = match lower.strip_suffix(".gz") {
            Some(stem) => (stem.to_string(), true),
            None => (lower, false),
        };
        let ext = Path::new(&stem).extension()?.to_str()?.to_string();
        let format = match ext.as_str() {
            "csv" | "tsv" | "txt" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "parquet" => Format::Parquet,
            "xlsx" => Format::Xlsx,
            _ => return None,
        };
        Some((format, gz))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// Windows-1252 (what Excel calls "ANSI" in Western and Indonesian locales).
    Windows1252,
    /// ISO-8859-1 / Latin-1.
    Latin1,
    /// UTF-16; the byte-order mark says which endianness.
    Utf16,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Encoding::Utf8,
            "windows-1252" | "cp1252" => Encoding::Windows1252,
            "iso-8859-1" | "latin-1" | "latin1" => Encoding::Latin1,
            "utf-16" | "utf16" => Encoding::Utf16,
            _ => return None,
        })
    }
}

/// How to read one feed, from the pipeline file.
#[derive(Debug, Clone)]
pub struct Dialect {
    pub format: Format,
    pub gzip: bool,
    pub encoding: Encoding,
    pub delimiter: u8,
    pub quote: u8,
    /// Lines before the header row (CSV).
    pub skip_lines: usize,
    pub decimal: char,
    pub thousands: Option<char>,
    /// strftime formats for timestamps; empty means ISO 8601 / RFC 3339.
    pub timestamp_formats: Vec<String>,
    /// strftime formats for dates (`eta`, `etd`); empty means ISO 8601.
    pub date_formats: Vec<String>,
    /// XLSX: the sheet to read (default: the first).
    pub sheet: Option<String>,
    /// XLSX: the 1-based row holding the header.
    pub header_row: usize,
    /// Largest file, body or decompressed stream accepted (the source's
    /// `max_bytes`).
    pub max_bytes: u64,
    /// Largest record (a CSV record, an NDJSON line, a JSON array element,
    /// an XLSX cell's text).
    pub max_record_bytes: u64,
}

/// The default `max_record_bytes`: 1 MiB, a thousand times any real stock
/// or shipment record, small enough that a hostile one costs nothing.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 1 << 20;

impl Dialect {
    pub fn default_for(format: Format, gzip: bool) -> Self {
        Dialect {
            format,
            gzip,
            encoding: Encoding::Utf8,
            delimiter: b',',
            quote: b'"',
            skip_lines: 0,
            decimal: '.',
            thousands: None,
            timestamp_formats: Vec::new(),
            date_formats: Vec::new(),
            sheet: None,
            header_row: 1,
            max_bytes: HttpOptions::default().max_bytes,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// One input table: a reference table (catalog, SKU map) or a feed.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub kind: SourceKind,
    /// The supplier that owns a stock feed (None: the feed carries a
    /// `supplier_id` column), or the logistics provider of a shipment feed.
    pub owner: Option<String>,
    pub location: Location,
    pub dialect: Dialect,
    /// canonical column name → the feed's own header name.
    pub columns: BTreeMap<String, String>,
    /// Shipment feeds: folded feed status → canonical status.
    pub statuses: BTreeMap<String, crate::model::Status>,
    /// Stock feeds without a warehouse column.
    pub default_warehouse: Option<String>,
    /// Line and column of the source's `location` in the pipeline file.
    pub position: (usize, usize),
    /// Quality gates (feeds only).
    pub gates: crate::model::Gates,
    /// How an `http(s)://` location is fetched.
    pub http: HttpOptions,
    /// The location as written, when it is dated (`{date:%d%m%Y}`) or a
    /// glob: `location` is then resolved for each run's date.
    pub pattern: Option<locate::Pattern>,
    /// How an API location is asked for its records, page by page
    /// (`method`, `body`, `records`, `paginate`).
    pub api: Option<api::ApiOptions>,
    /// How an `sftp://` location logs in and checks the server (`sftp`).
    pub sftp: Option<SftpOptions>,
    /// What a failed fetch does (`on_fetch_failure`).
    pub on_fetch_failure: OnFetchFailure,
}

/// How an SFTP source logs in: a private key file or a password (values
/// from the environment; never printed), and the known_hosts file the
/// server's host key must be in.
#[derive(Clone, PartialEq, Eq)]
pub struct SftpOptions {
    pub identity_file: Option<PathBuf>,
    pub passphrase: Option<String>,
    pub password: Option<String>,
    pub known_hosts: PathBuf,
}

impl std::fmt::Debug for SftpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpOptions")
            .field("identity_file", &self.identity_file)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("known_hosts", &self.known_hosts)
            .finish()
    }
}

/// What a source's failed fetch does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFetchFailure {
    /// The source fails, and so does the run (exit 4).
    #[default]
    Fail,
    /// The source's last good copy (from the newest earlier run that
    /// fetched it) is used; the run warns (exit 7) and the readiness table
    /// names the stale feed on the products it touches.
    Reuse,
}

/// HTTP fetching options of one source.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Request headers, values already taken from the environment. Treated
    /// as secrets: never printed.
    pub headers: Vec<(String, String)>,
    pub connect_timeout: std::time::Duration,
    /// A body that sends nothing for this long has stalled.
    pub read_timeout: std::time::Duration,
    /// All attempts together, waits included.
    pub total_timeout: std::time::Duration,
    pub max_attempts: u32,
    /// Largest body or local file accepted, compressed or decompressed.
    pub max_bytes: u64,
    /// Hosts a redirect may lead to with this source's credentials
    /// (`host`, `host:port` or `*.domain`): an export link that hands the
    /// file over to another host (Google Sheets to googleusercontent.com).
    pub allow_redirect_hosts: Vec<String>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| format!("{k}: ***"))
                    .collect::<Vec<_>>(),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("max_bytes", &self.max_bytes)
            .field("allow_redirect_hosts", &self.allow_redirect_hosts)
            .finish()
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            headers: Vec::new(),
            connect_timeout: std::time::Duration::from_secs(10),
            read_timeout: std::time::Duration::from_secs(30),
            total_timeout: std::time::Duration::from_secs(600),
            max_attempts: 4,
            // Large enough for one 50-million-row export; small enough that
            // a runaway body (or `/dev/zero`) stops long before the disk is
            // full.
            max_bytes: 16 << 30,
            allow_redirect_hosts: Vec::new(),
        }
    }
}

/// Whether `host` (and `port`) is one an `allow_redirect_hosts` entry
/// names: `host`, `host:port` or `*.domain` (any subdomain, not the
/// domain itself), case-insensitive.
pub fn host_allowed(allowed: &[String], host: &str, port: Option<u16>) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        let (name, want_port) = match entry.rsplit_once(':') {
            Some((n, p)) if p.parse::<u16>().is_ok() => (n.to_string(), p.parse::<u16>().ok()),
            _ => (entry.clone(), None),
        };
        let name_ok = match name.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == name,
        };
        name_ok && want_port.is_none_or(|p| Some(p) == port)
    })
}

impl Source {
    /// The supplier a stock feed belongs to, when the pipeline file says.
    pub fn supplier(&self) -> Option<&str> {
        match self.kind {
            SourceKind::Stock => self.owner.as_deref(),
            _ => None,
        }
    }

    /// Whether staging copies this source's local file as it reads it
    /// instead of fetch copying it first: a CSV feed is read once, front
    /// to back, so one read makes the copy, the hash and the rows; other
    /// formats are copied and hashed by a read beside their reader's, on
    /// the staging threads, written past the page cache. The reference
    /// tables are read whole before staging starts.
    pub fn copied_while_staged(&self) -> bool {
        matches!(self.kind, SourceKind::Stock | SourceKind::Shipments)
            && matches!(self.location, Location::Local(_))
    }

    /// This source's failure: the run's error naming it.
    pub fn fails(&self, problem: crate::error::Problem) -> crate::error::Error {
        crate::error::Error::source(&self.id, self.location.display(), problem)
    }

    /// The feed's header name for a canonical column.
    pub fn feed_column<'a>(&'a self, canonical: &'a str) -> &'a str {
        self.columns
            .get(canonical)
            .map(String::as_str)
            .unwrap_or(canonical)
    }
}

/// True when `s` may become a file or folder name: ASCII letters, digits,
/// `.`, `_`, `-`, not starting with `.`, at most 64 characters.
pub fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn allowed_redirect_hosts_match_exactly_or_by_subdomain() {
        let allowed = vec![
            "*.googleusercontent.com".to_string(),
            "files.example.com:8443".to_string(),
        ];
        assert!(super::host_allowed(
            &allowed,
            "doc-0s.googleusercontent.com",
            Some(443)
        ));
        assert!(!super::host_allowed(
            &allowed,
            "googleusercontent.com",
            Some(443)
        ));
        assert!(!super::host_allowed(
            &allowed,
            "evilgoogleusercontent.com",
            Some(443)
        ));
        assert!(super::host_allowed(
            &allowed,
            "FILES.example.com",
            Some(8443)
        ));
        assert!(!super::host_allowed(
            &allowed,
            "files.example.com",
            Some(443)
        ));
    }

    #[test]
    fn redacts_credentials_and_query_values() {
        let r = redact_url("https://user:s3cret@feeds.example/stok.csv?token=abc123&day=1");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(!r.contains("abc123"), "{r}");
        assert!(r.contains("token=***"), "{r}");
    }
}

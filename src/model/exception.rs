//! Rows that failed validation: the closed list of reasons, and the row
//! of the `exceptions` table.

use serde::Serialize;

/// Why a record was rejected. The list is closed and documented in the
/// README; its `as_str` forms are what the `exceptions` table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Reason {
    MissingField,
    BadNumber,
    NegativeQuantity,
    BadDate,
    UnknownStatus,
    AsOfAfterRunDate,
    UnmappedSku,
    UnknownProduct,
    RaggedRow,
    MalformedRecord,
    BadEncoding,
    ConflictingDuplicate,
}

impl Reason {
    /// Every reason, in declaration order (`reason as usize` is its place).
    pub const ALL: [Reason; 12] = [
        Reason::MissingField,
        Reason::BadNumber,
        Reason::NegativeQuantity,
        Reason::BadDate,
        Reason::UnknownStatus,
        Reason::AsOfAfterRunDate,
        Reason::UnmappedSku,
        Reason::UnknownProduct,
        Reason::RaggedRow,
        Reason::MalformedRecord,
        Reason::BadEncoding,
        Reason::ConflictingDuplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingField => "missing field",
            Reason::BadNumber => "bad number",
            Reason::NegativeQuantity => "negative quantity",
            Reason::BadDate => "bad date",
            Reason::UnknownStatus => "unknown status",
            Reason::AsOfAfterRunDate => "as-of after run date",
            Reason::UnmappedSku => "unmapped sku",
            Reason::UnknownProduct => "unknown product",
            Reason::RaggedRow => "ragged row",
            Reason::MalformedRecord => "malformed record",
            Reason::BadEncoding => "bad encoding",
            Reason::ConflictingDuplicate => "conflicting duplicate",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected record. Ordered by source, then line, as the exceptions
/// table is sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub source: String,
    /// Empty when the record did not say (or could not be read).
    pub supplier_id: String,
    /// The catalog product the record is about, when its supplier and SKU
    /// map to one; empty otherwise.
    pub product_id: String,
    /// The line (or sheet row, or record number for Parquet) where the
    /// record starts.
    pub line: u64,
    /// The canonical field at fault; empty for whole-record problems.
    pub field: String,
    pub reason: Reason,
    /// What exactly was wrong, in plain words.
    pub detail: String,
    /// The record exactly as in the file, decoded to UTF-8.
    pub raw: String,
}

impl Exception {
    fn sort_key(&self) -> (&str, u64, &str, Reason, &str, &str, &str) {
        (
            &self.source,
            self.line,
            &self.field,
            self.reason,
            &self.supplier_id,
            &self.detail,
            &self.raw,
        )
    }
}

/// A rejected record as staging finds it, its text borrowed: written to
/// its feed's exception file without a copy (the file is the source's).
#[derive(Debug, Clone, Copy)]
pub struct Rejection<'a> {
    pub line: u64,
    pub reason: Reason,
    pub supplier_id: &'a str,
    pub product_id: &'a str,
    pub field: &'a str,
    pub detail: &'a str,
    pub raw: &'a str,
}

impl Exception {
    /// This row as a feed's exception file takes it.
    pub fn rejection(&self) -> Rejection<'_> {
        Rejection {
            line: self.line,
            reason: self.reason,
            supplier_id: &self.supplier_id,
            product_id: &self.product_id,
            field: &self.field,
            detail: &self.detail,
            raw: &self.raw,
        }
    }
}

impl Ord for Exception {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for Exception {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

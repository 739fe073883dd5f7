//! The two reference tables every feed row is judged against: the catalog
//! and the SKU map. They are strict: a bad row here fails the run with
//! every problem listed, because a wrong pack size or product would quietly
//! skew every total.

use crate::error::Problem;
use std::collections::BTreeMap;

use std::hash::BuildHasher;

use hashbrown::HashMap;

use super::feed::map_columns;
use super::read::{self, Cell, Cells, Visitor};
use super::values::{NumberError, parse_quantity};
use crate::pipeline::Source;
use crate::sys::prefetch;

/// How many problems a failed reference table lists before "and N more".
const MAX_LISTED: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub category: String,
}

/// The catalog, sorted by product id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub products: Vec<Product>,
    index: HashMap<String, u32>,
    pub records: u64,
    pub duplicates: u64,
    pub extra_columns: Vec<String>,
}

impl Catalog {
    pub fn index(&self, product_id: &str) -> Option<u32> {
        self.index.get(product_id).copied()
    }
}

#[derive(Debug, Clone)]
pub struct SkuEntry {
    pub supplier_id: String,
    pub supplier_sku: String,
    pub product_id: String,
    pub pack_size: i64,
    /// The product's index in the catalog; `None` when the catalog lacks it.
    pub product: Option<u32>,
    /// Index into [`SkuMap::suppliers`].
    pub supplier: u32,
}

/// A `(supplier, sku)` lookup key borrowed from a feed row; hashes and
/// compares like the owned key, so lookups allocate nothing.
#[derive(Hash)]
struct Key<'a>(&'a str, &'a str);

impl hashbrown::Equivalent<(String, String)> for Key<'_> {
    fn equivalent(&self, k: &(String, String)) -> bool {
        self.0 == k.0 && self.1 == k.1
    }
}

/// A string of at most 15 bytes as one number (bytes, zero padding, length
/// in the last byte): short keys compare and hash as two numbers, without
/// reaching for their text elsewhere in memory. `None` for longer strings.
pub fn pack15(s: &str) -> Option<u128> {
    pack15_bytes(s.as_bytes())
}

/// [`pack15`] of bytes.
pub fn pack15_bytes(b: &[u8]) -> Option<u128> {
    let n = b.len();
    if n > 15 {
        return None;
    }
    // Two overlapping loads from the ends (the bytes they share land in the
    // same place twice), instead of a copy through memory: this runs
    // several times per staged row.
    let v = if n >= 8 {
        let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(b[n - 8..].try_into().expect("8 bytes"));
        u128::from(lo) | (u128::from(hi) << (8 * (n - 8)))
    } else if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let hi = u32::from_le_bytes(b[n - 4..].try_into().expect("4 bytes"));
        u128::from(lo) | (u128::from(hi) << (8 * (n - 4)))
    } else if n > 0 {
        u128::from(b[0])
            | (u128::from(b[n / 2]) << (8 * (n / 2)))
            | (u128::from(b[n - 1]) << (8 * (n - 1)))
    } else {
        0
    };
    Some(v | ((n as u128) << 120))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranks sort as the strings do; equal strings share one.
    #[test]
    fn ranks_follow_string_order() {
        let strings = ["kopi", "biskuit", "kopi", "Kerupuk", "mi", ""];
        let r = ranks_of(strings.iter().copied());
        for (i, a) in strings.iter().enumerate() {
            for (j, b) in strings.iter().enumerate() {
                assert_eq!(r[i].cmp(&r[j]), a.cmp(b), "{a} vs {b}");
            }
        }
    }

    /// Every length, bytes of every value: as copying the bytes into a
    /// zeroed array with the length last.
    #[test]
    fn packing_is_bytes_then_length() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let n = rng.usize(0..=16);
            let b: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            let expected = (n <= 15).then(|| {
                let mut a = [0u8; 16];
                a[..n].copy_from_slice(&b);
                a[15] = n as u8;
                u128::from_le_bytes(a)
            });
            assert_eq!(pack15_bytes(&b), expected, "{b:?}");
        }
    }
}

/// What staging needs of an entry for every row, packed together in one
/// 64-byte cache line: the short key to check a lookup against,
/// the pack size, the catalog product and the supplier. Large SKU maps do
/// not fit in cache; a row then costs one trip to memory, not three.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub struct Hot {
    /// The [`pack15`] supplier and SKU, when both pack.
    pub key: Option<(u128, u128)>,
    pub pack_size: i64,
    /// As [`SkuEntry::product`], `u32::MAX` for none.
    pub product: u32,
    pub supplier: u32,
}

impl Hot {
    pub fn product(&self) -> Option<u32> {
        (self.product != u32::MAX).then_some(self.product)
    }
}

#[derive(Debug, Clone, Default)]
pub struct SkuMap {
    /// Every distinct mapping, in the order first read.
    pub entries: Vec<SkuEntry>,
    /// Supplier ids, sorted.
    pub suppliers: Vec<String>,
    index: HashMap<(String, String), u32>,
    /// The same, for the keys whose supplier and SKU both [`pack15`] (the
    /// lookup of nearly every feed row): see [`Short`].
    short: Short,
    /// Per entry, what every staged row needs (see [`Hot`]).
    hot: Vec<Hot>,
    pub records: u64,
    pub duplicates: u64,
    pub extra_columns: Vec<String>,
    /// See [`SkuMap::ranks`]; made on first use.
    ranks: std::sync::OnceLock<Ranks>,
}

/// Per entry, where its strings fall in the sorted order of all entries'
/// (equal strings, equal ranks): comparing two ranks compares the strings.
#[derive(Debug, Clone, Default)]
pub struct Ranks {
    pub supplier_sku: Vec<u32>,
    pub product_id: Vec<u32>,
}

fn ranks_of<'a>(strings: impl Iterator<Item = &'a str>) -> Vec<u32> {
    let strings: Vec<&str> = strings.collect();
    let mut order: Vec<u32> = (0..strings.len() as u32).collect();
    order.sort_unstable_by_key(|&i| strings[i as usize]);
    let mut rank = vec![0; strings.len()];
    let mut r = 0;
    for (n, &i) in order.iter().enumerate() {
        if n > 0 && strings[i as usize] != strings[order[n - 1] as usize] {
            r += 1;
        }
        rank[i as usize] = r;
    }
    rank
}

impl SkuMap {
    /// The entries' SKU and product ranks, made once (by whichever staging
    /// worker asks first) for the staged copies' statistics.
    pub fn ranks(&self) -> &Ranks {
        self.ranks.get_or_init(|| Ranks {
            supplier_sku: ranks_of(self.entries.iter().map(|e| e.supplier_sku.as_str())),
            product_id: ranks_of(self.entries.iter().map(|e| e.product_id.as_str())),
        })
    }

    /// The entry index of a supplier's SKU.
    pub fn lookup(&self, supplier: &str, sku: &str) -> Option<u32> {
        match (pack15(supplier), pack15(sku)) {
            (Some(s), Some(k)) => self.short.find((s, k), &self.hot),
            _ => self.index.get(&Key(supplier, sku)).copied(),
        }
    }

    /// The first step of looking a supplier's SKU up ahead of time, for a
    /// row a few rows on: starts fetching its slot of the table into the
    /// cache. Returns what [`SkuMap::prefetch_entry`] takes a row or two
    /// later.
    /// Keys that do not pack are left alone.
    pub fn prefetch_slot(&self, supplier: &[u8], sku: &[u8]) -> Option<u64> {
        let key = pack15_bytes(supplier).zip(pack15_bytes(sku))?;
        let h = self.short.hash(key);
        if let Some(slot) = self.short.slots.get(h as usize & self.short.mask) {
            prefetch(slot);
        }
        Some(h)
    }

    /// The second step: the slot has arrived, so start fetching the
    /// compact record of the entry it names. The row's own lookup then
    /// finds both in the cache instead of waiting for memory twice (the
    /// SKU map of a large campaign is larger than the caches).
    pub fn prefetch_entry(&self, hash: u64) {
        let slot = self.short.slots.get(hash as usize & self.short.mask);
        if let Some(h) = slot.and_then(|&i| self.hot.get(i as usize)) {
            prefetch(h);
        }
    }

    /// An entry's pack size, product and supplier, from the compact copy.
    pub fn hot(&self, i: u32) -> &Hot {
        &self.hot[i as usize]
    }

    pub fn get(&self, supplier: &str, sku: &str) -> Option<&SkuEntry> {
        self.lookup(supplier, sku)
            .map(|i| &self.entries[i as usize])
    }

    pub fn entry(&self, i: u32) -> &SkuEntry {
        &self.entries[i as usize]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Resolves each entry's product against the catalog.
    pub fn link(&mut self, catalog: &Catalog) {
        for (e, h) in self.entries.iter_mut().zip(&mut self.hot) {
            e.product = catalog.index(&e.product_id);
            h.product = e.product.unwrap_or(u32::MAX);
        }
    }
}

/// The table of entries whose keys pack: open addressing with linear
/// probing over entry indices (at most half full), each checked against
/// the entry's [`Hot`] record. A key's first slot follows from its hash
/// alone, so it can be fetched ahead of time (see
/// [`SkuMap::prefetch_slot`]).
#[derive(Debug, Clone, Default)]
struct Short {
    /// Entry indices, [`Short::EMPTY`] where none.
    slots: Vec<u32>,
    mask: usize,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Short {
    const EMPTY: u32 = u32::MAX;

    fn new(hot: &[Hot]) -> Short {
        let n = hot.iter().filter(|h| h.key.is_some()).count();
        let size = (n * 2).next_power_of_two().max(16);
        let mut t = Short {
            slots: vec![Short::EMPTY; size],
            mask: size - 1,
            hasher: hashbrown::DefaultHashBuilder::default(),
        };
        for (i, h) in hot.iter().enumerate() {
            if let Some(key) = h.key {
                let mut at = t.hash(key) as usize & t.mask;
                while t.slots[at] != Short::EMPTY {
                    at = (at + 1) & t.mask;
                }
                t.slots[at] = i as u32;
            }
        }
        t
    }

    fn hash(&self, key: (u128, u128)) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find(&self, key: (u128, u128), hot: &[Hot]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mut at = self.hash(key) as usize & self.mask;
        loop {
            let i = self.slots[at];
            if i == Short::EMPTY {
                return None;
            }
            if hot[i as usize].key == Some(key) {
                return Some(i);
            }
            at = (at + 1) & self.mask;
        }
    }
}

struct TableVisitor {
    source: Source,
    idx: Vec<Option<usize>>,
    extra: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
    problems: Vec<String>,
    records: u64,
}

impl Visitor for TableVisitor {
    fn header(&mut self, names: &[String]) -> Result<(), Problem> {
        let (idx, extra) = map_columns(&self.source, names, &[])?;
        self.idx = idx;
        self.extra = extra;
        Ok(())
    }

    fn record(&mut self, line: u64, _raw: &str, cells: &dyn Cells) {
        self.records += 1;
        let values = self
            .idx
            .iter()
            .map(|i| match i.map(|i| cells.get(i)) {
                Some(Cell::Text(s) | Cell::Number(s)) => s.trim().to_string(),
                Some(Cell::Int(i) | Cell::Instant(i)) => i.to_string(),
                Some(Cell::DateTime(d)) => d.to_string(),
                Some(Cell::Null) | None => String::new(),
            })
            .collect();
        self.rows.push((line, values));
    }

    fn broken(&mut self, line: u64, _raw: &str, reason: super::Reason, detail: String) {
        self.records += 1;
        self.problems
            .push(format!("line {line}: {reason}: {detail}"));
    }
}

fn read_table(source: &Source, bytes: &[u8]) -> Result<TableVisitor, Problem> {
    let mut v = TableVisitor {
        source: source.clone(),
        idx: Vec::new(),
        extra: Vec::new(),
        rows: Vec::new(),
        problems: Vec::new(),
        records: 0,
    };
    read::read(bytes, &source.dialect, &mut v)?;
    Ok(v)
}

/// The table's bad rows, if any: they fail the source, listed.
fn fail(problems: Vec<String>) -> Result<(), Problem> {
    if problems.is_empty() {
        return Ok(());
    }
    let total = problems.len();
    Err(Problem::BadRows {
        listed: problems.into_iter().take(MAX_LISTED).collect(),
        total,
    })
}

pub fn stage_catalog(source: &Source, bytes: &[u8]) -> Result<Catalog, Problem> {
    let mut v = read_table(source, bytes)?;
    let mut by_id: BTreeMap<String, (u64, Product)> = BTreeMap::new();
    let mut duplicates = 0;
    for (line, vals) in std::mem::take(&mut v.rows) {
        let [id, name, category] = <[String; 3]>::try_from(vals).expect("three catalog columns");
        if id.is_empty() {
            v.problems
                .push(format!("line {line}: missing field: `product_id` is empty"));
            continue;
        }
        if name.is_empty() {
            v.problems.push(format!(
                "line {line}: missing field: `product_name` of `{id}` is empty"
            ));
        }
        let product = Product {
            id: id.clone(),
            name,
            category,
        };
        match by_id.get(&id) {
            Some((_, p)) if *p == product => duplicates += 1,
            Some((first, _)) => v.problems.push(format!(
                "line {line}: product `{id}` is listed again with different values (first on line {first})"
            )),
            None => {
                by_id.insert(id, (line, product));
            }
        }
    }
    fail(v.problems)?;
    let products: Vec<Product> = by_id.into_values().map(|(_, p)| p).collect();
    let index = products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i as u32))
        .collect();
    Ok(Catalog {
        products,
        index,
        records: v.records,
        duplicates,
        extra_columns: v.extra,
    })
}

pub fn stage_sku_map(source: &Source, bytes: &[u8]) -> Result<SkuMap, Problem> {
    let mut v = read_table(source, bytes)?;
    let mut index: HashMap<(String, String), u32> = HashMap::new();
    let mut entries: Vec<SkuEntry> = Vec::new();
    let mut first_line: Vec<u64> = Vec::new();
    let mut duplicates = 0;
    for (line, vals) in std::mem::take(&mut v.rows) {
        let [supplier, sku, product, pack] =
            <[String; 4]>::try_from(vals).expect("four sku map columns");
        let mut missing = Vec::new();
        for (name, val) in [
            ("supplier_id", &supplier),
            ("supplier_sku", &sku),
            ("product_id", &product),
        ] {
            if val.is_empty() {
                missing.push(format!("`{name}`"));
            }
        }
        if !missing.is_empty() {
            v.problems.push(format!(
                "line {line}: missing field: {} empty",
                missing.join(", ")
            ));
            continue;
        }
        // A blank pack size means one unit per reported quantity (SPEC).
        let pack_size =
            match parse_quantity(&pack, source.dialect.decimal, source.dialect.thousands) {
                Ok(p) if p >= 1 => p,
                Err(NumberError::Missing) => 1,
                Ok(p) => {
                    v.problems.push(format!(
                        "line {line}: pack_size {p} of `{supplier}`/`{sku}` is below 1"
                    ));
                    continue;
                }
                Err(NumberError::Negative(p)) => {
                    v.problems.push(format!(
                        "line {line}: pack_size {p} of `{supplier}`/`{sku}` is below 1"
                    ));
                    continue;
                }
                Err(NumberError::Bad(why)) => {
                    v.problems.push(format!(
                        "line {line}: bad number: pack_size `{pack}` of `{supplier}`/`{sku}` {why}"
                    ));
                    continue;
                }
            };
        match index.get(&Key(&supplier, &sku)).map(|&i| i as usize) {
            Some(i) if entries[i].product_id == product && entries[i].pack_size == pack_size => {
                duplicates += 1
            }
            Some(i) => {
                v.problems.push(format!(
                    "line {line}: `{supplier}`/`{sku}` is mapped again with a different product or pack size (first on line {first})",
                    first = first_line[i]
                ));
            }
            None => {
                index.insert((supplier.clone(), sku.clone()), entries.len() as u32);
                first_line.push(line);
                entries.push(SkuEntry {
                    supplier_id: supplier,
                    supplier_sku: sku,
                    product_id: product,
                    pack_size,
                    product: None,
                    supplier: 0,
                });
            }
        }
    }
    fail(v.problems)?;
    let mut suppliers: Vec<String> = entries.iter().map(|e| e.supplier_id.clone()).collect();
    suppliers.sort();
    suppliers.dedup();
    for e in &mut entries {
        e.supplier = suppliers
            .binary_search(&e.supplier_id)
            .expect("every entry's supplier is listed") as u32;
    }
    let hot: Vec<Hot> = entries
        .iter()
        .map(|e| Hot {
            key: pack15(&e.supplier_id).zip(pack15(&e.supplier_sku)),
            pack_size: e.pack_size,
            product: e.product.unwrap_or(u32::MAX),
            supplier: e.supplier,
        })
        .collect();
    let short = Short::new(&hot);
    Ok(SkuMap {
        entries,
        suppliers,
        index,
        short,
        hot,
        records: v.records,
        duplicates,
        extra_columns: v.extra,
        ranks: Default::default(),
    })
}

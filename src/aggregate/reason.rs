//! The `reason` column: why a product is or is not ready, in plain words.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::pipeline::{Campaign, Language};

/// `n` with its digits grouped by three: `1,080,000` in English,
/// `1.080.000` in Indonesian.
pub fn grouped(n: i64, language: Language) -> String {
    let sep = match language {
        Language::En => ',',
        Language::Id => '.',
    };
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A date as people write it: `2026-12-01`, or `1 Desember 2026`.
pub fn date_words(d: chrono::NaiveDate, language: Language) -> String {
    use chrono::Datelike;
    const BULAN: [&str; 12] = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ];
    match language {
        Language::En => d.to_string(),
        Language::Id => format!("{} {} {}", d.day(), BULAN[d.month0() as usize], d.year()),
    }
}

/// The sentences of a reason, in one language.
struct Phrases {
    language: Language,
}

impl Phrases {
    fn n(&self, n: i64) -> String {
        grouped(n, self.language)
    }

    fn d(&self, d: chrono::NaiveDate) -> String {
        date_words(d, self.language)
    }

    fn no_supplier(&self, m: i64) -> String {
        match self.language {
            Language::En => format!(
                "no supplier offers it: no stock and no shipments (minimum {})",
                self.n(m)
            ),
            Language::Id => format!(
                "tidak ada pemasok: tanpa stok dan tanpa pengiriman (minimum {})",
                self.n(m)
            ),
        }
    }

    fn stock_short(&self, stock: i64, m: i64) -> String {
        let (s, short, m) = (self.n(stock), self.n(m - stock), self.n(m));
        match self.language {
            Language::En => format!("stock {s}: {short} short of the {m} minimum"),
            Language::Id => format!("stok {s}: kurang {short} dari minimum {m}"),
        }
    }

    fn window_short(&self, window: i64, m: i64, c: &Campaign) -> String {
        let (w, short, o, cl) = (
            self.n(window),
            self.n(m - window),
            self.d(c.opens),
            self.d(c.closes),
        );
        match self.language {
            Language::En => format!("{w} units arrive in the window ({o} to {cl}): {short} short"),
            Language::Id => format!("{w} unit tiba dalam jendela ({o} s.d. {cl}): kurang {short}"),
        }
    }

    fn late(&self, late: i64, c: &Campaign) -> String {
        let (l, cl) = (self.n(late), self.d(c.closes));
        match self.language {
            Language::En => {
                format!("; {l} units arrive after the window closes on {cl} or have no ETA")
            }
            Language::Id => {
                format!("; {l} unit tiba setelah jendela ditutup pada {cl} atau tanpa ETA")
            }
        }
    }

    fn early(&self, early: i64, c: &Campaign) -> String {
        let (e, o) = (self.n(early), self.d(c.opens));
        match self.language {
            Language::En => format!("; {e} units arrive before it opens on {o}"),
            Language::Id => format!("; {e} unit tiba sebelum jendela dibuka pada {o}"),
        }
    }

    fn ready(&self, stock: i64, window: i64, m: i64) -> String {
        let (s, w, m) = (self.n(stock), self.n(window), self.n(m));
        match self.language {
            Language::En => format!("ready: stock {s} and {w} units in the window, minimum {m}"),
            Language::Id => format!("siap: stok {s} dan {w} unit dalam jendela, minimum {m}"),
        }
    }
}

/// The reason column: why a product is or is not ready, in plain words.
pub fn reasons(df: &DataFrame, campaign: &Campaign, language: Language) -> Result<Vec<String>> {
    let col = |name: &str| -> Result<Vec<i64>> {
        Ok(df
            .column(name)
            .and_then(|c| c.i64().cloned())
            .map_err(|e| Error::polars("reading readiness")(e))?
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect())
    };
    let (suppliers, stock, window, early, late) = (
        col("suppliers")?,
        col("stock_units")?,
        col("window_units")?,
        col("early_units")?,
        col("late_units")?,
    );
    let m = campaign.minimum_units;
    let say = Phrases { language };
    let mut out = Vec::with_capacity(stock.len());
    for i in 0..stock.len() {
        if suppliers[i] == 0 {
            out.push(say.no_supplier(m));
            continue;
        }
        let mut parts = Vec::new();
        if stock[i] < m {
            parts.push(say.stock_short(stock[i], m));
        }
        if window[i] < m {
            let mut p = say.window_short(window[i], m, campaign);
            if late[i] > 0 {
                p.push_str(&say.late(late[i], campaign));
            }
            if early[i] > 0 {
                p.push_str(&say.early(early[i], campaign));
            }
            parts.push(p);
        }
        if parts.is_empty() {
            out.push(say.ready(stock[i], window[i], m));
        } else {
            out.push(parts.join("; "));
        }
    }
    Ok(out)
}

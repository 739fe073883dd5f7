//! The `reason` column: why a product is or is not ready, in plain words.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::pipeline::Campaign;

fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The reason column: why a product is or is not ready, in plain words.
pub fn reasons(df: &DataFrame, campaign: &Campaign) -> Result<Vec<String>> {
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
    let mut out = Vec::with_capacity(stock.len());
    for i in 0..stock.len() {
        if suppliers[i] == 0 {
            out.push(format!(
                "no supplier offers it: no stock and no shipments (minimum {})",
                thousands(m)
            ));
            continue;
        }
        let mut parts = Vec::new();
        if stock[i] < m {
            parts.push(format!(
                "stock {}: {} short of the {} minimum",
                thousands(stock[i]),
                thousands(m - stock[i]),
                thousands(m)
            ));
        }
        if window[i] < m {
            let mut p = format!(
                "{} units arrive in the window ({} to {}): {} short",
                thousands(window[i]),
                campaign.opens,
                campaign.closes,
                thousands(m - window[i])
            );
            if late[i] > 0 {
                p.push_str(&format!(
                    "; {} units arrive after the window closes on {} or have no ETA",
                    thousands(late[i]),
                    campaign.closes
                ));
            }
            if early[i] > 0 {
                p.push_str(&format!(
                    "; {} units arrive before it opens on {}",
                    thousands(early[i]),
                    campaign.opens
                ));
            }
            parts.push(p);
        }
        if parts.is_empty() {
            out.push(format!(
                "ready: stock {} and {} units in the window, minimum {}",
                thousands(stock[i]),
                thousands(window[i]),
                thousands(m)
            ));
        } else {
            out.push(parts.join("; "));
        }
    }
    Ok(out)
}

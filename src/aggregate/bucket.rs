//! Where each latest shipment lands relative to the delivery window.
//!
//! The ETA's *date as written* is compared with the window's calendar days,
//! both ends inclusive. Cancelled shipments land nowhere. An arrived
//! shipment without an ETA lands nowhere either (we cannot say when it
//! arrived); any other shipment without an ETA is late: nobody has
//! promised it inside the window.

use chrono::NaiveDate;

use crate::model::Status;
use crate::pipeline::Campaign;
use crate::rules::Resolved;
use crate::stage::SkuMap;

/// Where a shipment lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// ETA before the window opens.
    Early,
    /// ETA inside the window: these units count toward the minimum.
    InWindow,
    /// ETA after the window closes.
    Late,
    /// No ETA and not arrived.
    NoEta,
    /// Arrived, but without an ETA: no date to place it by.
    ArrivedNoEta,
    Cancelled,
}

/// The unit sums a bucket adds to (`window_units`, `early_units`,
/// `late_units`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sum {
    Window = 0,
    Early = 1,
    Late = 2,
}

impl Bucket {
    /// Every bucket, in declaration order: `Bucket::ALL[b as usize] == b`.
    pub const ALL: [Bucket; 6] = [
        Bucket::Early,
        Bucket::InWindow,
        Bucket::Late,
        Bucket::NoEta,
        Bucket::ArrivedNoEta,
        Bucket::Cancelled,
    ];

    pub fn of(status: Status, eta: Option<NaiveDate>, campaign: &Campaign) -> Bucket {
        match (status, eta) {
            (Status::Cancelled, _) => Bucket::Cancelled,
            (Status::Arrived, None) => Bucket::ArrivedNoEta,
            (_, None) => Bucket::NoEta,
            (_, Some(d)) if d < campaign.opens => Bucket::Early,
            (_, Some(d)) if d > campaign.closes => Bucket::Late,
            _ => Bucket::InWindow,
        }
    }

    /// The word in the shipments table.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Early => "early",
            Bucket::InWindow => "in_window",
            Bucket::Late => "late",
            Bucket::NoEta => "no_eta",
            Bucket::ArrivedNoEta => "arrived_no_eta",
            Bucket::Cancelled => "cancelled",
        }
    }

    /// Which unit sum the bucket's units count in, if any. A shipment
    /// with no ETA that has not arrived is late: nobody has promised it
    /// inside the window.
    pub fn sum(self) -> Option<Sum> {
        match self {
            Bucket::InWindow => Some(Sum::Window),
            Bucket::Early => Some(Sum::Early),
            Bucket::Late | Bucket::NoEta => Some(Sum::Late),
            Bucket::ArrivedNoEta | Bucket::Cancelled => None,
        }
    }
}

/// Per (product, supplier) with a non-cancelled latest shipment: the units
/// in the window, before it and after it (no ETA counts as after). Sorted.
pub fn shipment_sums(
    sku_map: &SkuMap,
    resolved: &Resolved,
    campaign: &Campaign,
) -> Vec<((u32, u32), [i64; 3])> {
    // The shipments are in (product, supplier) order: one pass, a row per
    // run of equal keys.
    let mut sums: Vec<((u32, u32), [i64; 3])> = Vec::new();
    for s in &resolved.shipments {
        let b = Bucket::of(s.status, s.eta, campaign);
        if b == Bucket::Cancelled {
            // Cancelled shipments deliver nothing and do not make a supplier count.
            continue;
        }
        let key = (s.product, s.supplier(sku_map));
        if sums.last().is_none_or(|(k, _)| *k != key) {
            debug_assert!(sums.last().is_none_or(|(k, _)| *k < key));
            sums.push((key, [0; 3]));
        }
        let e = &mut sums.last_mut().expect("pushed above").1;
        if let Some(slot) = b.sum() {
            e[slot as usize] += s.units(sku_map);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status with and without an ETA, before, inside and after the
    /// window: the SPEC's buckets and the sums they count in.
    #[test]
    fn every_shipment_lands_in_its_bucket() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 12, day).unwrap();
        let campaign = Campaign {
            name: "c".into(),
            minimum_units: 1,
            opens: d(3),
            closes: d(5),
            timezone: chrono_tz::Asia::Jakarta,
        };
        for status in Status::ALL {
            for (eta, want) in [
                (Some(d(2)), Bucket::Early),
                (Some(d(3)), Bucket::InWindow),
                (Some(d(5)), Bucket::InWindow),
                (Some(d(6)), Bucket::Late),
                (None, Bucket::NoEta),
            ] {
                let want = match (status, eta) {
                    (Status::Cancelled, _) => Bucket::Cancelled,
                    (Status::Arrived, None) => Bucket::ArrivedNoEta,
                    _ => want,
                };
                assert_eq!(
                    Bucket::of(status, eta, &campaign),
                    want,
                    "{status:?} {eta:?}"
                );
            }
        }
        assert_eq!(Bucket::NoEta.sum(), Some(Sum::Late));
        assert_eq!(Bucket::ArrivedNoEta.sum(), None);
        assert_eq!(Bucket::Cancelled.sum(), None);
    }
}

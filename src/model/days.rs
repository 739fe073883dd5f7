//! Dates as day numbers: days since 1970-01-01, the physical form of a
//! Parquet or polars `Date`.

use chrono::NaiveDate;

/// Days from 0001-01-01 (day 1 of chrono's common era count) to
/// 1970-01-01.
pub const EPOCH_FROM_CE: i32 = 719_163;

/// Days since 1970-01-01, the physical form of a polars `Date`: one
/// subtraction per date (this runs for every staged shipment date).
pub fn epoch_days(d: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    d.num_days_from_ce() - EPOCH_FROM_CE
}

/// The date of a day number (`None` out of chrono's range).
pub fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(EPOCH_FROM_CE)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The day count is the distance from 1970-01-01, before and after it.
    #[test]
    fn epoch_days_count_from_1970() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(epoch_days(epoch), 0);
        let mut d = NaiveDate::from_ymd_opt(1600, 2, 27).unwrap();
        while d < NaiveDate::from_ymd_opt(2400, 3, 2).unwrap() {
            assert_eq!(epoch_days(d) as i64, (d - epoch).num_days(), "{d}");
            d = d + chrono::Days::new(13);
        }
    }
}

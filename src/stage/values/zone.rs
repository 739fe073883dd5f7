//! Wall-clock time in the campaign's timezone → UTC, by lookup.
//!
//! A timezone's offset changes a few times a year at most, so the offset
//! of each local hour is found once (with chrono-tz) and kept: a
//! timestamp without an offset then costs a division and a comparison
//! instead of a search of the zone's transitions. An hour a transition
//! falls in (whose start and end do not both map to one instant each,
//! with the same offset) is never kept: its timestamps go to chrono-tz
//! one by one, so the SPEC's rules hold exactly as before (a repeated
//! hour takes the earlier instant; a skipped one is a bad date).

use chrono::{DateTime, LocalResult, Offset, TimeZone};
use chrono_tz::Tz;

use crate::model::{HourOffsets, IRREGULAR};

/// The offsets of the local hours seen, by hour (direct-mapped).
#[derive(Debug, Clone)]
pub(super) struct Zone {
    tz: Tz,
    /// By local hour.
    offsets: HourOffsets,
}

impl Zone {
    pub fn new(tz: Tz) -> Zone {
        Zone {
            tz,
            offsets: HourOffsets::default(),
        }
    }

    /// The UTC second of a wall-clock second (counted from the epoch as
    /// if it were UTC), or `None` when its hour has a transition in it
    /// (chrono-tz then decides).
    #[inline]
    pub fn utc(&self, local: i64) -> Option<i64> {
        let hour = local.div_euclid(3600);
        let offset = self.offsets.get(hour, |h| self.offset_of_hour(h));
        (offset != IRREGULAR).then(|| local - i64::from(offset))
    }

    /// The offset all through a local hour, or [`IRREGULAR`].
    #[cold]
    fn offset_of_hour(&self, hour: i64) -> i32 {
        let offset_at = |secs: i64| {
            let wall = DateTime::from_timestamp(secs, 0)?.naive_utc();
            match self.tz.from_local_datetime(&wall) {
                LocalResult::Single(t) => Some(t.offset().fix().local_minus_utc()),
                _ => None,
            }
        };
        let start = hour.checked_mul(3600).and_then(offset_at);
        let end = hour.checked_mul(3600).and_then(|s| offset_at(s + 3599));
        match (start, end) {
            (Some(a), Some(b)) if a == b => a,
            _ => IRREGULAR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    /// chrono-tz's answer under the SPEC's rules: the earlier instant of a
    /// repeated time, none for a skipped one.
    fn chrono_utc(tz: Tz, local: i64) -> Option<i64> {
        let wall: NaiveDateTime = DateTime::from_timestamp(local, 0).unwrap().naive_utc();
        match tz.from_local_datetime(&wall) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp()),
            LocalResult::None => None,
        }
    }

    /// Every few minutes of two years, in zones with every kind of
    /// transition (an hour forward and back, half an hour, at midnight, a
    /// whole day skipped, none at all): the lookup gives chrono-tz's
    /// instant or leaves the time to it, and leaves only transition hours.
    #[test]
    fn lookups_agree_with_chrono_tz() {
        let zones = [
            chrono_tz::Asia::Jakarta,
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::Pacific::Apia,
            chrono_tz::America::Havana,
            chrono_tz::UTC,
        ];
        let from = NaiveDateTime::parse_from_str("2010-06-01 00:00", "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp();
        for tz in zones {
            let zone = Zone::new(tz);
            let mut left = std::collections::BTreeSet::new();
            let mut local = from;
            let mut step = 0i64;
            while local < from + 2 * 366 * 86_400 {
                match zone.utc(local) {
                    Some(utc) => assert_eq!(Some(utc), chrono_utc(tz, local), "{tz} {local}"),
                    None => {
                        left.insert(local.div_euclid(3600));
                    }
                }
                step = (step * 7 + 13) % 600;
                local += 300 + step;
            }
            // Only the hours of transitions (and Samoa's missing day) go
            // to chrono-tz.
            assert!(
                left.len() <= 32,
                "{tz}: {} hours left to chrono-tz",
                left.len()
            );
        }
        // 2011-12-30 did not happen in Samoa: not a time.
        let zone = Zone::new(chrono_tz::Pacific::Apia);
        let skipped = NaiveDateTime::parse_from_str("2011-12-30 12:00", "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp();
        assert_eq!(zone.utc(skipped), None);
        assert_eq!(chrono_utc(chrono_tz::Pacific::Apia, skipped), None);
    }
}

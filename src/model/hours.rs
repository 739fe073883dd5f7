//! A timezone's offsets kept by hour. An offset changes a few times a
//! year at most, so each hour's is found once (by chrono-tz) and looked up
//! after: local time to instants when staging, instants to local text when
//! publishing.

use std::cell::Cell;

/// Hours kept: a campaign's timestamps span weeks, a few hundred hours.
const SLOTS: usize = 1024;

/// The offset of an hour chrono-tz decides value by value (a transition
/// falls in it).
pub const IRREGULAR: i32 = i32::MIN;

/// Offsets in seconds east of UTC (or [`IRREGULAR`]) by hour since the
/// epoch, direct-mapped.
#[derive(Debug, Clone)]
pub struct HourOffsets {
    /// (hour, its offset).
    slots: Box<[Cell<(i64, i32)>]>,
}

impl Default for HourOffsets {
    fn default() -> Self {
        HourOffsets {
            slots: (0..SLOTS).map(|_| Cell::new((i64::MIN, 0))).collect(),
        }
    }
}

impl HourOffsets {
    /// The offset of `hour`: kept, or found by `find` and kept.
    #[inline]
    pub fn get(&self, hour: i64, find: impl FnOnce(i64) -> i32) -> i32 {
        let slot = &self.slots[hour.rem_euclid(SLOTS as i64) as usize];
        let (kept, offset) = slot.get();
        if kept == hour {
            return offset;
        }
        let offset = find(hour);
        slot.set((hour, offset));
        offset
    }
}

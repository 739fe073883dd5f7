//! The vocabulary every phase shares: shipment statuses, why a record was
//! rejected (and the rejected row), a quality gate's outcome, dates as
//! day numbers, a zone's offsets by hour, a source's raw copy. Types only:
//! no phase logic lives here.

mod days;
mod exception;
mod gate;
mod hours;
mod raw;
mod status;

pub use days::{EPOCH_FROM_CE, date_of, epoch_days};
pub use exception::{Exception, Reason, Rejection};
pub use gate::{GateResult, Gates, Level};
pub use hours::{HourOffsets, IRREGULAR};
pub use raw::RawCopy;
pub use status::{Status, fold};

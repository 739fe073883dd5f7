//! The vocabulary every phase shares: shipment statuses, why a record was
//! rejected (and the rejected row), a quality gate's outcome, dates as
//! day numbers. Types only:
//! no phase logic lives here.

mod days;
mod exception;
mod gate;
mod status;

pub use days::{EPOCH_FROM_CE, date_of, epoch_days};
pub use exception::{Exception, Reason};
pub use gate::{GateResult, Level};
pub use status::{Status, fold};

//! The exceptions table as a frame.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::stage::Exception;

pub fn exceptions_frame(exceptions: &[Exception]) -> Result<DataFrame> {
    df! {
        "source" => exceptions.iter().map(|e| e.source.as_str()).collect::<Vec<_>>(),
        "supplier_id" => exceptions.iter().map(|e| e.supplier_id.as_str()).collect::<Vec<_>>(),
        "product_id" => exceptions.iter().map(|e| e.product_id.as_str()).collect::<Vec<_>>(),
        "line" => exceptions.iter().map(|e| e.line).collect::<Vec<_>>(),
        "field" => exceptions.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        "reason" => exceptions.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
        "detail" => exceptions.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
        "raw" => exceptions.iter().map(|e| e.raw.as_str()).collect::<Vec<_>>(),
    }
    .map_err(|e| Error::polars("building the exceptions table")(e))
}

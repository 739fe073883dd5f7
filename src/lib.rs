//! siap ("ready" in Indonesian): a batch pipeline that tells a marketplace
//! campaign which products are ready to sell.
//!
//! A run walks every source through four stages:
//!
//! 1. [`fetch`]: a source's location (file or URL) → bytes and checksum;
//! 2. [`stage`]: bytes + the feed's dialect → canonical, validated rows,
//!    with every rejected record kept as an exception;
//! 3. [`aggregate`]: the latest rows → per-product and per-supplier totals
//!    (polars);
//! 4. [`publish`]: tables → CSV, Parquet and a manifest, atomically.
//!
//! [`pipeline`] reads the pipeline file; [`run`] ties the stages together.

pub mod aggregate;
pub mod cli;
pub mod error;
pub mod fetch;
pub mod gates;
pub mod generate;
pub mod history;
pub mod inspect;
pub mod model;
pub mod pipeline;
pub mod publish;
pub mod rules;
pub mod run;
pub mod stage;
pub mod sys;
pub mod workdir;

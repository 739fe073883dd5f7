//! siap ("ready" in Indonesian): a batch pipeline that tells a marketplace
//! campaign which products are ready to sell.
//!
//! A run is a chain of phases, each a function whose output is the next
//! one's input (values, and files in the run's folder); none reaches back:
//!
//! 1. [`fetch`]: each source's location (file or URL) → a raw copy;
//! 2. [`stage`]: raw copies + dialects → the reference tables, and each
//!    feed's validated canonical rows (a staged Parquet copy, key
//!    partitions), every rejected record kept as an exception;
//! 3. [`rules`]: the partitions → the latest row per key, exact and
//!    conflicting duplicates, across feeds;
//! 4. [`gates`]: per-source quality checks;
//! 5. [`aggregate`]: the latest rows → per-product and per-supplier
//!    totals, flags and reasons (polars);
//! 6. [`publish`]: tables → CSV, Parquet, XLSX and a manifest.
//!
//! The distributed path (`plan` → `stage` → `resolve` → `finish`) runs
//! the same phases as separate tasks, the rules as SQL: [`split`].
//!
//! [`commands`] holds one file per verb (`run` tells the story above);
//! [`pipeline`] reads the pipeline file; [`workdir`] owns the work
//! directory (lock, run folders, past runs); [`model`] is the vocabulary
//! the phases share, [`sys`] the machine they run on, [`error`] how
//! failures are named and which exit code they give.
//!
//! Modules depend one way (`tests/layers.rs` checks it): `error`, `model`,
//! `cli` ← `sys` ← `pipeline` ← `workdir` ← `fetch`, `stage` ← `rules` ←
//! `gates`, `aggregate`, `split` ← `publish` ← `commands`.

pub mod aggregate;
pub mod cli;
pub mod commands;
pub mod error;
pub mod fetch;
pub mod gates;
pub mod model;
pub mod pipeline;
pub mod publish;
pub mod rules;
pub mod split;
pub mod stage;
pub mod sys;
pub mod workdir;

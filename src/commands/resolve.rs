//! `siap resolve`: the keyed rules over a staged flight, as SQL on
//! DataFusion, in this process (`--engine local`) or on a Ballista cluster
//! (`--engine df://HOST:PORT`). Needs every feed staged; writes the
//! rules' results to `resolved/`, then `resolved/done.json`. Resolving
//! again replaces the results with the same rows.
//!
//! Built only with the `distributed` feature (DataFusion and Ballista are
//! large); without it the command says how to get it.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::split::{self, Flight};

use super::plan::flight_error;

pub struct ResolveArgs {
    pub work_dir: PathBuf,
    pub run_id: String,
    /// `local` or `df://HOST:PORT`.
    pub engine: String,
    pub partitions: usize,
}

/// What `resolve` did, as `resolved/done.json` records it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Resolution {
    pub rules_version: u32,
    pub run_id: String,
    pub engine: String,
    pub partitions: usize,
    /// Rows the rules read (every feed's keyed rows).
    pub rows_in: u64,
    pub outputs: Vec<(String, u64)>,
    pub ms: u64,
}

pub fn resolve(args: &ResolveArgs) -> Result<Resolution> {
    if let Some(url) = split::remote::url_of(&args.work_dir) {
        return super::on_store::resolve(args, url);
    }
    resolve_flight(&Flight::new(&args.work_dir, &args.run_id), args)
}

/// Resolves `flight` (whose keyed rows may be read from object storage).
pub fn resolve_flight(flight: &Flight, args: &ResolveArgs) -> Result<Resolution> {
    let flight = flight.clone();
    let plan = super::plan::load_plan(&flight, &args.run_id)?;
    super::plan::check_rules(&plan)?;
    let rows_in = super::plan::task_records(&flight, &plan)?
        .iter()
        .map(|t| t.keyed_rows)
        .sum();
    let started = std::time::Instant::now();
    let outputs = run_rules(&flight, &args.engine, args.partitions)?;
    let done = Resolution {
        rules_version: split::RULES_VERSION,
        run_id: plan.run_id.clone(),
        engine: args.engine.clone(),
        partitions: args.partitions,
        rows_in,
        outputs,
        ms: started.elapsed().as_millis() as u64,
    };
    let _ = std::fs::remove_file(flight.resolved_done());
    split::write_json(&done, &flight.resolved_done()).map_err(|e| flight_error(&flight, e))?;
    tracing::info!(run_id = %plan.run_id, engine = %args.engine, rows_in, ms = done.ms, "Resolved the flight.");
    Ok(done)
}

#[cfg(feature = "distributed")]
fn run_rules(flight: &Flight, engine: &str, partitions: usize) -> Result<Vec<(String, u64)>> {
    let engine: split::engine::Engine = engine.parse().map_err(Error::Usage)?;
    // The engine is async (and Ballista's client is gRPC): a runtime of
    // its own, with no polars on it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the rules' runtime: {e}")))?;
    let outputs = runtime
        .block_on(split::engine::resolve(flight, &engine, partitions))
        .map_err(|e| Error::Internal(format!("the rules failed on `{engine:?}`: {e}")))?;
    Ok(outputs.into_iter().map(|o| (o.name, o.rows)).collect())
}

#[cfg(not(feature = "distributed"))]
fn run_rules(_: &Flight, _: &str, _: usize) -> Result<Vec<(String, u64)>> {
    Err(Error::Usage(
        "this siap was built without the `distributed` feature, which `siap resolve` needs: \
         cargo build --release --features distributed"
            .into(),
    ))
}

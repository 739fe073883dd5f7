//! The keyed rules ([`super::RULES_SQL`]) on Apache DataFusion: in this
//! process (`local`), or on a Ballista cluster (`df://host:port`), whose
//! executors read the flight's keyed rows and shuffle them by key. The
//! results are streamed here and written to `resolved/`.

use std::sync::Arc;

use futures_util::StreamExt;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::SessionStateBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

use super::Flight;
use crate::pipeline::SourceKind;

/// Where the rules run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process.
    Local,
    /// A Ballista scheduler (`df://host:port`).
    Cluster(String),
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Engine::Local),
            url if url.starts_with("df://") => Ok(Engine::Cluster(url.to_string())),
            other => Err(format!(
                "`{other}` is not an engine: `local`, or a Ballista scheduler as `df://HOST:PORT`"
            )),
        }
    }
}

/// What one output of the rules came to.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Output {
    pub name: String,
    pub rows: u64,
}

/// The statements of the rules: views to create, and named outputs.
pub fn statements(sql: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut name = None;
    let mut text = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if let Some(n) = trimmed.strip_prefix("-- output:") {
            name = Some(n.trim().to_string());
            continue;
        }
        if trimmed.starts_with("--") {
            continue;
        }
        text.push_str(line);
        text.push('\n');
        if trimmed.ends_with(';') {
            let statement = text.trim().trim_end_matches(';').to_string();
            out.push((name.take(), statement));
            text.clear();
        }
    }
    out
}

fn stock_schema() -> Schema {
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    Schema::new(vec![
        i("feed"),
        i("line"),
        i("span_offset"),
        i("span_len"),
        i("sku"),
        s("supplier_id"),
        s("supplier_sku"),
        s("warehouse"),
        s("product_id"),
        i("pack_size"),
        i("quantity"),
        i("as_of"),
    ])
}

fn shipment_schema() -> Schema {
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    Schema::new(vec![
        i("feed"),
        i("line"),
        i("span_offset"),
        i("span_len"),
        i("sku"),
        s("supplier_id"),
        s("product_id"),
        i("pack_size"),
        s("provider"),
        s("shipment_id"),
        i("quantity"),
        s("status"),
        Field::new("etd_day", DataType::Int64, true),
        Field::new("eta_day", DataType::Int64, true),
        i("updated_at"),
    ])
}

type Failed = Box<dyn std::error::Error + Send + Sync>;

async fn context(engine: &Engine, partitions: usize) -> Result<SessionContext, Failed> {
    match engine {
        Engine::Local => Ok(SessionContext::new_with_config_rt(
            SessionConfig::new().with_target_partitions(partitions),
            super::stores::runtime(None)?,
        )),
        Engine::Cluster(url) => {
            use ballista::prelude::{SessionConfigExt, SessionContextExt};
            // The static planner: Ballista 55's adaptive one cannot
            // recover a job whose executor dies (the job hangs, see
            // docs/distributed.md); the static one reruns the lost tasks.
            let config = SessionConfig::new_with_ballista()
                .with_target_partitions(partitions)
                .with_ballista_adaptive_query_planner(false)
                .with_ballista_job_name("siap resolve");
            // The client reads the tables' schemas and files too.
            let state = SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(super::stores::runtime(None)?)
                .with_default_features()
                .build();
            Ok(SessionContext::remote_with_state(url, state).await?)
        }
    }
}

/// Runs the rules over the flight's keyed rows with `partitions` target
/// partitions; writes each output to `resolved/<name>.parquet` (beside
/// its place first, then moved in).
pub async fn resolve(
    flight: &Flight,
    engine: &Engine,
    partitions: usize,
) -> Result<Vec<Output>, Failed> {
    let ctx = context(engine, partitions.max(1)).await?;
    for (table, kind, schema) in [
        ("stock_rows", SourceKind::Stock, stock_schema()),
        ("shipment_rows", SourceKind::Shipments, shipment_schema()),
    ] {
        let url = flight.keyed_table(kind)?;
        let options = ParquetReadOptions::default().schema(&schema);
        ctx.register_parquet(table, &url, options).await?;
    }
    let scratch = flight.scratch("resolve");
    std::fs::create_dir_all(&scratch)?;
    let mut outputs = Vec::new();
    for (name, statement) in statements(super::RULES_SQL) {
        let df = ctx.sql(&statement).await?;
        let Some(name) = name else {
            df.collect().await?;
            continue;
        };
        // Written as the batches arrive: the client holds one at a time,
        // not the whole output (the latest shipments are millions of rows).
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut batches = df.execute_stream().await?;
        let tmp = scratch.join(format!("{name}.parquet"));
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&tmp)?, schema, None)?;
        let mut rows = 0u64;
        while let Some(b) = batches.next().await {
            let b = b?;
            rows += b.num_rows() as u64;
            writer.write(&b)?;
        }
        writer.close()?;
        std::fs::create_dir_all(flight.dir().join("resolved"))?;
        std::fs::rename(&tmp, flight.resolved(&name))?;
        tracing::info!(stage = "resolve", output = %name, rows, "Wrote a result of the rules.");
        outputs.push(Output { name, rows });
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_file_has_two_views_and_every_output_finish_reads() {
        let s = statements(crate::split::RULES_SQL);
        let views: Vec<_> = s.iter().filter(|(n, _)| n.is_none()).collect();
        assert_eq!(views.len(), 2);
        assert!(views.iter().all(|(_, v)| v.starts_with("CREATE VIEW")));
        let names: Vec<_> = s.iter().filter_map(|(n, _)| n.clone()).collect();
        assert_eq!(names, crate::split::keyed::OUTPUTS);
    }
}

//! `siap cluster scheduler|executor`: a Ballista cluster's processes from
//! this binary (see [`crate::split::cluster`]).

use crate::cli::ClusterRole;
use crate::error::{Error, Result};

#[cfg(feature = "distributed")]
pub fn serve(role: &ClusterRole) -> Result<()> {
    use crate::split::cluster;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the cluster's runtime: {e}")))?;
    let served = match role {
        ClusterRole::Scheduler { bind } => {
            tracing::info!(%bind, "Starting a Ballista scheduler.");
            runtime.block_on(cluster::scheduler(*bind))
        }
        ClusterRole::Executor {
            scheduler,
            bind,
            external_host,
            work_dir,
            vcores,
        } => {
            tracing::info!(%scheduler, %bind, "Starting a Ballista executor.");
            runtime.block_on(cluster::executor(cluster::ExecutorArgs {
                scheduler: scheduler.clone(),
                bind: *bind,
                external_host: external_host.clone(),
                work_dir: work_dir.as_ref().map(|d| d.display().to_string()),
                vcores: *vcores,
            }))
        }
    };
    served.map_err(|e| Error::Internal(format!("the cluster process failed: {e}")))
}

#[cfg(not(feature = "distributed"))]
pub fn serve(_: &ClusterRole) -> Result<()> {
    Err(Error::Usage(
        "this siap was built without the `distributed` feature, which `siap cluster` needs: \
         cargo build --release --features distributed"
            .into(),
    ))
}

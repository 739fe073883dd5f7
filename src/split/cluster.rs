//! A Ballista cluster from the `siap` binary itself (`siap cluster
//! scheduler`, `siap cluster executor`): Ballista's own scheduler and
//! executor processes, so a machine that has siap needs nothing else to
//! run `siap resolve --engine df://HOST:PORT` against (tests start one
//! scheduler and two executors on 127.0.0.1). Production clusters may run
//! Ballista's released images instead: the rules are plain SQL.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;

type Failed = Box<dyn std::error::Error + Send + Sync>;

/// Runs a scheduler on `bind` until the process is stopped.
pub async fn scheduler(bind: SocketAddr) -> Result<(), Failed> {
    let config = SchedulerConfig::default()
        .with_hostname(bind.ip().to_string())
        .with_port(bind.port());
    // Ballista's own session, reading flights on object storage too.
    let sessions: ballista_scheduler::scheduler_server::SessionBuilder = Arc::new(|config| {
        let state = ballista_core::utils::default_session_builder(config)?;
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(super::stores::runtime(None)?)
            .build())
    });
    let config = SchedulerConfig {
        override_session_builder: Some(sessions),
        bind_host: bind.ip().to_string(),
        // An executor silent for 10 s is dead: its tasks run elsewhere.
        executor_timeout_seconds: 10,
        expire_dead_executor_interval_seconds: 2,
        ..config
    };
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, bind, Arc::new(config)).await?;
    Ok(())
}

/// What an executor needs to be told.
pub struct ExecutorArgs {
    /// The scheduler, `HOST:PORT`.
    pub scheduler: String,
    /// Its Arrow Flight port (shuffle data); the gRPC port is the next one.
    pub bind: SocketAddr,
    /// The host others reach it at; default: the bind address.
    pub external_host: Option<String>,
    /// Where it keeps shuffle files.
    pub work_dir: Option<String>,
    /// Tasks at once; default: the machine's cores.
    pub vcores: Option<usize>,
}

/// Runs an executor until the process is stopped.
pub async fn executor(args: ExecutorArgs) -> Result<(), Failed> {
    let defaults = ExecutorProcessConfig::default();
    let (host, port) = args
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("`{}` is not HOST:PORT", args.scheduler))?;
    // Spill files where Ballista keeps them; flights on object storage
    // read with the environment's credentials.
    let temp = args.work_dir.clone();
    let runtimes: ballista_core::RuntimeProducer =
        Arc::new(move |_| super::stores::runtime(temp.as_deref()));
    let config = ExecutorProcessConfig {
        override_runtime_producer: Some(runtimes),
        bind_host: args.bind.ip().to_string(),
        external_host: Some(
            args.external_host
                .unwrap_or_else(|| args.bind.ip().to_string()),
        ),
        port: args.bind.port(),
        grpc_port: args.bind.port() + 1,
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 30,
        vcores: args.vcores.unwrap_or(defaults.vcores),
        work_dir: args.work_dir,
        print_thread_info: false,
        // Seen dead within seconds, so a killed executor's tasks are
        // retried soon.
        executor_heartbeat_interval_seconds: 2,
        ..defaults
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}

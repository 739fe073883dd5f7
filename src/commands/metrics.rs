//! `--metrics-file`: a run's figures in the Prometheus text format, for
//! node_exporter's textfile collector (the usual path for cron jobs and
//! systemd timers), written atomically so a scrape never reads half a file.
//!
//! Every metric is a gauge labelled `pipeline` (the pipeline file's name):
//! the file describes the last run, published or failed. A failed run
//! still carries `siap_last_success_timestamp_seconds` from the newest
//! published run, so one alert rule (`time() - …  > 26 * 3600`) catches
//! every way a night can go wrong.

use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::outcome::Outcome;

type Labels = Vec<(&'static str, String)>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;

/// Builds the registry: one family per metric, registered in a fixed order.
struct Metrics {
    registry: Registry,
}

impl Metrics {
    fn new(pipeline: &str) -> Self {
        let labels = [(Cow::Borrowed("pipeline"), Cow::Owned(pipeline.to_string()))];
        Metrics {
            registry: Registry::with_prefix_and_labels("siap", labels.into_iter()),
        }
    }

    /// A gauge family; `samples` are (labels, value).
    fn gauge(&mut self, name: &str, help: &str, samples: Vec<(Labels, f64)>) {
        if samples.is_empty() {
            return;
        }
        let family = Gauges::default();
        for (labels, v) in samples {
            family.get_or_create(&labels).set(v);
        }
        self.registry.register(name, help, family);
    }

    /// One unlabelled value.
    fn one(&mut self, name: &str, help: &str, v: f64) {
        self.gauge(name, help, vec![(Vec::new(), v)]);
    }
}

/// The metrics text for a finished run.
pub fn render(o: &Outcome) -> String {
    let mut m = Metrics::new(&o.pipeline);
    let secs = |t: &str| millis(t).map(|ms| ms as f64 / 1000.0);
    m.one(
        "run_success",
        "1 if the last run published its tables, 0 if it failed",
        f64::from(u8::from(o.published.is_some())),
    );
    m.one(
        "run_exit_code",
        "The last run's exit code (see siap's README)",
        f64::from(o.exit_code),
    );
    if let Some(t) = secs(&o.finished_at) {
        m.one(
            "run_finished_timestamp_seconds",
            "When the last run ended (Unix time)",
            t,
        );
    }
    if let Some(t) = o.last_success.as_deref().and_then(secs) {
        m.one(
            "last_success_timestamp_seconds",
            "When the newest published run ended (Unix time)",
            t,
        );
    }
    m.one(
        "run_warnings",
        "Quality-gate warnings of the last run",
        o.warnings.len() as f64,
    );
    if let (Some(p), Some(manifest)) = (&o.published, &o.manifest) {
        m.gauge(
            "products",
            "Products in the readiness table, by status",
            vec![
                (status("READY"), p.ready as f64),
                (status("NOT_READY"), p.not_ready as f64),
            ],
        );
        if let Some(n) = p.changed {
            m.one(
                "products_changed",
                "Products whose status or flags changed against the run before",
                n as f64,
            );
        }
        sources(&mut m, manifest, millis(&o.finished_at));
        let t = &p.timings_ms;
        m.gauge(
            "phase_duration_seconds",
            "Wall time of each phase of the last published run",
            [
                ("fetch", t.fetch),
                ("stage", t.stage),
                ("aggregate", t.aggregate),
                ("publish", t.publish),
            ]
            .into_iter()
            .map(|(phase, ms)| (vec![("phase", phase.to_string())], ms as f64 / 1000.0))
            .collect(),
        );
        if let Some(mib) = p.peak_memory_mib {
            m.one(
                "peak_memory_bytes",
                "Peak resident memory of the last published run",
                (mib * 1024.0 * 1024.0).round(),
            );
        }
    }
    let mut out = String::new();
    // The Prometheus text format: gauges only, so OpenMetrics' text (less
    // its `# EOF` line) is also what the textfile collector reads.
    let _ = prometheus_client::encoding::text::encode_registry(&mut out, &m.registry);
    sorted_samples(&out)
}

/// The same text with each family's samples in label order (a family
/// keeps them in a hash map), so the same run writes the same file.
fn sorted_samples(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    let mut samples: Vec<&str> = Vec::new();
    let flush = |samples: &mut Vec<&str>, out: &mut String| {
        samples.sort_unstable();
        for s in samples.drain(..) {
            out.push_str(s);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut samples, &mut out);
            out.push_str(line);
            out.push('\n');
        } else if !line.is_empty() {
            samples.push(line);
        }
    }
    flush(&mut samples, &mut out);
    out
}

/// Unix milliseconds of an RFC 3339 time.
fn millis(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn status(s: &str) -> Labels {
    vec![("status", s.to_string())]
}

/// Per source: rows read and rejected, whether it was fetched, its age.
fn sources(m: &mut Metrics, manifest: &crate::workdir::manifest::Manifest, finished: Option<i64>) {
    let by_source = |f: &dyn Fn(&crate::workdir::manifest::SourceRecord) -> Option<f64>| {
        manifest
            .sources
            .iter()
            .filter_map(|s| f(s).map(|v| (vec![("source", s.id.clone())], v)))
            .collect::<Vec<_>>()
    };
    m.gauge(
        "source_records_read",
        "Records read from each source by the last published run",
        by_source(&|s| Some(s.records_read as f64)),
    );
    m.gauge(
        "source_rows_rejected",
        "Rows of each source sent to the exceptions table",
        by_source(&|s| Some(s.rejected as f64)),
    );
    m.gauge(
        "source_refreshed",
        "1 if the source was fetched by the last run, 0 if an earlier copy was reused",
        by_source(&|s| Some(f64::from(u8::from(s.refreshed)))),
    );
    m.gauge(
        "source_age_seconds",
        "Age of each feed's newest accepted timestamp when the run ended",
        by_source(&|s| {
            let newest = millis(s.newest_timestamp.as_deref()?)?;
            Some((finished? - newest) as f64 / 1000.0)
        }),
    );
}

/// Writes the file atomically: a temporary file beside it, then a rename.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".siap-metrics")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    // The textfile collector runs as another user: readable by all, as
    // a file written with the default umask would be.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

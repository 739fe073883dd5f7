//! Quality gates: per-source checks on a staged feed, like dbt's source
//! freshness. A gate at level `error` fails its source (nothing is
//! published); at level `warn` the run publishes and exits with the
//! "success with warnings" code.

pub use crate::model::{GateResult, Gates, Level};

/// What the gates look at.
pub struct Measures {
    pub records: u64,
    pub rejected: u64,
    /// Newest timestamp among the accepted rows, µs since the epoch.
    pub newest: Option<i64>,
    /// The instant ages are measured from, µs since the epoch.
    pub reference: i64,
}

pub fn evaluate(gates: &Gates, m: &Measures) -> Vec<GateResult> {
    let mut out = Vec::new();
    if let Some((max, level)) = gates.max_rejected_share {
        let share = if m.records == 0 {
            0.0
        } else {
            m.rejected as f64 / m.records as f64
        };
        let passed = share <= max;
        out.push(GateResult {
            gate: "max_rejected_share".into(),
            level,
            passed,
            message: format!(
                "{} of {} record(s) rejected ({:.1}%), limit {:.1}%",
                m.rejected,
                m.records,
                share * 100.0,
                max * 100.0
            ),
        });
    }
    if let Some((hours, level)) = gates.max_age_hours {
        let (passed, message) = match m.newest {
            None => (
                false,
                "no accepted rows, so no freshness to measure".to_string(),
            ),
            Some(newest) => {
                let age_h = (m.reference - newest) as f64 / 3_600_000_000.0;
                (
                    age_h <= hours as f64,
                    format!("newest row is {age_h:.1} h old, limit {hours} h"),
                )
            }
        };
        out.push(GateResult {
            gate: "max_age_hours".into(),
            level,
            passed,
            message,
        });
    }
    out
}

/// Every feed's gates, judged.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Per feed (in pipeline order), for the manifest.
    pub results: Vec<Vec<GateResult>>,
    /// Gates at level `error` that failed: their sources fail.
    pub failures: Vec<crate::error::Error>,
    /// Gates at level `warn` that failed: the run publishes with warnings.
    pub warnings: Vec<String>,
}

/// Judges each feed's gates on its measures (both in pipeline order),
/// logging every failed gate.
pub fn judge(feeds: &[crate::pipeline::Source], measures: &[Measures]) -> Verdict {
    let mut v = Verdict::default();
    for (s, m) in feeds.iter().zip(measures) {
        let results = evaluate(&s.gates, m);
        for g in results.iter().filter(|g| !g.passed) {
            let msg = format!("gate `{}` failed: {}", g.gate, g.message);
            match g.level {
                Level::Error => {
                    tracing::error!(stage = "gates", source = %s.id, gate = %g.gate, "{msg}");
                    v.failures.push(s.fails(crate::error::Problem::Gate {
                        gate: g.gate.clone(),
                        message: g.message.clone(),
                    }));
                }
                Level::Warn => {
                    tracing::warn!(stage = "gates", source = %s.id, gate = %g.gate, "{msg}");
                    v.warnings.push(format!("source `{}`: {msg}", s.id));
                }
            }
        }
        v.results.push(results);
    }
    v
}

/// The instant freshness is measured from: now, or the end of the run
/// date when rerunning a past date (so yesterday's rerun judges
/// yesterday's feeds), in microseconds since the epoch.
pub fn reference_time(timezone: chrono_tz::Tz, date: chrono::NaiveDate) -> i64 {
    use chrono::TimeZone;
    let now = chrono::Utc::now().timestamp_micros();
    let end = date
        .succ_opt()
        .unwrap_or(date)
        .and_time(chrono::NaiveTime::MIN);
    let end = match timezone.from_local_datetime(&end) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.timestamp_micros()
        }
        chrono::LocalResult::None => end.and_utc().timestamp_micros(),
    };
    now.min(end)
}

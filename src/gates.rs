//! Quality gates: per-source checks on a staged feed, like dbt's source
//! freshness. A gate at level `error` fails its source (nothing is
//! published); at level `warn` the run publishes and exits with the
//! "success with warnings" code.

pub use crate::model::{GateResult, Level};

/// The gates of one source, from the pipeline file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gates {
    /// At most this share (0–1) of the records read may be rejected.
    pub max_rejected_share: Option<(f64, Level)>,
    /// The newest `as_of` (stock) or `updated_at` (shipments) may be at most
    /// this many hours old.
    pub max_age_hours: Option<(i64, Level)>,
}

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

//! Quality gates: their settings, as the pipeline file gives them, and
//! their outcome, as the manifest records it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warn,
    Error,
}

impl Level {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

/// One gate's outcome, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: String,
    pub level: Level,
    pub passed: bool,
    pub message: String,
}

/// The gates of one source, from the pipeline file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gates {
    /// At most this share (0–1) of the records read may be rejected.
    pub max_rejected_share: Option<(f64, Level)>,
    /// The newest `as_of` (stock) or `updated_at` (shipments) may be at most
    /// this many hours old.
    pub max_age_hours: Option<(i64, Level)>,
}

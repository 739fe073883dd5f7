//! `siap validate`: the pipeline file, and that its local sources exist.
//! Runs nothing.

use std::path::Path;

use crate::error::{ConfigProblem, Error, Result};
use crate::pipeline::resolve::{EnvProblem, substitute_env};
use crate::pipeline::{self, Location, Pipeline};

/// A valid pipeline, and what its dated and patterned locations resolve
/// to for the date asked: (source id, location as written, file).
pub struct Validated {
    pub pipeline: Pipeline,
    pub located: Vec<(String, String, String)>,
}

pub fn validate(path: &Path, date: Option<chrono::NaiveDate>) -> Result<Validated> {
    let pipeline = pipeline::load(path)?;
    let date = super::run::run_date(&pipeline, date);
    let mut problems = Vec::new();
    let mut located = Vec::new();
    let problem = |s: &pipeline::Source, message: String| ConfigProblem {
        file: pipeline.file.clone(),
        line: s.position.0,
        column: s.position.1,
        message: format!("source `{}`: {message}", s.id),
    };
    for s in pipeline.sources.iter() {
        if let Some(pattern) = &s.pattern {
            match pipeline::locate::resolve(s, date) {
                Ok(r) => {
                    let file = r.location.display();
                    if matches!(r.location, Location::Local(ref p) if !p.is_file()) {
                        problems.push(problem(s, format!("no file `{file}` for {date}")));
                    }
                    located.push((s.id.clone(), pattern.shown.clone(), file));
                }
                Err(e) => problems.push(problem(s, format!("for {date}: {e}"))),
            }
            continue;
        }
        if let Location::Local(p) = &s.location
            && !p.is_file()
        {
            problems.push(problem(
                s,
                format!("local file `{}` does not exist", p.display()),
            ));
        }
    }
    if problems.is_empty() {
        Ok(Validated { pipeline, located })
    } else {
        Err(Error::Config(problems))
    }
}

/// What `siap validate` says of a valid file.
pub fn describe(path: &Path, v: &Validated) -> String {
    let p = &v.pipeline;
    let mut text = format!(
        "`{}` is valid: campaign `{}`, {} feed(s), window {} to {}",
        path.display(),
        p.campaign.name,
        p.sources.feeds.len(),
        p.campaign.opens,
        p.campaign.closes
    );
    for (id, shown, file) in &v.located {
        text.push_str(&format!("\nsiap: source `{id}`: `{shown}` -> `{file}`"));
    }
    let hooks = &p.notify.webhooks;
    if !hooks.is_empty() {
        text.push_str(&format!(", {} webhook(s)", hooks.len()));
    }
    // A webhook whose URL variable is not set is skipped by runs (a
    // notification never fails a run): said here, where it can be fixed.
    for (i, h) in hooks.iter().enumerate() {
        if let Err(EnvProblem::Unset(var)) = substitute_env(&h.url) {
            text.push_str(&format!(
                "\nsiap: warning: notify.webhooks[{i}] uses `{var}`, which is not set: runs will skip it"
            ));
        }
    }
    text
}

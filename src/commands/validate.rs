//! `siap validate`: the pipeline file, and that its local sources exist.
//! Runs nothing.

use std::path::Path;

use crate::error::{ConfigProblem, Error, Result};
use crate::pipeline::resolve::{EnvProblem, substitute_env};
use crate::pipeline::{self, Location, Pipeline};

pub fn validate(path: &Path) -> Result<Pipeline> {
    let pipeline = pipeline::load(path)?;
    let mut problems = Vec::new();
    for s in pipeline.sources.iter() {
        if let Location::Local(p) = &s.location
            && !p.is_file()
        {
            problems.push(ConfigProblem {
                file: pipeline.file.clone(),
                line: s.position.0,
                column: s.position.1,
                message: format!(
                    "source `{}`: local file `{}` does not exist",
                    s.id,
                    p.display()
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(pipeline)
    } else {
        Err(Error::Config(problems))
    }
}

/// What `siap validate` says of a valid file.
pub fn describe(path: &Path, p: &Pipeline) -> String {
    let mut text = format!(
        "`{}` is valid: campaign `{}`, {} feed(s), window {} to {}",
        path.display(),
        p.campaign.name,
        p.sources.feeds.len(),
        p.campaign.opens,
        p.campaign.closes
    );
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

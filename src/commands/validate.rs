//! `siap validate`: the pipeline file, and that its local sources exist.
//! Runs nothing.

use std::path::Path;

use crate::error::{ConfigProblem, Error, Result};
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
    format!(
        "`{}` is valid: campaign `{}`, {} feed(s), window {} to {}",
        path.display(),
        p.campaign.name,
        p.sources.feeds.len(),
        p.campaign.opens,
        p.campaign.closes
    )
}

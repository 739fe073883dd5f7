//! Reading a TOML document with positions, collecting every problem.
//!
//! serde stops at the first error; an operator fixing a pipeline file at
//! 3 a.m. wants all of them, each with its line and column. So the pipeline
//! file is parsed with `toml_edit` (which keeps spans) and walked by hand
//! through this small reader: each accessor records a problem and returns
//! `None` instead of failing.

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use toml_edit::{Item, TableLike, Value};

use crate::error::ConfigProblem;

pub struct Doc<'a> {
    src: &'a str,
    file: PathBuf,
    line_starts: Vec<usize>,
    pub problems: Vec<ConfigProblem>,
}

impl<'a> Doc<'a> {
    pub fn new(src: &'a str, file: &Path) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Doc {
            src,
            file: file.to_path_buf(),
            line_starts,
            problems: Vec::new(),
        }
    }

    pub fn src(&self) -> &'a str {
        self.src
    }

    /// 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        let column = self.src[start..offset.min(self.src.len())].chars().count() + 1;
        (line.max(1), column)
    }

    pub fn problem(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column) = span.map(|s| self.position(s.start)).unwrap_or((1, 1));
        self.problems.push(ConfigProblem {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }

    /// Reports every key of `table` not in `allowed`.
    pub fn check_keys(&mut self, table: &dyn TableLike, path: &str, allowed: &[&str]) {
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
        for key in keys {
            if !allowed.contains(&key.as_str()) {
                let span = table.get_key_value(&key).and_then(|(k, _)| k.span());
                self.problem(
                    span,
                    format!(
                        "unknown key `{}` (expected one of: {})",
                        join_path(path, &key),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// The span of `key` in `table`, for messages about its value.
    pub fn span_of(table: &dyn TableLike, key: &str) -> Option<Range<usize>> {
        table
            .get_key_value(key)
            .and_then(|(k, v)| v.span().or_else(|| k.span()))
    }

    fn value<'t>(&mut self, table: &'t dyn TableLike, path: &str, key: &str) -> Option<&'t Value> {
        match table.get(key)? {
            Item::Value(v) => Some(v),
            _ => {
                let span = Self::span_of(table, key);
                self.problem(
                    span,
                    format!("`{}` must be a value, not a table", join_path(path, key)),
                );
                None
            }
        }
    }

    pub fn string(&mut self, table: &dyn TableLike, path: &str, key: &str) -> Option<String> {
        let v = self.value(table, path, key)?;
        match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.problem(
                    v.span(),
                    format!("`{}` must be a string", join_path(path, key)),
                );
                None
            }
        }
    }

    pub fn required_string(
        &mut self,
        table: &dyn TableLike,
        table_span: Option<Range<usize>>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        if table.get(key).is_none() {
            self.problem(
                table_span,
                format!("missing key `{}`", join_path(path, key)),
            );
            return None;
        }
        self.string(table, path, key)
    }

    pub fn integer(&mut self, table: &dyn TableLike, path: &str, key: &str) -> Option<i64> {
        let v = self.value(table, path, key)?;
        match v.as_integer() {
            Some(i) => Some(i),
            None => {
                self.problem(
                    v.span(),
                    format!("`{}` must be an integer", join_path(path, key)),
                );
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub fn strings(&mut self, table: &dyn TableLike, path: &str, key: &str) -> Option<Vec<String>> {
        let v = self.value(table, path, key)?;
        if let Some(s) = v.as_str() {
            return Some(vec![s.to_string()]);
        }
        if let Some(arr) = v.as_array() {
            let mut out = Vec::new();
            for item in arr.iter() {
                match item.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => self.problem(
                        item.span(),
                        format!("`{}` must hold strings", join_path(path, key)),
                    ),
                }
            }
            return Some(out);
        }
        self.problem(
            v.span(),
            format!(
                "`{}` must be a string or a list of strings",
                join_path(path, key)
            ),
        );
        None
    }

    /// A calendar date: a TOML local date (`2026-12-10`) or a string.
    pub fn date(&mut self, table: &dyn TableLike, path: &str, key: &str) -> Option<NaiveDate> {
        let v = self.value(table, path, key)?;
        let text = match v {
            Value::Datetime(d) => d.value().to_string(),
            Value::String(s) => s.value().to_string(),
            _ => String::new(),
        };
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.problem(
                    v.span(),
                    format!(
                        "`{}` must be a date written YYYY-MM-DD",
                        join_path(path, key)
                    ),
                );
                None
            }
        }
    }

    /// A sub-table (standard or inline).
    pub fn table<'t>(
        &mut self,
        table: &'t dyn TableLike,
        path: &str,
        key: &str,
    ) -> Option<&'t dyn TableLike> {
        let item = table.get(key)?;
        match item.as_table_like() {
            Some(t) => Some(t),
            None => {
                let span = Self::span_of(table, key);
                self.problem(span, format!("`{}` must be a table", join_path(path, key)));
                None
            }
        }
    }
}

pub fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The span of a table-like item, for "missing key" messages.
pub fn table_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Table(t) => t.span(),
        Item::Value(v) => v.span(),
        _ => item.span(),
    }
}

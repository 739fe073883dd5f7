//! The `sftp` keys of a source with an `sftp://` location:
//!
//! ```toml
//! location = "sftp://siap@drop.example.com/incoming/stok_{date:%d%m%Y}.csv"
//! sftp = { identity_file = "${SIAP_SFTP_KEY}", known_hosts = "/etc/siap/known_hosts" }
//! ```

use std::path::{Path, PathBuf};

use toml_edit::TableLike;

use super::SftpOptions;
use super::doc::Doc;
use super::resolve::expand_env;

const KEYS: &[&str] = &["identity_file", "passphrase", "password", "known_hosts"];

/// The source's SFTP options: `Some(None)` for another kind of location,
/// `None` after a problem.
pub fn parse(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    is_sftp: bool,
    base: &Path,
) -> Option<Option<SftpOptions>> {
    let present = t.get("sftp").is_some();
    if !is_sftp {
        if present {
            doc.problem(
                Doc::span_of(t, "sftp"),
                format!("`{path}.sftp` applies only to an `sftp://` location"),
            );
            return None;
        }
        return Some(None);
    }
    let missing = || {
        format!(
            "`{path}` reads an `sftp://` location: set `sftp = {{ identity_file = \"...\" }}` or `sftp = {{ password = \"${{VAR}}\" }}`"
        )
    };
    if !present {
        doc.problem(Doc::span_of(t, "location"), missing());
        return None;
    }
    let s = doc.table(t, path, "sftp")?;
    let spath = format!("{path}.sftp");
    doc.check_keys(s, &spath, KEYS);
    let value = |doc: &mut Doc, key: &str| -> Result<Option<String>, ()> {
        if s.get(key).is_none() {
            return Ok(None);
        }
        let v = doc.string(s, &spath, key).ok_or(())?;
        expand_env(doc, s, key, &spath, &v).map(Some).ok_or(())
    };
    let file = |v: String| {
        let p = PathBuf::from(v);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let identity_file = value(doc, "identity_file").ok()?.map(file);
    let passphrase = value(doc, "passphrase").ok()?;
    let password = value(doc, "password").ok()?;
    let known_hosts = match value(doc, "known_hosts").ok()? {
        Some(p) => file(p),
        None => std::env::home_dir()
            .unwrap_or_default()
            .join(".ssh/known_hosts"),
    };
    if identity_file.is_none() && password.is_none() {
        doc.problem(Doc::span_of(t, "sftp"), missing());
        return None;
    }
    Some(Some(SftpOptions {
        identity_file,
        passphrase,
        password,
        known_hosts,
    }))
}

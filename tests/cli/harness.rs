//! A throwaway working directory and a way to run the real binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Workdir {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Run {
            status: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.status, 0,
            "siap failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The repository root (where `pipelines/` and `sample_data/` live).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Copies the sample campaign (pipelines + sample_data) in, so a test
    /// may edit feeds without touching the repository.
    pub fn copy_sample(&self) -> PathBuf {
        copy_dir(&repo().join("pipelines"), &self.join("pipelines"));
        copy_dir(&repo().join("sample_data"), &self.join("sample_data"));
        self.join("pipelines/harbolnas.toml")
    }

    pub fn siap(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_siap"))
            .args(args)
            .current_dir(self.path())
            .env_remove("SIAP_LOG")
            .env_remove("SIAP_OUT")
            .env_remove("SIAP_LOG_FORMAT")
            .output()
            .expect("run siap");
        Run::from(out)
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A CSV file as header + rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// One CSV table as maps from column name to value, keyed by `key`.
pub fn csv_by_key(
    path: &Path,
    key: &[&str],
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    let (header, rows) = read_csv(path);
    rows.into_iter()
        .map(|r| {
            let m: std::collections::BTreeMap<String, String> =
                header.iter().cloned().zip(r).collect();
            let k = key
                .iter()
                .map(|k| m[*k].clone())
                .collect::<Vec<_>>()
                .join("/");
            (k, m)
        })
        .collect()
}

impl Workdir {
    /// Runs the shipped sample for 2026-11-27 into `local` and checks that
    /// `tables` (CSV and Parquet) in `<dir>/latest` are byte-identical.
    pub fn assert_tables_equal_the_sample(&self, dir: &str, tables: &[&str]) {
        let local = repo().join("pipelines/harbolnas.toml");
        let local = local.to_str().unwrap();
        self.siap(&["run", local, "--work-dir", "local", "--date", "2026-11-27"])
            .assert_success();
        for t in tables {
            for ext in ["csv", "parquet"] {
                let name = format!("{t}.{ext}");
                assert_eq!(
                    std::fs::read(self.join(dir).join("latest").join(&name)).unwrap(),
                    std::fs::read(self.join("local/latest").join(&name)).unwrap(),
                    "{name}"
                );
            }
        }
    }
}

/// Fails if `needle` (a secret) is in any file under `dir`.
pub fn assert_nowhere_in(dir: &Path, needle: &str) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(needle),
                    "leaked into {}",
                    path.display()
                );
            }
        }
    }
}

/// The latest run's manifest record of source `id`.
pub fn manifest_source(out: &Path, id: &str) -> serde_json::Value {
    manifest(out)["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no source `{id}` in the manifest"))
        .clone()
}

pub fn manifest(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("latest/manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

impl Workdir {
    /// Starts siap without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_siap"))
            .args(args)
            .current_dir(self.path())
            .env_remove("SIAP_LOG")
            .env_remove("SIAP_OUT")
            .env_remove("SIAP_WORK_DIR")
            .env_remove("SIAP_LOG_FORMAT")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start siap")
    }
}

pub fn finish(child: std::process::Child) -> Run {
    Run::from(child.wait_with_output().expect("wait for siap"))
}

/// Replaces `from` with `to` in a file.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

impl Workdir {
    /// Runs siap with extra environment variables.
    pub fn siap_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_siap"));
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("SIAP_LOG")
            .env_remove("SIAP_WORK_DIR")
            .env_remove("SIAP_LOG_FORMAT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run siap"))
    }
}

/// Limits a run is started under.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Address space, in bytes (`prlimit --as`): an allocation past it
    /// fails, and siap aborts.
    pub address_space: Option<u64>,
    /// Largest file the run may write, in bytes (`prlimit --fsize`); a
    /// write past it fails with "File too large" (`SIGXFSZ` ignored), as
    /// on a full disk.
    pub file_size: Option<u64>,
    /// Open files, soft and hard (`prlimit --nofile`).
    pub open_files: Option<(u64, u64)>,
    /// Environment variables the run is given.
    pub env: &'static [(&'static str, &'static str)],
}

impl Run {
    /// The peak memory siap reported on its last line (`--log-format
    /// json`): its own, as the kernel counts it (a forked child's maximum
    /// resident size would count this test process's memory too).
    #[track_caller]
    pub fn peak_mib(&self) -> f64 {
        let last = self.stderr.lines().last().unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {}", self.stderr));
        v["peak_memory_mib"]
            .as_f64()
            .unwrap_or_else(|| panic!("no peak_memory_mib: {last}"))
    }
}

impl Workdir {
    /// Runs siap under `limits`.
    #[cfg(target_os = "linux")]
    pub fn siap_limited(&self, args: &[&str], limits: Limits) -> Run {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_siap"));
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("SIAP_LOG")
            .env_remove("SIAP_WORK_DIR")
            .env_remove("SIAP_LOG_FORMAT")
            .envs(limits.env.iter().copied());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let set_both = |resource, (soft, hard): (u64, u64)| {
                    let r = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(resource, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                };
                let set = |resource, n: u64| set_both(resource, (n, n));
                if let Some(n) = limits.open_files {
                    set_both(libc::RLIMIT_NOFILE, n)?;
                }
                if let Some(n) = limits.address_space {
                    set(libc::RLIMIT_AS, n)?;
                }
                if let Some(n) = limits.file_size {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    set(libc::RLIMIT_FSIZE, n)?;
                }
                Ok(())
            });
        }
        Run::from(cmd.output().expect("run siap"))
    }
}

/// A siap command line to run in a work directory: args and environment
/// in; status, stdout and stderr out, checked exactly.
pub struct Cmd<'w> {
    w: &'w Workdir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Workdir {
    pub fn cmd(&self, args: &[&str]) -> Cmd<'_> {
        Cmd {
            w: self,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        }
    }
}

impl Cmd<'_> {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn run(self) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_siap"));
        cmd.args(&self.args)
            .current_dir(self.w.path())
            .env_remove("SIAP_LOG")
            .env_remove("SIAP_WORK_DIR")
            .env_remove("SIAP_LOG_FORMAT")
            // clap wraps help to the terminal's width.
            .env_remove("COLUMNS");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run siap"))
    }
}

impl Run {
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.status, want,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_is(&self, want: &str) -> &Self {
        assert_eq!(self.stderr, want, "stderr differs");
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, want: &str) -> &Self {
        assert_eq!(self.stdout, want, "stdout differs");
        self
    }
}

/// The sample's second day: KOPI-002 and KOPI-003 become READY (Aroma
/// Pagi's stock triples, a Luwak shipment moves into the window).
pub fn change_the_sample(w: &Workdir) {
    edit(
        &w.join("sample_data/stock/aroma_pagi.json"),
        "\"qty\": 25000",
        "\"qty\": 75000",
    );
    edit(
        &w.join("sample_data/shipments/kapal_nusantara.csv"),
        ";12.000;DIPESAN;;09/12/2026;",
        ";12.000;DIPESAN;;07/12/2026;",
    );
}

/// Every file the run published, by path; the manifest without what
/// differs from run to run (ids, times, timings, memory).
pub fn published(run: &Path) -> Vec<(String, Vec<u8>)> {
    let latest = run.join("latest");
    let mut out = Vec::new();
    let mut stack = vec![latest.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.strip_prefix(&latest).unwrap().display().to_string();
            let bytes = if name == "manifest.json" {
                let mut m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                let o = m.as_object_mut().unwrap();
                for k in [
                    "run_id",
                    "started_at",
                    "finished_at",
                    "timings_ms",
                    "peak_memory_mib",
                ] {
                    o.remove(k);
                }
                for s in o["sources"].as_array_mut().unwrap() {
                    s.as_object_mut().unwrap().remove("stage_ms");
                }
                serde_json::to_vec_pretty(&m).unwrap()
            } else {
                std::fs::read(&p).unwrap()
            };
            out.push((name, bytes));
        }
    }
    out.sort();
    out
}

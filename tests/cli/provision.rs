//! What the server tests need and a fresh machine lacks, installed once
//! (under a file lock, so parallel tests and test processes wait for one
//! install) so that `cargo test --release` needs nothing else:
//! moto into a virtualenv under `target/ci-venvs/moto`, and, when the
//! tests run as root, OpenSSH's sshd from Debian's packages. `.ci/run`
//! does the same before the build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::repo;

/// Runs `install` while holding `target/<name>.lock`, unless `ready`.
fn once(name: &str, ready: impl Fn() -> bool, install: impl FnOnce() -> Result<(), String>) {
    if ready() {
        return;
    }
    let dir = repo().join("target");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    if !ready()
        && let Err(e) = install()
    {
        panic!("{e}");
    }
}

fn runs(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `moto_server` to start: `SIAP_TEST_MOTO_SERVER`, one on PATH, or
/// one installed into `target/ci-venvs/moto` (about a minute, once).
pub fn moto_server() -> String {
    if let Ok(p) = std::env::var("SIAP_TEST_MOTO_SERVER") {
        return p;
    }
    if runs(Command::new("moto_server").arg("--help")) {
        return "moto_server".into();
    }
    let venv = repo().join("target/ci-venvs/moto");
    let bin = venv.join("bin/moto_server");
    once(
        "moto",
        || bin.exists(),
        || {
            let log = venv.with_extension("log");
            let ok = runs(Command::new("python3").args(["-m", "venv"]).arg(&venv))
                && runs(
                    Command::new(venv.join("bin/python"))
                        // 5.2.1 and later refuse conditional writes (412;
                        // 5.1.4 ignores If-Match), as tests/cli/on_store.rs needs.
                        .args(["-m", "pip", "install", "-q", "moto[server]>=5.2.1,<6"])
                        .stderr(std::fs::File::create(&log).unwrap()),
                );
            ok.then_some(()).ok_or(format!(
                "could not install moto[server] into {} (see {}): these tests need an S3-compatible server",
                venv.display(),
                log.display()
            ))
        },
    );
    bin.display().to_string()
}

/// OpenSSH's sshd, installed with apt-get when missing and the tests run
/// as root.
pub fn sshd() -> PathBuf {
    let sshd = PathBuf::from("/usr/sbin/sshd");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    once(
        "sshd",
        || Path::new("/usr/sbin/sshd").exists(),
        || {
            if !root {
                return Err("these tests need OpenSSH's sshd: apt-get install openssh-server (.ci/run does)".into());
            }
            let apt = |args: &[&str]| {
                runs(
                    Command::new("apt-get")
                        .args(args)
                        .env("DEBIAN_FRONTEND", "noninteractive"),
                )
            };
            let ok = apt(&["install", "-y", "-q", "openssh-server"])
                || (apt(&["update", "-q"]) && apt(&["install", "-y", "-q", "openssh-server"]));
            ok.then_some(())
                .ok_or("apt-get could not install openssh-server".into())
        },
    );
    sshd
}

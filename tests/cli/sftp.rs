//! SFTP sources against a real OpenSSH server (`sshd` with
//! `internal-sftp`) started on 127.0.0.1 with a throwaway host key and
//! user key. `.ci/run` installs openssh-server when it is missing.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::harness::{Workdir, edit, manifest, manifest_source, repo};

const PASSWORD_CANARY: &str = "canary-sftp-password-4b7e";
const LOCATION: &str = "location = \"../sample_data/stock/mie_jaya.csv\"";

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen failed");
}

impl Sshd {
    /// sshd on a free port of 127.0.0.1, keys and config in `dir`.
    pub fn start(dir: &Path) -> Sshd {
        let sshd = crate::provision::sshd();
        std::fs::create_dir_all(dir).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("user_key"));
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        // sshd's privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = dir.display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication yes\nPermitRootLogin yes\nKbdInteractiveAuthentication no\n\
             Subsystem sftp internal-sftp\n"
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "sshd did not start: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = Sshd {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        s.known_hosts("known_hosts", &dir.join("host_key.pub"));
        s
    }

    /// A known_hosts file naming `key` for this server.
    fn known_hosts(&self, name: &str, key: &Path) -> PathBuf {
        let key = std::fs::read_to_string(key).unwrap();
        let path = self.dir.join(name);
        std::fs::write(&path, format!("[127.0.0.1]:{} {key}", self.port)).unwrap();
        path
    }
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The sample with Mie Jaya's stock read over SFTP from `path` with
/// `login` (the `sftp` table's inside).
fn pipeline(w: &Workdir, s: &Sshd, path: &str, login: &str) -> String {
    let p = w.copy_sample();
    edit(
        &p,
        LOCATION,
        &format!(
            "location = \"sftp://{}@127.0.0.1:{}{path}\"\nmax_attempts = 1\nsftp = {{ {login} }}",
            user(),
            s.port
        ),
    );
    p.to_str().unwrap().to_string()
}

fn key_login(s: &Sshd) -> String {
    format!(
        "identity_file = \"{}\", known_hosts = \"{}\"",
        s.dir.join("user_key").display(),
        s.dir.join("known_hosts").display()
    )
}

/// A dated drop folder with files for three days: each night takes its
/// day's file, the first night's tables equal the local sample's, a
/// `--supplier` rerun and `siap runs` still work, and an unchanged file is
/// not read again.
#[test]
fn a_dated_sftp_drop_gives_each_night_its_file() {
    let w = Workdir::new();
    let s = Sshd::start(&w.join("sshd"));
    let drop = w.join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let sample = std::fs::read_to_string(repo().join("sample_data/stock/mie_jaya.csv")).unwrap();
    for (day, text) in [
        ("26112026", sample.replace("2026-11-2", "2026-11-1")),
        ("27112026", sample.clone()),
        ("28112026", sample.replace(",50000,", ",50001,")),
    ] {
        std::fs::write(drop.join(format!("stok_{day}.csv")), text).unwrap();
    }
    let p = pipeline(
        &w,
        &s,
        &format!("{}/stok_{{date:%d%m%Y}}.csv", drop.display()),
        &key_login(&s),
    );
    let night = |date: &str| w.siap(&["run", &p, "--work-dir", "work", "--date", date]);
    night("2026-11-27").assert_success();
    w.assert_tables_equal_the_sample(
        "work",
        &["readiness", "supplier_readiness", "shipments", "exceptions"],
    );
    for date in ["2026-11-26", "2026-11-28", "2026-11-27"] {
        night(date).assert_success();
        let src = manifest_source(&w.join("work"), "mie-jaya");
        let day: String = date.split('-').rev().collect();
        assert!(
            src["location"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/stok_{day}.csv")),
            "{src}"
        );
        assert!(src["pattern"].as_str().unwrap().contains("{date:%d%m%Y}"));
        let raw = std::fs::read(w.join("work/latest/raw/mie-jaya")).unwrap();
        assert_eq!(
            raw,
            std::fs::read(drop.join(format!("stok_{day}.csv"))).unwrap()
        );
        if date == "2026-11-27" {
            // The second run of the 27th: same size and mtime, not read again.
            assert_eq!(src["unchanged"], serde_json::json!(true), "{src}");
        }
    }
    w.siap(&[
        "run",
        &p,
        "--work-dir",
        "work",
        "--date",
        "2026-11-28",
        "--supplier",
        "SUP-MIEJAYA",
    ])
    .assert_success();
    let runs = w.siap(&["runs", &p, "--work-dir", "work"]);
    runs.assert_success();
    assert!(runs.stdout.contains("2026-11-28"), "{}", runs.stdout);

    // A glob over the drop: the newest date in the names, not after the
    // run date; without a rule, three matches are refused.
    let glob = format!("{}/stok_*.csv", drop.display());
    let p = pipeline(&w, &s, &glob, &format!("{}\n", key_login(&s)));
    edit(
        Path::new(&p),
        "max_attempts = 1",
        "max_attempts = 1\npick = \"newest-by-name\"\nname_date_format = \"%d%m%Y\"",
    );
    w.siap(&["run", &p, "--work-dir", "glob", "--date", "2026-11-27"])
        .assert_success();
    assert_eq!(
        std::fs::read(w.join("glob/latest/raw/mie-jaya")).unwrap(),
        std::fs::read(drop.join("stok_27112026.csv")).unwrap()
    );
    let m = manifest(&w.join("glob"));
    assert!(m.to_string().contains("/stok_27112026.csv\""), "{m}");
    let p = pipeline(&w, &s, &glob, &key_login(&s));
    let r = w.siap(&["run", &p, "--work-dir", "glob", "--date", "2026-11-27"]);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(r.stderr.contains("3 files match"), "{}", r.stderr);
}

/// A changed host key, an unknown one, a wrong password and a missing
/// file each fail the source (exit 4) saying so, and the password is
/// printed nowhere.
#[test]
fn sftp_failures_are_final_and_named() {
    let w = Workdir::new();
    let s = Sshd::start(&w.join("sshd"));
    let file = w.write(
        "drop/stok.csv",
        std::fs::read(repo().join("sample_data/stock/mie_jaya.csv")).unwrap(),
    );
    let file = file.display().to_string();
    let run = |p: &str| {
        w.siap_env(
            &[
                "run",
                p,
                "--work-dir",
                "work",
                "--date",
                "2026-11-27",
                "-vv",
            ],
            &[("SIAP_TEST_SFTP_PASSWORD", PASSWORD_CANARY)],
        )
    };
    let expect = |login: &str, path: &str, want: &str| {
        let p = pipeline(&w, &s, path, login);
        let r = run(&p);
        assert_eq!(r.status, 4, "{}", r.stderr);
        assert!(r.stderr.contains("mie-jaya"), "{}", r.stderr);
        assert!(r.stderr.contains(want), "{want}\n{}", r.stderr);
        assert!(!r.stderr.contains(PASSWORD_CANARY) && !r.stdout.contains(PASSWORD_CANARY));
    };
    // Another server's key recorded for this address.
    keygen(&w.join("sshd/other_key"));
    let changed = s.known_hosts("changed_hosts", &w.join("sshd/other_key.pub"));
    expect(
        &format!(
            "identity_file = \"{}\", known_hosts = \"{}\"",
            s.dir.join("user_key").display(),
            changed.display()
        ),
        &file,
        "does not match line 1",
    );
    let empty = w.write("empty_hosts", "");
    expect(
        &format!(
            "identity_file = \"{}\", known_hosts = \"{}\"",
            s.dir.join("user_key").display(),
            empty.display()
        ),
        &file,
        "is not in",
    );
    expect(
        &format!(
            "password = \"${{SIAP_TEST_SFTP_PASSWORD}}\", known_hosts = \"{}\"",
            s.dir.join("known_hosts").display()
        ),
        &file,
        "the server refused the login",
    );
    expect(
        &key_login(&s),
        "/nonexistent/stok.csv",
        "cannot stat `/nonexistent/stok.csv`",
    );
    // And the good login works.
    let p = pipeline(&w, &s, &file, &key_login(&s));
    run(&p).assert_success();
}

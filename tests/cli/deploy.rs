//! The recipes in `deploy/`, checked as far as this machine allows: the
//! Kubernetes CronJob parses and its container's command runs (and the
//! distributed path's manifests and DAG, whose command lines make a whole
//! run); the cron
//! line, the Airflow DAG's and the Dagster job's command lines run as
//! written (only paths and the date replaced); the Python files compile
//! (and import, where Airflow or Dagster is installed); the Debian package
//! builds, installs with `dpkg -i`, runs the sample as the `siap` user and
//! purges cleanly.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::harness::{Run, Workdir, edit, repo};

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A recipe's text with the machine's paths pointed into `w` (which holds
/// a copy of the sample campaign).
fn as_here(text: &str, w: &Workdir) -> String {
    let at = |p: &str| w.join(p).display().to_string();
    text.replace(
        "/etc/siap/pipelines/harbolnas.toml",
        &at("pipelines/harbolnas.toml"),
    )
    .replace("/var/lib/siap/harbolnas", &at("work"))
    .replace("/var/lib/prometheus/node-exporter", &at("textfile"))
    .replace("/var/log/siap", &at("log"))
    .replace("/var/lib/siap", &at(""))
}

/// A prepared folder: the sample, and the folders the recipes write to.
fn sample() -> Workdir {
    let w = Workdir::new();
    w.copy_sample();
    for d in ["textfile", "log"] {
        std::fs::create_dir_all(w.join(d)).unwrap();
    }
    w
}

/// Runs a shell command line with this build's `siap` first on `PATH`.
fn bash(w: &Workdir, line: &str) -> Run {
    let bin = Path::new(env!("CARGO_BIN_EXE_siap")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", line])
        .current_dir(w.path())
        .env("PATH", path)
        .env_remove("SIAP_LOG")
        .env_remove("SIAP_WORK_DIR")
        .env_remove("SIAP_LOG_FORMAT")
        .output()
        .expect("bash");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The last line of stdout, as the summary JSON.
#[track_caller]
fn summary(r: &Run) -> Value {
    let last = r
        .stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no stdout: {}", r.stderr));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

fn yaml_str(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

#[test]
fn the_kubernetes_cronjob_parses_and_its_command_runs() {
    let docs = YamlLoader::load_from_str(&read("deploy/kubernetes/cronjob.yaml")).unwrap();
    let cron = &docs[0];
    assert_eq!(yaml_str(&cron["kind"]), "CronJob");
    assert_eq!(yaml_str(&cron["spec"]["concurrencyPolicy"]), "Forbid");
    let job = &cron["spec"]["jobTemplate"]["spec"];
    let pod = &job["template"]["spec"];
    assert_eq!(
        yaml_str(&pod["restartPolicy"]),
        "Never",
        "podFailurePolicy needs it"
    );
    let container = &pod["containers"][0];
    let rules = job["podFailurePolicy"]["rules"].as_vec().unwrap();
    let fail = &rules[0];
    assert_eq!(yaml_str(&fail["action"]), "FailJob");
    assert_eq!(
        yaml_str(&fail["onExitCodes"]["containerName"]),
        yaml_str(&container["name"])
    );
    let codes: Vec<i64> = fail["onExitCodes"]["values"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(codes, [2, 3, 5, 7]);
    // Each code is one the README documents.
    let readme = read("README.md");
    for c in &codes {
        assert!(
            readme.contains(&format!("\n| {c} | ")),
            "exit code {c} is not in README"
        );
    }
    // The container's command line, run here.
    let w = sample();
    let args: Vec<String> = container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| as_here(yaml_str(a), &w))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = w.siap(&args);
    assert!(matches!(r.status, 0 | 7), "{}", r.stderr);
    assert!(
        summary(&r)["status"]
            .as_str()
            .unwrap()
            .starts_with("published")
    );
}

#[test]
fn the_cron_line_runs_as_written() {
    let text = read("deploy/cron/siap.crontab");
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.contains('=') && !l.trim().is_empty())
        .expect("a crontab entry");
    let command: Vec<&str> = line.splitn(6, ' ').collect();
    assert_eq!(&command[..5], ["30", "2", "*", "*", "*"]);
    let w = sample();
    let r = bash(&w, &as_here(command[5], &w));
    assert!(matches!(r.status, 0 | 7), "{}{}", r.stdout, r.stderr);
    let log = std::fs::read_to_string(w.join("log/siap.log")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert!(
        last["status"].as_str().unwrap().starts_with("published"),
        "{last}"
    );
    assert!(w.join("textfile/siap.prom").is_file());
}

/// A module-level `NAME = ("..." "...")` string of a Python file: its
/// adjacent literals joined, as Python joins them.
fn python_string(src: &str, name: &str) -> String {
    let start = src
        .find(&format!("\n{name} = (\n"))
        .unwrap_or_else(|| panic!("no `{name} = (` block"));
    let mut out = String::new();
    for line in src[start + 1..].lines().skip(1) {
        let t = line.trim();
        if t == ")" {
            return out;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let literal = t
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or_else(|| panic!("not a plain string literal: {t}"));
        assert!(!literal.contains('\\'), "escapes are not handled here: {t}");
        out.push_str(literal);
    }
    panic!("`{name}` is not closed");
}

/// Replaces each `{{ … }}` (Jinja) or `{date}` (str.format) with `date`.
fn with_date(command: &str, date: &str) -> String {
    let mut out = command.replace("{date}", date);
    while let (Some(a), Some(b)) = (out.find("{{"), out.find("}}")) {
        out.replace_range(a..b + 2, date);
    }
    out
}

#[test]
fn the_airflow_command_treats_7_as_success_and_fails_on_the_rest() {
    let src = read("deploy/airflow/siap_dag.py");
    let command = python_string(&src, "RUN_COMMAND");
    assert!(command.contains("{{ data_interval_end.in_timezone('Asia/Jakarta') | ds }}"));
    let w = sample();
    let line = as_here(&with_date(&command, "2026-11-27"), &w);
    let r = bash(&w, &line);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(summary(&r)["status"], "published");
    // A gate at level `warn` fails: siap exits 7, the task succeeds, the
    // XCom says so.
    edit(
        &w.join("pipelines/harbolnas.toml"),
        "location = \"../sample_data/stock/kerupuk_sidoarjo.csv\"",
        "location = \"../sample_data/stock/kerupuk_sidoarjo.csv\"\ngates = { max_rejected_share = { max = 0.25, level = \"warn\" } }",
    );
    let r = bash(&w, &line);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(summary(&r)["status"], "published_with_warnings");
    assert_eq!(summary(&r)["exit_code"], 7);
    // A missing feed: the task fails with siap's code.
    std::fs::remove_file(w.join("sample_data/stock/mie_jaya.csv")).unwrap();
    let r = bash(&w, &line);
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert_eq!(summary(&r)["status"], "failed");
    // The diff task's command too.
    let diff = as_here(&python_string(&src, "DIFF_COMMAND"), &w);
    let r = bash(&w, &diff);
    assert_eq!(r.status, 0, "{}", r.stderr);
}

#[test]
fn the_dagster_command_runs_as_written() {
    let src = read("deploy/dagster/siap_job.py");
    let command = python_string(&src, "RUN_COMMAND");
    let w = sample();
    let r = bash(&w, &as_here(&with_date(&command, "2026-11-27"), &w));
    assert_eq!(r.status, 0, "{}", r.stderr);
    let s = summary(&r);
    assert_eq!(
        (s["ready"].as_u64(), s["not_ready"].as_u64()),
        (Some(5), Some(7))
    );
    assert!(Path::new(s["manifest"].as_str().unwrap()).is_file());
}

/// The Python to check a recipe with: `SIAP_TEST_<KIND>_PYTHON` (a
/// virtualenv with Airflow or Dagster; `.ci/run` makes them), else
/// `SIAP_TEST_PYTHON`, else `python3` when there is one.
fn python(kind: &str) -> Option<String> {
    let p = std::env::var(format!("SIAP_TEST_{kind}_PYTHON"))
        .or_else(|_| std::env::var("SIAP_TEST_PYTHON"))
        .unwrap_or_else(|_| "python3".into());
    Command::new(&p)
        .arg("--version")
        .output()
        .ok()?
        .status
        .success()
        .then_some(p)
}

fn python_ok(python: &str, code: &str) -> (bool, String) {
    // Nothing written beside the recipes (no __pycache__ in the repository).
    let out = Command::new(python)
        .args(["-c", code])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_python_recipes_compile_and_import_where_their_scheduler_is_installed() {
    let (Some(airflow), Some(dagster)) = (python("AIRFLOW"), python("DAGSTER")) else {
        eprintln!("no Python here: the DAG and the job are checked by their command lines only");
        return;
    };
    let dag = repo().join("deploy/airflow/siap_dag.py");
    let job = repo().join("deploy/dagster/siap_job.py");
    let distributed = repo().join("deploy/airflow/siap_distributed_dag.py");
    for f in [&dag, &job, &distributed] {
        let (ok, err) = python_ok(
            &airflow,
            &format!(
                "f = {:?}; compile(open(f).read(), f, 'exec')",
                f.display().to_string()
            ),
        );
        assert!(ok, "{}: {err}", f.display());
    }
    if python_ok(&airflow, "import airflow").0 {
        // The DAG loads (Airflow 2 or 3), its tasks are wired, and its
        // `report` task reads a real summary line and manifest.
        let w = sample();
        let src = read("deploy/airflow/siap_dag.py");
        let line = as_here(
            &with_date(&python_string(&src, "RUN_COMMAND"), "2026-11-27"),
            &w,
        );
        let r = bash(&w, &line);
        assert_eq!(r.status, 0, "{}", r.stderr);
        let code = format!(
            "import importlib.util\nspec = importlib.util.spec_from_file_location('siap_dag', {dag:?})\nm = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\nd = m.dag\nassert d.dag_id == 'siap_harbolnas'\nassert d.get_task('report').upstream_task_ids == {{'siap_run'}}\nassert d.get_task('siap_run').bash_command == m.RUN_COMMAND\nclass TI:\n    def xcom_pull(self, task_ids):\n        assert task_ids == 'siap_run'\n        return {stdout:?}\ns = m.report(ti=TI())\nassert (s['ready'], s['not_ready'], s['status']) == (5, 7, 'published'), s",
            dag = dag.display().to_string(),
            stdout = r.stdout,
        );
        let (ok, err) = python_ok(&airflow, &code);
        assert!(ok, "the DAG does not load or run its report: {err}");
        // The distributed DAG: its steps in order, the stage task mapped
        // over the commands made from a real plan.
        let plan = w.siap(&["plan", "pipelines/harbolnas.toml", "--work-dir", "dist"]);
        plan.assert_success();
        let code = format!(
            "import importlib.util\nspec = importlib.util.spec_from_file_location('siap_distributed_dag', {dag:?})\nm = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\nd = m.dag\nassert d.get_task('resolve').upstream_task_ids == {{'stage'}}\nassert d.get_task('finish').upstream_task_ids == {{'resolve'}}\ncommands = m.stage_commands({plan:?})\nassert len(commands) == 8 and all(c.startswith('siap stage ') for c in commands), commands",
            dag = distributed.display().to_string(),
            plan = plan.stdout.trim(),
        );
        let (ok, err) = python_ok(&airflow, &code);
        assert!(ok, "the distributed DAG does not load: {err}");
    } else {
        eprintln!("Airflow is not installed here: the DAG was compiled, not loaded");
    }
    if python_ok(&dagster, "import dagster").0 {
        // The job itself, in process, on the sample: its op runs siap,
        // reads the summary and the manifest.
        let w = sample();
        let command = as_here(
            &python_string(&read("deploy/dagster/siap_job.py"), "RUN_COMMAND"),
            &w,
        );
        let bin = Path::new(env!("CARGO_BIN_EXE_siap")).parent().unwrap();
        let code = format!(
            "import importlib.util, os\nos.environ['PATH'] = {bin:?} + ':' + os.environ['PATH']\nspec = importlib.util.spec_from_file_location('siap_job', {job:?})\nm = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\nassert [n.name for n in m.defs.get_job_def('siap_harbolnas').nodes] == ['siap_run']\nm.RUN_COMMAND = {command:?}\nr = m.siap_harbolnas.execute_in_process(run_config={{'ops': {{'siap_run': {{'config': {{'date': '2026-11-27'}}}}}}}})\nassert r.success\nout = r.output_for_node('siap_run')\nassert (out['ready'], out['not_ready']) == (5, 7), out",
            bin = bin.display().to_string(),
            job = job.display().to_string(),
        );
        let (ok, err) = python_ok(&dagster, &code);
        assert!(ok, "the job does not run: {err}");
    } else {
        eprintln!("Dagster is not installed here: the job was compiled, not loaded");
    }
}

/// The version the package is built with when cargo-deb is not installed.
const CARGO_DEB: &str = "3.8.0";

/// `cargo-deb`: the installed one, else one installed for the tests under
/// `target/tools` (once, about a minute), so `cargo test` needs nothing
/// but the Rust toolchain.
fn cargo_deb() -> Command {
    if Command::new("cargo-deb")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let mut c = Command::new("cargo-deb");
        c.current_dir(repo());
        return c;
    }
    let root = repo().join("target/tools");
    let bin = root.join("bin/cargo-deb");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        ok(Command::new(cargo)
            .args([
                "install",
                "cargo-deb",
                "--locked",
                "--version",
                CARGO_DEB,
                "--root",
            ])
            .arg(&root));
    }
    let mut c = Command::new(bin);
    c.current_dir(repo());
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Purges the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "siap"]).output();
        let _ = std::fs::remove_dir_all("/var/lib/siap");
        let _ = std::fs::remove_dir_all("/etc/siap");
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn installed_already() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "siap"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

#[test]
fn the_debian_package_installs_runs_the_sample_and_purges() {
    let release = repo().join("target/release/siap");
    assert_eq!(
        PathBuf::from(env!("CARGO_BIN_EXE_siap")),
        release,
        "the package holds target/release/siap: run the tests with --release"
    );
    let w = Workdir::new();
    let deb = w.join("siap.deb");
    ok(cargo_deb()
        .args(["--no-build", "--strip", "--quiet", "-o"])
        .arg(&deb));
    let contents = ok(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for f in [
        "./usr/bin/siap",
        "./usr/lib/systemd/system/siap.service",
        "./usr/lib/systemd/system/siap.timer",
        "./usr/share/doc/siap/deploy.md",
        "./usr/share/siap/examples/pipelines/harbolnas.toml",
        "./usr/share/siap/examples/sample_data/stock/walet_emas.ndjson",
    ] {
        assert!(
            contents.contains(f),
            "{f} is not in the package:\n{contents}"
        );
    }
    let example = "/usr/share/siap/examples/pipelines/harbolnas.toml";
    if !is_root() || installed_already() {
        // Not root, or a real installation to leave alone: unpack it and
        // run what it holds.
        eprintln!("not installing the package here (not root, or siap is installed): unpacking it");
        let root = w.join("root");
        ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
        let bin = root.join("usr/bin/siap");
        let pipeline = root.join(example.trim_start_matches('/'));
        let r = Command::new(bin)
            .arg("run")
            .arg(pipeline)
            .args(["--date", "2026-11-27", "--work-dir"])
            .arg(w.join("work"))
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        return;
    }
    let _purge = Installed;
    ok(Command::new("dpkg").arg("-i").arg(&deb));
    let user = ok(Command::new("getent").args(["passwd", "siap"]));
    assert!(user.contains(":/var/lib/siap:"), "{user}");
    assert!(ok(Command::new("/usr/bin/siap").arg("--version")).starts_with("siap "));
    // The nightly user runs the sample into its own work folder.
    let out = ok(Command::new("runuser").args([
        "-u",
        "siap",
        "--",
        "siap",
        "run",
        example,
        "--date",
        "2026-11-27",
        "--work-dir",
        "/var/lib/siap/harbolnas",
        "--summary",
        "json",
    ]));
    let s: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        (s["ready"].as_u64(), s["not_ready"].as_u64()),
        (Some(5), Some(7))
    );
    let readiness =
        std::fs::read_to_string("/var/lib/siap/harbolnas/latest/readiness.csv").unwrap();
    assert_eq!(readiness.lines().count(), 13);
    // The units as installed (ExecStart=siap found in /usr/bin).
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        ok(Command::new("systemd-analyze").args([
            "verify",
            "--man=no",
            "/usr/lib/systemd/system/siap.service",
            "/usr/lib/systemd/system/siap.timer",
        ]));
    }
    ok(Command::new("dpkg").args(["--purge", "siap"]));
    assert!(!Path::new("/usr/bin/siap").exists());
    let gone = Command::new("getent")
        .args(["passwd", "siap"])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the siap user outlived the purge");
}

/// The distributed path's recipes: the Kubernetes manifests parse, and a
/// whole run goes through their command lines and the Airflow DAG's as
/// written (paths, date and run id replaced; the rules in-process instead
/// of on the cluster's scheduler): plan, a stage task per feed index,
/// resolve, finish, published.
#[test]
fn the_distributed_recipes_run_as_written() {
    let kinds = |path: &str| -> Vec<String> {
        YamlLoader::load_from_str(&read(path))
            .unwrap()
            .iter()
            .map(|d| yaml_str(&d["kind"]).to_string())
            .collect()
    };
    assert_eq!(
        kinds("deploy/kubernetes/ballista.yaml"),
        ["Service", "Deployment", "Deployment"]
    );
    assert_eq!(kinds("deploy/kubernetes/finish-job.yaml"), ["Job"]);
    let stage_job =
        &YamlLoader::load_from_str(&read("deploy/kubernetes/stage-job.yaml")).unwrap()[0];
    assert_eq!(yaml_str(&stage_job["spec"]["completionMode"]), "Indexed");
    let stage_args: Vec<String> = stage_job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| yaml_str(a).to_string())
        .collect();
    assert!(stage_args.contains(&"$(JOB_COMPLETION_INDEX)".to_string()));

    let w = sample();
    let dag = read("deploy/airflow/siap_distributed_dag.py");
    let command = |name: &str| as_here(&with_date(&python_string(&dag, name), "2026-11-27"), &w);
    let planned = bash(&w, &command("PLAN_COMMAND"));
    assert_eq!(planned.status, 0, "{}", planned.stderr);
    let plan: Value = serde_json::from_str(planned.stdout.lines().last().unwrap()).unwrap();
    let run_id = plan["run_id"].as_str().unwrap();
    assert_eq!(run_id, "2026-11-27", "the DAG's run id, as templated here");
    // The Indexed Job's pods, one per feed index.
    for index in 0..plan["feeds"].as_array().unwrap().len() {
        let args: Vec<String> = stage_args
            .iter()
            .map(|a| {
                as_here(a, &w)
                    .replace("RUN_ID_HERE", run_id)
                    .replace("$(JOB_COMPLETION_INDEX)", &index.to_string())
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        w.siap(&args).assert_success();
    }
    // The DAG's mapped stage command, for one feed (a retry: same bytes).
    let first = plan["feeds"][0]["id"].as_str().unwrap();
    let stage = as_here(&python_string(&dag, "STAGE_COMMAND"), &w)
        .replace("{run}", run_id)
        .replace("{source}", first);
    let r = bash(&w, &stage);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let resolve = command("RESOLVE_COMMAND").replace("df://siap-ballista-scheduler:50050", "local");
    let r = bash(&w, &resolve);
    if cfg!(feature = "distributed") {
        assert_eq!(r.status, 0, "{}", r.stderr);
        let r = bash(&w, &command("FINISH_COMMAND"));
        assert_eq!(r.status, 0, "{}", r.stderr);
        let readiness = std::fs::read_to_string(w.join("work/latest/readiness.csv")).unwrap();
        assert_eq!(readiness.matches(",READY,").count(), 5, "{readiness}");
    } else {
        assert_eq!(r.status, 2, "{}", r.stderr);
    }
}

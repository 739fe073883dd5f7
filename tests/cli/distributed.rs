//! The distributed path: `siap plan` → `siap stage` (a task per feed, two
//! at a time) → `siap resolve` (the rules as SQL on DataFusion, or on a
//! Ballista cluster of separate processes) → `siap finish`. Its published
//! files are byte for byte those of `siap run` on the same inputs.

// Without the feature only the tests that need no DataFusion are built.
#![cfg_attr(not(feature = "distributed"), allow(dead_code))]

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{Run, Workdir, published, repo};

/// The sample campaign (duplicates, a conflict, every flag) in `w`.
pub(crate) fn sample(w: &Workdir) -> &'static str {
    crate::harness::copy_dir(&repo().join("sample_data"), &w.join("sample_data"));
    std::fs::create_dir_all(w.join("pipelines")).unwrap();
    std::fs::copy(
        repo().join("pipelines/harbolnas.toml"),
        w.join("pipelines/harbolnas.toml"),
    )
    .unwrap();
    "pipelines/harbolnas.toml"
}

/// A generated campaign with every kind of bad row and duplicates across
/// feeds, in `w/g`.
fn generated(w: &Workdir) -> &'static str {
    generate(w, [200, 30_000, 6_000], &[])
}

/// `siap generate` into `w/g`: `[products, stock rows, shipment rows]`
/// and `more` flags; the campaign's pipeline file.
fn generate(w: &Workdir, [products, stock, ships]: [u32; 3], more: &[&str]) -> &'static str {
    let sizes = [products, stock, ships].map(|n| n.to_string());
    let mut args = vec![
        "generate",
        "--out",
        "g",
        "--products",
        &sizes[0],
        "--stock-rows",
        &sizes[1],
        "--shipment-rows",
        &sizes[2],
    ];
    args.extend_from_slice(more);
    w.siap(&args).assert_success();
    "g/pipeline.toml"
}

/// One feed's stage task.
fn stage_one(w: &Workdir, pipeline: &str, work: &str, run_id: &str, feed: &str) -> Run {
    w.siap(&[
        "stage",
        pipeline,
        "--work-dir",
        work,
        "--run",
        run_id,
        "--source",
        feed,
    ])
}

/// `siap plan`: the plan, parsed.
pub(crate) fn plan(w: &Workdir, pipeline: &str, work: &str) -> serde_json::Value {
    plan_as(w, pipeline, work, &[])
}

/// `siap plan` with more arguments (`--run ID`, another `--date`).
fn plan_as(w: &Workdir, pipeline: &str, work: &str, more: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", pipeline, "--work-dir", work];
    if !more.contains(&"--date") {
        args.extend(["--date", "2026-11-27"]);
    }
    args.extend_from_slice(more);
    let run = w.siap(&args);
    run.assert_success();
    serde_json::from_str(&run.stdout).expect("the plan is JSON")
}

pub(crate) fn feeds(plan: &serde_json::Value) -> Vec<String> {
    plan["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn siap_child(w: &Workdir, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_siap"))
        .args(args)
        .current_dir(w.path())
        .env_remove("SIAP_LOG")
        .env_remove("SIAP_WORK_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start siap")
}

/// Every feed's stage task, two processes at a time.
pub(crate) fn stage_all(w: &Workdir, pipeline: &str, work: &str, run_id: &str, feeds: &[String]) {
    for pair in feeds.chunks(2) {
        let children: Vec<Child> = pair
            .iter()
            .map(|id| {
                siap_child(
                    w,
                    &[
                        "stage",
                        pipeline,
                        "--work-dir",
                        work,
                        "--run",
                        run_id,
                        "--source",
                        id,
                    ],
                )
            })
            .collect();
        for c in children {
            crate::harness::finish(c).assert_success();
        }
    }
}

/// The whole path in `work`, the rules on `engine` at `partitions`.
fn distributed(w: &Workdir, pipeline: &str, work: &str, engine: &str, partitions: &str) {
    let run_id = resolved_flight(w, pipeline, work, engine, partitions, &[]);
    w.siap(&["finish", pipeline, "--work-dir", work, "--run", &run_id])
        .assert_success();
    assert!(
        !w.join(work).join("flights").join(&run_id).exists(),
        "a finished flight is removed"
    );
}

/// Plan (with `more` arguments), stage and resolve: a flight ready to
/// finish; its run id.
fn resolved_flight(
    w: &Workdir,
    pipeline: &str,
    work: &str,
    engine: &str,
    partitions: &str,
    more: &[&str],
) -> String {
    let plan = plan_as(w, pipeline, work, more);
    let run_id = plan["run_id"].as_str().unwrap().to_string();
    stage_all(w, pipeline, work, &run_id, &feeds(&plan));
    w.siap(&[
        "resolve",
        "--work-dir",
        work,
        "--run",
        &run_id,
        "--engine",
        engine,
        "--partitions",
        partitions,
    ])
    .assert_success();
    run_id
}

pub(crate) fn run(w: &Workdir, pipeline: &str, work: &str) {
    w.siap(&["run", pipeline, "--date", "2026-11-27", "--work-dir", work])
        .assert_success();
}

#[track_caller]
pub(crate) fn assert_same_files(a: &Path, b: &Path) {
    let (a, b) = (published(a), published(b));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "the same files");
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{name} differs:\n{}\n---\n{}",
            String::from_utf8_lossy(x),
            String::from_utf8_lossy(y)
        );
    }
}

#[cfg(feature = "distributed")]
#[test]
fn the_sample_through_the_distributed_path_gives_the_bytes_of_run() {
    let w = Workdir::new();
    let pipeline = sample(&w);
    run(&w, pipeline, "single");
    distributed(&w, pipeline, "four", "local", "4");
    distributed(&w, pipeline, "one", "local", "1");
    assert_same_files(&w.join("single"), &w.join("four"));
    assert_same_files(&w.join("single"), &w.join("one"));
    // Not trivially equal: the rules met duplicates and a conflict.
    let exceptions = std::fs::read_to_string(w.join("four/latest/exceptions.csv")).unwrap();
    assert!(exceptions.contains("conflicting duplicate"), "{exceptions}");
}

#[cfg(feature = "distributed")]
#[test]
fn a_generated_campaign_through_the_distributed_path_gives_the_bytes_of_run() {
    let w = Workdir::new();
    let pipeline = generated(&w);
    run(&w, pipeline, "single");
    distributed(&w, pipeline, "dist", "local", "3");
    assert_same_files(&w.join("single"), &w.join("dist"));
    let m = crate::harness::manifest(&w.join("dist"));
    let sources = m["sources"].as_array().unwrap();
    for key in ["superseded", "duplicates", "rejected"] {
        let n: u64 = sources.iter().map(|s| s[key].as_u64().unwrap_or(0)).sum();
        assert!(n > 0, "the campaign has {key} rows");
    }
}

/// A stage task run again writes the same bytes and succeeds; once its
/// feed has changed, it is refused and the flight keeps the first bytes.
#[test]
fn a_retried_stage_task_writes_the_same_bytes_or_is_refused() {
    let w = Workdir::new();
    let pipeline = sample(&w);
    let plan = plan(&w, pipeline, "work");
    let run_id = plan["run_id"].as_str().unwrap();
    let feed = &feeds(&plan)[0];
    let stage = || stage_one(&w, pipeline, "work", run_id, feed);
    stage().assert_success();
    let flight = w.join("work/flights").join(run_id);
    let before = files(&flight);
    stage().assert_success();
    assert_eq!(files(&flight), before, "a retry changes nothing");

    let location = plan_location(&flight, feed);
    let text = std::fs::read_to_string(w.join(&location)).unwrap();
    std::fs::write(w.join(&location), text.replacen('0', "9", 1)).unwrap();
    let refused = stage();
    refused.code(6);
    assert!(
        refused.stderr.contains("already written with other bytes"),
        "{}",
        refused.stderr
    );
    assert_eq!(files(&flight), before, "a refused task changes nothing");
}

/// The location of a feed, as its task recorded it.
fn plan_location(flight: &Path, feed: &str) -> String {
    let task: serde_json::Value = serde_json::from_slice(
        &std::fs::read(flight.join("tasks").join(format!("{feed}.json"))).unwrap(),
    )
    .unwrap();
    task["fetch"]["location"].as_str().unwrap().to_string()
}

/// Every file of a folder and its bytes (scratch folders left out).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() == ".scratch" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((name, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Resolve and finish name the feeds not staged yet; `latest` is not
/// touched; a task given another pipeline file is refused.
#[test]
fn a_flight_not_fully_staged_is_refused_by_name() {
    let w = Workdir::new();
    let pipeline = sample(&w);
    let plan = plan(&w, pipeline, "work");
    let run_id = plan["run_id"].as_str().unwrap();
    let all = feeds(&plan);
    stage_one(&w, pipeline, "work", run_id, &all[0]).assert_success();
    let finish = w.siap(&["finish", pipeline, "--work-dir", "work", "--run", run_id]);
    finish.code(2);
    assert!(
        finish.stderr.contains(&format!("`{}`", all[1])),
        "{}",
        finish.stderr
    );
    let resolve = w.siap(&["resolve", "--work-dir", "work", "--run", run_id]);
    resolve.code(2);
    assert!(
        resolve.stderr.contains(&format!("`{}`", all[1])),
        "{}",
        resolve.stderr
    );
    assert!(
        !resolve.stderr.contains(&format!("`{}`,", all[0])),
        "{}",
        resolve.stderr
    );
    assert!(!w.join("work/latest").exists());

    crate::harness::edit(
        &w.join(pipeline),
        "minimum_units",
        "# changed\nminimum_units",
    );
    let other = stage_one(&w, pipeline, "work", run_id, &all[1]);
    other.code(2);
    assert!(
        other.stderr.contains("not the pipeline file"),
        "{}",
        other.stderr
    );
}

/// Without the `distributed` feature, `resolve` and `cluster` say how to
/// get it.
#[cfg(not(feature = "distributed"))]
#[test]
fn without_the_feature_resolve_says_how_to_build_it() {
    let w = Workdir::new();
    let pipeline = sample(&w);
    let plan = plan(&w, pipeline, "work");
    let run_id = plan["run_id"].as_str().unwrap();
    stage_all(&w, pipeline, "work", run_id, &feeds(&plan));
    let r = w.siap(&["resolve", "--work-dir", "work", "--run", run_id]);
    r.code(2);
    assert!(r.stderr.contains("--features distributed"), "{}", r.stderr);
}

/// A Ballista cluster of separate processes on 127.0.0.1: one scheduler
/// and two executors, started from the `siap` binary (`siap cluster`);
/// killed when dropped.
#[cfg(feature = "distributed")]
pub(crate) struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    port: u16,
}

#[cfg(feature = "distributed")]
impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(feature = "distributed")]
impl Cluster {
    fn start(w: &Workdir) -> Cluster {
        Cluster::start_with(w, &[])
    }

    /// A cluster whose processes have `env` (object store credentials).
    pub(crate) fn start_with(w: &Workdir, env: &[(&str, &str)]) -> Cluster {
        let port = free_ports(1);
        let scheduler = quiet_child(
            w,
            &[
                "cluster",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ],
            "scheduler",
            env,
        );
        wait_for(port, "the scheduler");
        let executors = (0..2)
            .map(|i| {
                let flight = free_ports(2);
                let child = quiet_child(
                    w,
                    &[
                        "cluster",
                        "executor",
                        "--scheduler",
                        &format!("127.0.0.1:{port}"),
                        "--bind",
                        &format!("127.0.0.1:{flight}"),
                        "--work-dir",
                        &w.join(&format!("executor-{i}")).display().to_string(),
                        "--vcores",
                        "2",
                    ],
                    &format!("executor-{i}"),
                    env,
                );
                wait_for(flight, "an executor");
                child
            })
            .collect();
        Cluster {
            scheduler,
            executors,
            port,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }
}

/// A process whose output goes to a log file in `w` (read on failure).
#[cfg(feature = "distributed")]
fn quiet_child(w: &Workdir, args: &[&str], log: &str, env: &[(&str, &str)]) -> Child {
    std::fs::create_dir_all(w.join("logs")).unwrap();
    let out = std::fs::File::create(w.join(&format!("logs/{log}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_siap"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(w.path())
        .env_remove("SIAP_LOG")
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("start siap cluster")
}

/// A port with `n` free ports from it on (none bound when it returns).
#[cfg(feature = "distributed")]
fn free_ports(n: u16) -> u16 {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if first < u16::MAX - n
            && (1..n).all(|k| std::net::TcpListener::bind(("127.0.0.1", first + k)).is_ok())
        {
            return first;
        }
    }
}

#[cfg(feature = "distributed")]
fn wait_for(port: u16, what: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < until,
            "{what} did not start on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The rules on a real Ballista cluster (a scheduler and two executors,
/// separate processes, rows shuffled between them), at 4, 2 and 1
/// partitions: the bytes of `siap run` (rules written with windows nested
/// on finer keys gave wrong results here at 2).
#[cfg(feature = "distributed")]
#[test]
fn the_rules_on_a_ballista_cluster_give_the_bytes_of_run() {
    let w = Workdir::new();
    let pipeline = generated(&w);
    run(&w, pipeline, "single");
    let cluster = Cluster::start(&w);
    distributed(&w, pipeline, "four", &cluster.url(), "4");
    distributed(&w, pipeline, "two", &cluster.url(), "2");
    distributed(&w, pipeline, "one", &cluster.url(), "1");
    for at in ["four", "two", "one"] {
        assert_same_files(&w.join("single"), &w.join(at));
    }
}

/// `siap finish` killed (SIGKILL) at any moment: `latest` stays the
/// previous run, whole, or is the new one, whole; a retried finish then
/// publishes it, or reports it published when the kill came after the
/// commit, and the result has the bytes of `siap run`.
#[cfg(feature = "distributed")]
#[test]
fn a_finish_killed_at_any_point_leaves_latest_whole_and_a_retry_completes() {
    let w = Workdir::new();
    let generate = |seed: &str| generate(&w, [2_000, 200_000, 40_000], &["--seed", seed]);
    // The new day's feeds: flights ready to finish (each holds its own
    // copies, and the pipeline file is kept as it was), and what `siap
    // run` makes of them.
    std::fs::create_dir_all(w.join("g")).unwrap();
    std::fs::copy(w.join(generate("7")), w.join("g/next.toml")).unwrap();
    let pipeline = "g/next.toml";
    run(&w, pipeline, "reference");
    let after = tables(&w.join("reference"));
    let probe = resolved_flight(&w, pipeline, "probe", "local", "2", &[]);
    let started = std::time::Instant::now();
    w.siap(&["finish", pipeline, "--work-dir", "probe", "--run", &probe])
        .assert_success();
    let took = started.elapsed().as_millis() as u64;
    let percents = [5u64, 20, 40, 60, 80, 95];
    for i in 0..percents.len() {
        let id = format!("kill-{i}");
        resolved_flight(&w, pipeline, "work", "local", "2", &["--run", &id]);
    }

    // The day before is `latest` when each finish is killed.
    let yesterday = generate("42");
    let mut landed_before = 0;
    for (i, percent) in percents.into_iter().enumerate() {
        run(&w, yesterday, "work");
        let before = tables(&w.join("work"));
        assert_ne!(before, after, "the two days differ");
        let id = format!("kill-{i}");
        let mut child = siap_child(
            &w,
            &["finish", pipeline, "--work-dir", "work", "--run", &id],
        );
        std::thread::sleep(std::time::Duration::from_millis(took * percent / 100));
        child.kill().unwrap();
        child.wait().unwrap();
        let now = tables(&w.join("work"));
        assert!(
            now == before || now == after,
            "after a kill at {percent}% of {took} ms, `latest` is neither run"
        );
        landed_before += usize::from(now == before);
        eprintln!(
            "finish killed at {percent}% of {took} ms; committed: {}",
            now == after
        );
        let retry = w.siap(&["finish", pipeline, "--work-dir", "work", "--run", &id]);
        retry.assert_success();
        assert!(
            tables(&w.join("work")) == after,
            "the retry publishes the new day"
        );
        assert!(!w.join("work/flights").join(&id).exists());
        let latest = std::fs::read_link(w.join("work/latest")).unwrap();
        assert!(latest.ends_with(&id), "the retried run is `latest`");
    }
    assert!(landed_before > 0, "some kill landed before the commit");
}

/// What `latest` published, the manifest's bytes left out (it tells
/// whether each source changed since the run before); its presence kept.
#[cfg(feature = "distributed")]
pub(crate) fn tables(work: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all = published(work);
    for (name, bytes) in &mut all {
        if name == "manifest.json" {
            bytes.clear();
        }
    }
    all
}

/// `siap finish` of run `id` retried on its flight as kept in `kept/`
/// (put back in `flight`): it succeeds, reporting the run already published.
#[cfg(feature = "distributed")]
fn finish_again(w: &Workdir, pipeline: &str, flight: &Path, id: &str) {
    crate::harness::copy_dir(&w.join("kept"), flight);
    let again = w.siap(&["finish", pipeline, "--work-dir", "work", "--run", id]);
    again.assert_success();
    assert!(
        again.stderr.contains("already published"),
        "{}",
        again.stderr
    );
}

/// A finish killed after its commit, before it removed the flight: run
/// again, it reports the run already published and removes the flight.
#[cfg(feature = "distributed")]
#[test]
fn a_finish_retried_after_its_commit_reports_the_run_and_succeeds() {
    let w = Workdir::new();
    let pipeline = sample(&w);
    let id = resolved_flight(&w, pipeline, "work", "local", "2", &[]);
    let flight = w.join("work/flights").join(&id);
    crate::harness::copy_dir(&flight, &w.join("kept"));
    w.siap(&["finish", pipeline, "--work-dir", "work", "--run", &id])
        .assert_success();
    let first = published(&w.join("work"));
    finish_again(&w, pipeline, &flight, &id);
    assert!(!flight.exists(), "the flight is removed");
    assert_eq!(published(&w.join("work")), first);
    let runs: Vec<_> = std::fs::read_dir(w.join("work/runs/2026-11-27"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1, "one run, published once");
}

/// A finish killed between its commit (the rename into `runs/`) and the
/// swap of `latest`: the retry swaps `latest` to the run, unless a run
/// committed after it is `latest` by then.
#[cfg(feature = "distributed")]
#[test]
fn a_finish_killed_between_its_commit_and_the_swap_is_swapped_by_the_retry() {
    let w = Workdir::new();
    let pipeline = sample(&w);
    let work = w.join("work");
    run(&w, pipeline, "work");
    let before = std::fs::read_link(work.join("latest")).unwrap();
    let id = resolved_flight(&w, pipeline, "work", "local", "2", &[]);
    let flight = work.join("flights").join(&id);
    crate::harness::copy_dir(&flight, &w.join("kept"));
    w.siap(&["finish", pipeline, "--work-dir", "work", "--run", &id])
        .assert_success();
    let committed = std::fs::read_link(work.join("latest")).unwrap();
    assert!(committed.ends_with(&id));
    let point = |to: &Path| {
        let tmp = work.join("latest.test");
        std::os::unix::fs::symlink(to, &tmp).unwrap();
        std::fs::rename(&tmp, work.join("latest")).unwrap();
    };

    // Killed before the swap: `latest` still names the run before.
    point(&before);
    finish_again(&w, pipeline, &flight, &id);
    assert_eq!(std::fs::read_link(work.join("latest")).unwrap(), committed);
    assert!(!flight.exists(), "the flight is removed");

    // A run committed after it is `latest`: a late retry leaves it so.
    run(&w, pipeline, "work");
    let newer = std::fs::read_link(work.join("latest")).unwrap();
    assert_ne!(newer, committed);
    finish_again(&w, pipeline, &flight, &id);
    assert_eq!(std::fs::read_link(work.join("latest")).unwrap(), newer);
}

/// An executor SIGKILLed while the rules run on the cluster: the scheduler
/// notices it gone (heartbeats stop), reruns its tasks on the other one,
/// and the run still gives the bytes of `siap run`.
#[cfg(feature = "distributed")]
#[test]
fn an_executor_killed_mid_job_costs_time_not_answers() {
    let w = Workdir::new();
    let pipeline = generate(&w, [2_000, 500_000, 100_000], &[]);
    run(&w, pipeline, "single");
    let mut cluster = Cluster::start(&w);
    let plan = plan(&w, pipeline, "dist");
    let run_id = plan["run_id"].as_str().unwrap().to_string();
    stage_all(&w, pipeline, "dist", &run_id, &feeds(&plan));
    let url = cluster.url();
    let resolve = siap_child(
        &w,
        &[
            "resolve",
            "--work-dir",
            "dist",
            "--run",
            &run_id,
            "--engine",
            &url,
            "--partitions",
            "4",
        ],
    );
    // The rules' outputs are jobs run one after another: once the
    // shipments' is written, the stock's (the longest) is running.
    let second = w
        .join("dist/flights")
        .join(&run_id)
        .join("resolved/shipment_decided.parquet");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !second.exists() {
        assert!(
            std::time::Instant::now() < until,
            "resolve made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let executor = &mut cluster.executors[0];
    executor.kill().unwrap();
    executor.wait().unwrap();
    crate::harness::finish(resolve).assert_success();
    let log = std::fs::read_to_string(w.join("logs/scheduler.log")).unwrap();
    assert!(
        log.contains("on lost Executor"),
        "the kill hit a running job:\n{log}"
    );
    w.siap(&["finish", pipeline, "--work-dir", "dist", "--run", &run_id])
        .assert_success();
    assert_same_files(&w.join("single"), &w.join("dist"));
}

/// `finish` tells what `run` tells: the summary line on stdout and the
/// metrics file; a finish that cannot run says so under the plan's date.
#[cfg(feature = "distributed")]
#[test]
fn finish_prints_the_summary_and_writes_the_metrics_of_a_run() {
    let w = Workdir::new();
    let pipeline = sample(&w);
    let id = resolved_flight(&w, pipeline, "work", "local", "2", &[]);
    let finish = |id: &str| {
        w.siap(&[
            "finish",
            pipeline,
            "--work-dir",
            "work",
            "--run",
            id,
            "--summary",
            "json",
            "--metrics-file",
            "siap.prom",
        ])
    };
    let r = finish(&id);
    r.assert_success();
    let s: serde_json::Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(s["status"], "published", "{s}");
    assert_eq!(s["run_date"], "2026-11-27");
    assert_eq!(
        (s["ready"].as_u64(), s["not_ready"].as_u64()),
        (Some(5), Some(7))
    );
    let metrics = std::fs::read_to_string(w.join("siap.prom")).unwrap();
    assert!(
        metrics.contains("siap_last_success_timestamp_seconds"),
        "{metrics}"
    );

    let plan = plan_as(
        &w,
        pipeline,
        "work",
        &["--date", "2026-11-28", "--run", "early"],
    );
    assert_eq!(plan["run_date"], "2026-11-28");
    let r = finish("early");
    r.code(2);
    let s: serde_json::Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("failed"), Some(2))
    );
    assert_eq!(s["run_date"], "2026-11-28", "the plan's date");
}

/// A large feed staged twice (staging on every core, rows spread over
/// partitions as the threads meet them) writes the same bytes: what a
/// retried task needs to be accepted.
#[test]
fn a_large_feed_staged_twice_writes_the_same_bytes() {
    let w = Workdir::new();
    let pipeline = generate(&w, [2_000, 400_000, 100_000], &["--stock-files", "1"]);
    let mut flights = Vec::new();
    for id in ["first", "second"] {
        let plan = plan_as(&w, pipeline, "work", &["--run", id]);
        stage_all(&w, pipeline, "work", id, &feeds(&plan));
        let flight = w.join("work/flights").join(id);
        let keyed: Vec<_> = files(&flight)
            .into_iter()
            .filter(|(name, _)| !name.starts_with("plan.json") && !name.starts_with("tasks/"))
            .collect();
        flights.push(keyed);
    }
    let names: Vec<_> = flights[0].iter().map(|(n, _)| n.clone()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("keyed/stock/")),
        "{names:?}"
    );
    for ((name, a), (_, b)) in flights[0].iter().zip(&flights[1]) {
        assert!(
            a == b,
            "{name} differs between two stagings of the same feed"
        );
    }
    assert_eq!(flights[0].len(), flights[1].len());
}

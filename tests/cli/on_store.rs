//! The distributed path with its work directory on object storage
//! (`--work-dir s3://bucket/prefix`), against moto's S3 server on
//! 127.0.0.1, the rules on a Ballista cluster whose processes read the
//! flight from the bucket: the bytes of `siap run`, `latest` swapped by
//! compare-and-swap, and a store that would not refuse a conflicting
//! write is not used.

// Without the feature only the test that needs no DataFusion is built.
#![cfg_attr(not(feature = "distributed"), allow(dead_code))]

use crate::bucket::{Moto, SECRET_CANARY};
use crate::harness::{Run, Workdir};

const BUCKET: &str = "siap-runs";
const WORK: &str = "s3://siap-runs/harbolnas";

fn env(m: &Moto) -> Vec<(&'static str, String)> {
    m.env()
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// What `latest` names in the bucket (`runs/<date>/<run-id>`).
fn latest(m: &Moto) -> String {
    let bytes = m
        .get(BUCKET, "harbolnas/latest")
        .expect("a `latest` object");
    String::from_utf8(bytes).unwrap().trim().to_string()
}

/// The run `latest` names, downloaded to `w/<to>/latest/`.
fn download_latest(w: &Workdir, m: &Moto, to: &str) {
    let dir = w.join(to).join("latest");
    let _ = std::fs::remove_dir_all(&dir);
    m.download(BUCKET, &format!("harbolnas/{}", latest(m)), &dir);
}

#[track_caller]
fn no_secret(runs: &[&Run]) {
    for r in runs {
        for text in [&r.stderr, &r.stdout] {
            assert!(!text.contains(SECRET_CANARY), "leaked: {text}");
        }
    }
}

/// Plan, stage (two tasks at a time, one of them retried), resolve on
/// `engine`, finish: all in the bucket. The run id.
#[cfg(feature = "distributed")]
fn through_the_bucket(w: &Workdir, env: &[(&str, &str)], date: &str, engine: &str) -> String {
    let siap = |args: &[&str]| {
        let r = w.siap_env(args, env);
        r.assert_success();
        no_secret(&[&r]);
        r
    };
    let pipeline = "pipelines/harbolnas.toml";
    let plan = siap(&["plan", pipeline, "--work-dir", WORK, "--date", date]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let run_id = plan["run_id"].as_str().unwrap().to_string();
    let feeds = crate::distributed::feeds(&plan);
    let stage = |id: &str| {
        siap(&[
            "stage",
            pipeline,
            "--work-dir",
            WORK,
            "--run",
            &run_id,
            "--source",
            id,
        ])
    };
    for pair in feeds.chunks(2) {
        std::thread::scope(|s| {
            for id in pair {
                s.spawn(|| stage(id));
            }
        });
    }
    // A retried task writes the same bytes: accepted.
    stage(&feeds[0]);
    siap(&[
        "resolve",
        "--work-dir",
        WORK,
        "--run",
        &run_id,
        "--engine",
        engine,
        "--partitions",
        "2",
    ]);
    let finish = w.siap_env(
        &["finish", pipeline, "--work-dir", WORK, "--run", &run_id],
        env,
    );
    no_secret(&[&finish]);
    // Published; with warnings (exit 7) when a fetch fell back to a copy.
    assert!([0, 7].contains(&finish.status), "{}", finish.stderr);
    run_id
}

/// A feed whose fetch fails tonight (`on_fetch_failure = "reuse"`) takes
/// its last good copy from the runs in the bucket, as from a local work
/// directory: published with warnings, the manifest naming the copy.
#[cfg(feature = "distributed")]
#[test]
fn a_failed_fetch_falls_back_to_the_last_copy_in_the_bucket() {
    let w = Workdir::new();
    let pipeline = crate::distributed::sample(&w);
    crate::harness::edit(
        &w.join(pipeline),
        "location = \"../sample_data/stock/kopi_nusantara.csv\"",
        "location = \"../sample_data/stock/kopi_nusantara.csv\"\non_fetch_failure = \"reuse\"",
    );
    let m = Moto::start();
    m.put(&format!("/{BUCKET}"), b"");
    let env = env(&m);
    let env = pairs(&env);
    let first = through_the_bucket(&w, &env, "2026-11-27", "local");
    std::fs::remove_file(w.join("sample_data/stock/kopi_nusantara.csv")).unwrap();
    let second = through_the_bucket(&w, &env, "2026-11-27", "local");
    assert!(latest(&m).ends_with(&second));
    let manifest: serde_json::Value = serde_json::from_slice(
        &m.get(BUCKET, &format!("harbolnas/{}/manifest.json", latest(&m)))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["status"], "success_with_warnings");
    let kopi = manifest["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "kopi-nusantara")
        .unwrap();
    assert_eq!(kopi["refreshed"], false, "{kopi}");
    assert!(
        kopi["reused_from"].as_str().unwrap().ends_with(&first),
        "{kopi}"
    );
    // The copy is the first night's, byte for byte.
    assert_eq!(
        m.get(
            BUCKET,
            &format!("harbolnas/{}/raw/kopi-nusantara", latest(&m))
        ),
        std::fs::read(crate::harness::repo().join("sample_data/stock/kopi_nusantara.csv")).ok()
    );
}

/// The sample through the bucket, the rules on a Ballista cluster (a
/// scheduler and two executors reading the keyed rows from the bucket):
/// the published run has the bytes of `siap run`; the flight is removed;
/// a second day's run takes `latest` and leaves the first whole.
#[cfg(feature = "distributed")]
#[test]
fn a_work_dir_on_object_storage_gives_the_bytes_of_run() {
    let w = Workdir::new();
    let pipeline = crate::distributed::sample(&w);
    crate::distributed::run(&w, pipeline, "single");
    let m = Moto::start();
    m.put(&format!("/{BUCKET}"), b"");
    let env = env(&m);
    let env = pairs(&env);
    let cluster = crate::distributed::Cluster::start_with(&w, &env);

    let first = through_the_bucket(&w, &env, "2026-11-27", &cluster.url());
    assert!(latest(&m).ends_with(&first), "{}", latest(&m));
    download_latest(&w, &m, "store");
    crate::distributed::assert_same_files(&w.join("single"), &w.join("store"));
    assert!(
        m.keys(BUCKET, "harbolnas/flights").is_empty(),
        "a finished flight is removed: {:?}",
        m.keys(BUCKET, "harbolnas/flights")
    );
    let objects = m.keys(BUCKET, "harbolnas");
    for key in &objects {
        let bytes = m.get(BUCKET, key).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET_CANARY),
            "{key} holds the secret"
        );
    }

    // Run again, resolved in-process: `latest` moves, the first run
    // stays as it was.
    let second = through_the_bucket(&w, &env, "2026-11-27", "local");
    assert!(latest(&m).ends_with(&second), "{}", latest(&m));
    let first_run = format!("harbolnas/runs/2026-11-27/{first}");
    let kept: Vec<_> = m
        .keys(BUCKET, &first_run)
        .into_iter()
        .filter(|k| objects.contains(k))
        .collect();
    assert_eq!(kept, m.keys(BUCKET, &first_run));
    assert!(kept.iter().any(|k| k.ends_with("manifest.json")));
}

/// A store that would take a second create of one object, or an update
/// of a version it does not have, cannot hold runs: `siap plan` and `siap
/// run` say so and write nothing there. `siap diff` takes a local folder
/// only.
#[test]
fn a_store_that_does_not_refuse_conflicting_writes_is_not_used() {
    let w = Workdir::new();
    let pipeline = w.copy_sample();
    let pipeline = pipeline.to_str().unwrap();
    let m = Moto::start();
    m.put(&format!("/{BUCKET}"), b"");
    let mut env_owned = env(&m);
    // object_store then sends no condition at all, as a store that
    // ignores them would behave.
    env_owned.push(("AWS_CONDITIONAL_PUT", "disabled".into()));
    let env = pairs(&env_owned);
    let plan = w.siap_env(&["plan", pipeline, "--work-dir", WORK], &env);
    assert_eq!(plan.status, 2, "{}", plan.stderr);
    assert!(
        plan.stderr.contains(WORK) && plan.stderr.contains("conditional writes"),
        "{}",
        plan.stderr
    );
    assert!(m.keys(BUCKET, "harbolnas").is_empty(), "nothing written");
    let run = w.siap_env(&["run", pipeline, "--work-dir", WORK], &env);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("conditional writes"), "{}", run.stderr);
    assert!(m.keys(BUCKET, "harbolnas").is_empty(), "nothing written");
    let diff = w.siap_env(&["diff", pipeline, "--work-dir", WORK], &env);
    assert_eq!(diff.status, 2, "{}", diff.stderr);
    assert!(
        diff.stderr.contains("needs a local folder"),
        "{}",
        diff.stderr
    );
    // A bucket that is not there is just that.
    let env = pairs(&env_owned);
    let nowhere = w.siap_env(
        &["plan", pipeline, "--work-dir", "s3://no-such-bucket/runs"],
        &env[..env.len() - 1],
    );
    assert_eq!(nowhere.status, 6, "{}", nowhere.stderr);
    assert!(
        nowhere.stderr.contains("s3://no-such-bucket/runs")
            && !nowhere.stderr.contains("conditional writes"),
        "{}",
        nowhere.stderr
    );
    no_secret(&[&plan, &run, &nowhere]);
}

/// Every object under `prefix` and its bytes.
fn objects(m: &Moto, prefix: &str) -> Vec<(String, Vec<u8>)> {
    m.keys(BUCKET, prefix)
        .into_iter()
        .map(|k| {
            let bytes = m.get(BUCKET, &k).unwrap();
            (k, bytes)
        })
        .collect()
}

/// A stage task run again writes the same objects, and is refused when
/// its feed changed meanwhile: conditional creates, as files on disk.
#[test]
fn a_retried_stage_task_on_object_storage_writes_the_same_bytes_or_is_refused() {
    let w = Workdir::new();
    let pipeline = crate::distributed::sample(&w);
    let m = Moto::start();
    m.put(&format!("/{BUCKET}"), b"");
    let env = env(&m);
    let env = pairs(&env);
    let plan = w.siap_env(&["plan", pipeline, "--work-dir", WORK], &env);
    plan.assert_success();
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let run_id = plan["run_id"].as_str().unwrap();
    let feed = &crate::distributed::feeds(&plan)[0];
    let stage = || {
        w.siap_env(
            &[
                "stage",
                pipeline,
                "--work-dir",
                WORK,
                "--run",
                run_id,
                "--source",
                feed,
            ],
            &env,
        )
    };
    stage().assert_success();
    let flight = format!("harbolnas/flights/{run_id}");
    let before = objects(&m, &flight);
    assert!(
        before
            .iter()
            .any(|(k, _)| k.ends_with(&format!("tasks/{feed}.json")))
    );
    stage().assert_success();
    assert_eq!(objects(&m, &flight), before, "a retry changes nothing");

    let task: serde_json::Value = serde_json::from_slice(
        &m.get(BUCKET, &format!("{flight}/tasks/{feed}.json"))
            .unwrap(),
    )
    .unwrap();
    let location = w.join(task["fetch"]["location"].as_str().unwrap());
    let text = std::fs::read_to_string(&location).unwrap();
    std::fs::write(&location, text.replacen('0', "9", 1)).unwrap();
    let refused = stage();
    refused.code(6);
    assert!(
        refused.stderr.contains("already written with other bytes")
            && refused
                .stderr
                .contains(&format!("{WORK}/flights/{run_id}/")),
        "{}",
        refused.stderr
    );
    assert_eq!(
        objects(&m, &flight),
        before,
        "a refused task changes nothing"
    );
    no_secret(&[&refused]);
}

/// `siap finish` into the bucket killed (SIGKILL) at any moment: `latest`
/// names the previous run or the new one, each whole; a retried finish
/// publishes the new one.
#[cfg(feature = "distributed")]
#[test]
fn a_finish_on_object_storage_killed_at_any_point_leaves_latest_whole() {
    let w = Workdir::new();
    let pipeline = crate::distributed::sample(&w);
    let m = Moto::start();
    m.put(&format!("/{BUCKET}"), b"");
    let env = env(&m);
    let env = pairs(&env);
    let ready = |id: &str| {
        let siap = |args: &[&str]| w.siap_env(args, &env).assert_success().stdout.clone();
        let plan = siap(&[
            "plan",
            pipeline,
            "--work-dir",
            WORK,
            "--run",
            id,
            "--date",
            "2026-11-27",
        ]);
        let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
        for feed in crate::distributed::feeds(&plan) {
            siap(&[
                "stage",
                pipeline,
                "--work-dir",
                WORK,
                "--run",
                id,
                "--source",
                &feed,
            ]);
        }
        siap(&["resolve", "--work-dir", WORK, "--run", id]);
    };
    let finish = |id: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_siap"));
        cmd.args(["finish", pipeline, "--work-dir", WORK, "--run", id])
            .current_dir(w.path())
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let published = || {
        download_latest(&w, &m, "store");
        crate::distributed::tables(&w.join("store"))
    };
    // The day before, and the new day (a stock and a shipment feed
    // changed): flights ready to finish, each with its own copies.
    let kills = [10u64, 30, 50, 70, 90];
    for i in 0..kills.len() {
        ready(&format!("a-before-{i}"));
    }
    let started = std::time::Instant::now();
    assert!(finish("a-before-0").status().unwrap().success());
    let took = started.elapsed().as_millis() as u64;
    let before = published();
    crate::harness::change_the_sample(&w);
    crate::distributed::run(&w, pipeline, "single");
    let after = crate::distributed::tables(&w.join("single"));
    assert_ne!(before, after, "the two days differ");
    for i in 0..kills.len() {
        ready(&format!("b-after-{i}"));
    }

    let mut landed_before = 0;
    for (i, percent) in kills.into_iter().enumerate() {
        if i > 0 {
            assert!(finish(&format!("a-before-{i}")).status().unwrap().success());
        }
        assert!(published() == before);
        let id = format!("b-after-{i}");
        let mut child = finish(&id).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(took * percent / 100));
        child.kill().unwrap();
        child.wait().unwrap();
        let now = published();
        assert!(
            now == before || now == after,
            "after a kill at {percent}% of {took} ms, `latest` is neither run whole"
        );
        landed_before += usize::from(now == before);
        assert!(finish(&id).status().unwrap().success(), "the retry");
        assert!(published() == after, "the retry publishes the new day");
        assert!(latest(&m).ends_with(&id));
        assert!(
            m.keys(BUCKET, &format!("harbolnas/flights/{id}"))
                .is_empty()
        );
    }
    eprintln!(
        "{landed_before} of {} kills landed before the commit",
        kills.len()
    );
    assert!(landed_before > 0, "some kill landed before the commit");
}

/// `siap run` straight into a bucket: the bytes of a run on disk, `siap
/// runs` lists it from the bucket, and a `--supplier` rerun takes every
/// other source's copy from the bucket's last run (the other suppliers'
/// files are gone from the disk meanwhile).
#[test]
fn siap_run_into_a_bucket_publishes_the_run_on_disk_and_reruns_one_supplier() {
    let w = Workdir::new();
    let pipeline = crate::distributed::sample(&w);
    crate::distributed::run(&w, pipeline, "single");
    let m = Moto::start();
    m.put(&format!("/{BUCKET}"), b"");
    let env = env(&m);
    let env = pairs(&env);
    let run = |more: &[&str]| {
        let mut args = vec!["run", pipeline, "--work-dir", WORK, "--date", "2026-11-27"];
        args.extend_from_slice(more);
        let r = w.siap_env(&args, &env);
        r.assert_success();
        no_secret(&[&r]);
        r
    };
    let first = run(&[]);
    assert!(
        first.stderr.contains(&format!("{WORK}/runs/2026-11-27/")),
        "{}",
        first.stderr
    );
    download_latest(&w, &m, "store");
    crate::distributed::assert_same_files(&w.join("single"), &w.join("store"));
    let first_run = latest(&m);

    for other in [
        "stock/aroma_pagi.json",
        "stock/renyah_jaya.csv",
        "shipments",
    ] {
        let gone = w.join("sample_data").join(other);
        let _ = std::fs::remove_file(&gone).or_else(|_| std::fs::remove_dir_all(&gone));
        assert!(!gone.exists());
    }
    run(&["--supplier", "SUP-NUSA"]);
    assert_ne!(latest(&m), first_run, "the rerun took `latest`");
    download_latest(&w, &m, "store");
    let manifest = crate::harness::manifest(&w.join("store"));
    let sources = manifest["sources"].as_array().unwrap();
    let refreshed: Vec<_> = sources
        .iter()
        .filter(|s| s["refreshed"] == true)
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(refreshed, ["kopi-nusantara"]);
    assert!(
        sources
            .iter()
            .filter(|s| s["id"] != "kopi-nusantara")
            .all(|s| s["reused_from"]
                .as_str()
                .unwrap()
                .ends_with(first_run.rsplit('/').next().unwrap())),
        "{sources:?}"
    );
    for table in ["readiness.csv", "supplier_readiness.csv", "shipments.csv"] {
        assert_eq!(
            std::fs::read(w.join("store/latest").join(table)).unwrap(),
            std::fs::read(w.join("single/latest").join(table)).unwrap(),
            "{table}"
        );
    }

    let runs = w.siap_env(&["runs", pipeline, "--work-dir", WORK, "--json"], &env);
    runs.assert_success();
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[1]["latest"], true);
    assert_eq!(runs[1]["suppliers"], serde_json::json!(["SUP-NUSA"]));
}

//! Bucket sources against a real S3-compatible server (moto's
//! `moto_server`) started on 127.0.0.1 (installed by
//! [`crate::provision::moto_server`] when missing).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Workdir, edit, manifest_source, repo};

pub const SECRET_CANARY: &str = "canary-aws-secret-0c9d11";
const LOCATION: &str = "location = \"../sample_data/stock/kopi_nusantara.csv\"";

pub struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub fn start() -> Moto {
        let program = crate::provision::moto_server();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("these tests need moto_server (pip install 'moto[server]'; .ci/run does): {program}: {e}")
            });
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    /// A plain HTTP PUT (moto does not check signatures): a bucket, or an
    /// object.
    pub fn put(&self, path: &str, body: &[u8]) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }

    /// A signed client of `bucket` (moto gives its objects to their owner
    /// only), to read back what siap wrote.
    fn client(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_access_key_id("siap-test")
            .with_secret_access_key(SECRET_CANARY)
            .with_region("us-east-1")
            .with_endpoint(format!("http://127.0.0.1:{}", self.port))
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    /// The object `key` of `bucket`; `None` when missing.
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt;
        let client = self.client(bucket);
        block_on(async {
            match client.get(&key.into()).await {
                Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{bucket}/{key}: {e}"),
            }
        })
    }

    /// The keys under `prefix` in `bucket`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let client = self.client(bucket);
        let prefix = object_store::path::Path::from(prefix);
        let listed: Vec<_> = block_on(client.list(Some(&prefix)).try_collect()).unwrap();
        let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        keys
    }

    /// Every object under `bucket/prefix/`, written under `to`.
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub fn download(&self, bucket: &str, prefix: &str, to: &std::path::Path) {
        for key in self.keys(bucket, prefix) {
            let file = to.join(key.strip_prefix(&format!("{prefix}/")).unwrap());
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, self.get(bucket, &key).unwrap()).unwrap();
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "siap-test".into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_CANARY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A supplier's dated files in a bucket: each night takes its day's
/// object, the tables equal the local sample's, an unchanged object is not
/// read again (ETag), a missing one fails the source naming it, and the
/// secret key is printed and written nowhere.
#[test]
fn a_dated_object_in_a_bucket_is_each_nights_feed() {
    let w = Workdir::new();
    let m = Moto::start();
    let sample = std::fs::read(repo().join("sample_data/stock/kopi_nusantara.csv")).unwrap();
    m.put("/drops", b"");
    m.put("/drops/kopi/stok_2026-11-27.csv", &sample);
    let other = String::from_utf8(sample.clone())
        .unwrap()
        .replace("2026-11-2", "2026-11-1");
    m.put("/drops/kopi/stok_2026-11-26.csv", other.as_bytes());
    let p = w.copy_sample();
    edit(
        &p,
        LOCATION,
        "location = \"s3://drops/kopi/stok_{date}.csv\"",
    );
    let p = p.to_str().unwrap().to_string();
    let env = m.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let night = |date: &str| {
        w.siap_env(
            &["run", &p, "--work-dir", "work", "--date", date, "-vv"],
            &env,
        )
    };
    let r = night("2026-11-27");
    r.assert_success();
    w.assert_tables_equal_the_sample(
        "work",
        &["readiness", "supplier_readiness", "shipments", "exceptions"],
    );
    let source = |work: &str| manifest_source(&w.join(work), "kopi-nusantara");
    assert_eq!(
        source("work")["location"],
        "s3://drops/kopi/stok_2026-11-27.csv"
    );
    assert!(source("work")["etag"].is_string());
    // Another day, another object.
    night("2026-11-26").assert_success();
    assert_eq!(
        std::fs::read(w.join("work/latest/raw/kopi-nusantara")).unwrap(),
        other.as_bytes()
    );
    // The same day again: the ETag matches, the object is not read again.
    night("2026-11-27").assert_success();
    assert_eq!(source("work")["unchanged"], serde_json::json!(true));
    // No object for the day.
    let r = night("2026-11-28");
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no object `kopi/stok_2026-11-28.csv` in the bucket"),
        "{}",
        r.stderr
    );
    for text in [&r.stderr, &r.stdout] {
        assert!(!text.contains(SECRET_CANARY), "leaked: {text}");
    }
    crate::harness::assert_nowhere_in(&w.join("work"), SECRET_CANARY);

    // A glob over the prefix: the newest date in the keys, not after the
    // run date.
    let p = w.copy_sample();
    edit(
        &p,
        LOCATION,
        "location = \"s3://drops/kopi/stok_*.csv\"\npick = \"newest-by-name\"\nname_date_format = \"%Y-%m-%d\"",
    );
    let p = p.to_str().unwrap().to_string();
    w.siap_env(
        &["run", &p, "--work-dir", "glob", "--date", "2026-11-26"],
        &env,
    )
    .assert_success();
    assert_eq!(
        std::fs::read(w.join("glob/latest/raw/kopi-nusantara")).unwrap(),
        other.as_bytes()
    );
    assert_eq!(
        source("glob")["location"],
        "s3://drops/kopi/stok_2026-11-26.csv"
    );
}

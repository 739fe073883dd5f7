//! `pipelines/harbolnas-remote.toml` end to end: Mie Jaya on a dated SFTP
//! drop (OpenSSH's sshd), Kopi Nusantara in an S3 bucket (moto) and Cepat
//! Express as a paged POST API with nested JSON, all on 127.0.0.1, with
//! the sample's files: the tables equal the local sample's.

use serde_json::json;

use crate::api::{nested_records, pages};
use crate::bucket::Moto;
use crate::harness::{Workdir, copy_dir, repo};
use crate::server::Server;
use crate::sftp::{Sshd, user};

#[test]
fn the_remote_sample_pipeline_equals_the_local_one() {
    let w = Workdir::new();
    let sshd = Sshd::start(&w.join("sshd"));
    let drop = w.join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::copy(
        repo().join("sample_data/stock/mie_jaya.csv"),
        drop.join("stok_27112026.csv"),
    )
    .unwrap();
    let moto = Moto::start();
    moto.put("/siap-drops", b"");
    moto.put(
        "/siap-drops/kopi-nusantara/stok_2026-11-27.csv",
        &std::fs::read(repo().join("sample_data/stock/kopi_nusantara.csv")).unwrap(),
    );
    let api = Server::start();
    api.route(
        "/v1/shipments",
        pages(
            &nested_records(),
            3,
            |c, _, _| json!({ "status": true, "data": { "items": c } }),
        ),
    );

    copy_dir(&repo().join("pipelines"), &w.join("pipelines"));
    copy_dir(&repo().join("sample_data"), &w.join("sample_data"));
    let mut env: Vec<(&str, String)> = moto.env();
    env.extend([
        ("SIAP_SFTP_HOST", format!("127.0.0.1:{}", sshd.port)),
        ("SIAP_SFTP_USER", user()),
        (
            "SIAP_SFTP_KEY",
            sshd.dir.join("user_key").display().to_string(),
        ),
        (
            "SIAP_SFTP_KNOWN_HOSTS",
            sshd.dir.join("known_hosts").display().to_string(),
        ),
        ("SIAP_SFTP_DROP", drop.display().to_string()),
        ("SIAP_BUCKET", "siap-drops".into()),
        ("SIAP_CEPAT_API", api.url("/v1/shipments")),
        ("SIAP_CEPAT_KEY", "cepat-key".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remote = w.join("pipelines/harbolnas-remote.toml");
    w.siap_env(
        &[
            "run",
            remote.to_str().unwrap(),
            "--work-dir",
            "remote",
            "--date",
            "2026-11-27",
        ],
        &env,
    )
    .assert_success();
    assert_eq!(api.hits("/v1/shipments"), 5);
    w.assert_tables_equal_the_sample("remote", &["readiness", "supplier_readiness", "shipments"]);
}

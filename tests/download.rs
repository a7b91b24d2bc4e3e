//! Finding and downloading the data: checksums verified, and one clear message when it fails.
//! The "internet" here is a tiny HTTP server on 127.0.0.1 started by the test.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;

use flate2::write::GzEncoder;
use flate2::Compression;
use inception::data::idx::{encode_labels, read_labels};
use inception::data::locate::{download_all, LocateError, SearchPlan};
use inception::data::BuiltinSet;
use md5::{Digest, Md5};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn downloads_are_verified_before_they_are_kept() {
    let good = gzip(&encode_labels(&[1, 2, 3]));
    let md5 = format!("{:x}", Md5::digest(&good));
    let url = common::serve(vec![("/data/labels.gz".into(), good.clone())], 4);
    let dir = tempfile::tempdir().unwrap();

    download_all(&url, dir.path(), &[("labels", &md5)]).unwrap();
    assert_eq!(
        read_labels(&dir.path().join("labels.gz"), 9).unwrap(),
        vec![1, 2, 3]
    );

    // A file whose checksum does not match is refused and nothing is left behind.
    let other = tempfile::tempdir().unwrap();
    let err = download_all(
        &url,
        other.path(),
        &[("labels", "00000000000000000000000000000000")],
    )
    .unwrap_err();
    assert!(err.contains("checksum mismatch"), "{err}");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);

    // A missing file is an error naming the URL.
    let err = download_all(&url, other.path(), &[("absent", &md5)]).unwrap_err();
    assert!(
        err.contains("/data/absent.gz") && err.contains("404"),
        "{err}"
    );
}

#[test]
fn nothing_found_and_no_network_is_one_clear_message() {
    // A port that nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let empty = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let plan = SearchPlan {
        set: BuiltinSet::FashionMnist,
        dirs: vec![
            empty.path().to_path_buf(),
            PathBuf::from("/nonexistent/fashion"),
        ],
        download_to: Some(cache.path().join("fashion-mnist")),
        url: format!("http://127.0.0.1:{port}/fashion/"),
    };
    let err = plan.locate(None).unwrap_err();
    assert!(matches!(err, LocateError::NotFound { .. }));
    let msg = err.to_string();
    for needle in [
        empty.path().to_str().unwrap(),
        "/nonexistent/fashion",
        "apt-get install dataset-fashion-mnist",
        &format!("http://127.0.0.1:{port}/fashion/"),
        "give their directory as `data_dir`",
    ] {
        assert!(msg.contains(needle), "message lacks {needle:?}:\n{msg}");
    }

    // With --data, only that directory counts.
    let err = plan.locate(Some(empty.path())).unwrap_err();
    assert!(matches!(err, LocateError::NotInGivenDir { .. }));
    assert!(
        err.to_string().contains("train-images-idx3-ubyte[.gz]"),
        "{err}"
    );
}

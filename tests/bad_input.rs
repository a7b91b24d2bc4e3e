//! Bad input never panics: every case below is one `error: ...` line (clap's own usage errors
//! aside), exit code 2 (what the user can fix) and nothing written. The messages are printed
//! with --nocapture.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use inception::data::idx::{encode_images, encode_labels, IdxImages};
use inception::models::{ModelConfig, ModelKind};
use inception::train::checkpoint;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_inception"))
}

/// Runs `inception args...` and checks it fails cleanly, returning its stderr.
fn fails(case: &str, args: &[&str], expected: &str, out: &Path) -> String {
    let output = Command::new(binary())
        .args(args)
        .env("FASHION_MNIST_DIR", common::fashion_mnist_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("{case}:\n  {}", stderr.trim_end().replace('\n', "\n  "));
    assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{case}: {stderr}"
    );
    assert!(stderr.contains(expected), "{case}: {stderr}");
    assert!(!out.exists(), "{case}: wrote {}", out.display());
    stderr
}

#[test]
fn impossible_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = out.to_str().unwrap();
    let cases: [(&str, &[&str], &str); 9] = [
        ("unknown device", &["train", "--device", "gpu", "--out", o], "invalid value 'gpu' for '--device <DEVICE>': `gpu` is not a device; give cpu, cuda, cuda:N, wgpu"),
        ("batch 0", &["train", "--batch-size", "0", "--out", o], "--batch-size must be at least 1"),
        ("negative lr", &["train", "--lr=-0.1", "--out", o], "--lr must be a positive number, got -0.1"),
        ("lr not a number", &["train", "--lr", "fast", "--out", o], "invalid value 'fast' for '--lr <LR>'"),
        ("resize 0", &["train", "--resize", "0", "--out", o], "input 1x0x0 is not possible"),
        ("resize too small for the model", &["train", "--model", "alexnet", "--resize", "32", "--out", o], "error: zoo:alexnet:14: layer `3`: MaxPool2D(pool_size=3x3, stride=2, padding=0) cannot take an input of shape (1, 256, 2, 2): a 3x3 window with padding 0 does not fit a 2x2 input"),
        ("unknown model", &["train", "--model", "resnet", "--out", o], "invalid value 'resnet' for '--model <MODEL>'"),
        ("epochs 0", &["train", "--epochs", "0", "--out", o], "--epochs must be at least 1"),
        ("more slices than images", &["train", "--batch-size", "8", "--accumulate", "16", "--out", o], "--accumulate slices each batch: it must be between 1 and --batch-size (8), got 16"),
    ];
    if !cfg!(feature = "cuda") {
        fails(
            "device not built",
            &["train", "--device", "cuda:1", "--out", o],
            "this build has no CUDA backend; build with `cargo build --release --features cuda`",
            &out,
        );
    }
    // Even root cannot create a directory in /proc.
    fails(
        "output directory not writable",
        &["train", "--model", "lenet", "--out", "/proc/inception-run"],
        "the output directory /proc/inception-run is not writable",
        Path::new("/proc/inception-run"),
    );
    for (case, args, expected) in cases {
        let stderr = fails(case, args, expected, &out);
        if !expected.starts_with("invalid value") {
            assert!(
                stderr.starts_with("error: ") && stderr.lines().count() == 1,
                "{case}: {stderr}"
            );
        }
    }
}

#[test]
fn damaged_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let images = encode_images(&IdxImages {
        count: 2,
        rows: 28,
        cols: 28,
        pixels: vec![7; 2 * 28 * 28],
    });
    let labels = encode_labels(&[1, 2]);
    let write_all = |train_images: &[u8]| {
        std::fs::write(data.join("train-images-idx3-ubyte"), train_images).unwrap();
        std::fs::write(data.join("train-labels-idx1-ubyte"), &labels).unwrap();
        std::fs::write(data.join("t10k-images-idx3-ubyte"), &images).unwrap();
        std::fs::write(data.join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    };
    let train = |case: &str, expected: &str| {
        let args = [
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        fails(case, &args, expected, &out);
    };
    write_all(&images[..images.len() - 100]);
    train(
        "truncated images",
        "truncated data: expected 1568 bytes, found only 1468",
    );
    // 4,294,967,295 images of 28x28 claimed in a 16-byte file: refused before any allocation.
    let mut huge = images[..4].to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(&images[8..16]);
    write_all(&huge);
    train(
        "16-byte file claiming 4 billion images",
        "header claims an implausible size (4294967295 images of 28x28)",
    );
    let mut bad_magic = images.clone();
    bad_magic[3] = 0x01;
    write_all(&bad_magic);
    train(
        "wrong magic number",
        "wrong magic number 0x00000801, expected 0x00000803",
    );
    let mut extra = images.clone();
    extra.extend_from_slice(b"junk");
    write_all(&extra);
    train(
        "trailing bytes",
        "4 unexpected byte(s) after the 1568 bytes the header announces",
    );
}

#[test]
fn bad_checkpoints_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never-written");
    let model = ModelConfig::new(ModelKind::Lenet)
        .build(&Device::flex())
        .unwrap();
    let good = dir.path().join("lenet.ckpt");
    checkpoint::save(&model, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let variant = |name: &str, data: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        path.display().to_string()
    };
    let truncated = variant("truncated.ckpt", &bytes[..bytes.len() - 1000]);
    let mut old = bytes.clone();
    old[8..12].copy_from_slice(&2u32.to_le_bytes());
    let old = variant("old.ckpt", &old);
    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&7u32.to_le_bytes());
    let future = variant("future.ckpt", &future);
    let png = variant("photo.png", b"\x89PNG\r\n\x1a\n but not really");
    let text = variant("notes.txt", b"hello");
    let good = good.display().to_string();
    let e = |case, args: &[&str], expected| {
        fails(case, args, expected, &out);
    };
    e(
        "truncated checkpoint",
        &["eval", "--checkpoint", &truncated],
        "is corrupt or truncated (the file ends early)",
    );
    e(
        "future format version",
        &["eval", "--checkpoint", &future],
        "is checkpoint format version 7, but this build reads version 3",
    );
    e(
        "checkpoint of inception 0.1",
        &["eval", "--checkpoint", &old],
        "was written by inception 0.1 (checkpoint format 2)",
    );
    e(
        "checkpoint of another model",
        &[
            "predict",
            "--model",
            "googlenet",
            "--checkpoint",
            &good,
            &text,
        ],
        "holds a lenet model, not googlenet",
    );
    e(
        "a text file as checkpoint",
        &["eval", "--checkpoint", &text],
        "is not an inception checkpoint",
    );
    e(
        "missing checkpoint",
        &["eval", "--checkpoint", "/nonexistent/model.ckpt"],
        "cannot read checkpoint /nonexistent/model.ckpt",
    );
    e(
        "non-image given to predict",
        &["predict", "--checkpoint", &good, &text],
        "cannot read",
    );
    e(
        "broken PNG given to predict",
        &["predict", "--checkpoint", &good, &png],
        "photo.png: the PNG data is truncated or corrupt",
    );
    e(
        "missing image",
        &["predict", "--checkpoint", &good, "/nonexistent/a.png"],
        "cannot read the image /nonexistent/a.png: cannot read the file: No such file",
    );
    e(
        "resume of a model-only checkpoint",
        &["train", "--resume", dir.path().to_str().unwrap()],
        "holds no checkpoint to resume from",
    );
}

#[test]
fn broken_network_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = out.to_str().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let head = "input = [1, 28, 28]\nclasses = 10\nlayers = [\n";
    let cases = [
        (
            "unknown layer",
            format!("{head}  {{ type = \"flatten\" }},\n  {{ name = \"fc\", type = \"dense2\", units = 10 }},\n]\n"),
            ":5: layer `fc`: unknown layer type `dense2` (known: adaptive_avg_pool, aux_classifier,",
        ),
        (
            "missing setting",
            format!("{head}  {{ type = \"conv\", kernel = 3 }},\n]\n"),
            ":4: layer `0`: conv: missing setting `channels`",
        ),
        (
            "wrong type",
            format!("{head}  {{ type = \"conv\", channels = \"many\", kernel = 3 }},\n]\n"),
            ":4: layer `0`: conv: `many` is not a size: give a number or \"classes\"",
        ),
        (
            "unknown setting",
            format!("{head}  {{ type = \"dense\", units = 10, activaton = \"relu\" }},\n]\n"),
            ":4: layer `0`: dense: unknown setting `activaton`, expected `units` or `activation`",
        ),
        (
            "impossible shape",
            format!("{head}  {{ name = \"block\", layers = [\n    {{ type = \"conv\", channels = 8, kernel = 30 }},\n  ] }},\n  {{ type = \"dense\", units = \"classes\" }},\n]\n"),
            ":5: layer `block.0`: Conv2D(8, kernel_size=30x30, stride=1, padding=0) cannot take an input of shape (1, 1, 28, 28): a 30x30 kernel with padding 0 does not fit a 28x28 input",
        ),
        (
            "not TOML",
            "input = [1, 28, 28]\nlayers = [ { type = \"relu\" ]\n".to_string(),
            ":2: ",
        ),
        (
            "no input",
            "layers = [ { type = \"flatten\" } ]\n".to_string(),
            "it gives no `input = [channels, height, width]`",
        ),
        (
            "not ending in class scores",
            format!("{head}  {{ type = \"flatten\" }},\n]\n"),
            "the network ends in [784], not in 10 class scores",
        ),
        (
            "share of an unknown layer",
            format!("{head}  {{ type = \"flatten\" }},\n  {{ share = \"fc\" }},\n]\n"),
            ":5: layer `1`: `share = \"fc\"`: no earlier layer in this block is named `fc`",
        ),
        (
            "absurd size",
            format!("{head}  {{ type = \"flatten\" }},\n  {{ type = \"dense\", units = 2000000000 }},\n]\n"),
            ":5: layer `1`: Dense(2000000000) cannot take an input of shape (1, 784): its output [2000000000] has more than 134217728 values per example: the sizes are surely wrong",
        ),
        (
            "huge layer",
            format!("{head}  {{ type = \"flatten\" }},\n  {{ type = \"dense\", units = 10000000 }},\n]\n"),
            ":5: layer `1`: Dense(10000000) cannot take an input of shape (1, 784): it has 7850000000 parameters, more than 1073741824",
        ),
        (
            "an Inception path without channels",
            format!("{head}  {{ type = \"inception\", c1 = 0, c2 = [1, 1], c3 = [1, 1], c4 = 1 }},\n]\n"),
            ":4: layer `0`: Inception(c1=0, c2=(1, 1), c3=(1, 1), c4=1) -> 3 channels cannot take an input of shape (1, 1, 28, 28): every path needs at least one channel",
        ),
        (
            "unknown template",
            format!("{head}  {{ use = \"block\" }},\n]\n"),
            ":4: layer `0`: there is no template `block` (the file's [define] has none)",
        ),
    ];
    for (case, text, expected) in cases {
        let path = file(&format!("{}.toml", case.replace(' ', "-")), &text);
        let stderr = fails(case, &["train", "--net", &path, "--out", o], expected, &out);
        assert!(
            stderr.starts_with(&format!("error: {path}")),
            "{case}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{case}: {stderr}");
        fails(case, &["summary", "--net", &path], expected, &out);
    }
    fails(
        "missing network file",
        &["summary", "--net", "/nonexistent/net.toml"],
        "cannot read the network file /nonexistent/net.toml",
        &out,
    );
}

//! The command line: help for every subcommand, clear errors, exit code 2 for what the user
//! can fix, and networks from files from training to export.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "train", "eval", "predict", "summary", "import", "export", "plot", "bench", "net",
    ] {
        inception()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage: inception"));
    }
    inception().args(["train", "--help"]).assert().stdout(
        predicate::str::contains("--limit-train").and(predicate::str::contains("--optimizer")),
    );
}

#[test]
fn missing_data_directory_is_a_clear_error() {
    let out = tempfile::tempdir().unwrap();
    inception()
        .args([
            "train",
            "--data",
            "/nonexistent/fashion",
            "--epochs",
            "1",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(
                "error: no data in /nonexistent/fashion (given as --data DIR), which is not a folder",
            )
            .and(predicate::str::contains("panicked").not()),
        );
}

#[test]
fn corrupt_checkpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ckpt");
    std::fs::write(&path, b"INCEPTCK\x03\x00\x00\x00garbage").unwrap();
    for sub in ["eval", "predict"] {
        let mut cmd = inception();
        cmd.args([sub, "--checkpoint"]).arg(&path);
        if sub == "predict" {
            cmd.arg("some.png");
        }
        cmd.assert().code(2).stderr(
            predicate::str::contains("is corrupt or truncated")
                .and(predicate::str::contains("panicked").not()),
        );
    }
}

#[test]
fn bad_flags_are_refused() {
    inception()
        .args(["train", "--model", "resnet"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'resnet'"));
    inception()
        .args(["train", "--batch-size", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--batch-size must be at least 1"));
    inception()
        .args(["summary", "--input", "96x96"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not CxHxW"));
}

#[test]
fn summary_prints_the_seed_shapes() {
    inception()
        .args(["summary", "--model", "googlenet"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("b1 ")
                .and(predicate::str::contains(
                    "Shape of the output : (1, 64, 24, 24)",
                ))
                .and(predicate::str::contains("(1, 1024, 1, 1)"))
                .and(predicate::str::contains("total params: 5,977,530")),
        );
}

#[test]
fn train_eval_predict_end_to_end() {
    let data = common::fashion_mnist_dir();
    let out = tempfile::tempdir().unwrap();
    inception()
        .args(["train", "--epochs", "1", "--resize", "32", "--limit-train", "64", "--limit-test", "32", "--batch-size", "32", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"epoch 1, loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}, time \d+\.\d sec").unwrap());
    let ckpt = out.path().join("model.ckpt");
    // One view per image, then each image and its mirror image (test-time augmentation).
    for (tta, heading) in [
        (None, "googlenet: test loss"),
        (
            Some("--tta-hflip"),
            "googlenet (with mirror images): test loss",
        ),
    ] {
        inception()
            .args(["eval", "--limit", "32", "--data"])
            .arg(&data)
            .args(tta)
            .arg("--checkpoint")
            .arg(&ckpt)
            .assert()
            .success()
            .stdout(predicate::str::contains(heading).and(predicate::str::contains("(32 images")));
    }

    let image = out.path().join("boot.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x * 9 + y) % 256) as u8]))
        .save(&image)
        .unwrap();
    // A checkpoint of another architecture than the one asked for is refused.
    inception()
        .args(["eval", "--model", "lenet", "--checkpoint"])
        .arg(&ckpt)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "holds a googlenet model, not lenet",
        ));
    let not_image = out.path().join("notes.txt");
    std::fs::write(&not_image, "hello").unwrap();
    inception()
        .args(["predict", "--top", "2", "--checkpoint"])
        .arg(&ckpt)
        .arg(&image)
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                r"boot\.png: [A-Za-z/ -]+ \(\d+\.\d%\), [A-Za-z/ -]+ \(\d+\.\d%\)",
            )
            .unwrap(),
        );
    inception()
        .args(["predict", "--checkpoint"])
        .arg(&ckpt)
        .arg(&not_image)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read").and(predicate::str::contains("notes.txt")));
}

#[test]
fn a_zoo_file_printed_by_net_show_is_a_network_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("googlenet.toml");
    let shown = inception()
        .args(["net", "show", "googlenet"])
        .output()
        .unwrap();
    assert!(shown.status.success());
    std::fs::write(&file, &shown.stdout).unwrap();
    inception()
        .args(["summary", "--net"])
        .arg(&file)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("googlenet on input (1, 1, 96, 96)")
                .and(predicate::str::contains("total params: 5,977,530")),
        );
    inception()
        .args(["net", "layers"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("inception\n").and(predicate::str::contains(
                "sequential (holds `layers = [...]`)",
            )),
        );
}

/// A small network of the user's, written as a file.
const USER_NET: &str = r#"
name = "small-cnn"
input = [1, 28, 28]
classes = 10
init = "xavier_uniform"
layers = [
  { type = "conv", channels = 8, kernel = 3, padding = 1, activation = "relu" },
  { type = "max_pool", kernel = 2 },
  { name = "block", layers = [
    { type = "conv", channels = 16, kernel = 3, padding = 1, batch_norm = true, activation = "relu" },
    { type = "max_pool", kernel = 2 },
  ] },
  { type = "flatten" },
  { name = "fc", type = "dense", units = "classes" },
]

[recipe]
optimizer = "sgd"
lr = 0.05
batch_size = 32
epochs = 1
resize = 28
"#;

#[test]
fn a_network_file_trains_and_its_checkpoint_needs_no_flags() {
    let data = common::fashion_mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.toml");
    std::fs::write(&file, USER_NET).unwrap();
    let run = dir.path().join("run");
    inception()
        .args(["train", "--net"])
        .arg(&file)
        .args(["--limit-train", "128", "--limit-test", "32", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("training small-cnn on Fashion-MNIST")
                .and(predicate::str::contains("sgd lr 0.05, batch 32, 1 epochs"))
                .and(predicate::str::contains("epoch 1, loss")),
        );
    // The file may change or go: the checkpoint holds the network's description.
    std::fs::remove_file(&file).unwrap();
    let ckpt = run.join("model.ckpt");
    inception()
        .args(["eval", "--limit", "32", "--data"])
        .arg(&data)
        .arg("--checkpoint")
        .arg(&ckpt)
        .assert()
        .success()
        .stdout(predicate::str::contains("small-cnn: test loss"));
    let image = dir.path().join("shirt.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x * 7 + y) % 256) as u8]))
        .save(&image)
        .unwrap();
    inception()
        .args(["predict", "--checkpoint"])
        .arg(&ckpt)
        .arg(&image)
        .assert()
        .success()
        .stdout(predicate::str::contains("shirt.png: "));
    let weights = dir.path().join("small.safetensors");
    inception()
        .args(["export", "--checkpoint"])
        .arg(&ckpt)
        .arg("--out")
        .arg(&weights)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "exported 10 tensors of the small-cnn model",
        ));
    // Resuming a finished run rebuilds it from the checkpoint and has nothing left to do.
    inception()
        .args(["train", "--resume"])
        .arg(&run)
        .arg("--data")
        .arg(&data)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("resuming from")
                .and(predicate::str::contains("training small-cnn")),
        );
}

#[test]
fn bench_reports_the_reference_keys_and_a_profile() {
    // A tiny run: one timed step, no warm-up, one thread.
    let quick = ["--warmup", "0", "--steps", "1", "--threads", "1"];
    let out = inception()
        .args(["bench", "--batch", "2", "--side", "32", "--json"])
        .args(quick)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["batch"], 2);
    assert_eq!(json["model"], "googlenet");
    for key in ["train_ms", "train_img_s", "eval_ms", "eval_img_s"] {
        assert!(json[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {json}");
    }
    // The profile, and one level deeper: each layer inside GoogLeNet's Inception blocks.
    let lenet = "bench --model lenet --batch 4 --side 28 --profile";
    let lenet_rows = [
        "backward",
        "optimizer step",
        "inference forward pass by layer",
        "Conv2D(20, kernel_size=5x5",
    ];
    let deeper = "bench --batch 2 --side 32 --profile-depth 2";
    let inception_rows = ["b3.0.p2_2", "Conv2D(128, kernel_size=3x3", "b5.1.p4_1"];
    for (command, rows) in [(lenet, &lenet_rows[..]), (deeper, &inception_rows[..])] {
        let out = inception()
            .args(command.split(' '))
            .args(quick)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {stderr}");
        for row in rows {
            assert!(stdout.contains(row), "{command}: no {row:?} in\n{stdout}");
        }
    }
}

#[test]
fn bench_starts_from_a_checkpoint_on_real_images_and_counts_subnormals() {
    let data = common::fashion_mnist_dir();
    let out = tempfile::tempdir().unwrap();
    let tiny_run =
        "train --model lenet --epochs 1 --limit-train 64 --limit-test 32 --batch-size 32";
    inception()
        .args(tiny_run.split(' '))
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let ckpt = out.path().join("model.ckpt");
    let run = |extra: &[&str]| {
        inception()
            .args("bench --batch 8 --warmup 0 --steps 1 --threads 1 --json --checkpoint".split(' '))
            .arg(&ckpt)
            .args(extra)
            .output()
            .unwrap()
    };
    let output = run(&[
        "--real-images",
        "--subnormals",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["model"], "lenet",
        "the checkpoint's network, not the default"
    );
    assert_eq!(json["batch"], 8);
    // LeNet's 170,988 parameters (no buffers), each with a gradient; 8 images x 10 classes.
    let sub = &json["subnormals"];
    assert_eq!(sub["params"]["values"], 170_988);
    assert_eq!(sub["grads"]["values"], 170_988);
    assert_eq!(sub["probabilities"]["values"], 80);
    for part in ["params", "grads", "probabilities"] {
        assert!(sub[part]["subnormal"].as_u64().is_some(), "{part}: {json}");
    }

    let missing = out.path().join("nowhere.ckpt");
    inception()
        .args(["bench", "--checkpoint"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nowhere.ckpt"));
}

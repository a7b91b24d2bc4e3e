//! The command line: help for every subcommand, clear errors and non-zero exits.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "train", "eval", "predict", "summary", "import", "export", "plot",
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
        .failure()
        .stderr(
            predicate::str::contains("error: no Fashion-MNIST files in /nonexistent/fashion")
                .and(predicate::str::contains("panicked").not()),
        );
}

#[test]
fn corrupt_checkpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ckpt");
    std::fs::write(&path, b"INCEPTCK\x01\x00\x00\x00garbage").unwrap();
    for sub in ["eval", "predict"] {
        let mut cmd = inception();
        cmd.args([sub, "--checkpoint"]).arg(&path);
        if sub == "predict" {
            cmd.arg("some.png");
        }
        cmd.assert().failure().stderr(
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
        .failure()
        .stderr(predicate::str::contains("invalid value 'resnet'"));
    inception()
        .args(["train", "--batch-size", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--batch-size must be at least 1"));
    inception()
        .args(["summary", "--input", "96x96"])
        .assert()
        .failure()
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
        .failure()
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
        .failure()
        .stderr(predicate::str::contains("cannot read").and(predicate::str::contains("notes.txt")));
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
    inception()
        .args([
            "bench",
            "--model",
            "lenet",
            "--batch",
            "4",
            "--side",
            "28",
            "--profile",
        ])
        .args(quick)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("backward")
                .and(predicate::str::contains("optimizer step"))
                .and(predicate::str::contains("inference forward pass by layer"))
                .and(predicate::str::contains("Conv2D(20, kernel_size=5x5")),
        );
}

//! Issue 5's figures: a training run draws curves, a confusion matrix and a grid of predictions
//! (PNG and SVG) after every epoch, `inception plot` redraws them, and `inception eval` prints
//! the confusion matrix with per-class accuracy.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

/// Decodes a PNG and checks it is a real picture: the expected size, mostly white, with ink.
fn check_png(path: &std::path::Path, size: (u32, u32)) {
    let image = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(image.dimensions(), size, "{}", path.display());
    let pixels = image.pixels().count();
    let white = image.pixels().filter(|p| p.0 == [255, 255, 255]).count();
    let red = image
        .pixels()
        .filter(|p| p.0[0] > 150 && p.0[1] < 80 && p.0[2] < 80)
        .count();
    assert!(
        white > pixels / 3,
        "{}: {white} white of {pixels}",
        path.display()
    );
    assert!(white < pixels - 1000, "{}: nearly blank", path.display());
    eprintln!("{}: {red} red pixels", path.display());
}

#[test]
fn training_draws_the_figures_and_plot_redraws_them() {
    let data = common::fashion_mnist_dir();
    let run = tempfile::tempdir().unwrap();
    inception()
        .args([
            "train",
            "--model",
            "lenet",
            "--epochs",
            "2",
            "--limit-train",
            "512",
            "--limit-test",
            "200",
            "--lr",
            "0.05",
            "--momentum",
            "0.9",
            "--lr-schedule",
            "step",
            "--lr-step-epochs",
            "1",
            "--lr-gamma",
            "0.5",
            "--hflip",
            "--log-every",
            "4",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(run.path())
        .assert()
        .success()
        .stdout(
            predicate::str::contains(
                "optimizer: momentum 0.9, step (x0.5 every 1 epochs) schedule",
            )
            .and(predicate::str::contains("augmentation: horizontal flip")),
        );
    for stem in ["curves", "confusion", "predictions"] {
        let svg = std::fs::read_to_string(run.path().join(format!("{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{stem}.svg");
    }
    check_png(&run.path().join("curves.png"), (1200, 400));
    check_png(&run.path().join("confusion.png"), (850, 770));
    check_png(&run.path().join("predictions.png"), (1130, 664));
    let confusion = std::fs::read_to_string(run.path().join("confusion.svg")).unwrap();
    for name in [
        "Ankle boot",
        "T-shirt/top",
        "Sneaker",
        "after epoch 2",
        "on 200 images",
    ] {
        assert!(confusion.contains(name), "confusion.svg lacks {name}");
    }
    let grid = std::fs::read_to_string(run.path().join("predictions.svg")).unwrap();
    assert!(grid.contains("the first 32 test images"));
    // The learning rate halved after epoch 1, and metrics.csv says so.
    let metrics = std::fs::read_to_string(run.path().join("metrics.csv")).unwrap();
    let rates: Vec<&str> = metrics
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(rates, ["0.05", "0.025"], "{metrics}");

    // Redrawn from the checkpoint into another directory.
    let out = tempfile::tempdir().unwrap();
    inception()
        .arg("plot")
        .arg(run.path())
        .args(["--out"])
        .arg(out.path())
        .args(["--data"])
        .arg(&data)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("lenet after 2 epochs: test acc")
                .and(predicate::str::contains("on 200 images"))
                .and(predicate::str::contains("predictions.svg")),
        );
    for name in [
        "curves.png",
        "confusion.png",
        "predictions.png",
        "curves.svg",
    ] {
        assert_eq!(
            std::fs::read(out.path().join(name)).unwrap(),
            std::fs::read(run.path().join(name)).unwrap(),
            "{name} redrawn differently"
        );
    }

    // eval: the confusion matrix as a table, counts adding up to the images, per-class accuracy.
    let output = inception()
        .args(["eval", "--limit", "200", "--data"])
        .arg(&data)
        .arg("--checkpoint")
        .arg(run.path().join("model.ckpt"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("true class  predicted as"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("Ankle boot") || l.trim_start().starts_with("Trouser")
        })
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let total: u64 = text
        .lines()
        .skip_while(|l| !l.contains("accuracy"))
        .skip(1)
        .flat_map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            // The counts are the numbers between the name and the accuracy.
            cells[..cells.len() - 1]
                .iter()
                .filter_map(|c| c.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum();
    assert_eq!(total, 200, "{text}");
}

#[test]
fn plot_needs_a_training_run() {
    let empty = tempfile::tempdir().unwrap();
    inception()
        .arg("plot")
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds no model.ckpt"));
}

#[test]
fn settings_that_do_not_fit_are_refused_before_training() {
    let out = tempfile::tempdir().unwrap();
    for (flags, message) in [
        (&["--nesterov"][..], "--nesterov needs a --momentum"),
        (
            &["--optimizer", "adam", "--momentum", "0.9"][..],
            "for --optimizer sgd",
        ),
        (
            &["--random-resized-crop", "1.5"][..],
            "--random-resized-crop",
        ),
        (
            &["--brightness", "2"][..],
            "--brightness must be between 0 and 1",
        ),
        (
            &["--warmup-epochs", "9", "--epochs", "2"][..],
            "fewer than --epochs",
        ),
        (
            &["--lr-schedule", "cosine", "--min-lr", "0.5"][..],
            "--min-lr",
        ),
    ] {
        inception()
            .args(["train", "--no-download", "--data"])
            .arg(out.path())
            .args(flags)
            .arg("--out")
            .arg(out.path().join("run"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    assert!(!out.path().join("run").exists());
}

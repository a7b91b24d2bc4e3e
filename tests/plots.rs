//! The figures: a training run draws curves, a confusion matrix and a grid of predictions (PNG
//! and SVG) after every epoch, `inception plot` redraws them, and `inception eval` prints the
//! confusion matrix with per-class accuracy. Each figure is checked for what it must show.

mod common;

use assert_cmd::Command;
use burn::data::dataset::Dataset;
use image::RgbImage;
use inception::data::{FashionMnist, Split};
use inception::history::{Confusion, EpochReport, StepLoss};
use inception::plot::{draw_figure, ConfusionFigure, Curves, PredictionGrid};
use predicates::prelude::*;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

/// Decodes a PNG and checks it is a picture of the expected size; what it shows is checked by
/// the tests of each figure below.
fn check_png(path: &std::path::Path, size: (u32, u32)) {
    let image = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(image.dimensions(), size, "{}", path.display());
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
    // The matrix is the second paragraph (the per-class precision and recall follow it).
    let matrix = text.split("\n\n").nth(1).unwrap();
    assert!(matrix.starts_with(" true class"), "{text}");
    let rows: Vec<&str> = matrix
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("Ankle boot") || l.trim_start().starts_with("Trouser")
        })
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let total: u64 = matrix
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

fn png(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes).unwrap().to_rgb8()
}

/// Pixels of `image` in the box `[x0, x1) x [y0, y1)` within `tolerance` of `color`.
fn count(
    image: &RgbImage,
    (x0, y0, x1, y1): (u32, u32, u32, u32),
    color: [u8; 3],
    tolerance: i32,
) -> usize {
    (y0..y1.min(image.height()))
        .flat_map(|y| (x0..x1.min(image.width())).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = image.get_pixel(x, y).0;
            (0..3).all(|c| (i32::from(p[c]) - i32::from(color[c])).abs() <= tolerance)
        })
        .count()
}

/// The `x`, `y` of every SVG text element reading exactly `text`.
fn texts_at(svg: &str, text: &str) -> Vec<(f64, f64)> {
    let needle = format!(">\n{text}\n</text>");
    svg.match_indices(&needle)
        .filter_map(|(end, _)| {
            let start = svg[..end].rfind("<text")?;
            let tag = &svg[start..end];
            let attr = |name: &str| -> Option<f64> {
                let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
                tag[at..].split('"').next()?.parse().ok()
            };
            Some((attr("x")?, attr("y")?))
        })
        .collect()
}

/// The `x`, `y` of the first SVG text element reading exactly `text`.
fn text_at(svg: &str, text: &str) -> Option<(f64, f64)> {
    texts_at(svg, text).into_iter().next()
}

const TRAIN: [u8; 3] = [31, 119, 180];
const TEST: [u8; 3] = [214, 39, 40];
const STEPS: [u8; 3] = [140, 180, 220];

#[test]
fn curves_show_both_losses_the_running_loss_a_legend_and_readable_ticks() {
    let history: Vec<EpochReport> = (1..=3)
        .map(|epoch| EpochReport {
            epoch,
            loss: 1.2 / epoch as f64,
            train_acc: 0.5 + 0.1 * epoch as f64,
            test_acc: 0.45 + 0.1 * epoch as f64,
            test_loss: 1.3 / epoch as f64,
            seconds: 10.0,
            images_per_sec: 100.0,
            step_seconds: 9.0,
            lr: 0.1,
        })
        .collect();
    let steps: Vec<StepLoss> = (1..=30)
        .map(|step| StepLoss {
            step,
            epoch: (step as usize - 1) / 10 + 1,
            loss: 1.6 / (1.0 + step as f64 / 10.0),
            lr: 0.1,
        })
        .collect();
    let figure = Curves {
        history: &history,
        steps: &steps,
        steps_per_epoch: 10,
    };
    let (svg, bytes) = draw_figure(&figure).unwrap();
    let image = png(&bytes);
    assert_eq!(image.dimensions(), (1200, 400));
    // The loss panel's plot area (left third, below the title, above the tick labels): both
    // per-epoch curves and the running loss are drawn in it, in their colours.
    let loss_area = (60, 40, 380, 350);
    assert!(
        count(&image, loss_area, TRAIN, 12) > 100,
        "train loss curve"
    );
    assert!(count(&image, loss_area, TEST, 12) > 100, "test loss curve");
    assert!(count(&image, loss_area, STEPS, 12) > 30, "running loss");
    // Nothing of them lands in the learning-rate panel but the rate itself (in the train
    // colour).
    assert_eq!(count(&image, (810, 40, 1180, 350), TEST, 12), 0);
    assert!(
        count(&image, (810, 40, 1180, 350), TRAIN, 12) > 100,
        "learning rate"
    );
    // The legends say which is which, beside their colour.
    for label in [
        "running train loss",
        "train loss",
        "test loss",
        "train acc",
        "test acc",
    ] {
        assert!(text_at(&svg, label).is_some(), "legend lacks {label}");
    }
    let (lx, ly) = text_at(&svg, "test loss").unwrap();
    let swatch = (lx as u32 - 30, ly as u32, lx as u32, ly as u32 + 14);
    assert!(
        count(&image, swatch, TEST, 12) > 5,
        "no red swatch left of `test loss`"
    );
    // Axis ticks: every half epoch up to 3 under each panel, and the axis names.
    for tick in ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"] {
        assert!(text_at(&svg, tick).is_some(), "no tick label {tick}");
    }
    assert!(svg.contains("epoch"));
    // Tick labels set as text: the decimal point of "1.0" sits on the baseline, between the
    // digits (plotters' own bitmap text drew it halfway up, "1·0").
    // The lowest "1.0" is an epoch under the x axis, centred on its tick.
    let (x, y) = texts_at(&svg, "1.0")
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let (x, y) = (x as u32, y as u32);
    let ink: Vec<(u32, u32)> = (y.saturating_sub(2)..y + 16)
        .flat_map(|py| (x - 12..x + 12).map(move |px| (px, py)))
        .filter(|&(px, py)| image.get_pixel(px, py).0.iter().all(|&c| c < 190))
        .collect();
    let (top, bottom) = (
        ink.iter().map(|p| p.1).min().unwrap(),
        ink.iter().map(|p| p.1).max().unwrap(),
    );
    // Glyphs are runs of columns with ink: "1", ".", "0". The point is the shortest run, it
    // lies between the other two, and all of it is in the lowest third of the text.
    let mut columns: Vec<u32> = ink.iter().map(|p| p.0).collect();
    columns.sort_unstable();
    columns.dedup();
    let mut glyphs: Vec<Vec<u32>> = Vec::new();
    for c in columns {
        match glyphs.last_mut() {
            Some(run) if *run.last().unwrap() + 1 == c => run.push(c),
            _ => glyphs.push(vec![c]),
        }
    }
    assert_eq!(glyphs.len(), 3, "1.0 should be three glyphs: {glyphs:?}");
    let rows = |run: &Vec<u32>| -> Vec<u32> {
        ink.iter()
            .filter(|p| run.contains(&p.0))
            .map(|p| p.1)
            .collect()
    };
    let point = rows(&glyphs[1]);
    let height = |r: &Vec<u32>| r.iter().max().unwrap() - r.iter().min().unwrap();
    assert!(
        height(&point) < height(&rows(&glyphs[0])) / 2,
        "the middle glyph is no point"
    );
    let lowest_third = bottom - (bottom - top) / 3;
    assert!(
        point.iter().all(|&py| py >= lowest_third),
        "the point of 1.0 is at rows {point:?}, the text spans {top}..={bottom}"
    );
}

#[test]
fn confusion_shows_whole_class_names_counts_and_colours() {
    let names: Vec<String> = ["T-shirt/top", "Trouser", "Ankle boot"]
        .map(String::from)
        .to_vec();
    let mut confusion = Confusion::new(3);
    let cells = [(0, 0, 80), (0, 2, 20), (1, 1, 99), (1, 0, 1), (2, 2, 100)];
    for (t, p, n) in cells {
        for _ in 0..n {
            confusion.add(t, p);
        }
    }
    let figure = ConfusionFigure {
        confusion: &confusion,
        names: &names,
        title: "confusion matrix after epoch 1".into(),
    };
    let (svg, bytes) = draw_figure(&figure).unwrap();
    let image = png(&bytes);
    // Every name whole, as a row label and as a column heading (split at the slash if it
    // must be, never cut).
    for name in &names {
        let whole = svg.matches(&format!(">\n{name}\n<")).count();
        assert!(whole >= 1, "{name} is not a row label");
    }
    let headed = svg.matches(">\nT-shirt/top\n<").count() == 2
        || (svg.contains(">\nT-shirt/\n<") && svg.contains(">\ntop\n<"));
    assert!(headed, "T-shirt/top is cut in its column heading");
    assert!(!svg.contains(">\nT-shirt/to\n<"));
    // Each count written in its cell, each class's accuracy at the end of its row.
    for text in ["80", "20", "99", "1", "100", "0.800", "0.990", "1.000"] {
        assert!(text_at(&svg, text).is_some(), "no {text}");
    }
    // Right answers shaded blue, mistakes red, empty cells white: sample each cell's corner.
    let cell = |t: u32, p: u32| image.get_pixel(120 + p * 64 + 6, 80 + t * 64 + 6).0;
    let blue = |c: [u8; 3]| c[2] > c[0] + 60;
    let red = |c: [u8; 3]| c[0] > c[2] + 30;
    assert!(blue(cell(0, 0)) && blue(cell(1, 1)) && blue(cell(2, 2)));
    assert!(red(cell(0, 2)) && red(cell(1, 0)));
    assert_eq!(cell(2, 0), [255, 255, 255]);
    // A 20% mistake is full red, darker than a 1% one.
    assert!(cell(0, 2)[1] < cell(1, 0)[1]);
}

#[test]
fn prediction_grid_frames_exactly_the_wrong_ones_in_red() {
    let test_set = FashionMnist::load(&common::fashion_mnist_dir(), Split::Test).unwrap();
    let labels: Vec<u32> = (0..32).map(|i| test_set.get(i).unwrap().label).collect();
    let wrong = [3, 10, 29];
    let predictions: Vec<u32> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| if wrong.contains(&i) { (l + 1) % 10 } else { l })
        .collect();
    let names: Vec<String> = inception::data::CLASS_NAMES.map(String::from).to_vec();
    let figure = PredictionGrid {
        test_set: &test_set,
        predictions: &predictions,
        names: &names,
    };
    let (svg, bytes) = draw_figure(&figure).unwrap();
    assert!(svg.contains("the first 32 test images: true label, then prediction (3 wrong, in red)"));
    let image = png(&bytes);
    // Cell i: columns of 140 px from x = 10, rows of 156 px from y = 36; the image 30 px
    // below the labels, 112 px square, framed.
    for i in 0..32u32 {
        let (x, y) = (10 + (i % 8) * 140, 36 + (i / 8) * 156 + 30);
        let frame = (x, y, x + 113, y + 113);
        let red = count(&image, frame, TEST, 40);
        if wrong.contains(&(i as usize)) {
            assert!(
                red > 200,
                "image {i} is wrong but not framed in red ({red} red pixels)"
            );
        } else {
            assert!(red < 5, "image {i} is right but has {red} red pixels");
        }
        // The garment itself: gray ink inside the frame.
        let gray = count(
            &image,
            (x + 4, y + 4, x + 108, y + 108),
            [128, 128, 128],
            100,
        );
        assert!(gray > 300, "image {i} is blank");
    }
}

#[test]
fn a_hundred_classes_stay_legible_in_the_confusion_matrix() {
    let names: Vec<String> = (0..100).map(|i| format!("species number {i}")).collect();
    let mut confusion = Confusion::new(100);
    for t in 0..100 {
        for _ in 0..9 {
            confusion.add(t, t);
        }
        confusion.add(t, (t + 1) % 100);
    }
    let figure = ConfusionFigure {
        confusion: &confusion,
        names: &names,
        title: "confusion matrix after epoch 3".into(),
    };
    let (svg, bytes) = draw_figure(&figure).unwrap();
    // Every class: its row labelled with index and whole name, in a font of 12 px (which
    // plotters writes as 9.68 in the SVG, as it writes the 13 px of 10 classes as 10.48); its
    // column headed by its index; its accuracy at the end of its row.
    let mut rows = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let label = format!("{i} {name}");
        let (_, y) = text_at(&svg, &label).unwrap_or_else(|| panic!("no row {label}"));
        rows.push(y);
        let end = svg.find(&format!(">\n{label}\n</text>")).unwrap();
        let tag = &svg[svg[..end].rfind("<text").unwrap()..end];
        assert!(tag.contains("font-size=\"9.677"), "{tag}");
        assert!(text_at(&svg, &i.to_string()).is_some(), "no column {i}");
    }
    assert!(
        rows.windows(2).all(|w| w[1] - w[0] == 16.0),
        "rows 16 px apart"
    );
    assert_eq!(texts_at(&svg, "0.900").len(), 100);
    // The whole matrix is in the picture: 100 cells of 16 px and the labels beside it.
    let image = png(&bytes);
    assert!(image.width() >= 1600 + 200 && image.height() >= 1600 + 80);
    // The diagonal blue, the cell right of it red.
    let (left, top) = (image.width() - 90 - 1600, 80);
    let cell = |t: u32, p: u32| image.get_pixel(left + p * 16 + 8, top + t * 16 + 8).0;
    assert!(cell(50, 50)[2] > cell(50, 50)[0] + 60, "{:?}", cell(50, 50));
    assert!(cell(50, 51)[0] > cell(50, 51)[2] + 30, "{:?}", cell(50, 51));
}

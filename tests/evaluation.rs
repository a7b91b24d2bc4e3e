//! The numbers people report: top-5 accuracy counted from the logits, per-class precision,
//! recall and F1 in `eval`'s text, JSON and CSV and in a run's directory, `predict` as JSON and
//! CSV, and a `--top` larger than the class count refused.

mod common;

use assert_cmd::Command;
use burn::tensor::{Device, Int, Tensor};
use inception::data::{data_loader, FashionMnist, LoaderOptions, Split};
use inception::models::{ModelConfig, ModelKind};
use inception::nn::Classifier;
use inception::train::{evaluate, EvalSummary};

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

#[test]
fn top_5_is_the_share_of_true_classes_among_the_five_highest_logits() {
    let device = Device::flex();
    device.seed(3);
    let model = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
    let test = FashionMnist::load(&common::fashion_mnist_dir(), Split::Test).unwrap();
    let options = LoaderOptions::evaluation(model.config.input, Default::default(), 64, Some(300));
    let report = evaluate(&model, data_loader(&test, &options, &device).as_ref()).unwrap();
    // Counted here from the logits, batch by batch.
    let (mut in_top_5, mut right) = (0, 0);
    for batch in data_loader(&test, &options, &device).iter() {
        let batch = batch.unwrap();
        let logits = model.predict(batch.images);
        let classes = logits.dims()[1];
        let rows = logits.into_data().try_to_vec::<f32>().unwrap();
        let truth: Tensor<1, Int> = batch.targets;
        let truth = truth
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        for (row, &t) in rows.chunks(classes).zip(&truth) {
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            in_top_5 += usize::from(order[..5].contains(&(t as usize)));
            right += usize::from(order[0] == t as usize);
        }
    }
    assert_eq!(report.images, 300);
    assert_eq!(report.accuracy, right as f64 / 300.0);
    assert_eq!(report.top5, Some(in_top_5 as f64 / 300.0));
    assert!(report.top5.unwrap() > report.accuracy, "{report:?}");
}

#[test]
fn a_run_keeps_its_report_and_eval_gives_the_same_as_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let train =
        "train --model lenet --epochs 1 --batch-size 64 --limit-train 1280 --limit-test 300";
    inception()
        .args(train.split(' '))
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let csv_path = dir.path().join("per_class.csv");
    let out = inception()
        .args(["eval", "--limit", "300", "--json", "--checkpoint"])
        .arg(run.join("model.ckpt"))
        .arg("--csv")
        .arg(&csv_path)
        .assert()
        .success();
    let printed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    for key in [
        "images",
        "top1",
        "top5",
        "classes",
        "macro_avg",
        "weighted_avg",
        "confusion",
    ] {
        assert_eq!(printed[key], kept[key], "{key}");
    }
    assert_eq!(printed["images"], 300);
    assert_eq!(printed["classes"].as_array().unwrap().len(), 10);
    assert_eq!(printed["classes"][0]["class"], "T-shirt/top");
    let support: u64 = (0..10)
        .map(|c| printed["classes"][c]["support"].as_u64().unwrap())
        .sum();
    assert_eq!(support, 300);
    // The CSV beside the run and the one asked for: a row per class, then the two averages.
    for path in [run.join("per_class.csv"), csv_path] {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 13, "{text}");
        assert_eq!(lines[0], "class,precision,recall,f1,support");
        assert!(lines[12].starts_with("weighted avg,"), "{text}");
    }
    // The text report: accuracies, then the confusion matrix and the per-class table.
    let out = inception()
        .args(["eval", "--limit", "300", "--checkpoint"])
        .arg(run.join("model.ckpt"))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let top1 = printed["top1"].as_f64().unwrap();
    let top5 = printed["top5"].as_f64().unwrap();
    assert!(
        text.contains(&format!("test acc {top1:.3}, top-5 {top5:.3} (300 images")),
        "{text}"
    );
    assert!(
        text.contains("precision") && text.contains("macro avg"),
        "{text}"
    );
}

#[test]
fn predict_writes_json_and_csv_and_refuses_a_top_beyond_the_classes() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let names = ["cat", "dog", "owl"].map(String::from).to_vec();
    let model = ModelConfig::new(ModelKind::Lenet)
        .with_names(names)
        .build(&device)
        .unwrap();
    let ckpt = dir.path().join("three.ckpt");
    inception::train::checkpoint::save(&model, &ckpt).unwrap();
    let image = dir.path().join("x.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * 9 + y) as u8]))
        .save(&image)
        .unwrap();
    let csv = dir.path().join("predictions.csv");
    let out = inception()
        .args(["predict", "--top", "3", "--json", "--checkpoint"])
        .arg(&ckpt)
        .arg(&image)
        .arg("--csv")
        .arg(&csv)
        .assert()
        .success();
    let printed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let top = printed[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let total: f64 = top.iter().map(|r| r["probability"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-5, "{printed}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "image,rank,class,index,probability");
    assert_eq!(lines.len(), 4);
    let first = format!(
        "{},1,{},",
        image.display(),
        top[0]["class"].as_str().unwrap()
    );
    assert!(lines[1].starts_with(&first), "{text}");

    let out = inception()
        .args(["predict", "--top", "5", "--checkpoint"])
        .arg(&ckpt)
        .arg(&image)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("--top 5 asks for more classes than the model's 3"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn the_summary_of_a_model_without_a_matrix_has_no_classes() {
    // Past 1000 classes no confusion matrix is kept: the summary says so with empty lists
    // rather than failing.
    let report = inception::train::EvalReport {
        loss: 1.0,
        accuracy: 0.5,
        images: 2,
        predictions: vec![0, 1],
        confusion: inception::train::Confusion::new(5000),
        top5: Some(1.0),
    };
    let summary = EvalSummary::new("big", &report, &[]);
    assert!(summary.classes.is_empty() && summary.confusion.is_empty());
    assert_eq!(summary.accuracies(), "test acc 0.500, top-5 1.000");
}

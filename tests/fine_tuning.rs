//! Fine-tuning and model selection on real Fashion-MNIST images: `--freeze` keeps parameters
//! and batch-norm statistics bit for bit, `--head-lr-mult` scales the head's update and
//! nothing else, `--select` keeps the best epoch as `best.ckpt`, `--early-stop` stops and a
//! resumed run stops at the same place, `--val-split` cuts a built-in set's training images.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use inception::data::{DataSplit, ImageDataset, Split};
use inception::interop::{self, TorchTensor};
use inception::models::{ModelConfig, ModelKind};
use inception::train::checkpoint;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

/// `inception ARGS` on the real Fashion-MNIST files; its stdout when it succeeds.
fn run_ok(args: &str, extra: &[&Path]) -> String {
    let mut cmd = inception();
    cmd.args(args.split_whitespace())
        .args(extra)
        .arg("--data")
        .arg(common::fashion_mnist_dir());
    let out = cmd.assert().success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

/// `inception ARGS` on the real Fashion-MNIST files writing to `out`, refused with exit code 2
/// and one line; that line.
fn refused(args: &str, out: &Path) -> String {
    let assert = inception()
        .args(args.split_whitespace())
        .arg("--data")
        .arg(common::fashion_mnist_dir())
        .arg("--out")
        .arg(out)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

/// The tensors of a checkpoint under PyTorch's names.
fn tensors(path: &Path) -> BTreeMap<String, TorchTensor> {
    let (model, _) = checkpoint::load(path, &Device::flex()).unwrap();
    interop::state_dict(&model).tensors
}

/// A seeded `model` saved as `dir/start.ckpt`: the weights every run of a test starts from.
fn start(dir: &Path, model: ModelConfig) -> std::path::PathBuf {
    let device = Device::flex();
    device.seed(7);
    let network = model.build(&device).unwrap();
    let path = dir.join("start.ckpt");
    checkpoint::save(&network, &path).unwrap();
    path
}

#[test]
fn frozen_layers_and_their_batch_norm_statistics_do_not_move() {
    let dir = tempfile::tempdir().unwrap();
    let model = ModelConfig::new(ModelKind::GooglenetBn).with_input([1, 32, 32]);
    let init = start(dir.path(), model);
    let out = dir.path().join("frozen");
    let stdout = run_ok(
        "train --model googlenet-bn --resize 32 --epochs 1 --batch-size 32 --limit-train 96 --limit-test 32 --freeze b1,b2.0",
        &[Path::new("--init-from"), &init, Path::new("--out"), &out],
    );
    assert!(stdout.contains("frozen: "), "{stdout}");
    let before = tensors(&init);
    let after = tensors(&out.join("model.ckpt"));
    let frozen = |name: &str| name.starts_with("b1.") || name.starts_with("b2.0.");
    let (mut kept, mut moved) = (0, 0);
    for (name, tensor) in &before {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        if frozen(name) {
            assert_eq!(&after[name], tensor, "{name} is frozen and moved");
            kept += 1;
        } else {
            assert_ne!(&after[name], tensor, "{name} is trained and did not move");
            moved += 1;
        }
    }
    // b1: a 7x7 convolution with batch norm (weight, bias and 4 batch-norm tensors); b2.0: a
    // 1x1 one.
    assert_eq!(kept, 12, "{:?}", before.keys().collect::<Vec<_>>());
    assert!(moved > 100, "{moved}");
}

#[test]
fn a_freeze_pattern_that_matches_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = refused(
        "train --model lenet --epochs 1 --limit-train 64 --limit-test 64 --freeze b1.*",
        dir.path(),
    );
    assert!(
        stderr.starts_with("error: --freeze: `b1.*` matches no parameter of the network (its layers are named like "),
        "{stderr}"
    );
    assert!(!dir.path().join("model.ckpt").exists());
}

#[test]
fn the_head_learning_rate_multiplier_scales_the_heads_update_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let init = start(dir.path(), ModelConfig::new(ModelKind::Lenet));
    // One step of plain SGD from the same weights on the same batch: the update is lr x grad.
    let one_step =
        "train --model lenet --epochs 1 --batch-size 64 --limit-train 64 --limit-test 64 --lr 0.05";
    let plain = dir.path().join("plain");
    let fast_head = dir.path().join("head");
    run_ok(
        one_step,
        &[Path::new("--init-from"), &init, Path::new("--out"), &plain],
    );
    let stdout = run_ok(
        &format!("{one_step} --head-lr-mult 10"),
        &[
            Path::new("--init-from"),
            &init,
            Path::new("--out"),
            &fast_head,
        ],
    );
    assert!(
        stdout.contains("the head at 10 x the learning rate: 2 parameter tensors ("),
        "{stdout}"
    );
    let (before, plain, head) = (
        tensors(&init),
        tensors(&plain.join("model.ckpt")),
        tensors(&fast_head.join("model.ckpt")),
    );
    // "... 2 parameter tensors (L.weight, L.bias)": L is the layer holding the last parameter.
    let listed = stdout.split("parameter tensors (").nth(1).unwrap();
    let head_layer = listed.split(".weight").next().unwrap().to_string();
    assert!(
        before.contains_key(&format!("{head_layer}.bias")),
        "{stdout}"
    );
    for (name, w0) in &before {
        let delta = |t: &TorchTensor| -> Vec<f32> {
            t.values
                .iter()
                .zip(&w0.values)
                .map(|(a, b)| a - b)
                .collect()
        };
        let (d_plain, d_head) = (delta(&plain[name]), delta(&head[name]));
        if name.starts_with(&format!("{head_layer}.")) {
            let scale = d_plain.iter().map(|d| d.abs()).fold(0.0f32, f32::max);
            assert!(scale > 0.0, "{name} did not move");
            for (p, h) in d_plain.iter().zip(&d_head) {
                assert!(
                    (h - 10.0 * p).abs() <= 1e-3 * 10.0 * scale,
                    "{name}: {h} is not 10 x {p}"
                );
            }
        } else {
            assert_eq!(d_plain, d_head, "{name} is not in the head");
        }
    }
}

#[test]
fn the_best_epoch_is_kept_and_early_stopping_stops_where_a_resumed_run_stops() {
    let dir = tempfile::tempdir().unwrap();
    let base =
        "train --model lenet --batch-size 64 --limit-train 320 --limit-test 256 --val-split 0.1";

    // Selection by validation loss over 4 epochs: best.ckpt is the epoch of the lowest one.
    let chosen = dir.path().join("chosen");
    let stdout = run_ok(
        &format!("{base} --epochs 4 --select val_loss"),
        &[Path::new("--out"), &chosen],
    );
    assert!(stdout.contains("best val_loss so far: "), "{stdout}");
    let history = checkpoint::read_meta(&chosen.join("model.ckpt"))
        .unwrap()
        .training
        .unwrap()
        .progress
        .history;
    assert_eq!(history.len(), 4);
    let best = history
        .iter()
        .min_by(|a, b| a.test_loss.total_cmp(&b.test_loss))
        .unwrap();
    let kept = checkpoint::read_meta(&chosen.join("best.ckpt"))
        .unwrap()
        .training
        .unwrap()
        .progress;
    assert_eq!(kept.epochs_done, best.epoch, "{history:?}");

    // A learning rate too small to change any prediction: the validation accuracy of epoch 1
    // is never beaten, so patience 1 stops after epoch 2 of 5.
    let stalled = dir.path().join("stalled");
    let stdout = run_ok(
        &format!("{base} --epochs 5 --lr 1e-9 --select val_acc --early-stop 1"),
        &[Path::new("--out"), &stalled],
    );
    assert!(
        stdout.contains("early stop: val_acc has not improved for 1 epochs since epoch 1"),
        "{stdout}"
    );
    let epochs_done = |path: &Path| {
        checkpoint::read_meta(path)
            .unwrap()
            .training
            .unwrap()
            .progress
            .epochs_done
    };
    assert_eq!(epochs_done(&stalled.join("model.ckpt")), 2);
    assert_eq!(epochs_done(&stalled.join("best.ckpt")), 1);
    // Resumed, it stops where it stopped: no more epochs.
    let stdout = run_ok("train --resume", &[&stalled]);
    assert!(stdout.contains("early stop: val_acc"), "{stdout}");
    assert_eq!(epochs_done(&stalled.join("model.ckpt")), 2);
}

#[test]
fn selecting_on_the_test_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for flags in ["--select val_acc", "--early-stop 3"] {
        let args =
            format!("train --model lenet --epochs 2 --limit-train 64 --limit-test 64 {flags}");
        let stderr = refused(&args, dir.path());
        let flag = flags.split(' ').next().unwrap();
        assert!(
            stderr.starts_with(&format!("error: {flag} chooses by val_")),
            "{stderr}"
        );
        assert!(stderr.contains("add --val-split 0.1"), "{stderr}");
    }
}

#[test]
fn a_validation_split_of_a_builtin_set_is_stratified_and_disjoint() {
    let dir = common::fashion_mnist_dir();
    let set = inception::data::BuiltinSet::FashionMnist;
    let train = DataSplit::load(set, &dir, Split::Train).unwrap();
    let (kept, val) = train.clone().cut(0.1, 42).unwrap();
    assert_eq!((kept.len(), val.len()), (54_000, 6_000));
    assert_eq!(val.name(), "Fashion-MNIST (validation)");
    let (DataSplit::Part(kept), DataSplit::Part(val)) = (&kept, &val) else {
        panic!("a built-in set is cut into parts");
    };
    let mut all: Vec<usize> = kept
        .indices()
        .iter()
        .chain(val.indices())
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..60_000).collect::<Vec<_>>());
    let mut per_class = [0usize; 10];
    for &i in val.indices() {
        per_class[train.get(i).unwrap().label as usize] += 1;
    }
    assert_eq!(per_class, [600; 10]);
    // The same seed cuts the same way; another seed another way.
    let (_, again) = train.clone().cut(0.1, 42).unwrap();
    let (_, other) = train.cut(0.1, 43).unwrap();
    let indices = |s: &DataSplit| match s {
        DataSplit::Part(p) => p.indices().to_vec(),
        _ => unreachable!(),
    };
    assert_eq!(indices(&again), val.indices());
    assert_ne!(indices(&other), val.indices());
}

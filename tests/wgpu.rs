//! The wgpu backend against the CPU one, built with `--features wgpu` and run in CI on a
//! software Vulkan device (Mesa's lavapipe: `apt-get install mesa-vulkan-drivers libvulkan1`),
//! so that the GPU code path is exercised on every change. The zoo models small enough for a
//! software device: LeNet, NiN at 96x96, GoogLeNet d2l and GoogLeNet-BN at 32x32.
//!
//! - the same weights give the same logits on both (max |difference| / max |CPU logit| below
//!   1e-4, as `tests/parity.rs` measures), the weights crossing in a checkpoint written on one
//!   and read on the other, both ways;
//! - five training steps from the same weights give the CPU's losses within 1e-3 (LeNet; the
//!   weights are drawn once, on the CPU: each backend draws its own random numbers);
//! - `train --device wgpu:cpu` runs end to end and its checkpoint evaluates on the CPU to the
//!   accuracy it logged.
#![cfg(feature = "wgpu")]

mod common;

use std::path::Path;

use assert_cmd::Command;
use burn::tensor::{Device, Tensor, TensorData};
use inception::data::{FashionMnist, Split};
use inception::device::{DeviceSpec, WgpuAdapter};
use inception::models::{Model, ModelConfig, ModelKind};
use inception::train::{checkpoint, train, Silent, TrainConfig};

const TOLERANCE: f32 = 1e-4;

fn wgpu() -> Device {
    DeviceSpec::Wgpu(WgpuAdapter::Cpu)
        .open()
        .unwrap_or_else(|e| panic!("{e} (CI installs mesa-vulkan-drivers and libvulkan1)"))
}

fn inception() -> Command {
    let mut command = Command::cargo_bin("inception").unwrap();
    command.env("FASHION_MNIST_DIR", common::fashion_mnist_dir());
    // One candidate kernel per operation: tuning on a software device takes longer than the
    // test (CI sets it for the in-process tests too).
    command.env("CUBECL_AUTOTUNE_LEVEL", "minimal");
    command
}

/// A deterministic batch of `n` images of `input`.
fn images(n: usize, input: [usize; 3], device: &Device) -> Tensor<4> {
    let [c, h, w] = input;
    let values = (0..n * c * h * w)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 2.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [n, c, h, w]), device)
}

fn logits(model: &Model, device: &Device) -> Vec<f32> {
    let x = images(3, model.config.input, device);
    model.forward(x).into_data().to_vec::<f32>().unwrap()
}

/// max |a - b| / max |a|.
fn relative_error(reference: &[f32], other: &[f32]) -> f32 {
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = reference
        .iter()
        .zip(other)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

/// `model` written to `path` and read back on `device`.
fn moved(model: &Model, path: &Path, device: &Device) -> Model {
    checkpoint::save(model, path).unwrap();
    checkpoint::load(path, device).unwrap().0
}

#[test]
fn the_same_weights_give_the_cpu_logits_and_cross_in_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (cpu, gpu) = (Device::flex(), wgpu());
    let cases = [
        (ModelKind::Lenet, [1, 28, 28]),
        (ModelKind::Nin, [1, 96, 96]),
        (ModelKind::Googlenet, [1, 32, 32]),
        (ModelKind::GooglenetBn, [1, 32, 32]),
    ];
    for (kind, input) in cases {
        cpu.seed(7);
        let model = ModelConfig::new(kind)
            .with_input(input)
            .build(&cpu)
            .unwrap();
        let reference = logits(&model, &cpu);
        // CPU -> wgpu through a checkpoint.
        let on_gpu = moved(&model, &dir.path().join("cpu.ckpt"), &gpu);
        let error = relative_error(&reference, &logits(&on_gpu, &gpu));
        assert!(
            error < TOLERANCE,
            "{kind:?} on wgpu: relative error {error}"
        );
        // wgpu -> CPU: the weights come back bit for bit.
        let back = moved(&on_gpu, &dir.path().join("gpu.ckpt"), &cpu);
        assert_eq!(logits(&back, &cpu), reference, "{kind:?} back on the CPU");
    }
}

/// The loss of every step of a run, from its running means in `steps.csv`.
fn step_losses(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("steps.csv")).unwrap();
    let means: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    means
        .iter()
        .enumerate()
        .map(|(k, m)| match k {
            0 => *m,
            _ => (k + 1) as f64 * m - k as f64 * means[k - 1],
        })
        .collect()
}

#[test]
fn five_steps_from_the_same_weights_give_the_cpu_losses() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::fashion_mnist_dir();
    let train_set = FashionMnist::load(&data, Split::Train).unwrap();
    let test_set = FashionMnist::load(&data, Split::Test).unwrap();
    let (cpu, gpu) = (Device::flex(), wgpu());
    // GoogLeNet-BN does not agree yet: its first step's loss does, its second is 2.751 on the
    // CPU and 2.816 on wgpu (same weights, same batches); under investigation (issue
    // "GPU backends that are tested"), so it is not asserted here.
    for (kind, side) in [(ModelKind::Lenet, 28)] {
        let model = ModelConfig::new(kind).with_input([1, side, side]);
        cpu.seed(11);
        let start = model.build(&cpu).unwrap();
        logits(&start, &cpu); // draws the weights
        let start_file = dir.path().join("start.ckpt");
        checkpoint::save(&start, &start_file).unwrap();
        let losses = |device: &Device, name: &str| {
            let mut config = TrainConfig::new(model.clone());
            config.epochs = 1;
            config.batch_size = 32;
            config.lr = 0.05;
            config.limit_train = Some(160);
            config.limit_test = Some(64);
            config.log_every = 1;
            config.out_dir = Some(dir.path().join(name));
            let network = checkpoint::load(&start_file, device).unwrap().0;
            train(network, &config, &train_set, &test_set, device, &mut Silent).unwrap();
            step_losses(&dir.path().join(name))
        };
        let (on_cpu, on_gpu) = (losses(&cpu, "cpu"), losses(&gpu, "gpu"));
        assert_eq!(on_cpu.len(), 5, "{kind:?}: five steps of 32");
        for (step, (a, b)) in on_cpu.iter().zip(&on_gpu).enumerate() {
            assert!(
                (a - b).abs() < 1e-3,
                "{kind:?} step {step}: {a} on the CPU, {b} on wgpu"
            );
        }
    }
}

#[test]
fn train_runs_on_wgpu_end_to_end_and_its_checkpoint_evaluates_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    inception()
        .args([
            "train", "--model", "lenet", "--device", "wgpu:cpu", "--epochs", "1",
        ])
        .args([
            "--limit-train",
            "256",
            "--limit-test",
            "64",
            "--batch-size",
            "32",
        ])
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let logged: f64 = metrics
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    let out = inception()
        .args(["eval", "--device", "cpu", "--limit", "64", "--checkpoint"])
        .arg(run.join("model.ckpt"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("test acc {logged:.3}")),
        "logged {logged}, eval on the CPU said {stdout}"
    );
}

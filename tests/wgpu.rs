//! The wgpu backend against the CPU one, built with `--features wgpu` and run in CI on a
//! software Vulkan device (Mesa's lavapipe: `apt-get install mesa-vulkan-drivers libvulkan1`),
//! so that the GPU code path is exercised on every change. The zoo models small enough for a
//! software device: LeNet, NiN at 96x96, GoogLeNet d2l and GoogLeNet-BN at 32x32 (on lavapipe
//! only LeNet-sized networks train: see `software_device`).
//!
//! - the same weights give the same logits on both (max |difference| / max |CPU logit| below
//!   1e-4, as `tests/parity.rs` measures), the weights crossing in a checkpoint written on one
//!   and read on the other, both ways;
//! - five training steps from the same weights give the CPU's losses within 1e-3 (the weights
//!   are drawn once, on the CPU; dropout's masks come from the CPU's generator on every
//!   backend); GoogLeNet-BN, whose trajectory is chaotic, is checked on its first step's loss
//!   and gradients instead;
//! - `train --device wgpu:cpu` runs end to end and its checkpoint evaluates on the CPU to the
//!   accuracy it logged.
//!
//! `INCEPTION_TEST_DEVICE` names another device to check instead of lavapipe (`wgpu`,
//! `wgpu:discrete`, `cuda`): `scripts/gpu-check.sh` runs this suite on a real GPU that way.
#![cfg(feature = "wgpu")]

mod common;

use std::path::Path;

use assert_cmd::Command;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use inception::data::{FashionMnist, Split};
use inception::device::DeviceSpec;
use inception::models::{Model, ModelConfig, ModelKind};
use inception::nn::named_params;
use inception::train::{checkpoint, train, Silent, TrainConfig};

const TOLERANCE: f32 = 1e-4;

/// NiN's learning rate for the five steps: at 0.05 its second step's loss is 339,470 (on
/// every backend alike), which says nothing about agreement.
const NIN_LR: f64 = 0.01;

/// The device under test, as `--device` writes it.
fn device_name() -> String {
    std::env::var("INCEPTION_TEST_DEVICE").unwrap_or_else(|_| "wgpu:cpu".into())
}

/// Whether the device under test is the software one (lavapipe, `wgpu:cpu`). There every new
/// kernel shape costs an LLVM compilation and an autotuning run on the CPU, whatever the batch:
/// on a 2-core AMD EPYC with AVX2 only, five training steps took 48 s for LeNet, 5.3 minutes for
/// NiN at 68x68 and more than 5 minutes for GoogLeNet d2l at 32x32 (batches of 8), against 3.5
/// minutes for the whole suite on a 2-core Intel Xeon. So CI trains LeNet-sized networks on it,
/// and the large models' training runs where this suite meets a real GPU
/// (`scripts/gpu-check.sh`).
fn software_device() -> bool {
    device_name() == "wgpu:cpu"
}

fn wgpu() -> Device {
    let spec: DeviceSpec = device_name().parse().unwrap();
    spec.open()
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
    model.forward(x).into_data().try_to_vec::<f32>().unwrap()
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
        let error = common::relative_error(&reference, &logits(&on_gpu, &gpu));
        assert!(
            error < TOLERANCE,
            "{kind:?} on wgpu: relative error {error}"
        );
        // wgpu -> CPU: the weights come back bit for bit.
        let back = moved(&on_gpu, &dir.path().join("gpu.ckpt"), &cpu);
        assert_eq!(logits(&back, &cpu), reference, "{kind:?} back on the CPU");
    }
}

/// The zoo's LeNet with dropout (0.5) before its last dense layer: dropout on the device under
/// test, on LeNet's kernel shapes (already compiled and tuned by the time it trains). Derived
/// from the zoo's file, so that it follows LeNet.
fn lenet_with_dropout() -> ModelConfig {
    let last = r#"{ type = "dense", units = "classes" }"#;
    let lenet = ModelKind::Lenet.network_file();
    assert!(lenet.contains(last), "LeNet's file ends in {last}");
    let text = lenet.replace(last, &format!(r#"{{ type = "dropout", p = 0.5 }}, {last}"#));
    ModelConfig::from_text(&text, "tests/wgpu.rs", "lenet-dropout").unwrap()
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
    // GoogLeNet-BN is not here: see the next test.
    let mut cases = vec![
        ("lenet", ModelConfig::new(ModelKind::Lenet), 0.05),
        ("lenet-dropout", lenet_with_dropout(), 0.05),
    ];
    if !software_device() {
        let nin = ModelConfig::new(ModelKind::Nin).with_input([1, 96, 96]);
        let googlenet = ModelConfig::new(ModelKind::Googlenet).with_input([1, 32, 32]);
        cases.extend([("nin", nin, NIN_LR), ("googlenet", googlenet, 0.05)]);
    }
    for (kind, model, lr) in cases {
        cpu.seed(11);
        let start = model.build(&cpu).unwrap();
        logits(&start, &cpu); // draws the weights
        let start_file = dir.path().join(format!("{kind}-start.ckpt"));
        checkpoint::save(&start, &start_file).unwrap();
        let losses = |device: &Device, name: &str| {
            let mut config = TrainConfig::new(model.clone());
            config.epochs = 1;
            config.batch_size = 8;
            config.lr = lr;
            config.limit_train = Some(40);
            config.limit_test = Some(16);
            config.log_every = 1;
            config.out_dir = Some(dir.path().join(name));
            let network = checkpoint::load(&start_file, device).unwrap().0;
            train(network, &config, &train_set, &test_set, device, &mut Silent).unwrap();
            step_losses(&dir.path().join(name))
        };
        let (on_cpu, on_gpu) = (
            losses(&cpu, &format!("{kind}-cpu")),
            losses(&gpu, &format!("{kind}-gpu")),
        );
        assert_eq!(on_cpu.len(), 5, "{kind}: five steps of 8");
        for (step, (a, b)) in on_cpu.iter().zip(&on_gpu).enumerate() {
            assert!(
                (a - b).abs() < 1e-3,
                "{kind} step {step}: {a} on the CPU, {b} on wgpu"
            );
        }
    }
}

#[test]
fn train_runs_on_wgpu_end_to_end_and_its_checkpoint_evaluates_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    inception()
        .args(["train", "--model", "lenet", "--epochs", "1", "--device"])
        .arg(device_name())
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

/// GoogLeNet-BN is chaotic at initialization: its training trajectory depends on the last bit
/// of every sum, so five steps cannot agree between any two implementations of the same
/// arithmetic. Measured on the CPU alone (same weights, same Fashion-MNIST batches of 32, lr
/// 0.05): the fused CPU kernels and burn's own CPU operations give step losses 2.95749 /
/// 2.75113 / 2.73617 / 2.62622 / 2.70290 and 2.95749 / 2.74665 / 2.69422 / 2.43173 / 2.62131
/// (wgpu: 2.95748 / 2.81607 / 2.62444 / 2.79714 / 2.59107), and multiplying the input by
/// (1 + 1e-6) moves the first step's gradients by 1.7e-2 (median over the parameters;
/// GoogLeNet d2l: 2.7e-6), the last blocks' included. What is deterministic is checked: the
/// first step's loss (batch norm with batch statistics, forward) and the classifier's
/// gradients; batch norm's backward is checked alone in the next test.
#[test]
fn googlenet_bn_first_step_gives_the_cpu_loss_and_classifier_gradients() {
    if software_device() {
        // More than 5.5 minutes on lavapipe (2-core AMD EPYC, nothing tuned yet): each of its
        // convolution shapes compiled and tuned, forward and backward. Batch norm's own
        // training arithmetic is checked there by the next test.
        eprintln!("GoogLeNet-BN's first step: checked on a real GPU (scripts/gpu-check.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cpu, gpu) = (Device::flex(), wgpu());
    cpu.seed(11);
    let model = ModelConfig::new(ModelKind::GooglenetBn)
        .with_input([1, 32, 32])
        .build(&cpu)
        .unwrap();
    logits(&model, &cpu); // draws the weights
    let start = dir.path().join("start.ckpt");
    checkpoint::save(&model, &start).unwrap();
    let first_step = |device: &Device| {
        let train_device = device.clone().autodiff();
        let network = checkpoint::load(&start, device)
            .unwrap()
            .0
            .train()
            .fork(&train_device);
        let x = images(32, [1, 32, 32], &train_device);
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new((0..32i64).map(|i| i % 10).collect::<Vec<_>>(), [32]),
            &train_device,
        );
        let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
        let (_, loss) = network.forward_train(x).loss(&loss_fn, &targets);
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &network);
        let classifier: Vec<(String, Vec<f32>)> = named_params(&network)
            .into_iter()
            .filter(|p| p.name.starts_with("dense."))
            .map(|p| {
                let values = match p.shape.len() {
                    1 => grads.get::<1>(p.id).map(|g| g.into_data()),
                    _ => grads.get::<2>(p.id).map(|g| g.into_data()),
                };
                (p.name, values.unwrap().try_to_vec::<f32>().unwrap())
            })
            .collect();
        (value, classifier)
    };
    let ((cpu_loss, cpu_grads), (gpu_loss, gpu_grads)) = (first_step(&cpu), first_step(&gpu));
    assert!(
        (cpu_loss - gpu_loss).abs() < 1e-4,
        "loss {cpu_loss} on the CPU, {gpu_loss} on wgpu"
    );
    assert_eq!(cpu_grads.len(), 2, "the classifier's weight and bias");
    for ((name, a), (_, b)) in cpu_grads.iter().zip(&gpu_grads) {
        let error = common::relative_error(a, b);
        assert!(error < 1e-4, "gradient of {name}: relative error {error}");
    }
}

/// Batch norm with batch statistics and ReLU, forward and backward: wgpu (burn's operations)
/// against the CPU's fused kernel, on maps of GoogLeNet-BN's sizes at 32x32.
#[test]
fn batch_norm_training_gives_the_cpu_output_and_gradients() {
    let (cpu, gpu) = (Device::flex(), wgpu());
    for shape in [[32, 64, 8, 8], [32, 160, 2, 2], [32, 384, 1, 1]] {
        let channels = shape[1];
        let run = |device: &Device| {
            let device = device.clone().autodiff();
            let x = images(shape[0], [shape[1], shape[2], shape[3]], &device).require_grad();
            let ramp = |scale: f32, offset: f32| {
                let values: Vec<f32> = (0..channels)
                    .map(|c| offset + scale * (c % 13) as f32 / 13.0)
                    .collect();
                Tensor::<1>::from_data(TensorData::new(values, [channels]), &device).require_grad()
            };
            let (gamma, beta) = (ramp(1.0, 0.5), ramp(0.4, -0.2));
            let (y, mean, variance) = if inception::device::is_flex(&device) {
                inception::flex::fused_batch_norm_train(
                    x.clone(),
                    gamma.clone(),
                    beta.clone(),
                    1e-5,
                    true,
                )
            } else {
                inception::flex::reference_batch_norm_train(
                    x.clone(),
                    gamma.clone(),
                    beta.clone(),
                    1e-5,
                    true,
                )
            };
            let weights = images(shape[0], [shape[1], shape[2], shape[3]], &device).flip([0]);
            let grads = (y.clone() * weights).sum().backward();
            let read = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            let read1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
            [
                read(y),
                read1(mean),
                read1(variance),
                read(x.grad(&grads).unwrap()),
                read1(gamma.grad(&grads).unwrap()),
                read1(beta.grad(&grads).unwrap()),
            ]
        };
        let (on_cpu, on_gpu) = (run(&cpu), run(&gpu));
        let names = ["output", "mean", "variance", "dx", "dgamma", "dbeta"];
        for ((name, a), b) in names.iter().zip(&on_cpu).zip(&on_gpu) {
            let error = common::relative_error(a, b);
            assert!(error < 1e-4, "{shape:?} {name}: relative error {error}");
        }
    }
}

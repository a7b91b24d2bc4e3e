//! Whole training runs on real Fashion-MNIST give the same losses with and without the flex
//! fast path. A file of its own: burn keeps one random generator per device per process, so a
//! test running beside it (and drawing random tensors) would change its initialization.

mod common;

use burn::tensor::Device;
use inception::data::{FashionMnist, Split};
use inception::flex::set_fast_path;
use inception::models::{ModelConfig, ModelKind, OptimizerKind};
use inception::train::{train_model, Silent, TrainConfig};

/// Trains `model` twice on the same real images, with and without the fast path, and returns
/// both curves of (training loss, test loss) per epoch.
fn curves(
    model: ModelConfig,
    optimizer: OptimizerKind,
    lr: f64,
    epochs: usize,
    limit: usize,
) -> [Vec<(f64, f64)>; 2] {
    let dir = common::fashion_mnist_dir();
    let train_set = FashionMnist::load(&dir, Split::Train).unwrap();
    let config = TrainConfig {
        optimizer,
        lr,
        batch_size: 32,
        epochs,
        seed: 3,
        limit_train: Some(limit),
        limit_test: Some(128),
        keep_checkpoints: 0,
        ..TrainConfig::new(model)
    };
    let run = |fast: bool| {
        set_fast_path(fast);
        let outcome = train_model(
            &config,
            &train_set,
            &train_set,
            &Device::flex(),
            &mut Silent,
        );
        set_fast_path(true);
        let epochs = outcome.unwrap().epochs;
        epochs.iter().map(|e| (e.loss, e.test_loss)).collect()
    };
    [run(true), run(false)]
}

fn assert_same_curves(what: &str, [fast, slow]: &[Vec<(f64, f64)>; 2], tolerance: f64) {
    assert_eq!(fast.len(), slow.len());
    for (epoch, (a, b)) in fast.iter().zip(slow).enumerate() {
        eprintln!(
            "{what} epoch {}: fast path {a:?}, burn's ops {b:?}",
            epoch + 1
        );
        for (which, x, y) in [("training", a.0, b.0), ("test", a.1, b.1)] {
            assert!(
                (x - y).abs() < tolerance * y.abs().max(1.0),
                "{what} epoch {}: {which} loss {x} with the fast path, {y} without",
                epoch + 1
            );
        }
    }
}

/// Whole training runs agree. Training amplifies rounding differences wherever the dynamics
/// are unstable, so the runs compared are short and well conditioned: LeNet's first epoch with
/// Adam (it learns from the first steps), and plain GoogLeNet's first 20 steps (before it
/// leaves its initial plateau, a moment any change of rounding shifts: from this seed's
/// initialization it leaves it in the next 20 steps, where the two paths' test losses part by
/// 1%). GoogLeNet-BN is left
/// out on purpose: its weight gradients are ill-conditioned in float32 (burn's own operations
/// give gradients up to 10% apart for the same batch in another order).
#[test]
fn training_runs_are_the_same_with_and_without_the_fast_path() {
    let lenet = ModelConfig::new(ModelKind::Lenet);
    let lenet = curves(lenet, OptimizerKind::Adam, 0.003, 1, 1024);
    assert!(lenet[0][0].0 < 2.0, "LeNet learns: {:?}", lenet[0]);
    assert_same_curves("lenet", &lenet, 2e-3);
    let googlenet = ModelConfig::new(ModelKind::Googlenet).with_input([1, 32, 32]);
    let googlenet = curves(googlenet, OptimizerKind::Adam, 0.001, 1, 640);
    assert_same_curves("googlenet", &googlenet, 2e-3);
}

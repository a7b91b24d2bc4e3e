//! Gradient accumulation (`--accumulate N`): a batch run through the network in N slices gives
//! the same update as the whole batch at once, on real Fashion-MNIST images.

mod common;

use std::sync::{Mutex, MutexGuard};

use burn::tensor::Device;
use inception::data::{FashionMnist, Split};
use inception::models::{ModelConfig, ModelKind, OptimizerKind};
use inception::train::{train_model, Silent, TrainConfig, TrainOutcome};

/// burn keeps one random generator per device for the whole process, and a run seeds it and
/// then draws its weights: the tests of this file take turns, so that two runs of one seed
/// start from the same weights.
static RANDOM: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    RANDOM
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lenet_steps(
    batch_size: usize,
    accumulate: usize,
    steps: usize,
) -> TrainOutcome<inception::models::Model> {
    let train_set = FashionMnist::load(&common::fashion_mnist_dir(), Split::Train).unwrap();
    let config = TrainConfig {
        optimizer: OptimizerKind::Sgd,
        lr: 0.1,
        batch_size,
        epochs: 1,
        seed: 5,
        limit_train: Some(batch_size * steps),
        limit_test: Some(64),
        accumulate,
        ..TrainConfig::new(ModelConfig::new(ModelKind::Lenet))
    };
    train_model(
        &config,
        &train_set,
        &train_set,
        &Device::flex(),
        &mut Silent,
    )
    .unwrap()
}

/// Every parameter of both models, flattened, and the largest difference relative to the
/// largest value.
fn weight_difference(a: &inception::models::Model, b: &inception::models::Model) -> f32 {
    let values = |m: &inception::models::Model| -> Vec<f32> {
        let dict = inception::interop::state_dict(m);
        dict.tensors.into_values().flat_map(|t| t.values).collect()
    };
    common::relative_error(&values(a), &values(b))
}

#[test]
fn four_slices_of_a_batch_give_the_update_of_the_whole_batch() {
    let _turn = take_turn();
    let whole = lenet_steps(128, 1, 5);
    let sliced = lenet_steps(128, 4, 5);
    let error = weight_difference(&whole.model, &sliced.model);
    eprintln!("4 slices: weights differ by {error:e}");
    assert!(error < 1e-5, "weights after 5 steps differ by {error:e}");
    // Four more steps moved the weights far more than that: the comparison is not between
    // two untouched networks.
    let one_step = lenet_steps(128, 1, 1);
    assert!(weight_difference(&whole.model, &one_step.model) > 1e-3);
    let (a, b) = (&whole.epochs[0], &sliced.epochs[0]);
    assert!(
        (a.loss - b.loss).abs() < 1e-5 * a.loss,
        "{} vs {}",
        a.loss,
        b.loss
    );
    assert_eq!(a.train_acc, b.train_acc);
}

#[test]
fn uneven_slices_weigh_by_their_size() {
    let _turn = take_turn();
    // 100 images in 3 slices: 34, 34 and 32.
    let whole = lenet_steps(100, 1, 3);
    let sliced = lenet_steps(100, 3, 3);
    let error = weight_difference(&whole.model, &sliced.model);
    assert!(error < 1e-5, "weights after 3 steps differ by {error:e}");
}

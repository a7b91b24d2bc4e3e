//! A short real training run: the loss goes down and accuracy rises above chance.

mod common;

use burn::tensor::Device;
use inception::data::{FashionMnist, Split};
use inception::models::{ModelConfig, ModelKind, OptimizerKind};
use inception::train::{train_model, EpochReport, Silent, TrainConfig};

#[test]
fn googlenet_learns_a_few_hundred_real_images() {
    let dir = common::fashion_mnist_dir();
    let train_set = FashionMnist::load(&dir, Split::Train).unwrap();
    let config = TrainConfig {
        optimizer: OptimizerKind::Adam,
        lr: 0.001,
        batch_size: 32,
        epochs: 8,
        seed: 3,
        limit_train: Some(320),
        // Accuracy is measured on the same images the model trains on.
        limit_test: Some(320),
        keep_checkpoints: 0,
        ..TrainConfig::new(ModelConfig::new(ModelKind::Googlenet).with_input([1, 32, 32]))
    };
    let outcome = train_model(
        &config,
        &train_set,
        &train_set,
        &Device::flex(),
        &mut Silent,
    )
    .unwrap();
    let epochs: Vec<&EpochReport> = outcome.epochs.iter().collect();
    for e in &epochs {
        eprintln!("{}", e.line());
    }
    assert_eq!(epochs.len(), 8);
    let (first, last) = (epochs[0], epochs[7]);
    assert!(
        first.loss.is_finite() && last.loss < 0.8 * first.loss,
        "loss {} -> {}",
        first.loss,
        last.loss
    );
    assert!(
        last.test_acc > 0.2,
        "accuracy on the trained images {} (chance 0.1, asserted twice that)",
        last.test_acc
    );
    assert!(last.line().starts_with("epoch 8, loss "));
    // Each epoch's time splits into its optimizer steps and the rest (batches, test pass).
    for e in &epochs {
        assert!(
            e.step_seconds > 0.0 && e.step_seconds < e.seconds,
            "epoch {}: {} s in steps of {} s",
            e.epoch,
            e.step_seconds,
            e.seconds
        );
    }
}

#[test]
fn bad_settings_are_refused_before_training() {
    let dir = common::fashion_mnist_dir();
    let test_set = FashionMnist::load(&dir, Split::Test).unwrap();
    let mut config = TrainConfig {
        optimizer: OptimizerKind::Sgd,
        lr: -0.1,
        batch_size: 8,
        epochs: 1,
        seed: 0,
        limit_train: Some(8),
        limit_test: Some(8),
        keep_checkpoints: 0,
        ..TrainConfig::new(ModelConfig::new(ModelKind::Googlenet))
    };
    let err = train_model(&config, &test_set, &test_set, &Device::flex(), &mut Silent).unwrap_err();
    assert!(
        err.to_string().contains("`lr` must be a positive number"),
        "{err}"
    );
    config.lr = 0.1;
    config.batch_size = 0;
    let err = train_model(&config, &test_set, &test_set, &Device::flex(), &mut Silent).unwrap_err();
    assert!(
        err.to_string().contains("`batch_size` must be at least 1"),
        "{err}"
    );
}

//! Every model of the zoo trains: a short real run on Fashion-MNIST lowers its loss.

mod common;

use burn::tensor::Device;
use inception::data::{FashionMnist, Split};
use inception::models::{ModelConfig, ModelKind, OptimizerKind};
use inception::train::{train_model, Silent, TrainConfig};

/// The smallest convenient input each architecture accepts (AlexNet and NiN need at least
/// 67x67, the paper GoogLeNet's auxiliary heads at least 80x80, torchvision's at least 57x57).
fn small_input(kind: ModelKind) -> [usize; 3] {
    let [channels, _, _] = kind.default_input();
    let side = match kind {
        ModelKind::Lenet => 28,
        ModelKind::Vgg11
        | ModelKind::Vgg11Small
        | ModelKind::Googlenet
        | ModelKind::GooglenetBn => 32,
        ModelKind::GooglenetTorchvision => 64,
        ModelKind::Alexnet | ModelKind::Nin | ModelKind::GooglenetPaper => 96,
    };
    [channels, side, side]
}

#[test]
fn every_model_lowers_its_loss_on_real_images() {
    let dir = common::fashion_mnist_dir();
    let data = FashionMnist::load(&dir, Split::Test).unwrap();
    let mut failures = Vec::new();
    for kind in ModelKind::ALL {
        let config = TrainConfig {
            optimizer: OptimizerKind::Adam,
            // AlexNet's 4096-wide dense layers need a gentler step on so few images.
            lr: if kind == ModelKind::Alexnet {
                1e-4
            } else {
                1e-3
            },
            batch_size: 16,
            epochs: 3,
            seed: 5,
            limit_train: Some(64),
            limit_test: Some(16),
            keep_checkpoints: 0,
            ..TrainConfig::new(ModelConfig::new(kind).with_input(small_input(kind)))
        };
        let outcome = train_model(&config, &data, &data, &Device::flex(), &mut Silent).unwrap();
        let (first, last) = (&outcome.epochs[0], &outcome.epochs[2]);
        eprintln!(
            "{:>16}: loss {:.4} -> {:.4}",
            kind.name(),
            first.loss,
            last.loss
        );
        let fell = last.loss.is_finite() && last.loss < first.loss;
        if !fell {
            failures.push(format!(
                "{}: {:.4} -> {:.4}",
                kind.name(),
                first.loss,
                last.loss
            ));
        }
    }
    assert!(failures.is_empty(), "loss did not fall: {failures:?}");
}

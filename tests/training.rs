//! A short real training run: the loss goes down and accuracy rises above chance.

mod common;

use burn::data::dataset::Dataset;
use burn::tensor::Device;
use inception::data::{FashionMnist, Split};
use inception::models::{ModelConfig, ModelKind, OptimizerKind};
use inception::train::{train_model, EpochReport, Silent, TrainConfig};

#[test]
fn googlenet_learns_a_few_hundred_real_images() {
    let dir = common::fashion_mnist_dir();
    let train_set = FashionMnist::load(&dir, Split::Train).unwrap();
    let config = TrainConfig {
        model: ModelConfig::new(ModelKind::Googlenet).with_input([1, 32, 32]),
        optimizer: OptimizerKind::Adam,
        optim: Default::default(),
        augment: Default::default(),
        lr: 0.001,
        batch_size: 32,
        epochs: 8,
        seed: 3,
        limit_train: Some(320),
        // Accuracy is measured on the same images the model trains on.
        limit_test: Some(320),
        workers: 1,
        out_dir: None,
        checkpoint_every: None,
        keep_checkpoints: 0,
        log_every: 50,
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
}

#[test]
fn bad_settings_are_refused_before_training() {
    let dir = common::fashion_mnist_dir();
    let test_set = FashionMnist::load(&dir, Split::Test).unwrap();
    let mut config = TrainConfig {
        model: ModelConfig::new(ModelKind::Googlenet),
        optimizer: OptimizerKind::Sgd,
        optim: Default::default(),
        augment: Default::default(),
        lr: -0.1,
        batch_size: 8,
        epochs: 1,
        seed: 0,
        limit_train: Some(8),
        limit_test: Some(8),
        workers: 1,
        out_dir: None,
        checkpoint_every: None,
        keep_checkpoints: 0,
        log_every: 50,
    };
    let err = train_model(&config, &test_set, &test_set, &Device::flex(), &mut Silent).unwrap_err();
    assert!(
        err.to_string().contains("--lr must be a positive number"),
        "{err}"
    );
    config.lr = 0.1;
    config.batch_size = 0;
    let err = train_model(&config, &test_set, &test_set, &Device::flex(), &mut Silent).unwrap_err();
    assert!(
        err.to_string().contains("--batch-size must be at least 1"),
        "{err}"
    );
}

/// A dataset of the user's own: Fashion-MNIST's footwear (sandals, sneakers, ankle boots)
/// against the rest, two classes, through the `ImageDataset` trait.
#[derive(Clone)]
struct Footwear(FashionMnist);

impl burn::data::dataset::Dataset<inception::data::RawImage> for Footwear {
    fn get(
        &self,
        index: usize,
    ) -> Result<inception::data::RawImage, burn::data::dataset::DatasetError> {
        let mut image = self.0.get(index)?;
        image.label = u8::from(matches!(image.label, 5 | 7 | 9));
        Ok(image)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl inception::data::ImageDataset for Footwear {
    fn name(&self) -> String {
        "Fashion-MNIST footwear".into()
    }
    fn class_names(&self) -> Vec<String> {
        vec!["other".into(), "footwear".into()]
    }
}

#[test]
fn any_image_dataset_trains_with_its_own_classes() {
    let dir = common::fashion_mnist_dir();
    let data = Footwear(FashionMnist::load(&dir, Split::Train).unwrap());
    let test = Footwear(FashionMnist::load(&dir, Split::Test).unwrap());
    let net = r#"
        input = [1, 28, 28]
        classes = 2
        layers = [
          { type = "conv", channels = 8, kernel = 3, padding = 1, activation = "relu" },
          { type = "max_pool", kernel = 4 },
          { type = "flatten" },
          { type = "dense", units = "classes" },
        ]
    "#;
    let out = tempfile::tempdir().unwrap();
    let mut config =
        TrainConfig::new(ModelConfig::from_text(net, "footwear.toml", "footwear").unwrap());
    (config.epochs, config.batch_size, config.lr) = (1, 32, 0.05);
    (config.limit_train, config.limit_test) = (Some(640), Some(200));
    config.out_dir = Some(out.path().to_path_buf());
    let outcome = train_model(&config, &data, &test, &Device::flex(), &mut Silent).unwrap();
    let epoch = &outcome.epochs[0];
    // Footwear is three classes in ten: always "other" would score about 0.7.
    assert!(epoch.test_acc > 0.85, "{}", epoch.line());
    // The figures were drawn with the dataset's two classes.
    assert!(out.path().join("confusion.png").exists());
    let eval = inception::train::evaluate(
        &outcome.model,
        inception::data::data_loader(
            &test,
            &inception::data::LoaderOptions::evaluation([1, 28, 28], 50, Some(200)),
            &Device::flex(),
        )
        .as_ref(),
    )
    .unwrap();
    assert_eq!(eval.confusion.classes, 2);
    assert_eq!(eval.accuracy, epoch.test_acc);
}

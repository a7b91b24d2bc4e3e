//! A dataset of the user's own trains through the same loop. A file of its own: burn keeps one
//! random generator per device per process, so a training test running beside another one in
//! the same process would change the other's initialization.

mod common;

use burn::tensor::Device;
use inception::data::{FashionMnist, Split};
use inception::models::ModelConfig;
use inception::train::{train_model, Silent, TrainConfig};

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
        image.label = u32::from(matches!(image.label, 5 | 7 | 9));
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
            &inception::data::LoaderOptions::evaluation(
                [1, 28, 28],
                inception::data::ResizeMode::Crop,
                50,
                Some(200),
            ),
            &Device::flex(),
        )
        .as_ref(),
    )
    .unwrap();
    assert_eq!(eval.confusion.classes, 2);
    assert_eq!(eval.accuracy, epoch.test_acc);
}

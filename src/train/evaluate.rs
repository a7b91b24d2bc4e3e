//! Test loss and accuracy of a model on a data loader (d2l's `evaluate_accuracy`).

use burn::data::dataloader::DataLoader;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};

use crate::data::ImageBatch;
pub use crate::history::{short, Confusion, EvalReport};
use crate::nn::Classifier;

/// Number of correct predictions in a batch, and the batch's mean loss.
pub fn batch_stats(logits: &Tensor<2>, targets: &Tensor<1, Int>, loss: &Tensor<1>) -> (usize, f64) {
    let predicted = logits.clone().argmax(1).flatten::<1>(0, 1);
    let correct = predicted
        .equal(targets.clone())
        .int()
        .sum()
        .into_scalar::<i64>();
    (correct as usize, loss.clone().into_scalar::<f32>() as f64)
}

/// How many views of each test image the model sees (test-time augmentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TestViews {
    /// The image as it is.
    #[default]
    Single,
    /// The image and its mirror image; their logits are averaged, as torchvision's
    /// `FiveCrop`/`TenCrop` recipe averages the crops' outputs. Fits models trained with
    /// `--hflip`, which saw both orientations.
    WithMirror,
}

impl TestViews {
    /// What a report adds after the model's name: nothing for a single view.
    pub fn label(self) -> &'static str {
        match self {
            TestViews::Single => "",
            TestViews::WithMirror => " (with mirror images)",
        }
    }
}

/// The logits `model` gives `images` (in inference mode), averaged over `views`.
pub fn view_logits<N: Classifier>(model: &N, images: Tensor<4>, views: TestViews) -> Tensor<2> {
    match views {
        TestViews::Single => model.predict(images),
        TestViews::WithMirror => {
            let mirrored = images.clone().flip([3]);
            (model.predict(images) + model.predict(mirrored)) / 2.0
        }
    }
}

/// Evaluates `model` (in inference mode) on every batch of `loader`.
pub fn evaluate<N: Classifier>(
    model: &N,
    loader: &dyn DataLoader<ImageBatch>,
) -> Result<EvalReport, String> {
    evaluate_with(model, loader, TestViews::Single, &mut |_| {})
}

/// As [`evaluate`], showing the model `views` of each image and calling `progress` with the
/// size of each batch done.
pub fn evaluate_with<N: Classifier>(
    model: &N,
    loader: &dyn DataLoader<ImageBatch>,
    views: TestViews,
    progress: &mut dyn FnMut(usize),
) -> Result<EvalReport, String> {
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    let mut loss_fn = None;
    let mut predictions = Vec::new();
    let mut confusion = None;
    for batch in loader.iter() {
        let batch = batch.map_err(|e| format!("reading a test batch failed: {e}"))?;
        let n = batch.targets.dims()[0];
        let device = batch.images.device();
        let loss_fn = loss_fn.get_or_insert_with(|| CrossEntropyLossConfig::new().init(&device));
        let logits = view_logits(model, batch.images, views);
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
        let confusion = confusion.get_or_insert_with(|| Confusion::new(logits.dims()[1]));
        let batch_loss = f64::from(loss.into_scalar::<f32>());
        let predicted = logits.argmax(1).flatten::<1>(0, 1).into_data();
        let truth = batch.targets.into_data();
        let to_vec = |d: burn::tensor::TensorData| {
            d.convert::<i64>()
                .try_into_vec::<i64>()
                .map_err(|e| format!("reading predictions failed: {e:?}"))
        };
        for (t, p) in to_vec(truth)?.into_iter().zip(to_vec(predicted)?) {
            confusion.add(t as usize, p as usize);
            predictions.push(p as u32);
            correct += usize::from(t == p);
        }
        loss_sum += batch_loss * n as f64;
        seen += n;
        progress(n);
    }
    let denom = seen.max(1) as f64;
    Ok(EvalReport {
        loss: loss_sum / denom,
        accuracy: correct as f64 / denom,
        images: seen,
        predictions,
        confusion: confusion.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::{view_logits, Confusion, TestViews};
    use crate::models::{ModelConfig, ModelKind};

    #[test]
    fn mirror_views_make_predictions_blind_to_mirroring() {
        let device = Device::flex();
        let model = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
        let images = Tensor::<4>::random([6, 1, 28, 28], Distribution::Default, &device);
        let mirrored = images.clone().flip([3]);
        let both = |x: Tensor<4>| view_logits(&model, x, TestViews::WithMirror).into_data();
        let single = |x: Tensor<4>| view_logits(&model, x, TestViews::Single).into_data();
        // Mirroring the input swaps the two views, whose sum is the same bit for bit.
        assert_eq!(both(images.clone()), both(mirrored.clone()));
        // A single view does see the difference (random images are not symmetric).
        assert_ne!(single(images.clone()), single(mirrored.clone()));
        // The result is the mean of the two views' logits.
        let (a, b) = (single(images.clone()), single(mirrored));
        let avg = both(images);
        let (a, b, avg) = (
            a.try_to_vec::<f32>().unwrap(),
            b.try_to_vec::<f32>().unwrap(),
            avg.try_to_vec::<f32>().unwrap(),
        );
        for ((x, y), m) in a.iter().zip(&b).zip(&avg) {
            assert!(
                (m - (x + y) / 2.0).abs() <= 1e-6 * (1.0 + m.abs()),
                "{x} {y} {m}"
            );
        }
    }

    #[test]
    fn table_counts_accuracy_and_classes_only_predicted() {
        let mut m = Confusion::new(4);
        for (t, p) in [(0, 0), (0, 0), (0, 2), (1, 1), (1, 0)] {
            m.add(t, p);
        }
        assert_eq!((m.support(0), m.count(0, 2)), (3, 1));
        assert_eq!(m.class_accuracy(0), Some(2.0 / 3.0));
        assert_eq!(m.class_accuracy(2), None);
        let table = m.table(&["zero", "one", "two", "three"]);
        let lines: Vec<&str> = table.lines().collect();
        // Class 2 never occurs but is predicted once: it keeps its column (and an empty row);
        // class 3 neither occurs nor is predicted.
        assert!(
            lines[1].contains("zero") && lines[1].contains("two"),
            "{table}"
        );
        assert!(!table.contains("three"), "{table}");
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["zero", "2", "0", "1", "0.667"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["one", "1", "1", "0", "0.500"]
        );
        assert_eq!(
            lines[4].split_whitespace().collect::<Vec<_>>(),
            ["two", "0", "0", "0", "-"]
        );
        // Too many classes for a matrix: none is kept.
        assert_eq!(Confusion::new(5000).classes, 0);
    }

    #[test]
    fn a_hundred_classes_are_listed_not_tabled() {
        let mut m = Confusion::new(100);
        for t in 0..100 {
            for _ in 0..3 {
                m.add(t, t);
            }
            m.add(t, (t + 7) % 100);
        }
        let names: Vec<String> = (0..100).map(|c| format!("class-{c}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let table = m.table(&names);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 101, "{table}");
        assert!(lines.iter().all(|l| l.len() < 80), "{table}");
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["class-0", "4", "3", "0.750", "class-7", "(1)"]
        );
    }
}

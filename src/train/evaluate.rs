//! Test loss and accuracy of a model on a data loader (d2l's `evaluate_accuracy`).

use burn::data::dataloader::DataLoader;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};

use crate::data::{ImageBatch, Shard};
use crate::distributed::Collective;
pub use crate::history::{short, Confusion, EvalReport};
use crate::nn::Classifier;

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
    let mut tally = Tally::default();
    let mut unread = Unread::default();
    let mut loss_fn = None;
    for batch in loader.iter() {
        let batch = batch.map_err(|e| format!("reading a test batch failed: {e}"))?;
        let n = batch.targets.dims()[0];
        let device = batch.images.device();
        let loss_fn = loss_fn.get_or_insert_with(|| CrossEntropyLossConfig::new().init(&device));
        let logits = view_logits(model, batch.images, views);
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
        tally.classes.get_or_insert(logits.dims()[1]);
        unread.losses.push(loss);
        unread.sizes.push(n);
        let classes = logits.dims()[1];
        if classes > TOP_K {
            // How many classes score above the true one: the true class is among the top k
            // when fewer than k do.
            let truth = logits
                .clone()
                .gather(1, batch.targets.clone().unsqueeze_dim(1));
            let above = logits.clone().greater(truth.expand([n, classes]));
            unread.ranks.push(above.int().sum_dim(1).flatten::<1>(0, 1));
        }
        unread.predicted.push(logits.argmax(1).flatten::<1>(0, 1));
        unread.truth.push(batch.targets);
        if unread.losses.len() == READ_EVERY {
            tally.add(unread.read()?);
        }
        progress(n);
    }
    tally.add(unread.read()?);
    let Tally {
        loss_sum,
        correct,
        seen,
        predictions,
        confusion,
        in_top_k,
        classes,
    } = tally;
    let denom = seen.max(1) as f64;
    Ok(EvalReport {
        loss: loss_sum / denom,
        accuracy: correct as f64 / denom,
        images: seen,
        predictions,
        confusion: confusion.unwrap_or_default(),
        top5: classes
            .filter(|&c| c > TOP_K)
            .map(|_| in_top_k as f64 / denom),
    })
}

/// The report on a whole test set from each rank's `report` on its unpadded `shard` of it
/// (data-parallel training evaluates each test image once, on one rank), for a model of
/// `classes` classes: counts and sums added across `world`, predictions put back in the test
/// set's order. The same bits on every rank, so every rank takes the same decisions (best
/// epoch, early stop) from them.
pub fn gather_across(
    report: EvalReport,
    shard: Shard,
    classes: usize,
    world: &dyn Collective,
) -> EvalReport {
    let images = report.images as f64;
    let mut totals = [
        report.loss * images,
        (report.accuracy * images).round(),
        report.top5.map_or(0.0, |top5| (top5 * images).round()),
        images,
    ];
    world.sum_f64(&mut totals);
    let [loss_sum, correct, in_top_k, seen] = totals;
    // This rank's j-th example is the test set's example `rank + ranks * j`; the other ranks
    // leave zeros there.
    let mut predictions = vec![0f64; seen as usize];
    for (j, &predicted) in report.predictions.iter().enumerate() {
        predictions[shard.position(j, seen as usize)] = f64::from(predicted);
    }
    world.sum_f64(&mut predictions);
    // Every rank sends a matrix of the same size, also one whose shard was empty.
    let mut confusion = Confusion::new(classes);
    let mut counts = vec![0f64; confusion.counts.len()];
    if report.confusion.counts.len() == counts.len() {
        for (sum, &count) in counts.iter_mut().zip(&report.confusion.counts) {
            *sum = count as f64;
        }
    }
    world.sum_f64(&mut counts);
    for (count, sum) in confusion.counts.iter_mut().zip(counts) {
        *count = sum as u64;
    }
    let denom = seen.max(1.0);
    EvalReport {
        loss: loss_sum / denom,
        accuracy: correct / denom,
        images: seen as usize,
        predictions: predictions.into_iter().map(|p| p as u32).collect(),
        confusion,
        top5: (classes > TOP_K).then(|| in_top_k / denom),
    }
}

/// The k of the top-k accuracy reported besides the top-1 one.
pub const TOP_K: usize = 5;

/// Test batches read from the device together: reading waits for the device (on a GPU), so it
/// happens every few batches rather than after each.
const READ_EVERY: usize = 8;

/// Batches evaluated but not read back yet.
#[derive(Default)]
struct Unread {
    /// Each batch's mean loss, and its size.
    losses: Vec<Tensor<1>>,
    sizes: Vec<usize>,
    predicted: Vec<Tensor<1, Int>>,
    truth: Vec<Tensor<1, Int>>,
    /// Per example, how many classes score above the true one (models of more than
    /// [`TOP_K`] classes).
    ranks: Vec<Tensor<1, Int>>,
}

/// Batches read back: (per-example loss sum, predicted classes, true classes, ranks of the
/// true classes).
type Read = (f64, Vec<i64>, Vec<i64>, Vec<i64>);

impl Unread {
    fn read(&mut self) -> Result<Read, String> {
        if self.losses.is_empty() {
            return Ok((0.0, Vec::new(), Vec::new(), Vec::new()));
        }
        let ints = |tensors: Vec<Tensor<1, Int>>| {
            if tensors.is_empty() {
                return Ok(Vec::new());
            }
            Tensor::cat(tensors, 0)
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .map_err(|e| format!("reading predictions failed: {e:?}"))
        };
        let losses = Tensor::cat(std::mem::take(&mut self.losses), 0)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| format!("reading the test loss failed: {e:?}"))?;
        let predicted = ints(std::mem::take(&mut self.predicted))?;
        let truth = ints(std::mem::take(&mut self.truth))?;
        let ranks = ints(std::mem::take(&mut self.ranks))?;
        let sizes = std::mem::take(&mut self.sizes);
        let loss_sum = losses
            .iter()
            .zip(sizes)
            .map(|(&l, n)| f64::from(l) * n as f64)
            .sum();
        Ok((loss_sum, predicted, truth, ranks))
    }
}

/// What the batches read so far add up to.
#[derive(Default)]
struct Tally {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    predictions: Vec<u32>,
    confusion: Option<Confusion>,
    /// Examples whose true class is among the top [`TOP_K`].
    in_top_k: usize,
    /// The model's number of classes, once a batch has shown it.
    classes: Option<usize>,
}

impl Tally {
    fn add(&mut self, (loss_sum, predicted, truth, ranks): Read) {
        let Some(classes) = self.classes else {
            return;
        };
        let confusion = self
            .confusion
            .get_or_insert_with(|| Confusion::new(classes));
        for (&t, &p) in truth.iter().zip(&predicted) {
            confusion.add(t as usize, p as usize);
            self.predictions.push(p as u32);
            self.correct += usize::from(t == p);
        }
        self.in_top_k += ranks.iter().filter(|&&r| (r as usize) < TOP_K).count();
        self.loss_sum += loss_sum;
        self.seen += truth.len();
    }
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

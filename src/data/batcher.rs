//! Building the data loader of a split: which examples in which order, how they are
//! transformed, and how many threads prepare them.

use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::data::dataset::transform::{MapperDataset, PartialDataset, ShuffledDataset};
use burn::data::dataset::Dataset;
use burn::tensor::Device;

use super::augment::{Augmentation, AugmentedDataset};
use super::dataset::ImageDataset;
use super::dataset::RawImage;
use super::image_batch::{ImageBatch, ImageBatcher};
use super::ordered_loader::OrderedLoader;
use super::shard::{Shard, ShardedDataset};
use super::transform::{ImageItem, ResizeMode, ResizeToTensor};

/// How to load one split.
#[derive(Debug, Clone)]
pub struct LoaderOptions {
    /// Side of the square images fed to the model (torchvision `Resize`).
    pub resize: usize,
    /// How images that are not square become square.
    pub resize_mode: ResizeMode,
    /// Channels of the model input (gray images repeated, RGB ones made gray for one).
    pub channels: usize,
    pub batch_size: usize,
    /// Shuffle with this seed, or keep the file order. The order depends on the seed alone:
    /// the training loop gives every epoch a seed of its own, so a resumed run sees the same
    /// batches as an uninterrupted one.
    pub shuffle: Option<u64>,
    /// Leave out the first `skip` examples of that order (an epoch resumed part-way); with a
    /// shard, of the shard's examples.
    pub skip: usize,
    /// Use only the first `limit` examples.
    pub limit: Option<usize>,
    /// Worker threads preparing batches while the model computes (0: prepare in line). Any
    /// number gives the same batches in the same order (`ordered_loader.rs`).
    pub workers: usize,
    /// Random transforms of each example (training only), seeded from `shuffle`'s seed.
    pub augmentation: Augmentation,
    /// Which share of the (shuffled, augmented) examples this process reads, for
    /// data-parallel training; [`Shard::default`] reads them all.
    pub shard: Shard,
}

impl LoaderOptions {
    /// Evaluation: the first `limit` examples in file order, resized for a model input
    /// `[channels, side, side]` (images that are not square as `resize_mode` says), no
    /// augmentation.
    pub fn evaluation(
        input: [usize; 3],
        resize_mode: ResizeMode,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Self {
        let [channels, side, _] = input;
        Self {
            resize: side,
            resize_mode,
            channels,
            batch_size,
            shuffle: None,
            skip: 0,
            limit,
            workers: 1,
            augmentation: Augmentation::default(),
            shard: Shard::default(),
        }
    }
}

/// A data loader over `split`: resize + scale in the workers, batches in order on `device`.
pub fn data_loader<D: ImageDataset>(
    split: &D,
    options: &LoaderOptions,
    device: &Device,
) -> Arc<dyn DataLoader<ImageBatch>> {
    let len = options.limit.map_or(split.len(), |l| l.min(split.len()));
    let subset = PartialDataset::new(split.clone(), 0, len);
    match options.shuffle {
        Some(seed) => build(ShuffledDataset::new(subset, seed), options, device),
        None => build(subset, options, device),
    }
}

fn build<D: burn::data::dataset::Dataset<RawImage> + 'static>(
    ordered: D,
    options: &LoaderOptions,
    device: &Device,
) -> Arc<dyn DataLoader<ImageBatch>> {
    match options.shuffle {
        Some(seed) if !options.augmentation.is_off() => {
            // Sharded and skipped after augmenting, so an example's random choices depend on
            // its place in the epoch, not on the rank reading it or where a resumed run starts.
            let augmented = AugmentedDataset {
                inner: ordered,
                augmentation: options.augmentation.clone(),
                side: options.resize,
                mode: options.resize_mode,
                seed,
            };
            shard_and_skip(augmented, options, device)
        }
        _ => {
            let resize = ResizeToTensor {
                side: options.resize,
                mode: options.resize_mode,
            };
            shard_and_skip(MapperDataset::new(ordered, resize), options, device)
        }
    }
}

/// This process's share of `epoch` (all of it without a shard), from `options.skip` on.
fn shard_and_skip<D: burn::data::dataset::Dataset<ImageItem> + 'static>(
    epoch: D,
    options: &LoaderOptions,
    device: &Device,
) -> Arc<dyn DataLoader<ImageBatch>> {
    let sharded = ShardedDataset {
        inner: epoch,
        shard: options.shard,
    };
    let len = sharded.len();
    let skip = options.skip.min(len);
    loader(PartialDataset::new(sharded, skip, len), options, device)
}

fn loader<D: burn::data::dataset::Dataset<ImageItem> + 'static>(
    dataset: D,
    options: &LoaderOptions,
    device: &Device,
) -> Arc<dyn DataLoader<ImageBatch>> {
    let batcher = ImageBatcher {
        channels: options.channels,
    };
    Arc::new(OrderedLoader::new(
        Arc::new(dataset),
        batcher,
        options.batch_size,
        options.workers,
        device.clone(),
    ))
}

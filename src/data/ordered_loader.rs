//! [`OrderedLoader`]: batches prepared by worker threads ahead of the training step, handed out
//! in order.
//!
//! By hand rather than burn's `MultiThreadDataLoader`: burn's gives each worker a contiguous
//! share of the dataset and yields batches as they finish, so a run with 4 workers sees other
//! batches, in another order, than a run with 1. Here batch `k` always holds examples
//! `k * batch_size ..`, whichever worker made it, and batches come out in order: with each
//! example's random choices seeded from its position (`augment.rs`), any number of workers
//! gives the same run. At most `workers + ahead` batches wait in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::transform::PartialDataset;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::Device;

use super::image_batch::{ImageBatch, ImageBatcher};
use super::transform::ImageItem;

/// Batches of `batch_size` items of a dataset, in order, made by `workers` threads (none: made
/// on the caller's thread when asked for).
pub struct OrderedLoader {
    dataset: Arc<dyn Dataset<ImageItem>>,
    batcher: ImageBatcher,
    batch_size: usize,
    workers: usize,
    device: Device,
}

/// Batches made ahead of the one asked for, per worker, besides those being made.
const AHEAD: usize = 2;

impl OrderedLoader {
    pub fn new(
        dataset: Arc<dyn Dataset<ImageItem>>,
        batcher: ImageBatcher,
        batch_size: usize,
        workers: usize,
        device: Device,
    ) -> Self {
        assert!(batch_size > 0, "batches of at least one item");
        Self {
            dataset,
            batcher,
            batch_size,
            workers,
            device,
        }
    }

    fn batches(&self) -> usize {
        self.dataset.len().div_ceil(self.batch_size)
    }
}

/// Batch `k` of `dataset`.
fn make_batch(
    dataset: &dyn Dataset<ImageItem>,
    batcher: &ImageBatcher,
    batch_size: usize,
    k: usize,
    device: &Device,
) -> Result<ImageBatch, DatasetError> {
    let start = k * batch_size;
    let end = (start + batch_size).min(dataset.len());
    let items = (start..end)
        .map(|i| dataset.get(i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(batcher.batch(items, device))
}

impl DataLoader<ImageBatch> for OrderedLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<ImageBatch> + 'a> {
        let batches = self.batches();
        let receiver = (self.workers > 0).then(|| {
            let (sender, receiver) = sync_channel(self.workers * AHEAD);
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..self.workers {
                let (sender, next) = (sender.clone(), next.clone());
                let dataset = self.dataset.clone();
                let (batcher, batch_size, device) =
                    (self.batcher, self.batch_size, self.device.clone());
                std::thread::spawn(move || loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= batches {
                        break;
                    }
                    let batch = make_batch(dataset.as_ref(), &batcher, batch_size, k, &device);
                    // The receiver is gone when the iterator was dropped: stop.
                    if sender.send((k, batch)).is_err() {
                        break;
                    }
                });
            }
            receiver
        });
        Box::new(OrderedIter {
            loader: self,
            receiver,
            waiting: BTreeMap::new(),
            next: 0,
            batches,
            failed: false,
        })
    }

    fn num_items(&self) -> usize {
        self.dataset.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<ImageBatch>> {
        Arc::new(Self {
            dataset: self.dataset.clone(),
            batcher: self.batcher,
            batch_size: self.batch_size,
            workers: self.workers,
            device: device.clone(),
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<ImageBatch>> {
        let part = PartialDataset::new(self.dataset.clone(), start, end);
        Arc::new(OrderedLoader::new(
            Arc::new(part),
            self.batcher,
            self.batch_size,
            self.workers,
            self.device.clone(),
        ))
    }
}

/// One pass over an [`OrderedLoader`]; dropping it stops its workers.
struct OrderedIter<'a> {
    loader: &'a OrderedLoader,
    /// Batches from the workers, `None` without workers.
    receiver: Option<Receiver<(usize, Result<ImageBatch, DatasetError>)>>,
    /// Batches that arrived before their turn.
    waiting: BTreeMap<usize, Result<ImageBatch, DatasetError>>,
    next: usize,
    batches: usize,
    failed: bool,
}

impl Iterator for OrderedIter<'_> {
    type Item = Result<ImageBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.batches || self.failed {
            return None;
        }
        let k = self.next;
        let batch = match &self.receiver {
            None => {
                let l = self.loader;
                make_batch(l.dataset.as_ref(), &l.batcher, l.batch_size, k, &l.device)
            }
            Some(receiver) => loop {
                if let Some(batch) = self.waiting.remove(&k) {
                    break batch;
                }
                match receiver.recv() {
                    Ok((i, batch)) => {
                        self.waiting.insert(i, batch);
                    }
                    Err(_) => {
                        break Err(DatasetError::new(std::io::Error::other(
                            "the data-loading threads stopped before the last batch",
                        )))
                    }
                }
            },
        };
        self.next += 1;
        self.failed = batch.is_err();
        Some(batch)
    }
}

impl DataLoaderIterator<ImageBatch> for OrderedIter<'_> {
    fn progress(&self) -> Progress {
        let total = self.loader.dataset.len();
        let done = (self.next * self.loader.batch_size).min(total);
        Progress::new(done, total, None)
    }
}

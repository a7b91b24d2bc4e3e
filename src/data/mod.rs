//! Datasets: the [`ImageDataset`] trait that training reads, Fashion-MNIST (reading the IDX
//! files, finding or downloading them), transforms and loaders.
//!
//! Knows nothing of models: it produces [`ImageBatch`]es of `[batch, channels, side, side]`.

pub mod augment;
pub mod batcher;
pub mod dataset;
pub mod fashion;
pub mod idx;
pub mod locate;
pub mod transform;

pub use augment::Augmentation;
pub use batcher::{data_loader, ImageBatch, ImageBatcher, LoaderOptions};
pub use dataset::{ImageDataset, RawImage};
pub use fashion::{FashionMnist, Split, CLASS_NAMES};
pub use locate::locate;
pub use transform::{resize_to_unit, ImageItem, ResizeToTensor};

//! Datasets: the [`ImageDataset`] trait that training reads, the built-in sets (Fashion-MNIST
//! and MNIST from IDX files, CIFAR-10 from its binary records; finding or downloading them),
//! transforms and loaders.
//!
//! Knows nothing of models: it produces [`ImageBatch`]es of `[batch, channels, side, side]`.

pub mod augment;
pub mod batcher;
pub mod builtin;
pub mod builtin_split;
pub mod cifar;
pub mod dataset;
pub mod fashion;
pub mod idx;
pub mod locate;
pub mod transform;

pub use augment::Augmentation;
pub use batcher::{data_loader, ImageBatch, ImageBatcher, LoaderOptions};
pub use builtin::BuiltinSet;
pub use builtin_split::{BuiltinSplit, LoadError};
pub use cifar::{Cifar10, CifarError};
pub use dataset::{ImageDataset, RawImage};
pub use fashion::{FashionMnist, Split, CLASS_NAMES};
pub use locate::{locate, locate_set};
pub use transform::{check_channels, convert_channels, resize_to_unit, ImageItem, ResizeToTensor};

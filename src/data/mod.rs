//! Datasets: the [`ImageDataset`] trait that training reads, the built-in sets (Fashion-MNIST
//! and MNIST from IDX files, CIFAR-10 from its binary records; finding or downloading them),
//! transforms and loaders.
//!
//! Knows nothing of models: it produces [`ImageBatch`]es of `[batch, channels, side, side]`.

pub mod augment;
pub mod batcher;
pub mod builtin;
pub mod cifar;
pub mod data_split;
pub mod dataset;
pub mod fashion;
pub mod idx;
pub mod image_batch;
pub mod image_file;
pub mod image_folder;
pub mod layout;
pub mod locate;
pub mod ordered_loader;
pub mod shard;
pub mod statistics;
pub mod transform;

pub use augment::Augmentation;
pub use batcher::{data_loader, LoaderOptions};
pub use builtin::BuiltinSet;
pub use cifar::{Cifar10, CifarError};
pub use data_split::{DataSplit, LoadError};
pub use dataset::{ImageDataset, RawImage};
pub use fashion::{FashionMnist, Split, CLASS_NAMES};
pub use image_batch::{ImageBatch, ImageBatcher};
pub use image_file::{decode_image, read_image, ImageFileError};
pub use image_folder::{FolderError, ImageFolder};
pub use layout::{Layout, LayoutError};
pub use locate::{locate, locate_set};
pub use shard::Shard;
pub use statistics::channel_statistics;
pub use transform::{
    check_channels, convert_channels, network_input, resize_to_unit, ImageItem, ResizeMode,
    ResizeToTensor,
};

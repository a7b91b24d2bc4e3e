//! The Fashion-MNIST data set: the two splits, their class names, and burn `Dataset` access.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use super::dataset::RawImage;
use super::idx::{read_pair, IdxError, IdxImages};
use super::locate::{file_in, FILES};

/// The ten classes, in label order.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Which half of the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => (FILES[0].0, FILES[1].0),
            Split::Test => (FILES[2].0, FILES[3].0),
        }
    }
}

/// One split of Fashion-MNIST held in memory (47 MB for the training split).
#[derive(Debug, Clone)]
pub struct FashionMnist {
    images: Arc<IdxImages>,
    labels: Arc<Vec<u8>>,
}

impl FashionMnist {
    /// Reads a split from `dir` (as found by [`super::locate::locate`]).
    pub fn load(dir: &Path, split: Split) -> Result<Self, IdxError> {
        let (images_name, labels_name) = split.file_names();
        let path = |name: &str| file_in(dir, name).unwrap_or_else(|| dir.join(name));
        let images_path: PathBuf = path(images_name);
        let labels_path: PathBuf = path(labels_name);
        let (images, labels) = read_pair(&images_path, &labels_path, 9)?;
        Ok(Self::from_parts(images, labels))
    }

    /// How many examples the split in `dir` has, from its labels file alone (60 kB, not the
    /// 47 MB of images).
    pub fn count(dir: &Path, split: Split) -> Result<usize, IdxError> {
        let (_, labels_name) = split.file_names();
        let path = file_in(dir, labels_name).unwrap_or_else(|| dir.join(labels_name));
        Ok(super::idx::read_labels(&path, 9)?.len())
    }

    /// Wraps already-read images and labels (counts must match).
    pub fn from_parts(images: IdxImages, labels: Vec<u8>) -> Self {
        assert_eq!(
            images.count,
            labels.len(),
            "images and labels differ in count"
        );
        Self {
            images: Arc::new(images),
            labels: Arc::new(labels),
        }
    }

    /// The label of example `index`.
    pub fn label(&self, index: usize) -> u8 {
        self.labels[index]
    }

    /// The labels of all examples.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

impl super::ImageDataset for FashionMnist {
    fn name(&self) -> String {
        "Fashion-MNIST".into()
    }

    fn class_names(&self) -> Vec<String> {
        CLASS_NAMES.iter().map(|s| s.to_string()).collect()
    }
}

impl Dataset<RawImage> for FashionMnist {
    fn get(&self, index: usize) -> Result<RawImage, DatasetError> {
        if index >= self.labels.len() {
            let len = self.labels.len();
            return Err(DatasetError::new(std::io::Error::other(format!(
                "index {index} out of bounds for a split of {len} examples"
            ))));
        }
        Ok(RawImage {
            pixels: self.images.image(index).to_vec(),
            rows: self.images.rows,
            cols: self.images.cols,
            label: self.labels[index],
        })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

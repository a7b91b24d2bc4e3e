//! The Fashion-MNIST data set (and MNIST, whose files have the same format and names): the two
//! splits, their class names, and burn `Dataset` access.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use super::builtin::{file_in, BuiltinSet, IDX_FILES};
use super::dataset::RawImage;
use super::idx::{read_pair, IdxError, IdxImages};

/// Fashion-MNIST's ten classes, in label order.
pub use super::builtin::FASHION_CLASSES as CLASS_NAMES;

/// Which half of the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => (IDX_FILES[0], IDX_FILES[1]),
            Split::Test => (IDX_FILES[2], IDX_FILES[3]),
        }
    }
}

/// One split of Fashion-MNIST held in memory (47 MB for the training split), or of MNIST
/// ([`FashionMnist::load_set`]).
#[derive(Debug, Clone)]
pub struct FashionMnist {
    images: Arc<IdxImages>,
    labels: Arc<Vec<u8>>,
    set: BuiltinSet,
}

impl FashionMnist {
    /// Reads a split from `dir` (as found by [`super::locate::locate`]).
    pub fn load(dir: &Path, split: Split) -> Result<Self, IdxError> {
        Self::load_set(BuiltinSet::FashionMnist, dir, split)
    }

    /// Reads a split of `set` (Fashion-MNIST or MNIST: IDX files of the same names) from `dir`.
    pub fn load_set(set: BuiltinSet, dir: &Path, split: Split) -> Result<Self, IdxError> {
        let mut loaded = Self::read(dir, split)?;
        loaded.set = set;
        Ok(loaded)
    }

    fn read(dir: &Path, split: Split) -> Result<Self, IdxError> {
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
            set: BuiltinSet::FashionMnist,
        }
    }

    /// Which set it is: Fashion-MNIST or MNIST.
    pub fn set(&self) -> BuiltinSet {
        self.set
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
        self.set.name().into()
    }

    fn class_names(&self) -> Vec<String> {
        let names = self.set.class_names();
        names.iter().map(|s| s.to_string()).collect()
    }

    fn channels(&self) -> usize {
        1
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
        Ok(RawImage::gray(
            self.images.image(index).to_vec(),
            self.images.rows,
            self.images.cols,
            self.labels[index].into(),
        ))
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

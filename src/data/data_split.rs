//! [`DataSplit`]: one split of any data the command line reads (a built-in set, or a folder of
//! images) behind one type, for code that picks it at run time (`--dataset`, `--data DIR`).

use std::path::Path;

use burn::data::dataset::{Dataset, DatasetError};

use super::builtin::BuiltinSet;
use super::cifar::{Cifar10, CifarError};
use super::dataset::{ImageDataset, RawImage};
use super::fashion::{FashionMnist, Split};
use super::idx::IdxError;
use super::image_folder::{FolderError, ImageFolder};

/// Why data files could not be read (each error names the file or folder).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Idx(#[from] IdxError),
    #[error(transparent)]
    Cifar(#[from] CifarError),
    #[error(transparent)]
    Folder(#[from] FolderError),
}

/// One split of Fashion-MNIST, MNIST, CIFAR-10 or a folder of images.
#[derive(Debug, Clone)]
pub enum DataSplit {
    /// Fashion-MNIST or MNIST (IDX files).
    Idx(FashionMnist),
    Cifar10(Cifar10),
    Folder(ImageFolder),
}

impl DataSplit {
    /// Reads `split` of `set` from `dir` (as found by [`super::locate::locate_set`]).
    pub fn load(set: BuiltinSet, dir: &Path, split: Split) -> Result<Self, LoadError> {
        Ok(match set {
            BuiltinSet::FashionMnist | BuiltinSet::Mnist => {
                Self::Idx(FashionMnist::load_set(set, dir, split)?)
            }
            BuiltinSet::Cifar10 => Self::Cifar10(Cifar10::load(dir, split)?),
        })
    }

    /// How many examples `split` of `set` in `dir` has, without reading its images.
    pub fn count(set: BuiltinSet, dir: &Path, split: Split) -> Result<usize, LoadError> {
        Ok(match set {
            BuiltinSet::FashionMnist | BuiltinSet::Mnist => FashionMnist::count(dir, split)?,
            BuiltinSet::Cifar10 => Cifar10::count(dir, split)?,
        })
    }

    /// The built-in set it is a split of (`None` for an image folder).
    pub fn builtin_set(&self) -> Option<BuiltinSet> {
        match self {
            Self::Idx(set) => Some(set.set()),
            Self::Cifar10(_) => Some(BuiltinSet::Cifar10),
            Self::Folder(_) => None,
        }
    }

    /// Without the images that do not decode (image folders; built-in sets are validated
    /// when read), and those left out with the reason.
    pub fn without_unreadable(self) -> (Self, Vec<(std::path::PathBuf, String)>) {
        match self {
            Self::Folder(folder) => {
                let (kept, bad) = folder.without_unreadable();
                (Self::Folder(kept), bad)
            }
            other => (other, Vec::new()),
        }
    }

    fn inner(&self) -> &dyn Dataset<RawImage> {
        match self {
            Self::Idx(set) => set,
            Self::Cifar10(set) => set,
            Self::Folder(set) => set,
        }
    }
}

impl ImageDataset for DataSplit {
    fn name(&self) -> String {
        match self {
            Self::Idx(set) => set.name(),
            Self::Cifar10(set) => set.name(),
            Self::Folder(set) => set.name(),
        }
    }

    fn class_names(&self) -> Vec<String> {
        match self {
            Self::Idx(set) => set.class_names(),
            Self::Cifar10(set) => set.class_names(),
            Self::Folder(set) => set.class_names(),
        }
    }

    fn channels(&self) -> usize {
        match self {
            Self::Idx(set) => set.channels(),
            Self::Cifar10(set) => set.channels(),
            Self::Folder(set) => set.channels(),
        }
    }
}

impl Dataset<RawImage> for DataSplit {
    fn get(&self, index: usize) -> Result<RawImage, DatasetError> {
        self.inner().get(index)
    }

    fn len(&self) -> usize {
        self.inner().len()
    }
}

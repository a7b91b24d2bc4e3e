//! [`BuiltinSplit`]: a split of any built-in set behind one type, for code that picks the set
//! at run time (the command line's `--dataset`).

use std::path::Path;

use burn::data::dataset::{Dataset, DatasetError};

use super::builtin::BuiltinSet;
use super::cifar::{Cifar10, CifarError};
use super::dataset::{ImageDataset, RawImage};
use super::fashion::{FashionMnist, Split};
use super::idx::IdxError;

/// Why a built-in set's files could not be read (each error names the file).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Idx(#[from] IdxError),
    #[error(transparent)]
    Cifar(#[from] CifarError),
}

/// One split of Fashion-MNIST, MNIST or CIFAR-10.
#[derive(Debug, Clone)]
pub enum BuiltinSplit {
    /// Fashion-MNIST or MNIST (IDX files).
    Idx(FashionMnist),
    Cifar10(Cifar10),
}

impl BuiltinSplit {
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

    fn inner(&self) -> &dyn Dataset<RawImage> {
        match self {
            Self::Idx(set) => set,
            Self::Cifar10(set) => set,
        }
    }
}

impl ImageDataset for BuiltinSplit {
    fn name(&self) -> String {
        match self {
            Self::Idx(set) => set.name(),
            Self::Cifar10(set) => set.name(),
        }
    }

    fn class_names(&self) -> Vec<String> {
        match self {
            Self::Idx(set) => set.class_names(),
            Self::Cifar10(set) => set.class_names(),
        }
    }

    fn channels(&self) -> usize {
        match self {
            Self::Idx(set) => set.channels(),
            Self::Cifar10(set) => set.channels(),
        }
    }
}

impl Dataset<RawImage> for BuiltinSplit {
    fn get(&self, index: usize) -> Result<RawImage, DatasetError> {
        self.inner().get(index)
    }

    fn len(&self) -> usize {
        self.inner().len()
    }
}

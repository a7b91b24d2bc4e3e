//! [`DataSplit`]: one split of any data the command line reads (a built-in set, or a folder of
//! images) behind one type, for code that picks it at run time (`--dataset`, `--data DIR`).

use std::path::Path;
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use super::builtin::BuiltinSet;
use super::cifar::{Cifar10, CifarError};
use super::dataset::{ImageDataset, RawImage};
use super::fashion::{FashionMnist, Split};
use super::idx::IdxError;
use super::image_folder::{stratified_cut, FolderError, ImageFolder};

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
    /// Some examples of another split, in its order: a validation split cut from a built-in
    /// set's training images ([`DataSplit::cut`]).
    Part(Part),
}

/// Examples `indices` of `of`, named `name`.
#[derive(Debug, Clone)]
pub struct Part {
    of: Box<DataSplit>,
    indices: Arc<Vec<usize>>,
    name: String,
}

impl Part {
    /// The indices of the examples taken, in the whole split.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
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

    /// The training split of `set` in `dir` and the split held out from it: with
    /// `val_split = (fraction, seed)` a validation part cut from the training images
    /// ([`DataSplit::cut`]; the test set is not read), else the test split.
    pub fn load_with_held_out(
        set: BuiltinSet,
        dir: &Path,
        val_split: Option<(f64, u64)>,
    ) -> Result<(Self, Self), LoadError> {
        let train = Self::load(set, dir, Split::Train)?;
        match val_split {
            Some((fraction, seed)) => train.cut(fraction, seed),
            None => Ok((train, Self::load(set, dir, Split::Test)?)),
        }
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
            Self::Part(part) => part.of.builtin_set(),
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

    /// Cut into a training and a validation part, `fraction` of each class's examples
    /// (rounded) to validation, chosen at random from `seed`: stratified and reproducible
    /// ([`stratified_cut`], as [`ImageFolder::split`] cuts class folders, which it uses for
    /// them).
    pub fn cut(self, fraction: f64, seed: u64) -> Result<(Self, Self), LoadError> {
        if let Self::Folder(folder) = &self {
            let (train, val) = folder.split(fraction, seed)?;
            return Ok((Self::Folder(train), Self::Folder(val)));
        }
        // Built-in sets are in memory: reading an example costs a copy of its pixels.
        let labels: Vec<u32> = (0..self.len())
            .map(|index| self.get(index).map_or(0, |image| image.label))
            .collect();
        let (train, val) = stratified_cut(&labels, fraction, seed)?;
        let name = self.name();
        let of = Box::new(self);
        let part = |indices: Vec<usize>, suffix: &str| {
            Self::Part(Part {
                of: of.clone(),
                indices: Arc::new(indices),
                name: format!("{name} ({suffix})"),
            })
        };
        Ok((part(train, "train"), part(val, "validation")))
    }

    fn inner(&self) -> &dyn Dataset<RawImage> {
        match self {
            Self::Idx(set) => set,
            Self::Cifar10(set) => set,
            Self::Folder(set) => set,
            Self::Part(part) => part,
        }
    }
}

impl ImageDataset for DataSplit {
    fn name(&self) -> String {
        match self {
            Self::Idx(set) => set.name(),
            Self::Cifar10(set) => set.name(),
            Self::Folder(set) => set.name(),
            Self::Part(part) => part.name.clone(),
        }
    }

    fn class_names(&self) -> Vec<String> {
        match self {
            Self::Idx(set) => set.class_names(),
            Self::Cifar10(set) => set.class_names(),
            Self::Folder(set) => set.class_names(),
            Self::Part(part) => part.of.class_names(),
        }
    }

    fn channels(&self) -> usize {
        match self {
            Self::Idx(set) => set.channels(),
            Self::Cifar10(set) => set.channels(),
            Self::Folder(set) => set.channels(),
            Self::Part(part) => part.of.channels(),
        }
    }
}

impl Dataset<RawImage> for Part {
    fn get(&self, index: usize) -> Result<RawImage, DatasetError> {
        let Some(&at) = self.indices.get(index) else {
            return Err(DatasetError::new(std::io::Error::other(format!(
                "example {index} is past the end of {} ({} examples)",
                self.name,
                self.indices.len()
            ))));
        };
        self.of.get(at)
    }

    fn len(&self) -> usize {
        self.indices.len()
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

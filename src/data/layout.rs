//! What a data folder holds, recognized by its files: a built-in set's files, or image folders
//! in torchvision's `ImageFolder` layout (`train/` with `test/` or `val/`, or class folders
//! alone, to be cut into training and validation images).

use std::path::{Path, PathBuf};

use super::builtin::BuiltinSet;
use super::data_split::{DataSplit, LoadError};
use super::image_folder::{FolderError, ImageFolder};

/// What a data folder was recognized as.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// A built-in set's files (IDX files are read as Fashion-MNIST unless MNIST is asked for).
    Builtin { set: BuiltinSet, dir: PathBuf },
    /// `train/` and `test/` (or `val/`) folders of class folders.
    Splits { train: PathBuf, test: PathBuf },
    /// Class folders alone (in the folder, or in its `train/` without a test split): one split,
    /// cut in two by `val_split`.
    Classes(PathBuf),
}

/// Why a folder holds no data this program reads.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("no data in {dir} (given as `data_dir`){missing}: expected a built-in set's files ({builtin}), or image folders (DIR/train/<class>/*.png|jpg with DIR/test/ or DIR/val/, or DIR/<class>/*.png|jpg with `val_split`)", missing = not_a_folder(.dir), builtin = builtin_files())]
    Unrecognized { dir: PathBuf },
    #[error("{dir} holds class folders but no test or val folder: give `val_split` (for example 0.1) to keep that fraction of each class's images for validation")]
    NeedsValSplit { dir: PathBuf },
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// `, which is not a folder` when `dir` is not one.
fn not_a_folder(dir: &Path) -> &'static str {
    if dir.is_dir() {
        ""
    } else {
        ", which is not a folder"
    }
}

fn builtin_files() -> String {
    let names: Vec<String> = [BuiltinSet::FashionMnist, BuiltinSet::Cifar10]
        .iter()
        .map(|set| format!("{}: {}", set.name(), set.expected_files()))
        .collect();
    names.join("; ")
}

/// Whether `dir` has at least one visible subfolder.
fn has_subfolders(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
    })
}

impl Layout {
    /// Recognizes what `dir` holds.
    pub fn recognize(dir: &Path) -> Result<Self, LayoutError> {
        for set in [BuiltinSet::FashionMnist, BuiltinSet::Cifar10] {
            if let Some(found) = set.files_in(dir) {
                return Ok(Layout::Builtin { set, dir: found });
            }
        }
        let train = dir.join("train");
        if train.is_dir() {
            let test = ["test", "val"].map(|name| dir.join(name));
            return Ok(match test.into_iter().find(|t| t.is_dir()) {
                Some(test) => Layout::Splits { train, test },
                None => Layout::Classes(train),
            });
        }
        if has_subfolders(dir) {
            return Ok(Layout::Classes(dir.to_path_buf()));
        }
        Err(LayoutError::Unrecognized {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder to name in messages.
    pub fn dir(&self) -> &Path {
        match self {
            Layout::Builtin { dir, .. } | Layout::Classes(dir) => dir,
            Layout::Splits { train, .. } => train.parent().unwrap_or(train),
        }
    }

    /// Whether the held-out split is a `val/` folder (a validation split by its name).
    pub fn has_val_folder(&self) -> bool {
        matches!(self, Layout::Splits { test, .. } if test.file_name().is_some_and(|n| n == "val"))
    }

    /// The training and held-out splits: a built-in set's (`set` overrides what IDX files are
    /// read as), or the image folders', with `val_split = (fraction, seed)` cutting the
    /// training images of a built-in set (its test set is then not read) or class folders
    /// without a test split.
    pub fn load(
        &self,
        set: Option<BuiltinSet>,
        val_split: Option<(f64, u64)>,
    ) -> Result<(DataSplit, DataSplit), LayoutError> {
        match self {
            Layout::Builtin { set: found, dir } => {
                let set = match (found, set) {
                    (BuiltinSet::FashionMnist, Some(BuiltinSet::Mnist)) => BuiltinSet::Mnist,
                    _ => *found,
                };
                Ok(DataSplit::load_with_held_out(set, dir, val_split)?)
            }
            Layout::Splits { train, test } => {
                let train_set = ImageFolder::open(train).map_err(LoadError::from)?;
                let classes = train_set.class_names_list();
                let test_set =
                    ImageFolder::open_as(test, &classes, train).map_err(LoadError::from)?;
                let name = format!("image folders ({} classes)", classes.len());
                Ok((
                    DataSplit::Folder(train_set.named(&name)),
                    DataSplit::Folder(test_set.named(&name)),
                ))
            }
            Layout::Classes(dir) => {
                let Some((fraction, seed)) = val_split else {
                    return Err(LayoutError::NeedsValSplit { dir: dir.clone() });
                };
                let all = ImageFolder::open(dir).map_err(LoadError::from)?;
                let (train, val) = all
                    .split(fraction, seed)
                    .map_err(|e: FolderError| LoadError::from(e))?;
                let name = format!(
                    "image folders ({} classes, {}% kept for validation)",
                    all.class_names_list().len(),
                    (fraction * 100.0).round()
                );
                Ok((
                    DataSplit::Folder(train.named(&name)),
                    DataSplit::Folder(val.named(&name)),
                ))
            }
        }
    }
}

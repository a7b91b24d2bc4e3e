//! Image folders in torchvision's `ImageFolder` layout: one folder per class, named by it, the
//! images (PNG or JPEG) inside. Classes are the sorted folder names, as torchvision does; each
//! image is decoded when it is read (nothing is held in memory but the list of files), gray if
//! the file is gray, RGB otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::dataset::{ImageDataset, RawImage};
use super::image_file::read_image;

/// The file extensions read as images (any case).
pub const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// What is wrong with a folder of images; each names the folder or file.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("cannot read the folder {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{dir} holds no class folders with images in them (expected {dir}/<class>/*.png or .jpg)"
    )]
    NoClasses { dir: PathBuf },
    #[error("{dir} has a class folder `{class}` that {train} does not; the two splits must have the same classes")]
    UnknownClass {
        dir: PathBuf,
        class: String,
        train: PathBuf,
    },
    #[error("{path} is an image outside any class folder; move it into the folder of its class (or out of {dir})")]
    LooseImage { path: PathBuf, dir: PathBuf },
    #[error("the class folder {dir} holds no PNG or JPEG images; add some or remove the folder")]
    EmptyClass { dir: PathBuf },
    #[error("a validation fraction of {fraction} leaves {what}; give a fraction between 0 and 1 that leaves images on both sides")]
    BadFraction { fraction: f64, what: String },
}

/// One split: the images of a folder of class folders.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    name: String,
    classes: Arc<Vec<String>>,
    /// Every image with its class, classes in order, files sorted within each.
    files: Arc<Vec<(PathBuf, u32)>>,
}

/// Whether `path` names an image file by its extension.
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The entries of `dir`, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, FolderError> {
    let io = |error| FolderError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort();
    Ok(entries)
}

impl ImageFolder {
    /// The class folders of `dir` (sorted names; hidden folders left out). A class folder
    /// without images, or an image beside the class folders, is an error, as in torchvision.
    pub fn open(dir: &Path) -> Result<Self, FolderError> {
        let mut classes = Vec::new();
        for path in sorted_entries(dir)? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.is_dir() && !name.starts_with('.') {
                classes.push(name.to_string());
            } else if path.is_file() && is_image(&path) {
                return Err(FolderError::LooseImage {
                    path,
                    dir: dir.to_path_buf(),
                });
            }
        }
        let folder = Self::with_classes(dir, &classes)?;
        if folder.files.is_empty() {
            return Err(FolderError::NoClasses {
                dir: dir.to_path_buf(),
            });
        }
        Ok(folder)
    }

    /// The images of `dir` labelled by `classes` (another split's classes): a class folder
    /// that is not one of them is an error, a missing one only means no images of that class.
    pub fn open_as(dir: &Path, classes: &[String], train: &Path) -> Result<Self, FolderError> {
        for path in sorted_entries(dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() && !name.starts_with('.') && !classes.iter().any(|c| c == name) {
                return Err(FolderError::UnknownClass {
                    dir: dir.to_path_buf(),
                    class: name.to_string(),
                    train: train.to_path_buf(),
                });
            }
        }
        Self::with_classes(dir, classes)
    }

    fn with_classes(dir: &Path, classes: &[String]) -> Result<Self, FolderError> {
        let mut files = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let class_dir = dir.join(class);
            if !class_dir.is_dir() {
                continue;
            }
            let before = files.len();
            for path in sorted_entries(&class_dir)? {
                if path.is_file() && is_image(&path) {
                    files.push((path, label as u32));
                }
            }
            if files.len() == before {
                return Err(FolderError::EmptyClass { dir: class_dir });
            }
        }
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self {
            name,
            classes: Arc::new(classes.to_vec()),
            files: Arc::new(files),
        })
    }

    /// Cut into a training and a validation part, `fraction` of each class's images (rounded)
    /// to validation, chosen at random from `seed`: stratified and reproducible
    /// ([`stratified_cut`]).
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Self, Self), FolderError> {
        let labels: Vec<u32> = self.files.iter().map(|(_, label)| *label).collect();
        let (train, val) = stratified_cut(&labels, fraction, seed)?;
        let part = |indices: Vec<usize>, suffix: &str| {
            let mut files: Vec<(PathBuf, u32)> =
                indices.into_iter().map(|i| self.files[i].clone()).collect();
            // Back in file order (class, then name), so the order depends on the files alone.
            files.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            Self {
                name: format!("{} ({suffix})", self.name),
                classes: self.classes.clone(),
                files: Arc::new(files),
            }
        };
        Ok((part(train, "train"), part(val, "validation")))
    }

    /// The images that decode, and each one that does not with the reason: every image is
    /// decoded once, in parallel (what `--skip-bad-images` costs, once per run).
    pub fn without_unreadable(&self) -> (Self, Vec<(PathBuf, String)>) {
        use rayon::prelude::*;
        let checked: Vec<Option<String>> = self
            .files
            .par_iter()
            .map(|(path, label)| read_image(path, *label).err().map(|e| e.to_string()))
            .collect();
        let mut kept = Vec::new();
        let mut bad = Vec::new();
        for ((path, label), error) in self.files.iter().zip(checked) {
            match error {
                None => kept.push((path.clone(), *label)),
                Some(error) => bad.push((path.clone(), error)),
            }
        }
        let folder = Self {
            name: self.name.clone(),
            classes: self.classes.clone(),
            files: Arc::new(kept),
        };
        (folder, bad)
    }

    /// The same images under another name (for messages and figures).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The class names, in label order.
    pub fn class_names_list(&self) -> Vec<String> {
        self.classes.to_vec()
    }

    /// Every image's path and class, in order.
    pub fn files(&self) -> &[(PathBuf, u32)] {
        &self.files
    }
}

/// The image files under `dir` (sorted by path, subfolders included).
pub fn images_under(dir: &Path) -> Result<Vec<PathBuf>, FolderError> {
    let mut found = Vec::new();
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            found.extend(images_under(&path)?);
        } else if is_image(&path) {
            found.push(path);
        }
    }
    Ok(found)
}

impl ImageDataset for ImageFolder {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn class_names(&self) -> Vec<String> {
        self.classes.to_vec()
    }
}

impl Dataset<RawImage> for ImageFolder {
    fn get(&self, index: usize) -> Result<RawImage, DatasetError> {
        let Some((path, label)) = self.files.get(index) else {
            return Err(DatasetError::new(std::io::Error::other(format!(
                "index {index} out of bounds for {} images",
                self.files.len()
            ))));
        };
        read_image(path, *label).map_err(|e| {
            DatasetError::new(std::io::Error::other(format!(
                "cannot read the image {}: {e}",
                path.display()
            )))
        })
    }

    fn len(&self) -> usize {
        self.files.len()
    }
}

/// The examples of `labels` cut into training and validation indices (each in increasing
/// order): `fraction` of each class's examples (rounded) to validation, chosen at random from
/// `seed` (one generator per class, so a class's choice does not depend on the others). How
/// [`ImageFolder::split`] and `DataSplit::cut` keep a validation split.
pub fn stratified_cut(
    labels: &[u32],
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), FolderError> {
    let bad = |what: &str| FolderError::BadFraction {
        fraction,
        what: what.to_string(),
    };
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(bad("no images on one side"));
    }
    let mut by_class: Vec<Vec<usize>> = Vec::new();
    for (index, &label) in labels.iter().enumerate() {
        let label = label as usize;
        if by_class.len() <= label {
            by_class.resize(label + 1, Vec::new());
        }
        by_class[label].push(index);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (label, mut of_class) in by_class.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(seed ^ (label as u64).wrapping_mul(0x9E37_79B9));
        of_class.shuffle(&mut rng);
        let n_val = (of_class.len() as f64 * fraction).round() as usize;
        val.extend_from_slice(&of_class[..n_val]);
        train.extend_from_slice(&of_class[n_val..]);
    }
    if train.is_empty() || val.is_empty() {
        return Err(bad(if val.is_empty() {
            "no validation images"
        } else {
            "no training images"
        }));
    }
    train.sort_unstable();
    val.sort_unstable();
    Ok((train, val))
}

//! CIFAR-10 in its binary version (`cifar-10-binary.tar.gz`, the format its authors publish
//! for programs outside Python): each record is one label byte (0 to 9) and 3,072 pixel bytes,
//! the image's red plane, then green, then blue, 32x32 each. Five training files of 10,000
//! records and one test file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use super::builtin::{BuiltinSet, CIFAR10_FILES, CIFAR10_META};
use super::dataset::{ImageDataset, RawImage};
use super::fashion::Split;

/// Side of every image.
const SIDE: usize = 32;
/// Bytes of one image (three planes).
const IMAGE_BYTES: usize = 3 * SIDE * SIDE;
/// Bytes of one record: the label, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;

/// What can be wrong with a CIFAR-10 file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CifarError {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {len} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records; the file is incomplete or not CIFAR-10's binary version, download it again")]
    PartialRecord { path: PathBuf, len: usize },
    #[error("{path} names {found} classes; CIFAR-10's class names file has one per line, 10 in all (remove it to use CIFAR-10's own names)")]
    BadMeta { path: PathBuf, found: usize },
    #[error("{path}: record {index} has label {label}, CIFAR-10's are 0 to 9; is this CIFAR-100 or another file?")]
    BadLabel {
        path: PathBuf,
        index: usize,
        label: u8,
    },
}

/// One split of CIFAR-10 held in memory (154 MB for the training split), pixels interleaved.
#[derive(Debug, Clone)]
pub struct Cifar10 {
    /// `len` images of 32x32 pixels, red, green and blue side by side.
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
    /// From `batches.meta.txt` where the folder has it, CIFAR-10's own otherwise.
    names: Arc<Vec<String>>,
}

impl Cifar10 {
    /// The record files of a split, in order.
    pub fn files(split: Split) -> &'static [&'static str] {
        match split {
            Split::Train => &CIFAR10_FILES[..5],
            Split::Test => &CIFAR10_FILES[5..],
        }
    }

    /// Reads a split from `dir` (as found by [`super::locate::locate_set`]).
    pub fn load(dir: &Path, split: Split) -> Result<Self, CifarError> {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for name in Self::files(split) {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|error| CifarError::Io {
                path: path.clone(),
                error,
            })?;
            read_records(&bytes, &path, &mut pixels, &mut labels)?;
        }
        Ok(Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
            names: Arc::new(Self::class_names_in(dir)?),
        })
    }

    /// The class names in `dir/batches.meta.txt` (one per line, blank lines left out, as the
    /// archive has them), or CIFAR-10's own where the file is not there.
    pub fn class_names_in(dir: &Path) -> Result<Vec<String>, CifarError> {
        let path = dir.join(CIFAR10_META);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let names = BuiltinSet::Cifar10.class_names();
                return Ok(names.iter().map(|s| s.to_string()).collect());
            }
            Err(error) => return Err(CifarError::Io { path, error }),
        };
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        match names.len() {
            10 => Ok(names),
            found => Err(CifarError::BadMeta { path, found }),
        }
    }

    /// How many examples the split in `dir` has, from the files' sizes.
    pub fn count(dir: &Path, split: Split) -> Result<usize, CifarError> {
        let mut count = 0;
        for name in Self::files(split) {
            let path = dir.join(name);
            let len = std::fs::metadata(&path)
                .map_err(|error| CifarError::Io {
                    path: path.clone(),
                    error,
                })?
                .len() as usize;
            if !len.is_multiple_of(RECORD_BYTES) {
                return Err(CifarError::PartialRecord { path, len });
            }
            count += len / RECORD_BYTES;
        }
        Ok(count)
    }

    /// The labels of all examples.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

/// Appends the records of one file: planes made interleaved pixels, labels checked.
fn read_records(
    bytes: &[u8],
    path: &Path,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u8>,
) -> Result<(), CifarError> {
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(CifarError::PartialRecord {
            path: path.to_path_buf(),
            len: bytes.len(),
        });
    }
    let plane = SIDE * SIDE;
    pixels.reserve(bytes.len() / RECORD_BYTES * IMAGE_BYTES);
    for (index, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let (label, image) = (record[0], &record[1..]);
        if label > 9 {
            return Err(CifarError::BadLabel {
                path: path.to_path_buf(),
                index,
                label,
            });
        }
        labels.push(label);
        let (r, rest) = image.split_at(plane);
        let (g, b) = rest.split_at(plane);
        for ((&r, &g), &b) in r.iter().zip(g).zip(b) {
            pixels.extend_from_slice(&[r, g, b]);
        }
    }
    Ok(())
}

/// CIFAR-10 records for `images` (each `[red plane, green plane, blue plane]`, 3,072 bytes)
/// and their labels: what a test writes to make a small CIFAR-10 file.
pub fn encode_records(images: &[Vec<u8>], labels: &[u8]) -> Vec<u8> {
    assert_eq!(images.len(), labels.len(), "one label per image");
    let mut out = Vec::with_capacity(images.len() * RECORD_BYTES);
    for (image, &label) in images.iter().zip(labels) {
        assert_eq!(image.len(), IMAGE_BYTES, "a 3x32x32 image");
        out.push(label);
        out.extend_from_slice(image);
    }
    out
}

impl ImageDataset for Cifar10 {
    fn name(&self) -> String {
        BuiltinSet::Cifar10.name().into()
    }

    fn class_names(&self) -> Vec<String> {
        self.names.to_vec()
    }

    fn channels(&self) -> usize {
        3
    }
}

impl Dataset<RawImage> for Cifar10 {
    fn get(&self, index: usize) -> Result<RawImage, DatasetError> {
        let Some(&label) = self.labels.get(index) else {
            let len = self.labels.len();
            return Err(DatasetError::new(std::io::Error::other(format!(
                "index {index} out of bounds for a split of {len} examples"
            ))));
        };
        let pixels = self.pixels[index * IMAGE_BYTES..][..IMAGE_BYTES].to_vec();
        Ok(RawImage::rgb(pixels, SIDE, SIDE, label.into()))
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_interleaved_rgb_images() {
        // Image 0: red plane all 10, green 20, blue 30; image 1: a ramp in red only.
        let flat = [vec![10u8; 1024], vec![20; 1024], vec![30; 1024]].concat();
        let ramp: Vec<u8> = (0..1024)
            .map(|i| (i % 256) as u8)
            .chain([0; 2048])
            .collect();
        let bytes = encode_records(&[flat, ramp], &[3, 9]);
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        read_records(&bytes, Path::new("t.bin"), &mut pixels, &mut labels).unwrap();
        assert_eq!(labels, vec![3, 9]);
        assert_eq!(&pixels[..6], &[10, 20, 30, 10, 20, 30]);
        assert_eq!(&pixels[IMAGE_BYTES..][..9], &[0, 0, 0, 1, 0, 0, 2, 0, 0]);

        let err = read_records(&bytes[..100], Path::new("t.bin"), &mut pixels, &mut labels);
        assert!(matches!(
            err,
            Err(CifarError::PartialRecord { len: 100, .. })
        ));
        let mut bad = bytes.clone();
        bad[RECORD_BYTES] = 12;
        let err = read_records(&bad, Path::new("t.bin"), &mut pixels, &mut labels).unwrap_err();
        assert!(err.to_string().contains("record 1 has label 12"), "{err}");
    }

    #[test]
    fn class_names_come_from_batches_meta_txt() {
        let dir = tempfile::tempdir().unwrap();
        let own = BuiltinSet::Cifar10.class_names();
        assert_eq!(Cifar10::class_names_in(dir.path()).unwrap(), own);
        let names: Vec<String> = (0..10).map(|i| format!("kind {i}")).collect();
        // As in the archive: one per line, a blank line at the end.
        std::fs::write(dir.path().join(CIFAR10_META), names.join("\n") + "\n\n").unwrap();
        assert_eq!(Cifar10::class_names_in(dir.path()).unwrap(), names);
        std::fs::write(dir.path().join(CIFAR10_META), "cat\ndog\n").unwrap();
        let err = Cifar10::class_names_in(dir.path()).unwrap_err().to_string();
        assert!(err.contains("batches.meta.txt names 2 classes"), "{err}");
    }
}

//! Reader for the IDX format of (Fashion-)MNIST, plain or gzip-compressed.
//!
//! The format is tiny (a magic number, big-endian dimensions, then raw `u8` values), so it is
//! read by hand; what matters is validation. Nothing is allocated from a header's claims: the
//! payload is read through `Read::take` with a bound derived from the *checked* header, and it
//! grows only as real bytes arrive, so a 12-byte file claiming 10^12 images fails fast.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// The largest image count we accept from a header (MNIST-like sets have 70,000 in all).
pub const MAX_ITEMS: usize = 10_000_000;
/// The largest image side we accept from an IDX header (a data-file limit; the largest network
/// input is `models::MAX_SIDE`).
pub const MAX_IMAGE_SIDE: usize = 4096;
/// The most pixel bytes we accept from a header (Fashion-MNIST's training set has 47 million),
/// so that a gzip bomb with a plausible header cannot fill memory.
pub const MAX_PAYLOAD: usize = 1 << 31;

/// Everything that can be wrong with an IDX file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} ({what}); is this the right file?")]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },
    #[error("{path}: truncated {part}: expected {expected} bytes, found only {found}; the file is incomplete, download it again")]
    Truncated {
        path: PathBuf,
        /// `"header"` or `"data"`.
        part: &'static str,
        expected: u64,
        found: u64,
    },
    #[error("{path}: {extra} unexpected byte(s) after the {expected} bytes the header announces")]
    TrailingBytes {
        path: PathBuf,
        expected: u64,
        extra: u64,
    },
    #[error("{path}: header claims an implausible size ({detail}); refusing to read it")]
    Oversized { path: PathBuf, detail: String },
    #[error("{path}: label {value} at index {index} is outside 0..={max}")]
    BadLabel {
        path: PathBuf,
        index: usize,
        value: u8,
        max: u8,
    },
    #[error("{images_path} holds {images} images but {labels_path} holds {labels} labels; the two files do not belong together")]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },
}

/// Images of one IDX file: `count` images of `rows` x `cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.rows * self.cols;
        &self.pixels[index * size..(index + 1) * size]
    }
}

fn open(path: &Path) -> Result<Box<dyn Read>, IdxError> {
    let io = |error| IdxError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(io)?;
    let reader = BufReader::new(file);
    let gz = path.extension().is_some_and(|ext| ext == "gz");
    Ok(if gz {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Reads up to `want` bytes; fewer only at end of input.
fn read_up_to(reader: &mut dyn Read, want: u64, path: &Path) -> Result<Vec<u8>, IdxError> {
    let mut out = Vec::new();
    reader
        .take(want)
        .read_to_end(&mut out)
        .map_err(|error| IdxError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    Ok(out)
}

/// Reads `words` big-endian `u32`s of the header, `done` bytes of which were already read.
fn read_header(
    reader: &mut dyn Read,
    path: &Path,
    words: usize,
    done: u64,
) -> Result<Vec<u32>, IdxError> {
    let bytes = read_up_to(reader, 4 * words as u64, path)?;
    if bytes.len() < 4 * words {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            part: "header",
            expected: done + 4 * words as u64,
            found: done + bytes.len() as u64,
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn check_magic(path: &Path, found: u32, expected: u32, what: &'static str) -> Result<(), IdxError> {
    if found == expected {
        Ok(())
    } else {
        Err(IdxError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected,
            what,
        })
    }
}

/// Reads exactly `expected` payload bytes and checks there is nothing after them.
fn read_payload(reader: &mut dyn Read, path: &Path, expected: u64) -> Result<Vec<u8>, IdxError> {
    let mut data = read_up_to(reader, expected + 1, path)?;
    let found = data.len() as u64;
    if found < expected {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            part: "data",
            expected,
            found,
        });
    }
    if found > expected {
        let rest = read_up_to(reader, u64::MAX, path)?;
        return Err(IdxError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            extra: 1 + rest.len() as u64,
        });
    }
    data.shrink_to_fit();
    Ok(data)
}

/// Reads an images file (`*-images-idx3-ubyte[.gz]`).
pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    parse_images(&mut *open(path)?, path)
}

/// Reads the IDX images in `reader` (errors name `path`). Never panics, and allocates no more
/// than the input holds, whatever the bytes say.
pub fn parse_images(reader: &mut dyn Read, path: &Path) -> Result<IdxImages, IdxError> {
    let magic = read_header(reader, path, 1, 0)?[0];
    check_magic(path, magic, IMAGES_MAGIC, "images, u8, 3 dimensions")?;
    let dims = read_header(reader, path, 3, 4)?;
    let (count, rows, cols) = (dims[0] as usize, dims[1] as usize, dims[2] as usize);
    let too_big = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .is_none_or(|bytes| bytes > MAX_PAYLOAD);
    if count > MAX_ITEMS
        || rows > MAX_IMAGE_SIDE
        || cols > MAX_IMAGE_SIDE
        || rows == 0
        || cols == 0
        || too_big
    {
        return Err(IdxError::Oversized {
            path: path.to_path_buf(),
            detail: format!("{count} images of {rows}x{cols}"),
        });
    }
    let pixels = read_payload(reader, path, (count * rows * cols) as u64)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Reads a labels file (`*-labels-idx1-ubyte[.gz]`) and checks every label is `0..=max_label`.
pub fn read_labels(path: &Path, max_label: u8) -> Result<Vec<u8>, IdxError> {
    parse_labels(&mut *open(path)?, path, max_label)
}

/// Reads the IDX labels in `reader` (errors name `path`); see [`parse_images`].
pub fn parse_labels(
    reader: &mut dyn Read,
    path: &Path,
    max_label: u8,
) -> Result<Vec<u8>, IdxError> {
    let magic = read_header(reader, path, 1, 0)?[0];
    check_magic(path, magic, LABELS_MAGIC, "labels, u8, 1 dimension")?;
    let count = read_header(reader, path, 1, 4)?[0] as usize;
    if count > MAX_ITEMS {
        return Err(IdxError::Oversized {
            path: path.to_path_buf(),
            detail: format!("{count} labels"),
        });
    }
    let labels = read_payload(reader, path, count as u64)?;
    if let Some((index, &value)) = labels.iter().enumerate().find(|(_, &l)| l > max_label) {
        return Err(IdxError::BadLabel {
            path: path.to_path_buf(),
            index,
            value,
            max: max_label,
        });
    }
    Ok(labels)
}

/// Reads an images file and its labels file and checks that they have the same count.
pub fn read_pair(
    images_path: &Path,
    labels_path: &Path,
    max_label: u8,
) -> Result<(IdxImages, Vec<u8>), IdxError> {
    let images = read_images(images_path)?;
    let labels = read_labels(labels_path, max_label)?;
    if images.count != labels.len() {
        return Err(IdxError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.count,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    Ok((images, labels))
}

/// Encodes images in the IDX format (used by tests and to write small fixtures).
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + images.pixels.len());
    for word in [
        IMAGES_MAGIC,
        images.count as u32,
        images.rows as u32,
        images.cols as u32,
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Encodes labels in the IDX format.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

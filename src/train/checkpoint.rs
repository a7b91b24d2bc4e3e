//! Checkpoint files: the model's configuration and weights in one self-checking file.
//!
//! Layout (all integers little-endian):
//! ```text
//! b"INCEPTCK" | version u32 | meta_len u64 | meta (JSON) | weights_len u64 | weights (burnpack) | SHA-256 of all before
//! ```
//! burnpack stores tensors only; the container adds the configuration (so `eval` and `predict`
//! need no flags), a format version and a checksum, which burn's format does not give us. Files
//! are written to a temporary file and renamed, so a crash never leaves half a checkpoint.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::models::{Model, ModelConfig, OptimizerKind};

const MAGIC: &[u8; 8] = b"INCEPTCK";
/// The current format version.
pub const VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;
/// The largest checkpoint we agree to read (a VGG-11 is about 0.5 GB).
const MAX_LEN: u64 = 4 << 30;

/// What a checkpoint says about the run that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Epochs completed.
    pub epoch: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    /// Test accuracy after the last epoch, if measured.
    pub test_acc: Option<f64>,
}

/// The JSON part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub model: ModelConfig,
    pub training: Option<TrainingState>,
}

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write checkpoint {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not an inception checkpoint (it does not start with the INCEPTCK signature)"
    )]
    NotACheckpoint { path: PathBuf },
    #[error("{path} is checkpoint format version {found}, but this build reads version {VERSION}; use a newer inception")]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error("{path} is corrupt or truncated ({detail}); use an earlier checkpoint or train again")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: the weights do not fit the {model} model it describes: {detail}")]
    Mismatch {
        path: PathBuf,
        model: String,
        detail: String,
    },
}

/// Serializes `model` (and what is known of its training) to bytes.
pub fn to_bytes(model: &Model, training: Option<TrainingState>) -> Result<Vec<u8>, String> {
    let meta = CheckpointMeta {
        model: model.config.clone(),
        training,
    };
    let meta = serde_json::to_vec_pretty(&meta).map_err(|e| e.to_string())?;
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(MAGIC.len() + 20 + meta.len() + weights.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(&weights);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    Ok(out)
}

/// Saves `model` to `path` atomically.
pub fn save(
    model: &Model,
    training: Option<TrainingState>,
    path: &Path,
) -> Result<(), CheckpointError> {
    let write_error = |source| CheckpointError::Write {
        path: path.to_path_buf(),
        source,
    };
    let bytes = to_bytes(model, training).map_err(|e| write_error(std::io::Error::other(e)))?;
    crate::fsutil::write_atomic(path, &bytes).map_err(write_error)
}

/// Splits and verifies a checkpoint's bytes into its metadata and burnpack weights.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(CheckpointMeta, Vec<u8>), CheckpointError> {
    let corrupt = |detail: &str| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CheckpointError::NotACheckpoint {
            path: path.to_path_buf(),
        });
    }
    let mut fields = Fields {
        bytes,
        cursor: MAGIC.len(),
    };
    let ends_early = || corrupt("the file ends early");
    let version = fields.u32().ok_or_else(ends_early)?;
    if version != VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let meta = fields.sized().ok_or_else(ends_early)?;
    let weights = fields.sized().ok_or_else(ends_early)?;
    let body_end = fields.cursor;
    let checksum = fields.take(CHECKSUM_LEN).ok_or_else(ends_early)?;
    if fields.cursor != bytes.len() {
        return Err(corrupt("unexpected bytes after the checksum"));
    }
    if Sha256::digest(&bytes[..body_end]).as_slice() != checksum {
        return Err(corrupt("checksum mismatch"));
    }
    let meta: CheckpointMeta = serde_json::from_slice(meta)
        .map_err(|e| corrupt(&format!("unreadable configuration: {e}")))?;
    Ok((meta, weights.to_vec()))
}

/// A cursor over the fields of a checkpoint; every read is bounds-checked.
struct Fields<'a> {
    bytes: &'a [u8],
    cursor: usize,
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self
            .cursor
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())?;
        let slice = &self.bytes[self.cursor..end];
        self.cursor = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// A `u64` length followed by that many bytes.
    fn sized(&mut self) -> Option<&'a [u8]> {
        let len = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }
}

/// Reads the file at `path` (refusing absurd sizes before reading).
fn read(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let read_error = |source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_error)?.len();
    if len > MAX_LEN {
        return Err(CheckpointError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{len} bytes is larger than any model here"),
        });
    }
    std::fs::read(path).map_err(read_error)
}

/// Reads only the metadata of the checkpoint at `path` (verifying the whole file).
pub fn read_meta(path: &Path) -> Result<CheckpointMeta, CheckpointError> {
    parse(path, &read(path)?).map(|(meta, _)| meta)
}

/// Loads the checkpoint at `path` onto `device`: rebuilds the model from its configuration and
/// loads the weights, checking every tensor's name and shape.
pub fn load(path: &Path, device: &Device) -> Result<(Model, CheckpointMeta), CheckpointError> {
    let (meta, weights) = parse(path, &read(path)?)?;
    let mismatch = |detail: String| CheckpointError::Mismatch {
        path: path.to_path_buf(),
        model: meta.model.kind.name().to_string(),
        detail,
    };
    let model = meta
        .model
        .init(device)
        .map_err(|e| mismatch(e.to_string()))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights))
        .map_err(|e| mismatch(e.to_string()))?;
    let model = model
        .try_load_record(record)
        .map_err(|e| mismatch(e.to_string()))?;
    Ok((model, meta))
}

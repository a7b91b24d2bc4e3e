//! Checkpoint files: the model's configuration and weights, and for a training run the
//! optimizer's state and where the run stands, in one self-checking file.
//!
//! Layout (all integers little-endian):
//! ```text
//! b"INCEPTCK" | version u32 | meta_len u64 | meta (JSON) | weights_len u64 | weights (burnpack)
//!            | optimizer_len u64 | optimizer (burnpack, may be empty) | SHA-256 of all before
//! ```
//! The configuration holds the network's description (its network file's text), so `eval`,
//! `predict`, `export` and `train --resume` rebuild it with no flags; a network written in Rust
//! is rebuilt by its program, which loads the weights with [`load_into`]. burnpack stores
//! tensors only; the container adds the configuration, a format version and a checksum, which
//! burn's format does not give us. Files are written to a temporary file and renamed, so a
//! crash never leaves half a checkpoint. Versions 1 and 2 (inception 0.1, whose layers were
//! laid out differently) are recognized and refused with a way to convert them.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::state::{Progress, TrainConfig};
use crate::models::{Model, ModelConfig};
use crate::nn::Registry;

const MAGIC: &[u8; 8] = b"INCEPTCK";
/// The current format version.
pub const VERSION: u32 = 3;
const CHECKSUM_LEN: usize = 32;
/// The largest checkpoint we agree to read (a VGG-11 with Adam's moments is about 1.5 GB).
const MAX_LEN: u64 = 4 << 30;

/// Where a training run stands: with the optimizer's state, enough to continue it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// The run's full configuration.
    pub config: TrainConfig,
    pub progress: Progress,
}

/// The JSON part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub model: ModelConfig,
    pub training: Option<TrainingState>,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Checkpoint<N = Model> {
    pub model: N,
    pub meta: CheckpointMeta,
    /// The optimizer's state as burnpack bytes (empty for a model saved outside training).
    pub optimizer: Vec<u8>,
}

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write checkpoint {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path} is not an inception checkpoint (it does not start with the INCEPTCK signature)"
    )]
    NotACheckpoint { path: PathBuf },
    #[error("{path} is checkpoint format version {found}, but this build reads version {VERSION}; use a newer inception")]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error("{path} was written by inception 0.1 (checkpoint format {found}), whose layers were laid out differently; convert it with inception 0.1's `export --checkpoint {path} --out weights.safetensors`, then `inception import --from weights.safetensors --model MODEL --out NEW.ckpt`, or train again")]
    OldVersion { path: PathBuf, found: u32 },
    #[error("{path} holds the network `{name}`, written in Rust: {detail}")]
    InCode {
        path: PathBuf,
        name: String,
        detail: String,
    },
    #[error("{path} is corrupt or truncated ({detail}); use an earlier checkpoint or train again")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: the weights do not fit the {model} model it describes: {detail}")]
    Mismatch {
        path: PathBuf,
        model: String,
        detail: String,
    },
}

/// Serializes `network` (described by `config`), what is known of its training and the
/// optimizer's state (burnpack bytes, empty if none) to bytes.
pub fn to_bytes<N: Module>(
    network: &N,
    config: &ModelConfig,
    training: Option<TrainingState>,
    optimizer: &[u8],
) -> Result<Vec<u8>, String> {
    let meta = CheckpointMeta {
        model: config.clone(),
        training,
    };
    let meta = serde_json::to_vec_pretty(&meta).map_err(|e| e.to_string())?;
    let weights = network
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(
        MAGIC.len() + 28 + meta.len() + weights.len() + optimizer.len() + CHECKSUM_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for section in [&meta[..], &weights[..], optimizer] {
        out.extend_from_slice(&(section.len() as u64).to_le_bytes());
        out.extend_from_slice(section);
    }
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    Ok(out)
}

/// Saves `model` (no training state) to `path` atomically.
pub fn save(model: &Model, path: &Path) -> Result<(), CheckpointError> {
    save_network(model, &model.config, path)
}

/// Saves `network` (described by `config`; no training state) to `path` atomically.
pub fn save_network<N: Module>(
    network: &N,
    config: &ModelConfig,
    path: &Path,
) -> Result<(), CheckpointError> {
    let write_error = |error| CheckpointError::Write {
        path: path.to_path_buf(),
        error,
    };
    let bytes =
        to_bytes(network, config, None, &[]).map_err(|e| write_error(std::io::Error::other(e)))?;
    crate::fsutil::write_atomic(path, &bytes).map_err(write_error)
}

/// The parts of a verified checkpoint.
pub struct Parts<'a> {
    pub meta: CheckpointMeta,
    pub weights: &'a [u8],
    pub optimizer: &'a [u8],
}

/// Splits and verifies a checkpoint's bytes into its metadata, burnpack weights and optimizer
/// state. Never panics and never allocates more than the input's size, whatever the bytes.
pub fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Parts<'a>, CheckpointError> {
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
    if version == 1 || version == 2 {
        return Err(CheckpointError::OldVersion {
            path: path.to_path_buf(),
            found: version,
        });
    }
    if version != VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let meta = fields.sized().ok_or_else(ends_early)?;
    let weights = fields.sized().ok_or_else(ends_early)?;
    let optimizer = fields.sized().ok_or_else(ends_early)?;
    let body_end = fields.cursor;
    let checksum = fields.take(CHECKSUM_LEN).ok_or_else(ends_early)?;
    if fields.cursor != bytes.len() {
        return Err(corrupt("unexpected bytes after the checksum"));
    }
    if Sha256::digest(&bytes[..body_end]).as_slice() != checksum {
        return Err(corrupt("checksum mismatch"));
    }
    let unreadable = |e: serde_json::Error| corrupt(&format!("unreadable configuration: {e}"));
    let meta: CheckpointMeta = serde_json::from_slice(meta).map_err(unreadable)?;
    Ok(Parts {
        meta,
        weights,
        optimizer,
    })
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
    let read_error = |error| CheckpointError::Read {
        path: path.to_path_buf(),
        error,
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
    parse(path, &read(path)?).map(|parts| parts.meta)
}

/// A checkpoint's metadata and optimizer state, verified, without its weights.
pub struct SavedParts {
    pub meta: CheckpointMeta,
    pub optimizer: Vec<u8>,
}

/// Reads the metadata and the optimizer's state of the checkpoint at `path`.
pub fn read_parts(path: &Path) -> Result<SavedParts, CheckpointError> {
    let bytes = read(path)?;
    let parts = parse(path, &bytes)?;
    Ok(SavedParts {
        meta: parts.meta,
        optimizer: parts.optimizer.to_vec(),
    })
}

/// Whether `path` starts as a checkpoint of ours does (whatever its name).
pub fn is_checkpoint(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == MAGIC)
}

/// Loads the checkpoint at `path` onto `device`: rebuilds the network from its description
/// and loads the weights, checking every tensor's name and shape.
pub fn load(path: &Path, device: &Device) -> Result<(Model, CheckpointMeta), CheckpointError> {
    load_all(path, device).map(|c| (c.model, c.meta))
}

/// As [`load`], also returning the optimizer's state (to resume training).
pub fn load_all(path: &Path, device: &Device) -> Result<Checkpoint, CheckpointError> {
    from_bytes(path, &read(path)?, device, &Registry::builtin())
}

/// As [`load`], for a network file that uses layer types of `registry` (the user's own).
pub fn load_with(
    path: &Path,
    device: &Device,
    registry: &Registry,
) -> Result<Checkpoint, CheckpointError> {
    from_bytes(path, &read(path)?, device, registry)
}

/// Loads the weights of the checkpoint at `path` into `network`, built by the program as the
/// checkpoint's network was (a network written in Rust, or any network the program builds
/// itself). Every tensor's name and shape is checked.
pub fn load_into<N: Module>(
    path: &Path,
    network: N,
) -> Result<(N, CheckpointMeta), CheckpointError> {
    let bytes = read(path)?;
    let Parts { meta, weights, .. } = parse(path, &bytes)?;
    let network = load_weights(path, &meta, network, weights)?;
    Ok((network, meta))
}

fn load_weights<N: Module>(
    path: &Path,
    meta: &CheckpointMeta,
    network: N,
    weights: &[u8],
) -> Result<N, CheckpointError> {
    let mismatch = |detail: String| CheckpointError::Mismatch {
        path: path.to_path_buf(),
        model: meta.model.name.clone(),
        detail,
    };
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| mismatch(e.to_string()))?;
    network
        .try_load_record(record)
        .map_err(|e| mismatch(e.to_string()))
}

/// Loads a checkpoint from its bytes (errors name `path`). Whatever the bytes, this returns an
/// error rather than panicking, and allocates no more than the model they describe.
pub fn from_bytes(
    path: &Path,
    bytes: &[u8],
    device: &Device,
    registry: &Registry,
) -> Result<Checkpoint, CheckpointError> {
    let Parts {
        meta,
        weights,
        optimizer,
    } = parse(path, bytes)?;
    let mismatch = |detail: String| CheckpointError::Mismatch {
        path: path.to_path_buf(),
        model: meta.model.name.clone(),
        detail,
    };
    if let Some(training) = &meta.training {
        training.config.validate().map_err(&mismatch)?;
    }
    if meta.model.network.is_none() {
        return Err(CheckpointError::InCode {
            path: path.to_path_buf(),
            name: meta.model.name.clone(),
            detail: "build it in the program that defines it and load the weights with `checkpoint::load_into`".into(),
        });
    }
    let model = meta
        .model
        .build_with(registry, device)
        .map_err(|e| mismatch(e.to_string()))?;
    let model = load_weights(path, &meta, model, weights)?;
    Ok(Checkpoint {
        model,
        optimizer: optimizer.to_vec(),
        meta,
    })
}

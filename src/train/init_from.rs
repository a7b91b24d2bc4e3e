//! Starting a run from trained weights (`TrainConfig::init_from`, `train --init-from`): every
//! tensor of a checkpoint or a PyTorch state dict (`.pth`, `.safetensors`) whose PyTorch name
//! and shape match one of the network's is loaded, the rest left as initialized, as PyTorch's
//! `load_state_dict(strict=False)`; a classifier head for another number of classes starts
//! anew. Fine-tuning starts here.

use std::path::Path;

use burn::tensor::Device;

use super::checkpoint;
use super::error::TrainError;
use crate::interop::{self, MatchReport};
use crate::nn::Classifier;

/// `network` with the matching tensors of the file at `path` loaded into it, and what was
/// loaded, left fresh and not used.
pub fn initial_weights<N: Classifier>(
    network: N,
    path: &Path,
) -> Result<(N, MatchReport), TrainError> {
    let invalid = |e: &dyn std::fmt::Display| TrainError::Invalid(format!("`init_from`: {e}"));
    let dict = if checkpoint::is_checkpoint(path) {
        let (model, _) = checkpoint::load(path, &Device::flex()).map_err(|e| invalid(&e))?;
        interop::state_dict(&model)
    } else {
        interop::read_state_dict(path).map_err(|e| invalid(&e))?
    };
    interop::load_matching(network, &dict, path).map_err(|e| invalid(&e))
}

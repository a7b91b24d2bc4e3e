//! How a training run can fail.

use std::path::{Path, PathBuf};

use super::checkpoint::CheckpointError;

/// Why training stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Data(String),
    #[error(
        "training stopped at epoch {epoch}, step {step}; {}",
        saved_note(checkpoint)
    )]
    Interrupted {
        epoch: usize,
        step: usize,
        checkpoint: Option<PathBuf>,
    },
    #[error("the loss became {loss} at epoch {epoch}, step {step}: training diverged; try a lower learning rate `lr` ({})", kept_note(checkpoint))]
    Diverged {
        loss: f64,
        epoch: usize,
        step: usize,
        checkpoint: Option<PathBuf>,
    },
    #[error("{0}; training stopped, the previous checkpoint is intact")]
    Checkpoint(#[from] CheckpointError),
}

fn saved_note(checkpoint: &Option<PathBuf>) -> String {
    match checkpoint.as_deref().and_then(Path::parent) {
        Some(dir) => format!(
            "saved {}; continue with `inception train --resume {}`",
            checkpoint.as_ref().expect("checked").display(),
            dir.display()
        ),
        None => "nothing was saved (no output directory)".to_string(),
    }
}

fn kept_note(checkpoint: &Option<PathBuf>) -> String {
    match checkpoint {
        Some(path) if path.exists() => format!("the last good checkpoint is {}", path.display()),
        _ => "no checkpoint was written".to_string(),
    }
}

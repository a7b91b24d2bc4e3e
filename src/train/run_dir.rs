//! A run directory's checkpoints: `model.ckpt` is always the latest, and `checkpoints/` keeps
//! the last few step-numbered ones, so that a damaged latest file still leaves one to resume
//! from.
//!
//! ```text
//! runs/latest/model.ckpt
//! runs/latest/checkpoints/step-000000468.ckpt
//! runs/latest/checkpoints/step-000000936.ckpt
//! ```
//! Every file is written to a temporary file, flushed and renamed, the step file first: at any
//! instant, killed or not, every `.ckpt` file is complete and the newest is the furthest along.

use std::path::{Path, PathBuf};

use super::checkpoint::{self, CheckpointError, TrainingState};
use super::state::TrainConfig;
use burn::module::Module;

use crate::models::ModelConfig;

const LATEST: &str = "model.ckpt";
const BEST: &str = "best.ckpt";
const HISTORY: &str = "checkpoints";

/// The checkpoints of one training run.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    keep: usize,
}

impl RunDir {
    /// The run in `root`, keeping `keep` step-numbered checkpoints besides `model.ckpt`.
    pub fn new(root: &Path, keep: usize) -> Self {
        Self {
            root: root.to_path_buf(),
            keep,
        }
    }

    /// The run directory of `config`, if the run saves anything.
    pub fn of(config: &TrainConfig) -> Option<Self> {
        config
            .out_dir
            .as_ref()
            .map(|dir| Self::new(dir, config.keep_checkpoints))
    }

    /// The run directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `model.ckpt`, the latest checkpoint.
    pub fn latest(&self) -> PathBuf {
        self.root.join(LATEST)
    }

    /// `best.ckpt`: the checkpoint of the best epoch by the run's selection metric.
    pub fn best(&self) -> PathBuf {
        self.root.join(BEST)
    }

    fn history(&self) -> PathBuf {
        self.root.join(HISTORY)
    }

    fn step_file(&self, step: u64) -> PathBuf {
        self.history().join(format!("step-{step:09}.ckpt"))
    }

    /// Writes a checkpoint of `network` (described by `config`) at `state`, returns the path of
    /// `model.ckpt`; `best` writes it as `best.ckpt` too (first). The previous checkpoints stay
    /// valid until the new one is complete; on error nothing is half-written.
    pub fn save<N: Module>(
        &self,
        network: &N,
        config: &ModelConfig,
        state: TrainingState,
        optimizer: &[u8],
        best: bool,
    ) -> Result<PathBuf, CheckpointError> {
        let step = state.progress.global_step;
        let latest = self.latest();
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |error| CheckpointError::Write { path, error }
        };
        let bytes = checkpoint::to_bytes(network, config, Some(state), optimizer)
            .map_err(|e| write_error(&latest)(std::io::Error::other(e)))?;
        if best {
            let file = self.best();
            crate::fsutil::write_atomic(&file, &bytes).map_err(write_error(&file))?;
        }
        if self.keep > 0 {
            let file = self.step_file(step);
            std::fs::create_dir_all(self.history()).map_err(write_error(&file))?;
            crate::fsutil::write_atomic(&file, &bytes).map_err(write_error(&file))?;
        }
        crate::fsutil::write_atomic(&latest, &bytes).map_err(write_error(&latest))?;
        self.prune();
        Ok(latest)
    }

    /// The step-numbered checkpoints, oldest first.
    fn step_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.history()) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("step-") && n.ends_with(".ckpt"))
            })
            .collect();
        files.sort();
        files
    }

    /// Removes the oldest step files beyond `keep` (best effort: a file that cannot be removed
    /// costs only space).
    fn prune(&self) {
        let files = self.step_files();
        let excess = files.len().saturating_sub(self.keep);
        for file in &files[..excess] {
            let _ = std::fs::remove_file(file);
        }
    }

    /// Removes temporary files a killed writer left (a run has one writer, and it is not
    /// running when this is called).
    pub fn remove_stale_temporaries(&self) {
        for dir in [self.root.clone(), self.history()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The checkpoint to resume from: of `model.ckpt` and the step files, the valid one that
    /// is furthest along. Damaged files are skipped, and listed in the error if none is valid.
    pub fn resume_point(&self) -> Result<PathBuf, String> {
        let mut candidates = vec![self.latest()];
        candidates.extend(self.step_files());
        let mut best: Option<(u64, PathBuf)> = None;
        let mut problems = Vec::new();
        for path in candidates {
            if !path.exists() {
                continue;
            }
            match checkpoint::read_meta(&path) {
                Ok(meta) => match meta.training {
                    Some(state) => {
                        let step = state.progress.global_step;
                        if best.as_ref().is_none_or(|(s, _)| step > *s) {
                            best = Some((step, path));
                        }
                    }
                    None => problems.push(format!(
                        "{} holds no training run (imported or saved outside training)",
                        path.display()
                    )),
                },
                Err(e) => problems.push(e.to_string()),
            }
        }
        match best {
            Some((_, path)) => Ok(path),
            None if problems.is_empty() => Err(format!(
                "{} holds no checkpoint to resume from (train with `out_dir` {} first)",
                self.root.display(),
                self.root.display()
            )),
            None => Err(format!(
                "no checkpoint in {} can be resumed: {}",
                self.root.display(),
                problems.join("; ")
            )),
        }
    }
}

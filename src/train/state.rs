//! The state a training run shares with its checkpoints, history and figures: its settings
//! ([`TrainConfig`]), where it stands ([`Progress`]), what each epoch gave ([`EpochReport`]),
//! how it can fail ([`TrainError`]) and who watches it ([`TrainObserver`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::optim::OptimSettings;
use super::param_groups::{LrGroup, ParamSelection, Selected};
use super::selection::SelectMetric;
use crate::data::Augmentation;
pub use crate::history::{EpochReport, StepLoss};
use crate::models::{ModelConfig, OptimizerKind};

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network: its file's text and settings, or the name of a network written in Rust.
    /// Its input is what the data loader makes of every image.
    pub model: ModelConfig,
    pub optimizer: OptimizerKind,
    /// The base learning rate (the schedule's peak).
    pub lr: f64,
    /// Momentum, weight decay, gradient clipping and the learning-rate schedule.
    #[serde(default)]
    pub optim: OptimSettings,
    /// Random transforms of the training images.
    #[serde(default)]
    pub augment: Augmentation,
    pub batch_size: usize,
    pub epochs: usize,
    /// Seeds weight initialization, shuffling and dropout.
    pub seed: u64,
    /// Train on the first N training images only.
    pub limit_train: Option<usize>,
    /// Evaluate on the first N test images only.
    pub limit_test: Option<usize>,
    /// For image folders without a test split: this fraction of each class's images is kept
    /// for validation, chosen from `seed` (the same images on every resume).
    #[serde(default)]
    pub val_split: Option<f64>,
    /// Data-loading worker threads.
    pub workers: usize,
    /// The run directory for checkpoints (`model.ckpt` and `checkpoints/`); `None` saves nothing.
    pub out_dir: Option<PathBuf>,
    /// Also write a checkpoint every N optimizer steps (checkpoints are always written after
    /// every epoch).
    #[serde(default)]
    pub checkpoint_every: Option<usize>,
    /// How many step-numbered checkpoints `checkpoints/` keeps besides `model.ckpt`.
    #[serde(default = "default_keep")]
    pub keep_checkpoints: usize,
    /// Record the running loss every N steps (in `steps.csv` and `metrics.jsonl`).
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Read the training loss and accuracy back from the device every N steps (`None`: every
    /// step on the CPU, where reading costs nothing, and every 10 on a GPU, where each read
    /// waits for the device). The log and checkpoints read them whenever they need them.
    #[serde(default)]
    pub read_every: Option<usize>,
    /// Gradient accumulation: each batch of `batch_size` images goes through the network in
    /// this many slices, one after another, their gradients summed before the one optimizer
    /// step, so a batch that does not fit in memory at once still trains as one (the loss is
    /// the mean over the whole batch, exactly as without slicing; batch norm sees each slice's
    /// statistics, as in PyTorch). 1: the whole batch at once.
    #[serde(default = "one")]
    pub accumulate: usize,
    /// Start from the weights of this checkpoint or PyTorch state dict (`.pth`,
    /// `.safetensors`) wherever their names and shapes match (`train::init_from`); the rest
    /// keep their initialization. Recorded for the run's history; a resumed run continues from
    /// its own checkpoint.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// Layer-name globs of the parameters to keep fixed (`b1.*`, `inception3*`; see
    /// [`param_groups`](super::param_groups)); a frozen batch norm keeps its statistics too.
    #[serde(default)]
    pub freeze: Vec<String>,
    /// Parameters trained at a multiple of the learning rate (the new head of a fine-tuned
    /// network, for example); a parameter in several groups takes the last one's.
    #[serde(default)]
    pub lr_groups: Vec<LrGroup>,
    /// Keep the weights of the epoch best by this metric of the held-out set as `best.ckpt`
    /// (the set evaluated after every epoch, which should then be a validation split, not
    /// the test set).
    #[serde(default)]
    pub select: Option<SelectMetric>,
    /// Stop when the selection metric (`select`, else the validation loss) has not improved
    /// for this many epochs.
    #[serde(default)]
    pub early_stop: Option<usize>,
    /// Data-parallel runs: batch norm normalizes with the statistics of the global batch (all
    /// ranks' images, summed across ranks in the forward and backward pass: PyTorch's
    /// `SyncBatchNorm`), instead of each rank's own (PyTorch DDP's default). Nothing changes
    /// in a single process. CPU (flex) only.
    #[serde(default)]
    pub sync_bn: bool,
}

fn one() -> usize {
    1
}

fn default_keep() -> usize {
    2
}

fn default_log_every() -> usize {
    50
}

impl TrainConfig {
    /// The defaults of `inception train` for `model`: its network file's `[recipe]` (or SGD at
    /// lr 0.1, batch 128, 5 epochs), seed 42, one loader worker, nothing saved.
    pub fn new(model: ModelConfig) -> Self {
        let recipe = model.recipe();
        Self {
            optimizer: recipe.map_or(OptimizerKind::Sgd, |r| r.optimizer),
            lr: recipe.map_or(0.1, |r| r.lr),
            optim: OptimSettings::default(),
            augment: Augmentation::default(),
            batch_size: recipe.map_or(128, |r| r.batch_size),
            epochs: recipe.map_or(5, |r| r.epochs),
            seed: 42,
            limit_train: None,
            limit_test: None,
            val_split: None,
            workers: 1,
            out_dir: None,
            checkpoint_every: None,
            keep_checkpoints: default_keep(),
            log_every: default_log_every(),
            read_every: None,
            accumulate: 1,
            init_from: None,
            freeze: Vec::new(),
            lr_groups: Vec::new(),
            select: None,
            early_stop: None,
            sync_bn: false,
            model,
        }
    }

    /// Checks the numbers a person may get wrong, with a message naming the setting (in
    /// backticks: `batch_size`; the command line says which flag that is).
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 {
            return Err("`batch_size` must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("`lr` must be a positive number, got {}", self.lr));
        }
        if self.epochs == 0 {
            return Err("`epochs` must be at least 1".into());
        }
        self.model.validate().map_err(|e| e.to_string())?;
        if self.limit_train == Some(0) || self.limit_test == Some(0) {
            return Err("`limit_train` / `limit_test` must be at least 1".into());
        }
        if let Some(fraction) = self.val_split {
            if !(fraction > 0.0 && fraction < 1.0) {
                return Err(format!(
                    "`val_split` is the fraction of images kept for validation, between 0 and 1; got {fraction}"
                ));
            }
        }
        if self.checkpoint_every == Some(0) {
            return Err("`checkpoint_every` must be at least 1".into());
        }
        if self.log_every == 0 {
            return Err("`log_every` must be at least 1".into());
        }
        if self.read_every == Some(0) {
            return Err("`read_every` must be at least 1".into());
        }
        if self.accumulate == 0 || self.accumulate > self.batch_size {
            return Err(format!(
                "`accumulate` slices each batch: it must be between 1 and `batch_size` ({}), got {}",
                self.batch_size, self.accumulate
            ));
        }
        self.optim.validate(self.optimizer, self.lr, self.epochs)?;
        if !self.freeze.is_empty() {
            ParamSelection::Matching(self.freeze.clone()).validate("freeze")?;
        }
        for group in &self.lr_groups {
            group.params.validate("lr_groups")?;
            if !(group.lr_mult.is_finite() && group.lr_mult > 0.0) {
                return Err(format!(
                    "`lr_mult` must be a positive number, got {}",
                    group.lr_mult
                ));
            }
            // The group's own schedule, checked as the run's is.
            self.optim
                .scaled(group.lr_mult)
                .validate(self.optimizer, self.lr * group.lr_mult, self.epochs)
                .map_err(|e| {
                    format!(
                        "with `lr_mult` {} (`lr` {} x {}): {e}",
                        group.lr_mult, self.lr, group.lr_mult
                    )
                })?;
        }
        if self.early_stop == Some(0) {
            return Err("`early_stop` is a number of epochs: at least 1".into());
        }
        self.augment.validate()
    }

    /// The metric that chooses the best epoch: `select`, or the validation loss when only
    /// `early_stop` is given.
    pub fn selection(&self) -> Option<SelectMetric> {
        self.select
            .or(self.early_stop.map(|_| SelectMetric::ValLoss))
    }

    /// The validation split with the seed that chose it, if the run cut one (`val_split`).
    pub fn seeded_val_split(&self) -> Option<(f64, u64)> {
        self.val_split.map(|fraction| (fraction, self.seed))
    }

    /// Optimizer steps in one epoch.
    pub fn steps_per_epoch(&self, train_images: usize) -> usize {
        let images = self
            .limit_train
            .map_or(train_images, |l| l.min(train_images));
        images.div_ceil(self.batch_size)
    }
}

/// Where a run stands between two optimizer steps: with the weights and the optimizer's
/// state, all that is needed to continue as if never stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Batches done in the epoch under way.
    pub step_in_epoch: usize,
    /// Optimizer steps since the start of the run.
    pub global_step: u64,
    /// Sum of per-example training losses in the epoch under way.
    pub loss_sum: f64,
    /// Correct predictions in the epoch under way.
    pub correct: usize,
    /// Examples seen in the epoch under way.
    pub seen: usize,
    /// Seconds spent training in the epoch under way.
    pub train_seconds: f64,
    /// Seconds of those inside optimizer steps (forward, loss, backward, update).
    #[serde(default)]
    pub step_seconds: f64,
    /// Every completed epoch's report.
    pub history: Vec<EpochReport>,
    /// The running loss every `log_every` steps, from the start of the run.
    #[serde(default)]
    pub steps: Vec<StepLoss>,
}

impl Progress {
    /// Counts an optimizer step (its statistics come later, with [`Progress::add_read`]).
    pub fn add_step(&mut self) {
        self.step_in_epoch += 1;
        self.global_step += 1;
    }

    /// Adds `images` examples read from the device, `correct` of them right, with per-example
    /// losses summing to `loss_sum`.
    pub fn add_read(&mut self, images: usize, correct: usize, loss_sum: f64) {
        self.loss_sum += loss_sum;
        self.correct += correct;
        self.seen += images;
    }

    /// The start of the next epoch, after one that ended with `report`.
    pub fn next_epoch(self, report: EpochReport) -> Self {
        let mut history = self.history;
        history.push(report.clone());
        Progress {
            epochs_done: report.epoch,
            global_step: self.global_step,
            history,
            steps: self.steps,
            ..Progress::default()
        }
    }
}

/// Where training progress goes (the CLI prints; tests collect), and whether to stop.
pub trait TrainObserver {
    /// The run begins, fresh or resumed from a checkpoint at `progress`.
    fn run_started(&mut self, _config: &TrainConfig, _resumed: Option<(&Path, &Progress)>) {}
    /// A new epoch of `images` images begins (`done` of them already trained on when a run
    /// resumes part-way).
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _images: usize, _done: usize) {}
    /// A batch of `images` images was trained on.
    fn batch_done(&mut self, _images: usize) {}
    /// The epoch's mean training loss so far, read from the device (every step on the CPU,
    /// every `read_every` steps on a GPU).
    fn loss_read(&mut self, _running_loss: f64) {}
    /// The test set is being evaluated.
    fn evaluating(&mut self, _images: usize) {}
    /// The epoch is complete.
    fn epoch_done(&mut self, _report: &EpochReport) {}
    /// A checkpoint was written.
    fn checkpoint_saved(&mut self, _path: &Path, _progress: &Progress) {}
    /// Asked after every step: `true` writes a checkpoint and stops (Ctrl-C).
    fn stop_requested(&mut self) -> bool {
        false
    }
    /// Something went wrong that does not stop training (a plot could not be drawn).
    fn warning(&mut self, _message: &str) {}

    /// The run started from the weights of `source` (`init_from`): what was loaded and what
    /// was not.
    fn weights_loaded(&mut self, _source: &Path, _report: &crate::interop::MatchReport) {}

    /// Parameters were frozen (`freeze`) or given their own learning rate (`lr_groups`,
    /// `lr_mult` 0 for frozen ones).
    fn params_grouped(&mut self, _what: &str, _lr_mult: f64, _selected: &Selected) {}

    /// The epoch just done is the best so far by `metric` (`value`); saved as `path` when the
    /// run saves.
    fn new_best(&mut self, _metric: SelectMetric, _value: f64, _path: Option<&Path>) {}

    /// Early stopping: `metric` has not improved for `patience` epochs since `best_epoch`.
    fn stopped_early(&mut self, _metric: SelectMetric, _patience: usize, _best_epoch: usize) {}

    /// Data-parallel runs, at the end of each epoch's steps: `steps` steps took `step_seconds`
    /// in all, of which `averaging_seconds` averaging the gradients across ranks (the
    /// all-reduce, with the wait for the slowest rank).
    fn gradients_averaged(&mut self, _steps: usize, _averaging_seconds: f64, _step_seconds: f64) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}

/// The outcome of a run.
#[derive(Debug)]
pub struct TrainOutcome<N> {
    /// The trained network (the last epoch's weights), on the inference device.
    pub model: N,
    pub epochs: Vec<EpochReport>,
    /// With a selection metric: the best epoch and its value (its weights are `best.ckpt`).
    pub best: Option<(usize, f64)>,
    /// Early stopping ended the run before its last epoch.
    pub stopped_early: bool,
}

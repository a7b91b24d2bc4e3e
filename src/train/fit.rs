//! The training loop of d2l's `train_ch5`: mini-batch SGD (or Adam) on the mean cross-entropy,
//! the training loss and accuracy accumulated over the epoch, the test accuracy after it, and the
//! seed's per-epoch line `epoch 1, loss 2.1157, train acc 0.210, test acc 0.511, time 154.6 sec`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, CheckpointError, TrainingState};
use super::evaluate::{batch_stats, evaluate};
use super::optim::{self, OptimSettings};
use super::run_dir::RunDir;
use crate::data::{data_loader, Augmentation, FashionMnist, LoaderOptions};
use crate::models::{Model, ModelConfig, OptimizerKind};

pub use crate::models::MAX_SIDE;

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
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
}

fn default_keep() -> usize {
    2
}

fn default_log_every() -> usize {
    50
}

impl TrainConfig {
    /// Checks the numbers a person may get wrong, with a message saying which.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("--lr must be a positive number, got {}", self.lr));
        }
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        self.model.validate()?;
        if self.limit_train == Some(0) || self.limit_test == Some(0) {
            return Err("--limit-train / --limit-test must be at least 1".into());
        }
        if self.checkpoint_every == Some(0) {
            return Err("--checkpoint-every must be at least 1".into());
        }
        if self.log_every == 0 {
            return Err("--log-every must be at least 1".into());
        }
        self.optim.validate(self.optimizer, self.lr, self.epochs)?;
        self.augment.validate()
    }

    /// Optimizer steps in one epoch.
    pub fn steps_per_epoch(&self, train_images: usize) -> usize {
        let images = self
            .limit_train
            .map_or(train_images, |l| l.min(train_images));
        images.div_ceil(self.batch_size)
    }

    /// The run directory's checkpoints, if the run saves any.
    pub fn run_dir(&self) -> Option<RunDir> {
        self.out_dir
            .as_ref()
            .map(|d| RunDir::new(d, self.keep_checkpoints))
    }

    /// Path of the latest checkpoint (`model.ckpt` in the run directory).
    pub fn checkpoint_path(&self) -> Option<PathBuf> {
        self.run_dir().map(|d| d.latest())
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
    /// Every completed epoch's report.
    pub history: Vec<EpochReport>,
    /// The running loss every `log_every` steps, from the start of the run.
    #[serde(default)]
    pub steps: Vec<StepLoss>,
}

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
    #[error("the loss became {loss} at epoch {epoch}, step {step}: training diverged; try a lower --lr ({})", kept_note(checkpoint))]
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

/// One epoch's figures, as `train_ch5` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    /// Mean training loss over the epoch's examples.
    pub loss: f64,
    pub train_acc: f64,
    pub test_acc: f64,
    pub test_loss: f64,
    /// Seconds for the epoch, training and testing.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_sec: f64,
    /// Learning rate of the epoch.
    #[serde(default)]
    pub lr: f64,
}

/// The running training loss of an epoch, recorded every `log_every` steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLoss {
    /// Optimizer steps since the start of the run.
    pub step: u64,
    pub epoch: usize,
    /// Mean training loss over the epoch so far.
    pub loss: f64,
    pub lr: f64,
}

impl EpochReport {
    /// The seed's line: `epoch 1, loss 2.1157, train acc 0.210, test acc 0.511, time 154.6 sec`.
    pub fn line(&self) -> String {
        format!(
            "epoch {}, loss {:.4}, train acc {:.3}, test acc {:.3}, time {:.1} sec",
            self.epoch, self.loss, self.train_acc, self.test_acc, self.seconds
        )
    }
}

/// Where training progress goes (the CLI prints; tests collect), and whether to stop.
pub trait TrainObserver {
    /// The run begins, fresh or resumed from a checkpoint at `progress`.
    fn run_started(&mut self, _config: &TrainConfig, _resumed: Option<(&Path, &Progress)>) {}
    /// A new epoch of `images` images begins (`done` of them already trained on when a run
    /// resumes part-way).
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _images: usize, _done: usize) {}
    /// A batch of `images` images was trained on, with this mean loss.
    fn batch_done(&mut self, _images: usize, _loss: f64) {}
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
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}

/// The outcome of a run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained model, on the inference device.
    pub model: Model,
    pub epochs: Vec<EpochReport>,
}

/// Trains a fresh model as `config` says, on the autodiff version of `device`.
///
/// The same configuration on the same machine and thread count gives the same run, bit for
/// bit. burn keeps one random generator per device for the whole process, so that holds for
/// one run at a time in a process (separate processes are independent).
pub fn train(
    config: &TrainConfig,
    train_set: &FashionMnist,
    test_set: &FashionMnist,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    config.validate().map_err(TrainError::Invalid)?;
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    // Materialized now, so that the random numbers of later steps depend on the step alone.
    let model = config
        .model
        .init(&train_device)
        .map_err(|e| TrainError::Invalid(e.to_string()))?
        .materialize();
    observer.run_started(config, None);
    let start = Start {
        model,
        optimizer: Vec::new(),
        progress: Progress::default(),
    };
    run(config, start, train_set, test_set, &train_device, observer)
}

/// Continues the run saved in the run directory `run_dir` (by [`train`]) from its furthest
/// complete checkpoint to the end of its epochs, exactly as if it had never stopped: the same
/// batches, dropout masks and optimizer state, so the same weights and losses, bit for bit.
/// Checkpoints keep going to `run_dir`, wherever the run was started.
pub fn resume(
    run_dir: &Path,
    train_set: &FashionMnist,
    test_set: &FashionMnist,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    let dir = RunDir::new(run_dir, 0);
    let path = dir.resume_point().map_err(TrainError::Invalid)?;
    dir.remove_stale_temporaries();
    let train_device = device.clone().autodiff();
    let saved = checkpoint::load_all(&path, &train_device)?;
    let Some(state) = saved.meta.training else {
        return Err(TrainError::Invalid(format!(
            "{} holds a model but no training run to resume",
            path.display()
        )));
    };
    let mut config = state.config;
    config.out_dir = Some(run_dir.to_path_buf());
    config.validate().map_err(TrainError::Invalid)?;
    observer.run_started(&config, Some((&path, &state.progress)));
    let start = Start {
        model: saved.model,
        optimizer: saved.optimizer,
        progress: state.progress,
    };
    run(&config, start, train_set, test_set, &train_device, observer)
}

/// The state a run starts from.
struct Start {
    model: Model,
    /// burnpack bytes of the optimizer's state; empty for a fresh one.
    optimizer: Vec<u8>,
    progress: Progress,
}

/// A seed for step `step` of a run seeded `seed` (splitmix64's finalizer, so neighbouring steps
/// get unrelated streams).
fn mix(seed: u64, salt: u64, step: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_add(step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shuffle seed of epoch `epoch` (1-based).
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    mix(seed, 0x5348_5546_464c_4521, epoch as u64)
}

/// The seed of the random numbers (dropout) of optimizer step `step`.
fn step_seed(seed: u64, step: u64) -> u64 {
    mix(seed, 0x4452_4f50_4f55_5421, step)
}

fn run(
    config: &TrainConfig,
    start: Start,
    train_set: &FashionMnist,
    test_set: &FashionMnist,
    train_device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    let Start {
        mut model,
        optimizer,
        mut progress,
    } = start;
    let mut optim = optim::optimizer(config.optimizer, &config.optim);
    if !optimizer.is_empty() {
        optim = optim
            .from_bytes(Bytes::from_bytes_vec(optimizer))
            .map_err(|e| TrainError::Invalid(format!("unreadable optimizer state: {e}")))?;
    }
    let run_dir = config.run_dir();
    let save = |model: &Model,
                optim: &burn::optim::ModuleOptimizer,
                progress: &Progress|
     -> Result<Option<PathBuf>, TrainError> {
        let Some(dir) = &run_dir else {
            return Ok(None);
        };
        // A step on a finite loss can still overflow the weights: never save those.
        if !crate::nn::all_finite(model) {
            return Err(TrainError::Diverged {
                loss: f64::NAN,
                epoch: progress.epochs_done + 1,
                step: progress.step_in_epoch,
                checkpoint: config.checkpoint_path(),
            });
        }
        let optimizer = optim
            .into_bytes()
            .map_err(|e| TrainError::Invalid(format!("cannot serialize the optimizer: {e}")))?;
        let state = TrainingState {
            config: config.clone(),
            progress: progress.clone(),
        };
        let latest = dir.save(&model.valid(), state, &optimizer)?;
        let root = dir.root();
        super::metrics::write(root, progress).map_err(|error| CheckpointError::Write {
            path: root.join("metrics.csv"),
            error,
        })?;
        Ok(Some(latest))
    };
    let device = train_device.clone().inner();
    // In file order (one worker), so that predictions line up with the test images.
    let test_options =
        LoaderOptions::evaluation(config.model.input, config.batch_size, config.limit_test);
    let test_loader = data_loader(test_set, &test_options, &device);
    let loss_fn = CrossEntropyLossConfig::new().init(train_device);
    let train_len = config
        .limit_train
        .map_or(train_set.len(), |l| l.min(train_set.len()));
    let steps_per_epoch = config.steps_per_epoch(train_set.len());
    let mut schedule = optim::scheduler(config.lr, &config.optim, config.epochs, steps_per_epoch)
        .map_err(TrainError::Invalid)?;
    // The schedule depends on the step alone: catch up with a resumed run.
    let mut lr = config.lr;
    for _ in 0..progress.global_step {
        lr = schedule.step().base();
    }

    for epoch in progress.epochs_done + 1..=config.epochs {
        // Seconds of this epoch spent before a resume count too.
        let (start, before) = (Instant::now(), progress.train_seconds);
        let elapsed = || before + start.elapsed().as_secs_f64();
        let skip = progress.step_in_epoch * config.batch_size;
        let train_loader = data_loader(
            train_set,
            &LoaderOptions {
                resize: config.model.input[1],
                channels: config.model.input[0],
                batch_size: config.batch_size,
                shuffle: Some(epoch_seed(config.seed, epoch)),
                skip,
                limit: config.limit_train,
                workers: config.workers,
                augmentation: config.augment.clone(),
            },
            train_device,
        );
        observer.epoch_started(epoch, config.epochs, train_len, skip.min(train_len));
        for batch in train_loader.iter() {
            let batch = batch
                .map_err(|e| TrainError::Data(format!("reading a training batch failed: {e}")))?;
            let n = batch.targets.dims()[0];
            train_device.seed(step_seed(config.seed, progress.global_step));
            let (logits, loss) = model
                .forward_train(batch.images)
                .loss(&loss_fn, &batch.targets);
            let (batch_correct, batch_loss) = batch_stats(&logits, &batch.targets, &loss);
            if !batch_loss.is_finite() {
                return Err(TrainError::Diverged {
                    loss: batch_loss,
                    epoch,
                    step: progress.step_in_epoch + 1,
                    checkpoint: config.checkpoint_path(),
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let rates = schedule.step();
            lr = rates.base();
            model = crate::nn::tie_shared(optim.step(rates, model, grads));
            progress.loss_sum += batch_loss * n as f64;
            progress.correct += batch_correct;
            progress.seen += n;
            progress.step_in_epoch += 1;
            progress.global_step += 1;
            if progress.global_step % config.log_every as u64 == 0 {
                progress.steps.push(StepLoss {
                    step: progress.global_step,
                    epoch,
                    loss: progress.loss_sum / progress.seen as f64,
                    lr,
                });
            }
            observer.batch_done(n, batch_loss);
            // The epoch's end writes its own checkpoint a moment later.
            let epoch_ends = progress.step_in_epoch == steps_per_epoch;
            let due = !epoch_ends
                && config
                    .checkpoint_every
                    .is_some_and(|every| progress.global_step % every as u64 == 0);
            let stop = observer.stop_requested();
            if due || stop {
                progress.train_seconds = elapsed();
                if let Some(path) = save(&model, &optim, &progress)? {
                    observer.checkpoint_saved(&path, &progress);
                }
            }
            if stop {
                return Err(TrainError::Interrupted {
                    epoch,
                    step: progress.step_in_epoch,
                    checkpoint: config.checkpoint_path(),
                });
            }
        }
        let train_seconds = elapsed();
        observer.evaluating(test_loader.num_items());
        let eval = evaluate(&model.valid(), test_loader.as_ref()).map_err(TrainError::Data)?;
        let (test_loss, test_acc) = (eval.loss, eval.accuracy);
        if !test_loss.is_finite() {
            return Err(TrainError::Diverged {
                loss: test_loss,
                epoch,
                step: progress.step_in_epoch,
                checkpoint: config.checkpoint_path(),
            });
        }
        let seen = progress.seen.max(1) as f64;
        let report = EpochReport {
            epoch,
            loss: progress.loss_sum / seen,
            train_acc: progress.correct as f64 / seen,
            test_acc,
            test_loss,
            seconds: elapsed(),
            images_per_sec: progress.seen as f64 / train_seconds,
            lr,
        };
        progress = Progress {
            epochs_done: epoch,
            global_step: progress.global_step,
            history: progress.history,
            steps: progress.steps,
            ..Progress::default()
        };
        progress.history.push(report.clone());
        if let Some(path) = save(&model, &optim, &progress)? {
            observer.checkpoint_saved(&path, &progress);
        }
        if let Some(dir) = &run_dir {
            let figures = crate::plot::RunFigures {
                progress: &progress,
                eval: &eval,
                test_set,
                steps_per_epoch,
                class_names: config.model.class_names(),
            };
            if let Err(e) = figures.draw(dir.root()) {
                observer.warning(&format!("cannot draw the plots: {e}"));
            }
        }
        observer.epoch_done(&report);
    }
    Ok(TrainOutcome {
        model: model.valid(),
        epochs: progress.history,
    })
}

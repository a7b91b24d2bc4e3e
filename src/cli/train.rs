//! `inception train`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use indicatif::ProgressBar;

use super::ranks::Ranks;
use super::{BadInput, ComputeArgs, DataArgs, FoundData, NetworkArgs};
use crate::data::{
    channel_statistics, check_channels, Augmentation, BuiltinSet, DataSplit, ImageDataset,
    ResizeMode,
};
use crate::distributed::DeviceGroup;
use crate::models::{Labels, Normalize, OptimizerKind, PoolMode, Recipe};
use crate::progress::{epoch_bar, eval_bar};
use crate::train::{
    resume_across, resume_on_devices, train_model_across, train_model_on_devices, EpochReport,
    LrGroup, OptimSettings, ParamSelection, Progress, RunDir, Schedule, SelectMetric, Selected,
    Silent, TrainConfig, TrainError, TrainObserver,
};

/// `--lr-schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleKind {
    Constant,
    Step,
    Cosine,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Number of passes over the training set [default: the model's recipe, 5 for googlenet].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per mini-batch [default: recipe, 128].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate [default: recipe, 0.1].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer [default: recipe, sgd].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// SGD momentum, e.g. 0.9.
    #[arg(long, default_value_t = 0.0, help_heading = "Optimizer")]
    pub momentum: f64,
    /// Nesterov momentum (with --momentum).
    #[arg(long, help_heading = "Optimizer")]
    pub nesterov: bool,
    /// Weight decay: L2 penalty for sgd and adam, decoupled for adamw (e.g. 5e-4 / 0.01).
    #[arg(long, default_value_t = 0.0, help_heading = "Optimizer")]
    pub weight_decay: f64,
    /// Scale each parameter's gradient down to at most this L2 norm.
    #[arg(long, value_name = "NORM", help_heading = "Optimizer")]
    pub clip_grad_norm: Option<f64>,
    /// Learning-rate schedule after the warm-up.
    #[arg(long, value_enum, default_value_t = ScheduleKind::Constant, help_heading = "Optimizer")]
    pub lr_schedule: ScheduleKind,
    /// Step schedule: multiply the rate by --lr-gamma every N epochs.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 2,
        help_heading = "Optimizer"
    )]
    pub lr_step_epochs: usize,
    /// Step schedule: the factor applied every --lr-step-epochs.
    #[arg(long, default_value_t = 0.1, help_heading = "Optimizer")]
    pub lr_gamma: f64,
    /// Cosine schedule: the rate reached at the last step.
    #[arg(long, default_value_t = 0.0, help_heading = "Optimizer")]
    pub min_lr: f64,
    /// Raise the rate linearly from lr/steps to lr over this many epochs first (e.g. 0.5).
    #[arg(
        long,
        value_name = "EPOCHS",
        default_value_t = 0.0,
        help_heading = "Optimizer"
    )]
    pub warmup_epochs: f64,
    /// Augmentation: mirror training images left-right at random.
    #[arg(long, help_heading = "Augmentation")]
    pub hflip: bool,
    /// Augmentation: pad training images by P black pixels and crop back at random.
    #[arg(long, value_name = "P", help_heading = "Augmentation")]
    pub random_crop: Option<usize>,
    /// Augmentation: crop a random part of at least this fraction of the area (e.g. 0.6) and
    /// resize it back.
    #[arg(long, value_name = "MIN_SCALE", help_heading = "Augmentation")]
    pub random_resized_crop: Option<f64>,
    /// Augmentation: random brightness factor in [1-B, 1+B].
    #[arg(
        long,
        value_name = "B",
        default_value_t = 0.0,
        help_heading = "Augmentation"
    )]
    pub brightness: f64,
    /// Augmentation: random contrast factor in [1-C, 1+C].
    #[arg(
        long,
        value_name = "C",
        default_value_t = 0.0,
        help_heading = "Augmentation"
    )]
    pub contrast: f64,
    /// Side of the network's square input, the images resized to it [default: the model's
    /// recipe for gray sets (96 for googlenet), CIFAR-10's 32, the recipe's for image folders].
    #[arg(long)]
    pub resize: Option<usize>,
    /// How images that are not square become square (square images come out the same).
    #[arg(long, value_enum, default_value_t = ResizeMode::Crop)]
    pub resize_mode: ResizeMode,
    /// Input channels; the gray images are repeated to fill them [default: the model's, 3 for
    /// googlenet-paper, else 1].
    #[arg(long)]
    pub channels: Option<usize>,
    /// How GoogLeNet-paper's max pools keep the border (padding 1, or ceil mode as in article 004).
    #[arg(long, value_enum, default_value_t = PoolMode::Padding)]
    pub pool_mode: PoolMode,
    /// Seed for weight initialization and shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Train on the first N training images only.
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long, value_name = "N")]
    pub limit_test: Option<usize>,
    /// Normalize the network's input per channel, as torchvision's `Normalize`: `none`,
    /// `auto` (the mean and standard deviation of each channel over the training images) or
    /// `MEAN,STD` (for every channel) or `M1,M2,M3,S1,S2,S3` (per channel). Stored with the
    /// model: `eval` and `predict` apply it too.
    #[arg(long, value_name = "none|auto|MEAN,STD", default_value = "none", value_parser = parse_normalize)]
    pub normalize: NormalizeArg,
    /// Leave out images that do not decode instead of stopping (every image is decoded once
    /// first; the ones left out are counted and listed in OUT/bad_images.csv).
    #[arg(long)]
    pub skip_bad_images: bool,
    /// For image folders without a test or val folder: keep this fraction of each class's
    /// images for validation (chosen with --seed; the list is written to OUT/val_split.csv).
    #[arg(long, value_name = "FRACTION")]
    pub val_split: Option<f64>,
    /// Run directory: `model.ckpt` (the latest checkpoint, rewritten after every epoch) and
    /// `checkpoints/` (the last few, step-numbered).
    #[arg(long, value_name = "DIR", default_value = "runs/latest")]
    pub out: PathBuf,
    /// Also write a checkpoint every N optimizer steps.
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// Step-numbered checkpoints to keep in `checkpoints/` besides `model.ckpt`.
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub keep_checkpoints: usize,
    /// Record the running loss every N steps (steps.csv, metrics.jsonl).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub log_every: usize,
    /// Read the training loss and accuracy back from the device every N steps [default: 1 on
    /// the CPU, where reading is free; 10 on a GPU, where each read waits for the device].
    #[arg(long, value_name = "N")]
    pub read_every: Option<usize>,
    /// Gradient accumulation: run each batch through the network in N slices and sum their
    /// gradients before the one update, so a --batch-size too large for memory still trains as
    /// one batch (the same update as without slicing; batch norm sees each slice's statistics).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub accumulate: usize,
    /// Start from the weights of a checkpoint or a PyTorch state dict (.pth, .safetensors)
    /// wherever names and shapes match (PyTorch's strict=False); the rest, such as a
    /// classifier head for another number of classes, start fresh. Says what it loaded.
    #[arg(long, value_name = "CKPT|PTH")]
    pub init_from: Option<PathBuf>,
    /// Keep these parameters fixed: comma-separated globs of the layer names `inception
    /// summary` shows (`b1,b2`, `b3.*`, `inception4?`, `*.bias`); a frozen batch norm
    /// normalizes with its running statistics and keeps them.
    #[arg(long, value_name = "PATTERNS")]
    pub freeze: Option<String>,
    /// Train the head (the layer holding the network's last parameter: the classifier) at X
    /// times the learning rate, at every step of its schedule.
    #[arg(long, value_name = "X")]
    pub head_lr_mult: Option<f64>,
    /// Keep the epoch best by this metric of the validation split as OUT/best.ckpt (needs
    /// --val-split, or a val/ folder: the test set must not choose the model).
    #[arg(long, value_enum, value_name = "METRIC")]
    pub select: Option<SelectArg>,
    /// Stop when the --select metric (default val_loss) has not improved for N epochs.
    #[arg(long, value_name = "N")]
    pub early_stop: Option<usize>,
    /// Under mpirun or on several devices: batch norm normalizes with the statistics of the
    /// whole global batch, summed across ranks (PyTorch's SyncBatchNorm), so K ranks train as
    /// one process does; without it each rank uses its own batch's (PyTorch DDP's default).
    /// CPU only.
    #[arg(long)]
    pub sync_bn: bool,
    /// Continue the run saved in DIR from its last complete checkpoint, with the settings it
    /// was started with (only --data, --no-download, --device and --threads may be given).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "model", "net", "epochs", "batch_size", "lr", "optimizer", "resize", "resize_mode", "channels",
            "pool_mode", "seed", "limit_train", "limit_test", "val_split", "normalize", "out",
            "workers",
            "checkpoint_every", "keep_checkpoints", "log_every", "read_every", "accumulate", "init_from", "freeze", "head_lr_mult", "select", "early_stop", "sync_bn", "momentum", "nesterov",
            "weight_decay", "clip_grad_norm", "lr_schedule", "lr_step_epochs", "lr_gamma",
            "min_lr", "warmup_epochs", "hflip", "random_crop", "random_resized_crop",
            "brightness", "contrast",
        ]
    )]
    pub resume: Option<PathBuf>,
    /// Threads decoding and preparing batches while the model computes (0: on the training
    /// thread); any number gives the same batches in the same order, so the same run.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

impl TrainArgs {
    /// The run's configuration: flags where given, the network's recipe elsewhere, for data
    /// like `data`.
    pub fn config(&self, data: &DataFacts) -> anyhow::Result<TrainConfig> {
        let model = self.network.config()?;
        // A network file without a [recipe] trains with article 000's settings at its own size.
        let recipe = model.recipe().unwrap_or(Recipe {
            optimizer: OptimizerKind::Sgd,
            lr: 0.1,
            batch_size: 128,
            epochs: 5,
            resize: model.input[1],
        });
        // The articles' recipes resize gray images (repeated to the network's channels);
        // colour images keep three channels, and CIFAR-10 its own size, unless told otherwise.
        let data_channels = data.channels;
        let (channels, side) = match (data_channels, data.set) {
            (1, _) => (model.input[0], recipe.resize),
            (c, Some(set)) => (c, set.image_shape()[1]),
            (c, None) => (c, recipe.resize),
        };
        let resize = self.resize.unwrap_or(side);
        let channels = self.channels.unwrap_or(channels);
        check_channels(data_channels, channels)
            .map_err(|e| BadInput(format!("--channels {channels} with {}: {e}", data.name)))?;
        let normalize = match &self.normalize {
            NormalizeArg::Values(mean, std) => Some(
                Normalize::new(mean.clone(), std.clone(), channels)
                    .map_err(|e| BadInput(format!("--normalize: {e}")))?,
            ),
            // `auto` is computed once the data is read (`with_statistics`).
            NormalizeArg::None | NormalizeArg::Auto => None,
        };
        let model = model
            .with_input([channels, resize, resize])
            .with_normalize(normalize)
            .with_resize_mode(self.resize_mode)
            .with_pool_mode(self.pool_mode);
        let model = match data.set {
            // The set's own class names unless its files name them otherwise (CIFAR-10's
            // batches.meta.txt): those are stored with the model.
            Some(set)
                if set
                    .class_names()
                    .iter()
                    .copied()
                    .eq(data.names.iter().map(String::as_str)) =>
            {
                model
                    .with_classes(set.class_names().len())
                    .with_labels(Labels::of_dataset(set))
            }
            Some(set) => model
                .with_names(data.names.clone())
                .with_labels(Labels::of_dataset(set)),
            None => model.with_names(data.names.clone()),
        };
        let config = TrainConfig {
            model,
            optimizer: self.optimizer.unwrap_or(recipe.optimizer),
            lr: self.lr.unwrap_or(recipe.lr),
            optim: OptimSettings {
                momentum: self.momentum,
                nesterov: self.nesterov,
                weight_decay: self.weight_decay,
                clip_grad_norm: self.clip_grad_norm,
                schedule: match self.lr_schedule {
                    ScheduleKind::Constant => Schedule::Constant,
                    ScheduleKind::Step => Schedule::Step {
                        every: self.lr_step_epochs,
                        gamma: self.lr_gamma,
                    },
                    ScheduleKind::Cosine => Schedule::Cosine {
                        min_lr: self.min_lr,
                    },
                },
                warmup_epochs: self.warmup_epochs,
            },
            augment: Augmentation {
                hflip: self.hflip,
                crop_padding: self.random_crop.unwrap_or(0),
                resized_crop: self.random_resized_crop,
                brightness: self.brightness,
                contrast: self.contrast,
            },
            batch_size: self.batch_size.unwrap_or(recipe.batch_size),
            epochs: self.epochs.unwrap_or(recipe.epochs),
            seed: self.seed,
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            val_split: self.val_split,
            workers: self.workers,
            out_dir: Some(self.out.clone()),
            checkpoint_every: self.checkpoint_every,
            keep_checkpoints: self.keep_checkpoints,
            log_every: self.log_every,
            read_every: self.read_every,
            accumulate: self.accumulate,
            init_from: self.init_from.clone(),
            freeze: self
                .freeze
                .as_deref()
                .map(ParamSelection::parse_list)
                .unwrap_or_default(),
            lr_groups: self
                .head_lr_mult
                .map(|lr_mult| LrGroup {
                    params: ParamSelection::Head,
                    lr_mult,
                })
                .into_iter()
                .collect(),
            select: self.select.map(SelectArg::metric),
            early_stop: self.early_stop,
            sync_bn: self.sync_bn,
        };
        config.validate().map_err(BadInput)?;
        if let (Some(metric), false) = (config.selection(), data.validation) {
            let flag = if self.select.is_some() {
                "--select"
            } else {
                "--early-stop"
            };
            return Err(BadInput(format!(
                "{flag} chooses by {} of a validation split, and this run evaluates {}'s test set after every epoch (choosing on it would make the test accuracy optimistic): add --val-split 0.1 to keep 10% of the training images for validation",
                metric.name(),
                data.name
            ))
            .into());
        }
        // Every layer's shape, checked before anything is loaded or written (parameters are
        // created lazily, so this costs nothing).
        config.model.build(&burn::tensor::Device::flex())?;
        Ok(config)
    }
}

/// Draws a progress bar per epoch, prints the article's line after each, and turns Ctrl-C into a
/// clean stop.
struct ConsoleObserver {
    bar: Option<ProgressBar>,
    interrupted: Arc<AtomicBool>,
    data: DataInfo,
    threads: usize,
    /// The ranks of a data-parallel run.
    ranks: Option<RanksInfo>,
    /// The epoch's steps, seconds averaging gradients and seconds in steps (data-parallel).
    averaging: Option<(usize, f64, f64)>,
    /// The run's selection metric, once it has started.
    selection: Option<SelectMetric>,
}

/// What rank 0 says of a data-parallel run.
struct RanksInfo {
    /// "2 ranks on Open MPI v4.1.4".
    describe: String,
    size: usize,
    /// The run directory, to resume from.
    out: PathBuf,
    /// Whether an MPI launcher started the ranks (else they are threads of this process).
    launcher: bool,
}

/// What the header says of the data.
struct DataInfo {
    name: String,
    dir: PathBuf,
    train_images: usize,
    test_images: usize,
}

impl ConsoleObserver {
    /// The first Ctrl-C asks the loop to finish its step, save and stop; a second one exits at
    /// once (the checkpoints on disk stay valid: each is renamed into place whole).
    ///
    /// Rank 0 of a data-parallel run is only ever signalled by the MPI launcher ending the
    /// job (a rank died, or the job was interrupted: `mpirun` then stops every rank), when the
    /// other ranks are gone and nothing can be saved: it says how to go on and exits.
    fn new(data: DataInfo, threads: usize, ranks: Option<RanksInfo>) -> anyhow::Result<Self> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        let ended_by_launcher = ranks.as_ref().filter(|r| r.launcher).map(|r| {
            format!(
                "error: the MPI launcher stopped rank 0: another rank ended (the launcher's \
                 message names it) or the job was interrupted. The last checkpoint in {dir} is \
                 whole: go on with `mpirun -np {} inception train --resume {dir}` (any number of \
                 ranks, or none)",
                r.size,
                dir = r.out.display()
            )
        });
        ctrlc::set_handler(move || {
            if let Some(message) = &ended_by_launcher {
                eprintln!("\n{message}");
                std::process::exit(1);
            }
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting without saving");
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing this step and saving a checkpoint (Ctrl-C again to quit at once)");
        })
        .map_err(|e| anyhow::anyhow!("cannot watch for Ctrl-C: {e}"))?;
        Ok(Self {
            bar: None,
            interrupted,
            data,
            threads,
            ranks,
            averaging: None,
            selection: None,
        })
    }
}

impl TrainObserver for ConsoleObserver {
    fn run_started(&mut self, config: &TrainConfig, resumed: Option<(&Path, &Progress)>) {
        print_header(config, &self.data, self.threads);
        if let Some(ranks) = &self.ranks {
            println!(
                "data-parallel: {}, {} images per rank per step, gradients averaged every step, {}",
                ranks.describe,
                config.batch_size / ranks.size,
                if config.sync_bn {
                    "batch norm on the global batch's statistics (--sync-bn)"
                } else {
                    "batch norm on each rank's own statistics"
                }
            );
        }
        self.selection = config.selection();
        if let Some((path, progress)) = resumed {
            println!(
                "resuming from {} at epoch {}, step {} ({} steps done)",
                path.display(),
                progress.epochs_done + 1,
                progress.step_in_epoch,
                progress.global_step
            );
            for report in &progress.history {
                println!("{}", report.line());
            }
        }
    }
    fn epoch_started(&mut self, epoch: usize, epochs: usize, images: usize, done: usize) {
        let bar = epoch_bar(epoch, epochs, images as u64);
        bar.set_position(done as u64);
        self.bar = Some(bar);
    }
    fn batch_done(&mut self, images: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(images as u64);
        }
    }
    fn loss_read(&mut self, running_loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {running_loss:.4}"));
        }
    }
    fn evaluating(&mut self, images: usize) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let bar = eval_bar(images as u64);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        self.bar = Some(bar);
    }
    fn epoch_done(&mut self, report: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!("{}", report.line());
        if let Some((steps, averaging, seconds)) = self.averaging.take() {
            println!(
                "  all-reduce of the gradients: {:.1} ms per step, {:.1}% of rank 0's step time ({steps} steps)",
                1e3 * averaging / steps.max(1) as f64,
                100.0 * averaging / seconds.max(f64::MIN_POSITIVE),
            );
        }
    }
    fn gradients_averaged(&mut self, steps: usize, averaging_seconds: f64, step_seconds: f64) {
        self.averaging = Some((steps, averaging_seconds, step_seconds));
    }
    fn weights_loaded(&mut self, source: &Path, report: &crate::interop::MatchReport) {
        println!("{}", report.describe(source));
    }
    fn params_grouped(&mut self, what: &str, lr_mult: f64, selected: &Selected) {
        if lr_mult == 0.0 {
            println!("{what}: {}", selected.describe());
        } else {
            println!(
                "{what} at {lr_mult} x the learning rate: {}",
                selected.describe()
            );
        }
    }
    fn new_best(&mut self, metric: SelectMetric, value: f64, path: Option<&Path>) {
        let saved = path.map_or(String::new(), |p| format!(", saved {}", p.display()));
        println!("best {} so far: {value:.4}{saved}", metric.name());
    }
    fn stopped_early(&mut self, metric: SelectMetric, patience: usize, best_epoch: usize) {
        println!(
            "early stop: {} has not improved for {patience} epochs since epoch {best_epoch}",
            metric.name()
        );
    }
    fn warning(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }
    fn stop_requested(&mut self) -> bool {
        let stop = self.interrupted.load(Ordering::SeqCst);
        if stop {
            if let Some(bar) = self.bar.take() {
                bar.abandon();
            }
        }
        stop
    }
}

/// `--select`'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SelectArg {
    /// Accuracy on the validation split (higher is better).
    #[value(name = "val_acc")]
    ValAcc,
    /// Loss on the validation split (lower is better).
    #[value(name = "val_loss")]
    ValLoss,
}

impl SelectArg {
    fn metric(self) -> SelectMetric {
        match self {
            Self::ValAcc => SelectMetric::ValAcc,
            Self::ValLoss => SelectMetric::ValLoss,
        }
    }
}

/// `--normalize`'s value.
#[derive(Debug, Clone, PartialEq)]
pub enum NormalizeArg {
    None,
    Auto,
    /// Means, then standard deviations.
    Values(Vec<f32>, Vec<f32>),
}

fn parse_normalize(text: &str) -> Result<NormalizeArg, String> {
    match text {
        "none" => return Ok(NormalizeArg::None),
        "auto" => return Ok(NormalizeArg::Auto),
        _ => {}
    }
    let numbers = text
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("`{text}` is not none, auto, MEAN,STD or M1,M2,M3,S1,S2,S3"))?;
    if numbers.len() % 2 != 0 {
        return Err(format!(
            "`{text}` has {} numbers: give as many means as standard deviations",
            numbers.len()
        ));
    }
    let (mean, std) = numbers.split_at(numbers.len() / 2);
    Ok(NormalizeArg::Values(mean.to_vec(), std.to_vec()))
}

/// For `--normalize auto`: the training images' per-channel statistics as the model's input
/// normalization (the run's header shows them).
fn with_statistics(mut config: TrainConfig, found: &FoundData) -> anyhow::Result<TrainConfig> {
    let all = burn::data::dataset::Dataset::len(&found.train);
    let images = config.limit_train.map_or(all, |l| l.min(all));
    println!("--normalize auto: the mean and std of each channel over {images} training images");
    let (mean, std) = channel_statistics(
        &found.train,
        config.model.input,
        config.model.resize_mode,
        config.limit_train,
        config.workers.max(1),
    )
    .map_err(|e| anyhow::Error::new(BadInput(format!("--normalize auto: {e}"))))?;
    let normalize = Normalize::new(mean, std, config.model.input[0]).map_err(|e| {
        BadInput(format!(
            "--normalize auto: a channel of the training images does not vary ({e}); give MEAN,STD"
        ))
    })?;
    config.model = config.model.with_normalize(Some(normalize));
    Ok(config)
}

/// What the configuration needs to know of the data.
pub struct DataFacts {
    /// The built-in set, if it is one.
    pub set: Option<BuiltinSet>,
    /// Its name, for messages.
    pub name: String,
    /// Channels of its images.
    pub channels: usize,
    /// Its classes' names.
    pub names: Vec<String>,
    /// The split evaluated after every epoch is a validation split.
    pub validation: bool,
}

impl DataFacts {
    /// The data found.
    pub fn of(found: &FoundData) -> Self {
        Self {
            set: found.set,
            name: found.train.name(),
            channels: found.train.channels(),
            names: found.train.class_names(),
            validation: found.validation,
        }
    }

    /// A built-in set's (Fashion-MNIST's when none is named), before its files are read;
    /// `val_split`: a validation split is cut from it.
    pub fn assumed(set: Option<BuiltinSet>, val_split: bool) -> Self {
        let set = set.unwrap_or(BuiltinSet::FashionMnist);
        Self {
            set: Some(set),
            name: set.name().to_string(),
            channels: set.image_shape()[0],
            names: set.class_names().iter().map(|s| s.to_string()).collect(),
            validation: val_split,
        }
    }
}

/// What a run trains on: its built-in set (if one) and its validation split with its seed (if
/// one).
type TrainedOn = (Option<BuiltinSet>, Option<(f64, u64)>);

/// What the run in `run_dir` trains on, when its checkpoint can be read (when it cannot,
/// resuming says why).
fn trained_on(run_dir: &Path) -> Option<TrainedOn> {
    let path = RunDir::new(run_dir, 0).resume_point().ok()?;
    let meta = crate::train::checkpoint::read_meta(&path).ok()?;
    let split = meta.training.and_then(|t| t.config.seeded_val_split());
    Some((meta.model.labels.dataset(), split))
}

/// Says how many images `--skip-bad-images` left out, and lists them in `out/bad_images.csv`.
fn record_skipped(out: &Path, skipped: &[(PathBuf, String)]) -> anyhow::Result<()> {
    let mut csv = String::from("path,error\n");
    for (path, error) in skipped {
        let error = error.replace('"', "'");
        csv += &format!("{},\"{error}\"\n", path.display());
    }
    let path = out.join("bad_images.csv");
    crate::fsutil::write_atomic(&path, csv.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    println!(
        "--skip-bad-images: {} unreadable image(s) left out, listed in {}",
        skipped.len(),
        path.display()
    );
    Ok(())
}

/// Writes which images a validation split kept on each side to `out/val_split.csv`.
fn record_split(out: &Path, found: &FoundData) -> anyhow::Result<()> {
    let mut csv = String::from("split,class,path\n");
    for (side, split) in [("train", &found.train), ("validation", &found.test)] {
        match split {
            DataSplit::Folder(folder) => {
                let names = folder.class_names_list();
                for (path, label) in folder.files() {
                    let class = &names[*label as usize];
                    csv += &format!("{side},{class},{}\n", path.display());
                }
            }
            // A built-in set's training images, by their index in its training file.
            DataSplit::Part(part) => {
                let names = split.class_names();
                for (k, index) in part.indices().iter().enumerate() {
                    let label = burn::data::dataset::Dataset::get(split, k)
                        .map_or(0, |image| image.label) as usize;
                    let class = names.get(label).map_or("?", String::as_str);
                    csv += &format!("{side},{class},train #{index}\n");
                }
            }
            _ => {}
        }
    }
    let path = out.join("val_split.csv");
    crate::fsutil::write_atomic(&path, csv.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Creates `dir` and checks a file can be written there, before any time is spent training.
fn ensure_writable(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| tempfile::NamedTempFile::new_in(dir).map(drop))
        .map_err(|e| {
            anyhow::Error::new(BadInput(format!(
                "the output directory {} is not writable ({e}); choose another with --out",
                dir.display()
            )))
        })
}

/// The two lines that open a run: what is trained on what, and the settings (all of them are
/// saved in every checkpoint).
fn print_header(config: &TrainConfig, data: &DataInfo, threads: usize) {
    let [c, h, w] = config.model.input;
    // Images of any size (folders) are resized as the mode says; the built-in sets are square.
    let resize = match config.model.names.is_empty() {
        true => String::new(),
        false => format!(" ({})", config.model.resize_mode.describe()),
    };
    let held_out = if config.val_split.is_some() {
        "validation"
    } else {
        "test"
    };
    println!(
        "training {} on {} from {} ({} train / {} {held_out} images), input {c}x{h}x{w}{resize}",
        config.model.name,
        data.name,
        data.dir.display(),
        config
            .limit_train
            .map_or(data.train_images, |l| l.min(data.train_images)),
        config
            .limit_test
            .map_or(data.test_images, |l| l.min(data.test_images)),
    );
    println!(
        "{} lr {}, batch {}, {} epochs, seed {}, {} threads",
        config.optimizer.name(),
        config.lr,
        config.batch_size,
        config.epochs,
        config.seed,
        threads,
    );
    println!(
        "optimizer: {}; augmentation: {}; input normalization: {}",
        config.optim.describe(config.optimizer),
        config.augment.describe(),
        config
            .model
            .normalize
            .as_ref()
            .map_or_else(|| "none".to_string(), Normalize::describe)
    );
    if let Some(metric) = config.selection() {
        let stop = config.early_stop.map_or(String::new(), |n| {
            format!("; stopping after {n} epochs without improvement")
        });
        println!(
            "model selection: the epoch of the best {}{stop}",
            metric.name()
        );
    }
    if let Some(dir) = &config.out_dir {
        println!(
            "writing to {}: model.ckpt{}, metrics.csv, curves.png, confusion.png, predictions.png",
            dir.display(),
            if config.selection().is_some() {
                ", best.ckpt"
            } else {
                ""
            }
        );
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let ranks = Ranks::start();
    let result = run_as(args, &ranks);
    ranks.finish(result)
}

/// The command on this rank (the only one, without MPI). Every rank reads the data and trains;
/// rank 0 alone writes the run directory and speaks.
fn run_as(mut args: TrainArgs, ranks: &Ranks) -> anyhow::Result<()> {
    let world = ranks.world();
    if args.compute.threads.is_none() && world.size() > 1 {
        // The ranks on one machine share its cores (the user's --threads wins).
        let threads = (crate::device::cpu_cores() / ranks.on_this_machine()).max(1);
        args.compute.threads = Some(u16::try_from(threads).unwrap_or(u16::MAX));
    }
    let devices = args.compute.setup_all()?;
    if devices.len() > 1 && world.size() > 1 {
        return Err(BadInput(format!(
            "--device {} names several devices, but under an MPI launcher each rank trains \
             on one: give each rank its own (`--device cuda:$OMPI_COMM_WORLD_LOCAL_RANK` \
             through `sh -c`), or run one process on all of them without mpirun",
            args.compute.device
        ))
        .into());
    }
    let threads = args
        .compute
        .threads
        .map_or_else(rayon::current_num_threads, usize::from);
    // A resumed run reads the data its checkpoint was trained on, cut the same way.
    let (known, val_split) = match &args.resume {
        Some(dir) => trained_on(dir).unwrap_or((None, None)),
        None => (None, args.val_split.map(|f| (f, args.seed))),
    };
    // The flags are checked before any data is read (for data like the set asked for, or
    // Fashion-MNIST), and again for the data found.
    if args.resume.is_none() {
        // (Image folders may hold a val/ folder: the choice of the model is checked with them.)
        let validation = args.val_split.is_some() || args.data.data.is_some();
        args.config(&DataFacts::assumed(args.data.dataset, validation))?;
    }
    let mut found = args.data.load(known, val_split)?;
    let skipped = if args.skip_bad_images {
        let (train, mut bad) = found.train.without_unreadable();
        let (test, bad_test) = found.test.without_unreadable();
        bad.extend(bad_test);
        (found.train, found.test) = (train, test);
        bad
    } else {
        Vec::new()
    };
    let fresh = match &args.resume {
        Some(_) => None,
        None => {
            let config = args.config(&DataFacts::of(&found))?;
            Some(match args.normalize {
                NormalizeArg::Auto => with_statistics(config, &found)?,
                _ => config,
            })
        }
    };
    let out = args.resume.clone().unwrap_or_else(|| args.out.clone());
    if world.is_root() {
        ensure_writable(&out)?;
        if let (Some(_), None) = (val_split, &args.resume) {
            record_split(&out, &found)?;
        }
        if args.skip_bad_images {
            record_skipped(&out, &skipped)?;
        }
    }
    let data = DataInfo {
        name: found.train.name(),
        dir: found.dir.clone(),
        train_images: burn::data::dataset::Dataset::len(&found.train),
        test_images: burn::data::dataset::Dataset::len(&found.test),
    };
    let (train_set, test_set) = (found.train, found.test);
    // The other ranks train in silence.
    let (mut console, mut silent) = (None, Silent);
    let observer: &mut dyn TrainObserver = if world.is_root() {
        let ranks = if devices.len() > 1 {
            Some(RanksInfo {
                describe: DeviceGroup::describe(&args.compute.device.to_string(), &devices),
                size: devices.len(),
                out: out.clone(),
                launcher: false,
            })
        } else {
            (world.size() > 1).then(|| RanksInfo {
                describe: world.describe(),
                size: world.size(),
                out: out.clone(),
                launcher: true,
            })
        };
        console.insert(ConsoleObserver::new(data, threads, ranks)?)
    } else {
        &mut silent
    };
    let outcome = match (fresh, &devices[..]) {
        (Some(config), [device]) => {
            train_model_across(&config, &train_set, &test_set, device, observer, world)
        }
        (Some(config), _) => {
            train_model_on_devices(&config, &train_set, &test_set, &devices, observer)
        }
        // `out` is the run directory being resumed.
        (None, [device]) => resume_across(&out, &train_set, &test_set, device, observer, world),
        (None, _) => resume_on_devices(&out, &train_set, &test_set, &devices, observer),
    };
    let Some(observer) = console else {
        return outcome.map(|_| ()).map_err(Into::into);
    };
    match outcome {
        Ok(outcome) => {
            let dir = RunDir::new(&out, 0);
            println!("saved {}", dir.latest().display());
            // (A resumed run's selection is in its checkpoint: the observer heard it.)
            if let (Some((epoch, value)), Some(metric)) = (outcome.best, observer.selection) {
                println!(
                    "best epoch {epoch} ({} {value:.4}): {}",
                    metric.name(),
                    dir.best().display()
                );
            }
            Ok(())
        }
        Err(e @ TrainError::Interrupted { .. }) => {
            eprintln!("{}", super::in_flags(&e.to_string()));
            std::process::exit(130);
        }
        Err(e) => Err(e.into()),
    }
}

//! `inception train`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use indicatif::ProgressBar;

use super::{load_split, BadInput, ComputeArgs, DataArgs, NetworkArgs};
use crate::data::{check_channels, Augmentation, BuiltinSet, ImageDataset, Split};
use crate::models::{Labels, OptimizerKind, PoolMode, Recipe};
use crate::progress::{epoch_bar, eval_bar};
use crate::train::{
    resume, train_model, EpochReport, OptimSettings, Progress, RunDir, Schedule, TrainConfig,
    TrainError, TrainObserver,
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
    /// Side the 28x28 images are resized to [default: recipe, 96].
    #[arg(long)]
    pub resize: Option<usize>,
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
    /// Continue the run saved in DIR from its last complete checkpoint, with the settings it
    /// was started with (only --data, --no-download, --device and --threads may be given).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "model", "net", "epochs", "batch_size", "lr", "optimizer", "resize", "channels",
            "pool_mode", "seed", "limit_train", "limit_test", "out", "workers",
            "checkpoint_every", "keep_checkpoints", "log_every", "momentum", "nesterov",
            "weight_decay", "clip_grad_norm", "lr_schedule", "lr_step_epochs", "lr_gamma",
            "min_lr", "warmup_epochs", "hflip", "random_crop", "random_resized_crop",
            "brightness", "contrast",
        ]
    )]
    pub resume: Option<PathBuf>,
    /// Threads preparing batches while the model computes (1 keeps runs reproducible).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

impl TrainArgs {
    /// The run's configuration: flags where given, the network's recipe elsewhere, for the
    /// built-in data set `set`.
    pub fn config(&self, set: BuiltinSet) -> anyhow::Result<TrainConfig> {
        let model = self.network.config()?;
        // A network file without a [recipe] trains with article 000's settings at its own size.
        let recipe = model.recipe().unwrap_or(Recipe {
            optimizer: OptimizerKind::Sgd,
            lr: 0.1,
            batch_size: 128,
            epochs: 5,
            resize: model.input[1],
        });
        // The articles' recipes resize gray 28x28 images (repeated to the network's channels);
        // a colour set keeps its own size and its three channels unless told otherwise.
        let [data_channels, data_side, _] = set.image_shape();
        let (channels, side) = match data_channels {
            1 => (model.input[0], recipe.resize),
            _ => (data_channels, data_side),
        };
        let resize = self.resize.unwrap_or(side);
        let channels = self.channels.unwrap_or(channels);
        check_channels(data_channels, channels).map_err(|e| {
            BadInput(format!(
                "--channels {channels} with --dataset {}: {e}",
                set.id()
            ))
        })?;
        let config = TrainConfig {
            model: model
                .with_input([channels, resize, resize])
                .with_classes(set.class_names().len())
                .with_labels(Labels::of_dataset(set))
                .with_pool_mode(self.pool_mode),
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
            workers: self.workers,
            out_dir: Some(self.out.clone()),
            checkpoint_every: self.checkpoint_every,
            keep_checkpoints: self.keep_checkpoints,
            log_every: self.log_every,
        };
        config.validate().map_err(BadInput)?;
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
    loss_sum: f64,
    images: usize,
    interrupted: Arc<AtomicBool>,
    data: DataInfo,
    threads: usize,
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
    fn new(data: DataInfo, threads: usize) -> anyhow::Result<Self> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting without saving");
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing this step and saving a checkpoint (Ctrl-C again to quit at once)");
        })
        .map_err(|e| anyhow::anyhow!("cannot watch for Ctrl-C: {e}"))?;
        Ok(Self {
            bar: None,
            loss_sum: 0.0,
            images: 0,
            interrupted,
            data,
            threads,
        })
    }
}

impl TrainObserver for ConsoleObserver {
    fn run_started(&mut self, config: &TrainConfig, resumed: Option<(&Path, &Progress)>) {
        print_header(config, &self.data, self.threads);
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
        self.loss_sum = 0.0;
        self.images = 0;
    }
    fn batch_done(&mut self, images: usize, loss: f64) {
        self.loss_sum += loss * images as f64;
        self.images += images;
        if let Some(bar) = &self.bar {
            bar.inc(images as u64);
            bar.set_message(format!("loss {:.4}", self.loss_sum / self.images as f64));
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

/// The built-in data set the run in `run_dir` trains on, if its checkpoint can be read (when it
/// cannot, resuming says why).
fn trained_on(run_dir: &Path) -> Option<BuiltinSet> {
    let path = RunDir::new(run_dir, 0).resume_point().ok()?;
    let meta = crate::train::checkpoint::read_meta(&path).ok()?;
    meta.model.labels.dataset()
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
    println!(
        "training {} on {} from {} ({} train / {} test images), input {c}x{h}x{w}",
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
        "optimizer: {}; augmentation: {}",
        config.optim.describe(config.optimizer),
        config.augment.describe()
    );
    if let Some(dir) = &config.out_dir {
        println!(
            "writing to {}: model.ckpt, metrics.csv, curves.png, confusion.png, predictions.png",
            dir.display()
        );
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let device = args.compute.setup()?;
    let threads = args
        .compute
        .threads
        .map_or_else(rayon::current_num_threads, usize::from);
    // A fresh run's settings are checked before anything is loaded; a resumed run has its
    // own, and its data set is the one its checkpoint was trained on.
    let (fresh, trained_on) = match &args.resume {
        Some(dir) => (None, trained_on(dir)),
        None => (Some(args.config(args.data.set_or(None))?), None),
    };
    let set = args.data.set_or(trained_on);
    let data_dir = args.data.locate(set)?;
    let train_set = load_split(set, &data_dir, Split::Train)?;
    let test_set = load_split(set, &data_dir, Split::Test)?;
    let out = args.resume.clone().unwrap_or_else(|| args.out.clone());
    ensure_writable(&out)?;
    let data = DataInfo {
        name: train_set.name(),
        dir: data_dir,
        train_images: burn::data::dataset::Dataset::len(&train_set),
        test_images: burn::data::dataset::Dataset::len(&test_set),
    };
    let mut observer = ConsoleObserver::new(data, threads)?;
    let outcome = match fresh {
        Some(config) => train_model(&config, &train_set, &test_set, &device, &mut observer),
        // `out` is the run directory being resumed.
        None => resume(&out, &train_set, &test_set, &device, &mut observer),
    };
    match outcome {
        Ok(_) => {
            println!("saved {}", RunDir::new(&out, 0).latest().display());
            Ok(())
        }
        Err(e @ TrainError::Interrupted { .. }) => {
            eprintln!("{}", super::in_flags(&e.to_string()));
            std::process::exit(130);
        }
        Err(e) => Err(e.into()),
    }
}

//! `inception train`.

use std::path::PathBuf;

use clap::Args;
use indicatif::ProgressBar;

use super::{load_split, ComputeArgs, DataArgs};
use crate::data::Split;
use crate::models::{ModelConfig, ModelKind, OptimizerKind, PoolMode};
use crate::progress::{epoch_bar, eval_bar};
use crate::train::{train, EpochReport, TrainConfig, TrainObserver};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Architecture to train.
    #[arg(long, value_enum, default_value_t = ModelKind::Googlenet)]
    pub model: ModelKind,
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
    /// Side the 28x28 images are resized to [default: recipe, 96].
    #[arg(long)]
    pub resize: Option<usize>,
    /// Input channels; the gray images are repeated to fill them [default: the model's, 3 for
    /// googlenet-paper, else 1].
    #[arg(long)]
    pub channels: Option<usize>,
    /// How GoogLeNet-paper's max pools keep the border (padding 1, or ceil mode as in seed 004).
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
    /// Directory for the checkpoint (`model.ckpt`, rewritten after every epoch).
    #[arg(long, value_name = "DIR", default_value = "runs/latest")]
    pub out: PathBuf,
    /// Threads preparing batches while the model computes (1 keeps runs reproducible).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

impl TrainArgs {
    /// The run's configuration: flags where given, the model's recipe elsewhere.
    pub fn config(&self) -> anyhow::Result<TrainConfig> {
        let recipe = self.model.recipe();
        let resize = self.resize.unwrap_or(recipe.resize);
        let channels = self.channels.unwrap_or(self.model.default_input()[0]);
        let config = TrainConfig {
            model: ModelConfig::new(self.model)
                .with_input([channels, resize, resize])
                .with_pool_mode(self.pool_mode),
            optimizer: self.optimizer.unwrap_or(recipe.optimizer),
            lr: self.lr.unwrap_or(recipe.lr),
            batch_size: self.batch_size.unwrap_or(recipe.batch_size),
            epochs: self.epochs.unwrap_or(recipe.epochs),
            seed: self.seed,
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            workers: self.workers,
            out_dir: Some(self.out.clone()),
        };
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

/// Draws a progress bar per epoch and prints the seed's line after each.
struct ConsoleObserver {
    bar: Option<ProgressBar>,
    loss_sum: f64,
    images: usize,
}

impl TrainObserver for ConsoleObserver {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, images: usize) {
        self.bar = Some(epoch_bar(epoch, epochs, images as u64));
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
}

/// Creates `dir` and checks a file can be written there, before any time is spent training.
fn ensure_writable(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| tempfile::NamedTempFile::new_in(dir).map(drop))
        .map_err(|e| {
            anyhow::anyhow!(
                "the output directory {} is not writable ({e}); choose another with --out",
                dir.display()
            )
        })
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let device = args.compute.setup()?;
    let dir = args.data.locate()?;
    let train_set = load_split(&dir, Split::Train)?;
    let test_set = load_split(&dir, Split::Test)?;
    ensure_writable(&args.out)?;
    let [c, h, w] = config.model.input;
    println!(
        "training {} on Fashion-MNIST from {} ({} train / {} test images), input {c}x{h}x{w}",
        config.model.kind.name(),
        dir.display(),
        config.limit_train.map_or(60_000, |l| l.min(60_000)),
        config.limit_test.map_or(10_000, |l| l.min(10_000)),
    );
    println!(
        "{} lr {}, batch {}, {} epochs, seed {}, {} threads",
        config.optimizer.name(),
        config.lr,
        config.batch_size,
        config.epochs,
        config.seed,
        args.compute
            .threads
            .map_or_else(rayon::current_num_threads, usize::from),
    );
    let mut observer = ConsoleObserver {
        bar: None,
        loss_sum: 0.0,
        images: 0,
    };
    train(&config, &train_set, &test_set, &device, &mut observer).map_err(anyhow::Error::msg)?;
    if let Some(path) = config.checkpoint_path() {
        println!("saved {}", path.display());
    }
    Ok(())
}

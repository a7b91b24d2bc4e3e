//! The `inception` command line: a thin layer of clap parsers over the library.

mod bench;
mod bench_loader;
mod eval;
mod export;
mod import;
mod net;
mod plot;
mod predict;
mod ranks;
mod summary;
mod train;
mod values;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::data::{self, BuiltinSet, DataSplit, ImageDataset, Layout};
use crate::device::{setup_cpu, DeviceList};
use crate::models::{ModelConfig, ModelKind};

/// Classic CNNs (GoogLeNet / Inception v1 first) on Fashion-MNIST, built on burn.
#[derive(Debug, Parser)]
#[command(name = "inception", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on Fashion-MNIST, MNIST, CIFAR-10 or a folder of images (defaults: the
    /// article's recipe for the model).
    Train(Box<train::TrainArgs>),
    /// Test loss and accuracy of a saved model.
    Eval(eval::EvalArgs),
    /// Classify PNG/JPEG images with a saved model.
    Predict(predict::PredictArgs),
    /// Print every layer's output shape and parameter count.
    Summary(summary::SummaryArgs),
    /// Turn PyTorch weights (`.pth` or `.safetensors`, e.g. torchvision's GoogLeNet) into a
    /// checkpoint.
    Import(import::ImportArgs),
    /// Write a checkpoint's weights for PyTorch (safetensors, PyTorch's names).
    Export(export::ExportArgs),
    /// Training and inference throughput (images/s) with the PyTorch reference's protocol.
    Bench(bench::BenchArgs),
    /// Images/s of the data pipeline alone (decode, resize, batch) on a folder of images.
    BenchLoader(bench_loader::BenchLoaderArgs),
    /// Redraw a run's figures (curves, confusion matrix, predictions) as PNG and SVG.
    Plot(plot::PlotArgs),
    /// Network files: print a zoo model's as a starting point, list the layer types.
    #[command(subcommand)]
    Net(net::NetCommand),
}

/// Which network: a zoo model or a network file.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// Architecture from the zoo [default: googlenet].
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// A network file (TOML) instead of a zoo model; `inception net show MODEL` prints one to
    /// start from.
    #[arg(long, value_name = "FILE", conflicts_with = "model")]
    pub net: Option<PathBuf>,
}

impl NetworkArgs {
    /// The network's description: the file's, or the zoo model's.
    pub fn config(&self) -> anyhow::Result<ModelConfig> {
        match &self.net {
            Some(path) => Ok(ModelConfig::from_file(path)?),
            None => Ok(ModelConfig::new(self.model.unwrap_or(ModelKind::Googlenet))),
        }
    }
}

/// A mistake in what the user gave (a flag, a file, the data), said in one line: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// `Err(BadInput)` with a formatted message.
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::cli::BadInput(format!($($arg)*))))
    };
}
pub(crate) use bad_input;

/// The library names settings as they are in its configurations (`` `batch_size` ``); the
/// command line says which flag sets each.
const FLAGS: [(&str, &str); 32] = [
    ("`batch_size`", "--batch-size"),
    ("`lr`", "--lr"),
    ("`epochs`", "--epochs"),
    ("`limit_train`", "--limit-train"),
    ("`limit_test`", "--limit-test"),
    ("`checkpoint_every`", "--checkpoint-every"),
    ("`log_every`", "--log-every"),
    ("`read_every`", "--read-every"),
    ("`accumulate`", "--accumulate"),
    ("`init_from`", "--init-from"),
    ("`optimizer`", "--optimizer"),
    ("`momentum`", "--momentum"),
    ("`nesterov`", "--nesterov"),
    ("`weight_decay`", "--weight-decay"),
    ("`clip_grad_norm`", "--clip-grad-norm"),
    ("`warmup_epochs`", "--warmup-epochs"),
    ("`schedule.every`", "--lr-step-epochs"),
    ("`schedule.gamma`", "--lr-gamma"),
    ("`schedule.min_lr`", "--min-lr"),
    ("`resized_crop`", "--random-resized-crop"),
    ("`crop_padding`", "--random-crop"),
    ("`brightness`", "--brightness"),
    ("`contrast`", "--contrast"),
    ("`data_dir`", "--data DIR"),
    ("`val_split`", "--val-split"),
    ("`freeze`", "--freeze"),
    ("`lr_groups`", "--head-lr-mult"),
    ("`lr_mult`", "--head-lr-mult"),
    ("`select`", "--select"),
    ("`early_stop`", "--early-stop"),
    ("`out_dir`", "--out"),
    ("`sync_bn`", "--sync-bn"),
];

/// `message` with the library's setting names replaced by the flags that set them.
pub fn in_flags(message: &str) -> String {
    FLAGS
        .iter()
        .fold(message.to_string(), |m, (setting, flag)| {
            m.replace(setting, flag)
        })
}

/// The exit code of a failed command: 2 when the user can fix what they gave (flags, files,
/// data), 1 for anything else (a failed write, a diverged run, a bug).
pub fn exit_code(error: &anyhow::Error) -> u8 {
    use crate::data::idx::IdxError;
    use crate::data::locate::LocateError;
    use crate::data::{CifarError, FolderError, ImageFileError, LayoutError, LoadError};
    use crate::interop::InteropError;
    use crate::models::{ModelError, NetworkFileError};
    use crate::nn::ShapeError;
    use crate::train::{CheckpointError, TrainError};
    let bad_input = error.chain().any(|cause| {
        cause.is::<BadInput>()
            || cause.is::<NetworkFileError>()
            || cause.is::<ShapeError>()
            || cause.is::<IdxError>()
            || cause.is::<CifarError>()
            || cause.is::<LoadError>()
            || cause.is::<LayoutError>()
            || cause.is::<FolderError>()
            || cause.is::<LocateError>()
            || cause.is::<crate::device::DeviceError>()
            || cause.is::<ImageFileError>()
            // A layer without an ONNX form, or an output path that cannot be written.
            || cause.is::<crate::onnx::OnnxError>()
            || matches!(cause.downcast_ref::<ModelError>(), Some(e) if !matches!(e, ModelError::InCode { .. }))
            || matches!(cause.downcast_ref::<CheckpointError>(), Some(e) if !matches!(e, CheckpointError::Write { .. }))
            || matches!(cause.downcast_ref::<InteropError>(), Some(e) if !matches!(e, InteropError::Write { .. }))
            || matches!(
                cause.downcast_ref::<TrainError>(),
                Some(TrainError::Invalid(_) | TrainError::Data(_))
            )
    });
    if bad_input {
        2
    } else {
        1
    }
}

/// Where the computation runs.
#[derive(Debug, Clone, Args)]
pub struct ComputeArgs {
    /// Compute device: cpu (burn's flex backend, this crate's fast kernels), cuda or cuda:N
    /// (a build with --features cuda), wgpu (wgpu's choice of adapter), wgpu:discrete,
    /// wgpu:integrated, wgpu:cpu (a software Vulkan driver) or wgpu:N (the N-th discrete GPU;
    /// a build with --features wgpu).
    /// `train` also takes several, separated by commas (cuda:0,cuda:1: one process trains on
    /// all of them, each computing on its share of every batch).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: DeviceList,
    /// CPU threads for the flex backend (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Run burn's own convolution instead of this crate's fused flex one (same results; for
    /// comparison).
    #[arg(long)]
    pub no_fast_path: bool,
    /// Compute subnormal floats (below 1.2e-38) as IEEE 754 says, instead of as zero: slower,
    /// often by far, on many x86 CPUs.
    #[arg(long)]
    pub keep_denormals: bool,
}

impl ComputeArgs {
    /// The one device of a command that runs on one.
    fn setup(&self) -> anyhow::Result<burn::tensor::Device> {
        let mut devices = self.setup_all()?;
        if devices.len() > 1 {
            return Err(BadInput(format!(
                "--device {} names {} devices; this command runs on one (only `inception \
                 train` runs on several)",
                self.device,
                devices.len()
            ))
            .into());
        }
        Ok(devices.remove(0))
    }

    /// Every device `--device` names.
    fn setup_all(&self) -> anyhow::Result<Vec<burn::tensor::Device>> {
        crate::flex::set_fast_path(!self.no_fast_path);
        setup_cpu(self.threads.map(usize::from), !self.keep_denormals)
            .map_err(|e| BadInput(format!("--threads: {e}")))?;
        Ok(self.device.open()?)
    }
}

/// Which data set, and where it is.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// The data set [default: fashion-mnist; for a saved model, the one it was trained on].
    #[arg(long, value_enum, value_name = "NAME")]
    pub dataset: Option<BuiltinSet>,
    /// Directory holding the data: a built-in set's files (Fashion-MNIST and MNIST: the four
    /// IDX files, plain or .gz; CIFAR-10: the binary version's .bin files), or image folders
    /// (DIR/train/<class>/*.png|jpg with DIR/test/ or DIR/val/, or DIR/<class>/... with
    /// --val-split), recognized by their files. Without it: env FASHION_MNIST_DIR / MNIST_DIR /
    /// CIFAR10_DIR, ./data/NAME, the user cache dir, /usr/share/datasets/fashion-mnist (Debian's
    /// package), then a download into the cache dir.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Never download the data set.
    #[arg(long)]
    pub no_download: bool,
}

impl DataArgs {
    /// The data set asked for, or `default`.
    fn set_or(&self, default: Option<BuiltinSet>) -> BuiltinSet {
        self.dataset.or(default).unwrap_or(BuiltinSet::FashionMnist)
    }

    /// The folder holding `set`'s files.
    fn locate(&self, set: BuiltinSet) -> anyhow::Result<PathBuf> {
        Ok(data::locate_set(
            set,
            self.data.as_deref(),
            !self.no_download,
        )?)
    }

    /// The training and test splits: `--dataset`'s (found as usual, or in `--data`), else what
    /// `--data` holds (a built-in set's files or image folders, `val_split = (fraction, seed)`
    /// cutting class folders without a test split), else `known`'s (the set a checkpoint was
    /// trained on) or Fashion-MNIST's.
    fn load(
        &self,
        known: Option<BuiltinSet>,
        val_split: Option<(f64, u64)>,
    ) -> anyhow::Result<FoundData> {
        let builtin = |set: BuiltinSet| -> anyhow::Result<FoundData> {
            let dir = self.locate(set)?;
            // With a validation split cut from the training images, the test set stays apart.
            let (train, test) = DataSplit::load_with_held_out(set, &dir, val_split)
                .with_context(|| format!("cannot load {set} from {}", dir.display()))?;
            Ok(FoundData {
                train,
                test,
                set: Some(set),
                dir,
                validation: val_split.is_some(),
            })
        };
        match (self.dataset, &self.data) {
            (Some(set), _) => builtin(set),
            (None, Some(dir)) => {
                let layout = Layout::recognize(dir)?;
                let (train, test) = layout.load(known, val_split)?;
                Ok(FoundData {
                    set: train.builtin_set(),
                    train,
                    test,
                    dir: layout.dir().to_path_buf(),
                    validation: val_split.is_some() || layout.has_val_folder(),
                })
            }
            (None, None) => builtin(known.unwrap_or(BuiltinSet::FashionMnist)),
        }
    }
}

/// The data `model` was trained on (by a run of settings `training`, if the checkpoint at
/// `checkpoint` has them), as `data` finds it (a built-in set by its name, image folders cut as
/// the training run cut them): the same classes, or a message saying what to give.
fn data_of(
    data: &DataArgs,
    model: &crate::models::ModelConfig,
    training: Option<&crate::train::TrainConfig>,
    checkpoint: &Path,
) -> anyhow::Result<FoundData> {
    if !model.names.is_empty() && data.data.is_none() && data.dataset.is_none() {
        bad_input!(
            "{} was trained on image folders ({} classes: {}, ...); give their folder with --data DIR",
            checkpoint.display(),
            model.num_classes,
            model.names.first().map_or("", String::as_str)
        );
    }
    // A built-in set has its own test split, which evaluation reads; image folders without
    // one are evaluated on the validation images their run kept.
    let val_split = training
        .and_then(crate::train::TrainConfig::seeded_val_split)
        .filter(|_| model.labels.dataset().is_none());
    let found = data.load(model.labels.dataset(), val_split)?;
    let classes = found.test.class_names().len();
    if classes != model.num_classes {
        bad_input!(
            "{} has {classes} classes and {} was trained on {}; give the data it was trained on",
            found.dir.display(),
            checkpoint.display(),
            model.num_classes
        );
    }
    Ok(found)
}

/// The data a command found: its two splits, which built-in set they are (if one), and where.
pub struct FoundData {
    pub train: DataSplit,
    /// The split evaluated after every epoch: the test set, or a validation split.
    pub test: DataSplit,
    pub set: Option<BuiltinSet>,
    pub dir: PathBuf,
    /// `test` is a validation split (cut by `--val-split`, or a `val/` folder), which may
    /// choose the model.
    pub validation: bool,
}

/// A saved model, optionally checked to be of the expected architecture.
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// Checkpoint written by `inception train` (it holds the model's configuration).
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Refuse the checkpoint unless it holds this zoo architecture.
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
}

impl CheckpointArgs {
    fn load(&self, device: &burn::tensor::Device) -> anyhow::Result<crate::models::Model> {
        Ok(self.load_with_meta(device)?.0)
    }

    /// The model and what else the checkpoint says (the run's settings, when it has them).
    fn load_with_meta(
        &self,
        device: &burn::tensor::Device,
    ) -> anyhow::Result<(
        crate::models::Model,
        crate::train::checkpoint::CheckpointMeta,
    )> {
        let (model, meta) = crate::train::checkpoint::load(&self.checkpoint, device)?;
        if let Some(expected) = self.model {
            if model.config.kind != Some(expected) {
                bad_input!(
                    "{} holds a {} model, not {}; drop --model or pick the right checkpoint",
                    self.checkpoint.display(),
                    model.config.name,
                    expected.name()
                );
            }
        }
        Ok((model, meta))
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchLoader(args) => bench_loader::run(args),
        Command::Net(command) => net::run(command),
    }
}

/// Entry point of the binary: parses the arguments, runs, and turns errors into one message.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(report_error(&error, None)),
    }
}

/// Prints `error` as one message in the command line's terms (`error: ...`, or `error on rank
/// 1: ...` for a rank of a data-parallel job) and returns its exit code.
fn report_error(error: &anyhow::Error, rank: Option<usize>) -> u8 {
    let message = format!("{error:#}");
    // A network file's messages are about the file's own keys, not flags.
    let in_a_file = error
        .chain()
        .any(|cause| cause.is::<crate::models::NetworkFileError>());
    let message = if in_a_file {
        message
    } else {
        in_flags(&message)
    };
    match rank {
        Some(rank) => eprintln!("error on rank {rank}: {message}"),
        None => eprintln!("error: {message}"),
    }
    exit_code(error)
}

//! `inception bench`: training and inference throughput, comparable with PyTorch's.

use std::path::PathBuf;

use clap::Args;

use super::{in_flags, BadInput, DataArgs, NetworkArgs};
use crate::bench::{self, BenchBatch, BenchOptions};
use crate::data::{DataSplit, Split};
use crate::device::{setup_cpu, DeviceSpec};
use crate::train::checkpoint;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Images per step.
    #[arg(long, visible_alias = "batch-size", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Input side [default: the model's own: 96 for googlenet, as in the PyTorch reference].
    #[arg(long)]
    pub side: Option<usize>,
    /// CPU threads (the reference uses 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed steps; the median is reported.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Also show where a step goes: forward / backward / update, and each layer's time.
    #[arg(long)]
    pub profile: bool,
    /// With `--profile`, the layers this deep inside blocks: 1 shows each block's layers (an
    /// Inception block as one row), 2 also the layers inside those (each of its convolutions).
    /// Implies `--profile`
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub profile_depth: Option<u32>,
    /// Print one JSON line (the keys of the PyTorch reference) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Compute device (as `train --help` lists them).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: DeviceSpec,
    /// Measure burn's own convolution instead of this crate's fused flex one.
    #[arg(long)]
    pub no_fast_path: bool,
    /// Compute subnormal floats as IEEE 754 says instead of as zero (see `train --help`).
    #[arg(long)]
    pub keep_denormals: bool,
    /// Start from a checkpoint's network and weights instead of a fresh network (`--model`,
    /// `--net` and `--side` are then taken from it).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Step on the first `--batch` training images of Fashion-MNIST (from `--data`, or found as
    /// `train` finds them) instead of random ones.
    #[arg(long)]
    pub real_images: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Learning rate of the timed SGD steps.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Also count the subnormal numbers in the parameters, gradients and class probabilities.
    #[arg(long)]
    pub subnormals: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    setup_cpu(Some(args.threads.into()), !args.keep_denormals)
        .map_err(|e| BadInput(format!("--threads: {e}")))?;
    crate::flex::set_fast_path(!args.no_fast_path);
    let device = args.device.open()?;
    let threads = usize::from(args.threads);
    let model = args.network.config()?;
    let side = args.side.unwrap_or(model.input[1]);
    let mut options = BenchOptions {
        batch: args.batch as usize,
        side,
        warmup: args.warmup,
        timed: args.steps as usize,
        profile: args.profile || args.profile_depth.is_some(),
        profile_depth: args.profile_depth.map_or(1, |depth| depth as usize),
        lr: args.lr,
        count_subnormals: args.subnormals,
        ..BenchOptions::new(model)
    };
    let model = match &args.checkpoint {
        Some(path) => checkpoint::load(path, &device.clone().autodiff())?.0,
        None => bench::build_network(&options, &device).map_err(BadInput)?,
    };
    let config = model.config.clone();
    options.model = config.clone();
    let batch = if args.real_images {
        let name = args.data.set_or(config.labels.dataset());
        let set = DataSplit::load(name, &args.data.locate(name)?, Split::Train)?;
        BenchBatch::from_dataset(
            &set,
            options.batch,
            config.input,
            config.resize_mode,
            &device,
        )
        .map_err(|e| BadInput(in_flags(&e)))?
    } else {
        BenchBatch::random(options.batch, config.input, config.num_classes, &device)
    };
    let report = bench::bench_network_on(model, &config.name, &batch, &options, &device, threads).0;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

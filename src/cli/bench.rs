//! `inception bench`: training and inference throughput, comparable with PyTorch's.

use clap::Args;

use super::{BadInput, NetworkArgs};
use crate::bench::{run as bench, BenchOptions};
use crate::device::{set_cpu_threads, Backend};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Images per step.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Input side (the PyTorch reference uses 96).
    #[arg(long, default_value_t = 96)]
    pub side: usize,
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
    /// Print one JSON line (the keys of the PyTorch reference) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub device: Backend,
    /// Measure burn's own convolution instead of this crate's fused flex one.
    #[arg(long)]
    pub no_fast_path: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    set_cpu_threads(args.threads.into()).map_err(|e| BadInput(format!("--threads: {e}")))?;
    crate::flex::set_fast_path(!args.no_fast_path);
    let options = BenchOptions {
        model: args.network.config()?,
        batch: args.batch as usize,
        side: args.side,
        warmup: args.warmup,
        timed: args.steps as usize,
        profile: args.profile,
    };
    let report = bench(&options, &args.device.device(), args.threads.into()).map_err(BadInput)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

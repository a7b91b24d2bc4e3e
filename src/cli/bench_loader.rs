//! `inception bench-loader`: images/s of the data pipeline alone on a folder of images, as
//! `benches/torch_loader.py` measures torchvision's.

use std::path::PathBuf;

use clap::Args;

use super::BadInput;
use crate::bench::loader::loader_throughput;
use crate::data::{check_channels, ImageDataset, ImageFolder, LoaderOptions, ResizeMode};

#[derive(Debug, Args)]
pub struct BenchLoaderArgs {
    /// A folder of class folders, as torchvision's `ImageFolder` takes it.
    #[arg(value_name = "DIR")]
    pub folder: PathBuf,
    /// Side of the square images made.
    #[arg(long, default_value_t = 224, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub side: u32,
    /// How images that are not square become square.
    #[arg(long, value_enum, default_value_t = ResizeMode::Crop)]
    pub resize_mode: ResizeMode,
    /// Channels made [default: the images' own].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub channels: Option<u8>,
    /// Images per batch.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
    /// Threads decoding and resizing (0: on the main thread).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Read the first N images only.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchLoaderArgs) -> anyhow::Result<()> {
    let folder = ImageFolder::open(&args.folder)?;
    let channels = args.channels.map_or_else(|| folder.channels(), usize::from);
    check_channels(folder.channels(), channels)
        .map_err(|e| BadInput(format!("--channels {channels}: {e}")))?;
    let side = args.side as usize;
    let options = LoaderOptions {
        workers: args.workers,
        ..LoaderOptions::evaluation(
            [channels, side, side],
            args.resize_mode,
            args.batch_size as usize,
            args.limit,
        )
    };
    let report = loader_throughput(&folder, &options).map_err(BadInput)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

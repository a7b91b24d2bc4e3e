//! `inception eval`.

use std::path::PathBuf;

use clap::Args;

use super::{data_of, CheckpointArgs, ComputeArgs, DataArgs};
use crate::data::{data_loader, LoaderOptions};
use crate::progress::eval_bar;
use crate::train::{evaluate_with, EvalSummary, TestViews};

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub saved: CheckpointArgs,
    /// Evaluate on the first N test images only.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Test-time augmentation: also show the model each image's mirror image and average the
    /// two logits (for models trained with `--hflip`; twice the time).
    #[arg(long)]
    pub tta_hflip: bool,
    /// Print the report as JSON (loss, top-1 and top-5 accuracy, per-class precision, recall,
    /// F1 and support, macro and weighted averages, the confusion matrix) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the per-class report as CSV (`class,precision,recall,f1,support`, then the
    /// macro and weighted averages) to this file.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let device = args.compute.setup()?;
    let (model, meta) = args.saved.load_with_meta(&device)?;
    let training = meta.training.as_ref().map(|t| &t.config);
    let test_set = data_of(&args.data, &model.config, training, &args.saved.checkpoint)?.test;
    let options = LoaderOptions::evaluation(
        model.config.input,
        model.config.resize_mode,
        args.batch_size as usize,
        args.limit,
    );
    let loader = data_loader(&test_set, &options, &device);
    let bar = eval_bar(loader.num_items() as u64);
    let start = std::time::Instant::now();
    let views = if args.tta_hflip {
        TestViews::WithMirror
    } else {
        TestViews::Single
    };
    let report = evaluate_with(&model, loader.as_ref(), views, &mut |n| bar.inc(n as u64))
        .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    let names = model.config.class_names();
    let summary = EvalSummary::new(&model.config.name, &report, &names);
    if let Some(path) = &args.csv {
        crate::fsutil::write_atomic(path, &summary.csv())
            .map_err(|e| super::BadInput(format!("cannot write --csv {}: {e}", path.display())))?;
    }
    if args.json {
        println!("{}", summary.json());
        return Ok(());
    }
    println!(
        "{}{}: test loss {:.4}, {} ({} images, {:.1} sec)",
        model.config.name,
        views.label(),
        report.loss,
        summary.accuracies(),
        report.images,
        start.elapsed().as_secs_f64()
    );
    if report.confusion.classes > 0 {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        print!("\n{}", report.confusion.table(&names));
        print!("\n{}", summary.table());
    }
    Ok(())
}

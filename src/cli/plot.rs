//! `inception plot`: redraws a run's figures from its checkpoint.

use std::path::PathBuf;

use clap::Args;

use super::{bad_input, data_of, ComputeArgs, DataArgs};
use crate::data::{data_loader, LoaderOptions};
use crate::plot::RunFigures;
use crate::progress::eval_bar;
use crate::train::{checkpoint, evaluate_with, RunDir, TestViews};

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A run directory written by `inception train --out DIR` (or one of its checkpoints).
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Where to write the figures [default: the run directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let device = args.compute.setup()?;
    let (path, dir) = if args.run.is_dir() {
        (RunDir::new(&args.run, 0).latest(), args.run.clone())
    } else {
        let parent = args.run.parent().unwrap_or(std::path::Path::new("."));
        (args.run.clone(), parent.to_path_buf())
    };
    if !path.exists() {
        bad_input!(
            "{} holds no model.ckpt; give the --out directory of an `inception train` run",
            dir.display()
        );
    }
    let saved = checkpoint::load_all(&path, &device)?;
    let Some(state) = saved.meta.training else {
        bad_input!(
            "{} holds a model but no training history (was it imported?); `inception eval` shows its confusion matrix",
            path.display()
        );
    };
    let out = args.out.unwrap_or(dir);
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let found = data_of(&args.data, &saved.model.config, Some(&state.config), &path)?;
    let train_images = burn::data::dataset::Dataset::len(&found.train);
    let test_set = found.test;
    let config = state.config;
    // The batch size of the run's own evaluation, for the same predictions.
    let options = LoaderOptions::evaluation(
        saved.model.config.input,
        saved.model.config.resize_mode,
        config.batch_size,
        config.limit_test,
    );
    let loader = data_loader(&test_set, &options, &device);
    let bar = eval_bar(loader.num_items() as u64);
    let eval = evaluate_with(&saved.model, loader.as_ref(), TestViews::Single, &mut |n| {
        bar.inc(n as u64)
    })
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    let figures = RunFigures {
        history: &state.progress.history,
        steps: &state.progress.steps,
        eval: &eval,
        test_set: &test_set,
        steps_per_epoch: config.steps_per_epoch(train_images),
        class_names: saved.model.config.class_names(),
    };
    let written = figures
        .draw(&out)
        .map_err(|e| anyhow::anyhow!("cannot draw the figures in {}: {e}", out.display()))?;
    println!(
        "{} after {} epochs: test acc {:.3} on {} images",
        config.model.name, state.progress.epochs_done, eval.accuracy, eval.images
    );
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

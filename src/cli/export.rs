//! `inception export`: a checkpoint's weights for PyTorch.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::CheckpointArgs;
use crate::interop;

/// File formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// safetensors with PyTorch's names: `model.load_state_dict(safetensors.torch.load_file(f))`.
    Safetensors,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub saved: CheckpointArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
    pub format: ExportFormat,
    /// File to write.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let device = burn::tensor::Device::flex();
    let model = args.saved.load(&device)?;
    match args.format {
        ExportFormat::Safetensors => {
            let metadata = model.config.export_metadata();
            interop::export_safetensors(&model, &args.out, &metadata)?
        }
    }
    println!(
        "exported {} tensors of the {} model in {} to {} (PyTorch names; see scripts/torch_zoo.py; \
         input size, resizing, normalization and class names in the file's metadata)",
        interop::torch_names(&model).len(),
        model.config.name,
        args.saved.checkpoint.display(),
        args.out.display()
    );
    Ok(())
}

//! `inception export`: a checkpoint's weights for PyTorch, or its inference graph as ONNX.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::CheckpointArgs;
use crate::interop;
use crate::models::{ONNX_INPUT, ONNX_OUTPUT};

/// File formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// safetensors with PyTorch's names: `model.load_state_dict(safetensors.torch.load_file(f))`.
    Safetensors,
    /// The inference graph as ONNX (opset 17) for ONNX Runtime, TensorRT, OpenVINO...: input
    /// `images` [batch, C, H, W] in [0, 1], output `logits` [batch, classes]; class names and
    /// preprocessing in the metadata.
    Onnx,
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
    let (name, checkpoint, out) = (
        &model.config.name,
        args.saved.checkpoint.display(),
        args.out.display(),
    );
    match args.format {
        ExportFormat::Safetensors => {
            let metadata = model.config.export_metadata();
            interop::export_safetensors(&model, &args.out, &metadata)?;
            println!(
                "exported {} tensors of the {name} model in {checkpoint} to {out} (PyTorch names; see scripts/torch_zoo.py; \
                 input size, resizing, normalization and class names in the file's metadata)",
                interop::torch_names(&model).len(),
            );
        }
        ExportFormat::Onnx => {
            let written = model.export_onnx(&args.out)?;
            let [c, h, w] = model.config.input;
            let side = match &written.external_data {
                Some(data) => format!(", weights in {}", data.display()),
                None => String::new(),
            };
            println!(
                "exported the {name} model in {checkpoint} to {out} as ONNX (opset {}, {} nodes, {} weight tensors, {:.1} MB{side}): \
                 input `{ONNX_INPUT}` float32 [batch, {c}, {h}, {w}] in [0, 1], output `{ONNX_OUTPUT}` [batch, {}]; \
                 class names and preprocessing in the metadata",
                crate::onnx::OPSET,
                written.nodes,
                written.weights,
                written.bytes as f64 / 1e6,
                model.config.num_classes,
            );
        }
    }
    Ok(())
}

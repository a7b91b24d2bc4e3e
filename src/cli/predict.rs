//! `inception predict`.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use clap::Args;

use super::{CheckpointArgs, ComputeArgs};
use crate::data::{resize_to_unit, CLASS_NAMES};

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub saved: CheckpointArgs,
    /// PNG or JPEG images to classify.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Invert gray levels first (Fashion-MNIST shows light garments on black; photos are
    /// usually dark on light).
    #[arg(long)]
    pub invert: bool,
    /// Show the K most likely classes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub top: u8,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let device = args.compute.setup()?;
    let model = args.saved.load(&device)?;
    let [channels, side, _] = model.config.input;
    let mut pixels = Vec::with_capacity(args.images.len() * channels * side * side);
    for path in &args.images {
        let image = image::open(path)
            .with_context(|| format!("cannot read {} as a PNG or JPEG image", path.display()))?
            .to_luma8();
        let (w, h) = image.dimensions();
        let mut gray = image.into_raw();
        if args.invert {
            gray.iter_mut().for_each(|p| *p = 255 - *p);
        }
        let plane = resize_to_unit(&gray, h as usize, w as usize, side);
        for _ in 0..channels {
            pixels.extend_from_slice(&plane);
        }
    }
    let n = args.images.len();
    let input = Tensor::<4>::from_data(TensorData::new(pixels, [n, channels, side, side]), &device);
    let probs = softmax(model.forward(input), 1).into_data();
    let probs = probs
        .as_slice::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let classes = model.config.num_classes;
    for (i, path) in args.images.iter().enumerate() {
        let row = &probs[i * classes..(i + 1) * classes];
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let top: Vec<String> = order
            .iter()
            .take(args.top as usize)
            .map(|&c| {
                format!(
                    "{} ({:.1}%)",
                    CLASS_NAMES.get(c).copied().unwrap_or("?"),
                    100.0 * row[c]
                )
            })
            .collect();
        println!("{}: {}", path.display(), top.join(", "));
    }
    Ok(())
}

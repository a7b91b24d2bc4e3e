//! `inception predict`.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use clap::Args;

use super::{bad_input, CheckpointArgs, ComputeArgs};
use crate::data::{convert_channels, resize_to_unit, RawImage};
use crate::interop::imagenet;
use crate::models::Labels;

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub saved: CheckpointArgs,
    /// PNG or JPEG images to classify.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Invert the image first (Fashion-MNIST shows light garments on black; photos are
    /// usually dark on light).
    #[arg(long)]
    pub invert: bool,
    /// Show the K most likely classes [default: 5 for ImageNet models, 1 otherwise].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub top: Option<u8>,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let device = args.compute.setup()?;
    let model = args.saved.load(&device)?;
    let [channels, side, _] = model.config.input;
    let labels = model.config.labels;
    if labels == Labels::Imagenet && channels != 3 {
        bad_input!(
            "{} is an ImageNet model with {channels} input channels; ImageNet models take RGB",
            args.saved.checkpoint.display()
        );
    }
    let mut pixels = Vec::with_capacity(args.images.len() * channels * side * side);
    for path in &args.images {
        let mut image = image::open(path)
            .with_context(|| format!("cannot read {} as a PNG or JPEG image", path.display()))?;
        if args.invert {
            image.invert();
        }
        if labels == Labels::Imagenet {
            pixels.extend(imagenet::preprocess(&image, side));
            continue;
        }
        // As the model was trained: colour for CIFAR-10 and three-channel models of image
        // folders, gray levels otherwise (repeated to the model's channels, as training
        // repeats them).
        let (w, h) = (image.width() as usize, image.height() as usize);
        let colour = labels == Labels::Cifar10 || (!model.config.names.is_empty() && channels == 3);
        let raw = if colour {
            RawImage::rgb(image.to_rgb8().into_raw(), h, w, 0)
        } else {
            RawImage::gray(image.to_luma8().into_raw(), h, w, 0)
        };
        convert_channels(
            &resize_to_unit(&raw, side),
            raw.channels,
            channels,
            &mut pixels,
        );
    }
    let n = args.images.len();
    let input = Tensor::<4>::from_data(TensorData::new(pixels, [n, channels, side, side]), &device);
    let probs = softmax(model.forward(input), 1).into_data();
    let probs = probs
        .as_slice::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let classes = model.config.num_classes;
    let names = model.config.class_names();
    let top = usize::from(
        args.top
            .unwrap_or(if labels == Labels::Imagenet { 5 } else { 1 }),
    );
    for (i, path) in args.images.iter().enumerate() {
        let row = &probs[i * classes..(i + 1) * classes];
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let top: Vec<String> = order
            .iter()
            .take(top)
            .map(|&c| format!("{} ({:.1}%)", names[c], 100.0 * row[c]))
            .collect();
        println!("{}: {}", path.display(), top.join(", "));
    }
    Ok(())
}

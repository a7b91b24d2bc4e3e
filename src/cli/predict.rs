//! `inception predict`.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use clap::Args;

use super::{bad_input, CheckpointArgs, ComputeArgs};
use crate::data::image_folder::images_under;
use crate::data::{network_input, read_image};
use crate::interop::imagenet;
use crate::models::Labels;

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub saved: CheckpointArgs,
    /// PNG or JPEG images to classify, or folders of them (every image inside, subfolders
    /// included).
    #[arg(required = true, value_name = "IMAGE|DIR")]
    pub images: Vec<PathBuf>,
    /// Invert the image first (Fashion-MNIST shows light garments on black; photos are
    /// usually dark on light).
    #[arg(long)]
    pub invert: bool,
    /// Show the K most likely classes [default: 5 for ImageNet models, 1 otherwise].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub top: Option<u8>,
    /// Print the predictions as JSON (a list: each image's path and its top classes with
    /// their index and probability) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the predictions as CSV (`image,rank,class,index,probability`, a row per
    /// image and class shown) to this file.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
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
    let mut files = Vec::new();
    for path in &args.images {
        if path.is_dir() {
            files.extend(images_under(path)?);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        bad_input!("no PNG or JPEG images in {}", args.images[0].display());
    }
    let mut pixels = Vec::with_capacity(files.len() * channels * side * side);
    for path in &files {
        let mut image = read_image(path, 0)
            .with_context(|| format!("cannot read the image {}", path.display()))?;
        if args.invert {
            image.pixels.iter_mut().for_each(|p| *p = 255 - *p);
        }
        if labels == Labels::Imagenet {
            pixels.extend(imagenet::preprocess(&image, side));
            continue;
        }
        // As the model's training images were converted: gray data sets' models see a
        // colour image made gray; CIFAR-10's and image folders' models see it as read.
        let gray_data =
            matches!(labels, Labels::FashionMnist | Labels::Mnist) && model.config.names.is_empty();
        let mode = model.config.resize_mode;
        pixels.extend(network_input(&image, side, mode, channels, gray_data));
    }
    let n = files.len();
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
    if top > classes {
        bad_input!("--top {top} asks for more classes than the model's {classes}");
    }
    let predictions: Vec<Prediction> = files
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let row = &probs[i * classes..(i + 1) * classes];
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let top = order
                .iter()
                .take(top)
                .map(|&c| Ranked {
                    class: names[c].clone(),
                    index: c,
                    probability: row[c],
                })
                .collect();
            Prediction {
                image: path.display().to_string(),
                top,
            }
        })
        .collect();
    if let Some(path) = &args.csv {
        crate::fsutil::write_atomic(path, &predictions_csv(&predictions))
            .map_err(|e| super::BadInput(format!("cannot write --csv {}: {e}", path.display())))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&predictions)?);
        return Ok(());
    }
    for prediction in &predictions {
        let top: Vec<String> = prediction
            .top
            .iter()
            .map(|r| format!("{} ({:.1}%)", r.class, 100.0 * r.probability))
            .collect();
        println!("{}: {}", prediction.image, top.join(", "));
    }
    Ok(())
}

/// One image's most likely classes, most likely first.
#[derive(Debug, serde::Serialize)]
struct Prediction {
    image: String,
    top: Vec<Ranked>,
}

#[derive(Debug, serde::Serialize)]
struct Ranked {
    class: String,
    index: usize,
    probability: f32,
}

/// `image,rank,class,index,probability`, a row per image and class shown.
fn predictions_csv(predictions: &[Prediction]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["image", "rank", "class", "index", "probability"])
        .expect("writing to memory cannot fail");
    for p in predictions {
        for (rank, r) in p.top.iter().enumerate() {
            let row = [
                p.image.clone(),
                (rank + 1).to_string(),
                r.class.clone(),
                r.index.to_string(),
                r.probability.to_string(),
            ];
            writer
                .write_record(&row)
                .expect("writing to memory cannot fail");
        }
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

//! `inception import`: a PyTorch state dict (`.pth`/`.pt` or `.safetensors`) into a checkpoint.

use std::path::PathBuf;

use clap::Args;

use super::summary::parse_input;
use super::{bad_input, NetworkArgs};
use crate::interop;
use crate::models::{Labels, ModelConfig};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// PyTorch weights: a state dict saved with `torch.save` (`.pth`, `.pt`) or a
    /// `.safetensors` file, with PyTorch's names (see `inception summary --state-dict`).
    #[arg(long = "from", value_name = "FILE")]
    pub from: PathBuf,
    /// The network the weights are for (`--model` from the zoo, or `--net FILE`).
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Input of one example as CxHxW [default: the model's, 3x224x224 for googlenet-torchvision].
    #[arg(long, value_name = "CxHxW", value_parser = parse_input)]
    pub input: Option<[usize; 3]>,
    /// Number of classes [default: read off the classifier in the file].
    #[arg(long)]
    pub classes: Option<usize>,
    /// What the classes are [default: imagenet for 1000 classes, fashion-mnist for 10].
    #[arg(long, value_enum)]
    pub labels: Option<Labels>,
    /// Feed the network its input as is: turn off torchvision's `transform_input`, which
    /// torchvision enables with its pretrained GoogLeNet (googlenet-torchvision only).
    #[arg(long)]
    pub no_transform_input: bool,
    /// Checkpoint to write (eval, predict and train --resume read it).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let device = burn::tensor::Device::flex();
    if args.network.model.is_none() && args.network.net.is_none() {
        bad_input!("give the network the weights are for: --model NAME or --net FILE");
    }
    let dict = interop::read_state_dict(&args.from)?;
    let mut config = args
        .network
        .config()?
        .with_transform_input(!args.no_transform_input);
    if let Some(input) = args.input {
        config = config.with_input(input);
    }
    let classes = match args.classes {
        Some(classes) => classes,
        None => classes_in(&config, &dict, &args.from, &device)?,
    };
    config = config
        .with_classes(classes)
        .with_labels(args.labels.unwrap_or(Labels::guess(classes)));
    let model = config.build(&device)?;
    let model = interop::load_state_dict(model, &dict, &args.from)?;
    crate::train::checkpoint::save(&model, &args.out)?;
    println!(
        "imported {} tensors ({} parameters) from {} into a {} model with {} classes ({} labels, input {}x{}x{}): {}",
        dict.tensors.len(),
        model.num_trainable(),
        args.from.display(),
        config.name,
        classes,
        config.labels.name(),
        config.input[0],
        config.input[1],
        config.input[2],
        args.out.display()
    );
    Ok(())
}

/// The class count of the classifier in `dict`: the length of the trunk's last tensor (the
/// final bias in every model of the zoo).
fn classes_in(
    config: &ModelConfig,
    dict: &interop::StateDict,
    path: &std::path::Path,
    device: &burn::tensor::Device,
) -> anyhow::Result<usize> {
    let probe = config.build(device)?;
    let names = interop::torch_names(&probe);
    let Some((name, _)) = names.last() else {
        bad_input!("{} has no weights", config.name);
    };
    match dict.tensors.get(name) {
        Some(t) if t.shape.len() == 1 && t.shape[0] > 0 => Ok(t.shape[0]),
        _ => bad_input!(
            "{} has no classifier bias `{name}` as a {} model would, so the number of classes is unknown: check --model, or give --classes",
            path.display(),
            config.name
        ),
    }
}

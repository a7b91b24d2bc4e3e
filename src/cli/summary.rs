//! `inception summary`.

use burn::tensor::{Distribution, Tensor};
use clap::Args;

use super::{bad_input, ComputeArgs, NetworkArgs};
use crate::models::{PoolMode, MAX_SIDE};
use crate::nn::format_shape;

#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Input of one example as CxHxW [default: the network's, 1x96x96 for googlenet].
    #[arg(long, value_name = "CxHxW", value_parser = parse_input)]
    pub input: Option<[usize; 3]>,
    /// Number of classes of the classifier [default: the network's, 10 in the zoo].
    #[arg(long)]
    pub classes: Option<usize>,
    /// How GoogLeNet-paper's max pools keep the border.
    #[arg(long, value_enum, default_value_t = PoolMode::Padding)]
    pub pool_mode: PoolMode,
    /// Also list layers nested this deep inside blocks (0: top level only, as the articles print).
    #[arg(long, default_value_t = 0)]
    pub depth: usize,
    /// Also print the structure of the model, as PyTorch's `print(net)` does.
    #[arg(long)]
    pub structure: bool,
    /// Also list every parameter with its name and shape (Gluon's `collect_params`).
    #[arg(long)]
    pub params: bool,
    /// Also list every tensor as PyTorch's `state_dict()` names it (what `import` expects and
    /// `export` writes).
    #[arg(long)]
    pub state_dict: bool,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

/// Parses `1x96x96` into `[1, 96, 96]`.
pub fn parse_input(text: &str) -> Result<[usize; 3], String> {
    let dims: Vec<usize> = text
        .split(['x', 'X'])
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{text}` is not CxHxW (for example 1x96x96)"))?;
    match dims.as_slice() {
        [c, h, w]
            if (1..=crate::models::MAX_CHANNELS).contains(c)
                && (1..=MAX_SIDE).contains(h)
                && (1..=MAX_SIDE).contains(w) =>
        {
            Ok([*c, *h, *w])
        }
        _ => Err(format!(
            "`{text}` is not CxHxW with 1..=64 channels and sides 1..={MAX_SIDE} (for example 1x96x96)"
        )),
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub fn run(args: SummaryArgs) -> anyhow::Result<()> {
    let device = args.compute.setup()?;
    let mut config = args.network.config()?.with_pool_mode(args.pool_mode);
    if let Some(input) = args.input {
        config = config.with_input(input);
    }
    if let Some(classes) = args.classes {
        if classes == 0 {
            bad_input!("--classes must be at least 1");
        }
        config = config.with_classes(classes);
    }
    let input = config.input;
    let model = config.build(&device)?;
    let [c, h, w] = input;
    let x = Tensor::<4>::random([1, c, h, w], Distribution::Default, &device);
    let (_, rows) = model.trace(x, args.depth);
    println!("{} on input {}", config.name, format_shape(1, &input));
    let width = rows
        .iter()
        .map(|r| r.path.len() + 2 * r.depth)
        .max()
        .unwrap_or(0);
    let shape_width = rows.iter().map(|r| r.shape.len() * 6).max().unwrap_or(0);
    for row in &rows {
        let name = format!("{}{}", "  ".repeat(row.depth), row.path);
        let shape: Vec<String> = row.shape.iter().map(ToString::to_string).collect();
        println!(
            "{name:<width$} Shape of the output : {:<shape_width$} params {:>11}  MFLOPs {:>9.1}   {}",
            format!("({})", shape.join(", ")),
            thousands(row.params),
            row.flops as f64 / 1e6,
            row.description,
        );
    }
    // Inference runs the trunk only; auxiliary classifiers are training-time extras.
    let inference_flops: u64 = rows
        .iter()
        .filter(|r| r.depth == 0 && !r.training_only)
        .map(|r| r.flops)
        .sum();
    if args.structure {
        println!("\n{}\n", model.structure());
    }
    if args.params {
        let params = model.named_params();
        let width = params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        println!();
        for p in &params {
            let shape: Vec<String> = p.shape.iter().map(ToString::to_string).collect();
            println!(
                "{:<width$}  {:<20} {:>11}",
                p.name,
                format!("({})", shape.join(", ")),
                thousands(p.count())
            );
        }
        println!();
    }
    if args.state_dict {
        let names = crate::interop::torch_names(&model);
        let width = names.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        println!();
        for (name, shape) in &names {
            println!("{name:<width$}  {shape:?}");
        }
        println!();
    }
    println!("total params: {}", thousands(model.num_trainable()));
    println!(
        "forward FLOPs per image: {:.3} G (inference, multiply-add = 2)",
        inference_flops as f64 / 1e9
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inputs() {
        assert_eq!(parse_input("1x96x96"), Ok([1, 96, 96]));
        assert!(parse_input("96x96").is_err());
        assert!(parse_input("1x0x96").is_err());
        assert!(parse_input("1x100000x96").is_err());
        assert_eq!(thousands(5_977_530), "5,977,530");
        assert_eq!(thousands(999), "999");
    }
}

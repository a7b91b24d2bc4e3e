//! `inception net`: network files.

use clap::Subcommand;

use crate::models::ModelKind;
use crate::nn::Registry;

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// Print a zoo model's network file (a starting point for your own: save it, edit it,
    /// give it to `summary --net` and `train --net`).
    Show {
        /// The zoo model.
        #[arg(value_enum)]
        model: ModelKind,
    },
    /// List the layer types a network file can use.
    Layers,
}

pub fn run(command: NetCommand) -> anyhow::Result<()> {
    match command {
        NetCommand::Show { model } => print!("{}", model.network_file()),
        NetCommand::Layers => {
            let registry = Registry::builtin();
            for name in registry.names() {
                let nested = if registry.is_block(name) {
                    " (holds `layers = [...]`)"
                } else {
                    ""
                };
                println!("{name}{nested}");
            }
        }
    }
    Ok(())
}

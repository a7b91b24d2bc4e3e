//! A network written by hand, trained with the library's loop: progress, the per-epoch line,
//! checkpoints, history and figures come with it.
//!
//! ```sh
//! cargo run --release --example train_your_own
//! ```

use burn::nn::{conv::*, pool::*, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use inception::{data::*, models::ModelConfig, nn::*, train::*};

/// Two convolutions and a linear layer, with burn's own layers.
#[derive(Module, Debug)]
struct TinyNet {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc: Linear,
}

impl Classifier for TinyNet {
    fn logits(&self, x: Tensor<4>, _ctx: &mut Forward) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(x)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        self.fc.forward(x.flatten(1, 3))
    }
}

fn tiny_net(device: &Device) -> TinyNet {
    TinyNet {
        conv1: Conv2dConfig::new([1, 16], [3, 3]).init(device),
        conv2: Conv2dConfig::new([16, 32], [3, 3]).init(device),
        pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        fc: LinearConfig::new(32 * 5 * 5, 10).init(device),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::flex();
    let dir = locate(None, true)?;
    let data = FashionMnist::load(&dir, Split::Train)?;
    let test = FashionMnist::load(&dir, Split::Test)?;
    // What checkpoints record of it: a name, its input and classes.
    let mut config = TrainConfig::new(ModelConfig::rust_network("tiny-net", [1, 28, 28], 10));
    (config.epochs, config.batch_size, config.limit_train) = (2, 64, Some(12_800));
    config.out_dir = Some("runs/tiny-net".into()); // model.ckpt, metrics.csv, figures
    let net = tiny_net(&device);
    let run = train(net, &config, &data, &test, &device, &mut Silent)?;
    println!("{}\n{}", run.epochs[0].line(), run.epochs[1].line());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_network_learns_fashion_mnist() {
        let device = Device::flex();
        device.seed(3);
        let net = tiny_net(&device);
        let dir = locate(None, true).unwrap();
        let train_set = FashionMnist::load(&dir, Split::Train).unwrap();
        let test_set = FashionMnist::load(&dir, Split::Test).unwrap();
        let mut config = TrainConfig::new(ModelConfig::rust_network("tiny-net", [1, 28, 28], 10));
        (config.epochs, config.batch_size, config.limit_train) = (2, 64, Some(1_280));
        config.limit_test = Some(500);
        let outcome = train(net, &config, &train_set, &test_set, &device, &mut Silent).unwrap();
        let [first, second] = [&outcome.epochs[0], &outcome.epochs[1]];
        assert!(
            second.loss < first.loss,
            "{} then {}",
            first.line(),
            second.line()
        );
        // Chance is 0.1.
        assert!(second.test_acc > 0.5, "{}", second.line());
    }
}

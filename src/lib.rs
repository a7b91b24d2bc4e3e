//! `inception`: the classic convolutional networks of the "modern CNN" era on burn, with
//! GoogLeNet (Inception v1) first.
//!
//! - [`data`]: Fashion-MNIST IDX files, finding or downloading them, transforms and loaders.
//! - [`flex`]: fast paths for the flex CPU backend (a fused convolution with its own backward).
//! - [`nn`]: layers and blocks, the run-time [`nn::Sequential`], initializers, shape tracing.
//! - [`models`]: the architectures, each a layer tree with its seed's training recipe.
//! - [`train`]: the `train_ch5` loop, evaluation and checkpoints.
//! - [`interop`]: PyTorch state dicts (`.pth`, safetensors) by PyTorch's names; ImageNet labels.
//! - [`cli`]: the `inception` command line, a thin layer over the above.
//!
//! ```no_run
//! use inception::models::{ModelConfig, ModelKind};
//! use burn::tensor::{Device, Tensor, Distribution};
//!
//! let device = Device::flex();
//! let model = ModelConfig::new(ModelKind::Googlenet).init(&device).unwrap();
//! let x = Tensor::<4>::random([1, 1, 96, 96], Distribution::Default, &device);
//! let (logits, layers) = model.trace(x, 0);
//! for row in &layers {
//!     println!("{} Shape of the output : {:?}", row.path, row.shape);
//! }
//! assert_eq!(logits.dims(), [1, 10]);
//! ```

pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod flex;
pub mod fsutil;
pub mod interop;
pub mod models;
pub mod nn;
pub mod plot;
pub mod progress;
pub mod train;

//! `inception`: the classic convolutional networks of the "modern CNN" era on burn, with
//! GoogLeNet (Inception v1) first.
//!
//! - [`data`]: the dataset trait, Fashion-MNIST's IDX files (found or downloaded), transforms
//!   and loaders.
//! - [`flex`]: fast paths for the flex CPU backend (a fused convolution with its own backward).
//! - [`nn`]: the layer contract ([`nn::Layer`], [`nn::LayerConfig`]), one file per layer, the
//!   run-time [`nn::Sequential`] holding built-in and user layers alike, the network contract
//!   [`nn::Classifier`], initializers, shape tracing.
//! - [`models`]: the zoo as network files (TOML) with their articles' recipes; [`models::ModelConfig`]
//!   and [`models::Model`] for any network file.
//! - [`train`]: the `train_ch5` loop over any network and dataset, evaluation and checkpoints.
//! - [`distributed`]: data-parallel training across processes (sums across ranks; MPI with
//!   the `mpi` feature).
//! - [`history`]: what a run measures (epoch reports, step losses, evaluations), shared by
//!   the loop and the figures.
//! - [`interop`]: PyTorch state dicts (`.pth`, safetensors) by PyTorch's names; ImageNet labels.
//! - [`onnx`]: inference graphs as ONNX files (`Layer::to_onnx`, `Model::export_onnx`).
//! - [`cli`]: the `inception` command line, a thin layer over the above.
//!
//! ```no_run
//! use inception::models::{ModelConfig, ModelKind};
//! use inception::nn::Classifier;
//! use burn::tensor::{Device, Tensor, Distribution};
//!
//! let device = Device::flex();
//! let model = ModelConfig::new(ModelKind::Googlenet).build(&device).unwrap();
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
pub mod distributed;
pub mod flex;
pub mod fsutil;
pub mod history;
pub mod interop;
pub mod models;
pub mod nn;
pub mod onnx;
pub mod plot;
pub mod progress;
pub mod train;

//! Layers and blocks: the layer contract ([`Layer`] and [`LayerConfig`]), one file per layer,
//! the run-time [`Sequential`] that holds any of them (the user's own included), the
//! [`Classifier`] contract of whole networks, initializers, parameter names, and the forward
//! context that traces shapes. Everything here runs on burn's own tensor ops (the convolution
//! and max pool take this crate's fast path on the flex CPU backend), so it works on every
//! backend.

mod any_layer;
mod classifier;
mod features;
mod forward;
mod layer;
mod registry;
mod sequential;

pub mod init;
pub mod params;

pub use any_layer::{AnyConfig, AnyLayer, Prebuilt, Shared, MAX_RANK};
pub use classifier::{Classifier, TrainOutput};
pub use features::{
    expect_maps, format_shape, window_maps, window_output, Features, Shape, Window, WindowSettings,
};
pub use forward::{Forward, TraceRow};
pub use init::{reinitialize, Init, ParamInit, ParamRole};
pub use layer::{Build, DynTorchNames, Layer, LayerConfig, Layout, ShapeError, Size, TorchName};
pub use params::{all_finite, count_params, join, named_params, split_path, NamedParam};
pub use registry::{BlockConfig, NoSettings, Registry};
pub use sequential::{Sequential, SequentialSpec};

/// Every built-in layer: the file that defines it and the name network files give it. A new
/// built-in layer is its own file plus one line here (which declares the file's module,
/// re-exports its public items and registers the name).
macro_rules! builtin_layers {
    ($($file:ident => $register:ident::<$config:ty>($name:literal)),* $(,)?) => {
        $(mod $file; pub use $file::*;)*

        impl Registry {
            /// Every built-in layer, under its network-file name.
            pub fn builtin() -> Self {
                let mut registry = Self::empty();
                $(registry.$register::<$config>($name);)*
                registry.add_block::<SequentialSpec>("sequential");
                registry
            }
        }
    };
}

builtin_layers! {
    adaptive_avg_pool => add::<AdaptiveAvgPool>("adaptive_avg_pool"),
    aux_classifier => add_block::<AuxClassifierConfig>("aux_classifier"),
    avg_pool => add::<AvgPool>("avg_pool"),
    batch_norm => add::<BatchNormConfig>("batch_norm"),
    conv => add::<ConvConfig>("conv"),
    dense => add::<DenseConfig>("dense"),
    dropout => add::<DropoutConfig>("dropout"),
    flatten => add::<Flatten>("flatten"),
    global_avg_pool => add::<GlobalAvgPool>("global_avg_pool"),
    identity => add::<Identity>("identity"),
    inception => add::<InceptionConfig>("inception"),
    max_pool => add::<MaxPool>("max_pool"),
    relu => add::<Relu>("relu"),
    sigmoid => add::<Sigmoid>("sigmoid"),
    transform_input => add::<TransformInput>("transform_input"),
}

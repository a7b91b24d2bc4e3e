//! Layers and blocks, the run-time `Sequential`, deferred input sizes, initializers and shape
//! tracing. Everything here runs on burn's own tensor ops, so it works on every backend.

pub mod features;
pub mod inception;
pub mod init;
pub mod layers;
pub mod params;
pub mod sequential;
pub mod trace;

pub use features::{format_shape, Features, Shape};
pub use inception::{Inception, InceptionSpec};
pub use init::{reinitialize, Init, MyInit, ParamInit, ParamRole};
pub use layers::{
    AdaptiveAvgPool, Conv, ConvSpec, ConvStyle, Dense, DenseSpec, Pool, PoolKind, TransformInput,
    BN_EPS,
};
pub use params::{all_finite, count_params, named_params, tie_shared, NamedParam};
pub use sequential::{Layer, LayerSpec, Sequential, SequentialSpec};
pub use trace::{TraceRow, Tracer};

/// A network cannot be built for the requested input: names the layer and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("layer `{layer}` ({description}) cannot take an input of shape {input:?}: {reason}")]
pub struct ShapeError {
    pub layer: String,
    pub description: String,
    pub input: Shape,
    pub reason: String,
}

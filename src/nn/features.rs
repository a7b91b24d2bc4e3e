//! What flows between layers: feature maps `[N, C, H, W]` or flat vectors `[N, F]`.

use burn::tensor::Tensor;

/// The value passed from layer to layer. Convolutions and pooling work on maps; dense layers
/// flatten whatever they get (as Gluon's `Dense` does) and produce vectors.
#[derive(Debug, Clone)]
pub enum Features {
    Maps(Tensor<4>),
    Flat(Tensor<2>),
}

impl Features {
    /// The full shape, batch first.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Features::Maps(t) => t.dims().to_vec(),
            Features::Flat(t) => t.dims().to_vec(),
        }
    }

    /// As feature maps; a flat `[N, F]` becomes `[N, F, 1, 1]`.
    pub fn into_maps(self) -> Tensor<4> {
        match self {
            Features::Maps(t) => t,
            Features::Flat(t) => {
                let [n, f] = t.dims();
                t.reshape([n, f, 1, 1])
            }
        }
    }

    /// As vectors `[N, C*H*W]`.
    pub fn into_flat(self) -> Tensor<2> {
        match self {
            Features::Maps(t) => t.flatten(1, 3),
            Features::Flat(t) => t,
        }
    }

    /// Applies an element-wise function whatever the rank.
    pub fn map(
        self,
        f4: impl FnOnce(Tensor<4>) -> Tensor<4>,
        f2: impl FnOnce(Tensor<2>) -> Tensor<2>,
    ) -> Self {
        match self {
            Features::Maps(t) => Features::Maps(f4(t)),
            Features::Flat(t) => Features::Flat(f2(t)),
        }
    }
}

/// Shape of one example (no batch dimension): `[C, H, W]` or `[F]`.
pub type Shape = Vec<usize>;

/// Formats a shape with the batch in front, as the seeds print it: `(1, 64, 24, 24)`.
pub fn format_shape(batch: usize, shape: &[usize]) -> String {
    let dims: Vec<String> = std::iter::once(batch)
        .chain(shape.iter().copied())
        .map(|d| d.to_string())
        .collect();
    format!("({})", dims.join(", "))
}

//! The one formula for a sliding window's output length, shared by the layers' shape rules
//! (`nn`) and the kernels' geometries (here), so they cannot disagree.

/// Output length of a sliding window (convolution or pooling) along one axis, with PyTorch's
/// rules: floor by default; in ceil mode the last window must start inside the input or the left
/// padding. `None` if the window does not fit.
pub fn window_output(
    len: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    ceil: bool,
) -> Option<usize> {
    // Saturating: absurd paddings give absurd sizes, which the caller refuses, not overflows.
    let span = len.saturating_add(pad.saturating_mul(2));
    if span < kernel || stride == 0 || kernel == 0 {
        return None;
    }
    let room = span - kernel;
    let mut out = if ceil {
        room.div_ceil(stride) + 1
    } else {
        room / stride + 1
    };
    if ceil && (out - 1).saturating_mul(stride) >= len.saturating_add(pad) {
        out -= 1;
    }
    Some(out)
}

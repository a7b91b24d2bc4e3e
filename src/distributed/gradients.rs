//! One step's gradients averaged over the ranks, in a few large all-reduces.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use super::Collective;

/// The most bytes summed in one all-reduce: PyTorch DDP's default bucket (`bucket_cap_mb=25`).
/// One call per tensor would pay the network's latency a hundred times a step (GoogLeNet has
/// 116 parameter tensors); one call for everything would need a second copy of all gradients
/// inside MPI at once.
pub const BUCKET_BYTES: usize = 25 << 20;

/// `grads` (this rank's gradients of `module`) replaced by their mean over all ranks: the
/// gradients of every tensor, in `module`'s order, copied into one buffer, summed across ranks
/// in buckets of [`BUCKET_BYTES`], divided by the number of ranks and put back. With one rank
/// `grads` comes back untouched.
pub fn average_gradients<M: Module>(
    module: &M,
    grads: GradientsParams,
    world: &dyn Collective,
) -> GradientsParams {
    if world.size() == 1 {
        return grads;
    }
    let mut gather = Gather {
        grads,
        values: Vec::new(),
        parts: Vec::new(),
    };
    module.visit(&mut gather);
    let Gather {
        mut grads,
        mut values,
        parts,
    } = gather;
    for bucket in values.chunks_mut(BUCKET_BYTES / size_of::<f32>()) {
        world.sum_f32(bucket);
    }
    let scale = 1.0 / world.size() as f32;
    values.iter_mut().for_each(|v| *v *= scale);
    let mut scatter = Scatter {
        grads: &mut grads,
        values: &values,
        parts: parts.iter().peekable(),
        offset: 0,
    };
    module.visit(&mut scatter);
    grads
}

/// Where one tensor's gradient sits in the buffer.
struct Part {
    id: ParamId,
    shape: Vec<usize>,
    device: Device,
}

/// Takes the gradients out of `grads` into one buffer, in the module's order.
struct Gather {
    grads: GradientsParams,
    values: Vec<f32>,
    parts: Vec<Part>,
}

impl ModuleVisitor for Gather {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Frozen tensors have none; a tensor shared by two layers is taken once.
        let Some(grad) = self.grads.remove::<D>(param.id) else {
            return;
        };
        self.parts.push(Part {
            id: param.id,
            shape: grad.dims().to_vec(),
            device: grad.device(),
        });
        let data = grad.into_data().convert::<f32>();
        self.values
            .extend_from_slice(data.as_slice::<f32>().expect("float32 after conversion"));
    }
}

/// Puts the summed gradients back, in the same order.
struct Scatter<'a, I: Iterator<Item = &'a Part>> {
    grads: &'a mut GradientsParams,
    values: &'a [f32],
    parts: std::iter::Peekable<I>,
    offset: usize,
}

impl<'a, I: Iterator<Item = &'a Part>> ModuleVisitor for Scatter<'a, I> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(part) = self.parts.next_if(|part| part.id == param.id) else {
            return;
        };
        let len: usize = part.shape.iter().product();
        let values = self.values[self.offset..self.offset + len].to_vec();
        self.offset += len;
        let data = TensorData::new(values, part.shape.clone());
        self.grads
            .register::<D>(part.id, Tensor::from_data(data, &part.device));
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::average_gradients;
    use crate::distributed::Collective;

    /// Rank 0 of two, whose partner's buffers are known in advance: each sum adds the
    /// partner's next bucket.
    struct Pair {
        partner: RefCell<Vec<Vec<f32>>>,
    }

    impl Collective for Pair {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            2
        }
        fn sum_f32(&self, values: &mut [f32]) {
            let bucket = self.partner.borrow_mut().remove(0);
            values.iter_mut().zip(bucket).for_each(|(v, p)| *v += p);
        }
        fn sum_f64(&self, _: &mut [f64]) {}
        fn describe(&self) -> String {
            "a test pair".into()
        }
    }

    /// Rank 1 of two whose partner sends zeros: records what it sent.
    #[derive(Default)]
    struct Recorder {
        sent: RefCell<Vec<Vec<f32>>>,
    }

    impl Collective for Recorder {
        fn rank(&self) -> usize {
            1
        }
        fn size(&self) -> usize {
            2
        }
        fn sum_f32(&self, values: &mut [f32]) {
            self.sent.borrow_mut().push(values.to_vec());
        }
        fn sum_f64(&self, _: &mut [f64]) {}
        fn describe(&self) -> String {
            "a recorder".into()
        }
    }

    fn grads(layer: &Linear, x: Tensor<2>) -> GradientsParams {
        let loss = layer.forward(x).powi_scalar(2).mean();
        GradientsParams::from_grads(loss.backward(), layer)
    }

    #[test]
    fn the_average_of_two_halves_is_the_gradient_of_the_whole_batch() {
        let device = Device::flex().autodiff();
        device.seed(1);
        let layer = LinearConfig::new(6, 3).init(&device);
        let x = Tensor::<2>::random([8, 6], Distribution::Default, &device);
        let (first, second) = (x.clone().narrow(0, 0, 4), x.clone().narrow(0, 4, 4));
        let recorder = Recorder::default();
        average_gradients(&layer, grads(&layer, second), &recorder);
        let sent = recorder.sent.into_inner();
        assert_eq!(sent.len(), 1, "one bucket for 21 numbers");
        assert_eq!(sent[0].len(), 6 * 3 + 3);
        let pair = Pair {
            partner: RefCell::new(sent),
        };
        let averaged = average_gradients(&layer, grads(&layer, first), &pair);
        let whole = grads(&layer, x);
        let weight = |g: &GradientsParams| {
            g.get::<2>(layer.weight.id)
                .unwrap()
                .into_data()
                .try_into_vec::<f32>()
                .unwrap()
        };
        let bias = |g: &GradientsParams| {
            g.get::<1>(layer.bias.as_ref().unwrap().id)
                .unwrap()
                .into_data()
                .try_into_vec::<f32>()
                .unwrap()
        };
        for (a, b) in weight(&averaged)
            .iter()
            .chain(&bias(&averaged))
            .zip(weight(&whole).iter().chain(&bias(&whole)))
        {
            assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
        assert_eq!(averaged.len(), 2);
    }
}

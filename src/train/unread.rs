//! The loss and accuracy of training steps not yet read back from the device.
//!
//! Reading a value off a GPU waits for every kernel queued before it: a loop that read each
//! step's loss would leave the device idle while the host prepares the next step. The steps'
//! losses and counts of right answers stay where they were computed and are read together
//! every few steps (`TrainConfig::read_every`) and whenever the log, a checkpoint or the end of
//! the epoch needs them. On burn's flex CPU backend, which computes each operation when it is
//! called, reading costs nothing and happens every step.

use burn::tensor::{Int, Tensor};

/// Steps whose statistics are still on the device, oldest first.
#[derive(Debug, Default)]
pub struct UnreadSteps {
    /// Each step's mean loss (`[1]`), detached from the graph.
    losses: Vec<Tensor<1>>,
    /// Each step's number of right answers (`[1]`).
    correct: Vec<Tensor<1, Int>>,
    /// Each step's batch size.
    images: Vec<usize>,
}

/// The statistics of the steps read at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadSteps {
    /// Each step's mean loss, oldest first.
    pub losses: Vec<f64>,
    /// Each step's batch size.
    pub images: Vec<usize>,
    /// Right answers over all the steps.
    pub correct: usize,
}

impl ReadSteps {
    /// The sum of the per-example losses (each step's mean times its batch size).
    pub fn loss_sum(&self) -> f64 {
        self.losses
            .iter()
            .zip(&self.images)
            .map(|(loss, &n)| loss * n as f64)
            .sum()
    }

    /// The first step (0-based among these) whose loss is not a finite number, with that loss.
    pub fn first_non_finite(&self) -> Option<(usize, f64)> {
        self.losses
            .iter()
            .position(|l| !l.is_finite())
            .map(|k| (k, self.losses[k]))
    }
}

impl UnreadSteps {
    /// Adds one step: its logits, the right classes and its mean loss. Nothing is read.
    pub fn push(&mut self, logits: Tensor<2>, targets: Tensor<1, Int>, loss: Tensor<1>) {
        let n = targets.dims()[0];
        let predicted = logits.detach().argmax(1).flatten::<1>(0, 1);
        self.correct.push(predicted.equal(targets).int().sum());
        self.losses.push(loss.detach());
        self.images.push(n);
    }

    /// Steps not read yet.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Reads every unread step from the device (one wait for the device, two small copies) and
    /// forgets them.
    pub fn read(&mut self) -> Result<ReadSteps, String> {
        let images = std::mem::take(&mut self.images);
        let (losses, correct) = (
            std::mem::take(&mut self.losses),
            std::mem::take(&mut self.correct),
        );
        if images.is_empty() {
            return Ok(ReadSteps {
                losses: Vec::new(),
                images,
                correct: 0,
            });
        }
        let losses = Tensor::cat(losses, 0)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| format!("reading the training loss failed: {e:?}"))?;
        let correct: i64 = Tensor::cat(correct, 0)
            .sum()
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|e| format!("reading the training accuracy failed: {e:?}"))?
            .iter()
            .sum();
        Ok(ReadSteps {
            losses: losses.into_iter().map(f64::from).collect(),
            images,
            correct: correct as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor, TensorData};

    use super::UnreadSteps;

    #[test]
    fn steps_are_read_together_as_they_were_computed() {
        let device = Device::flex();
        let mut unread = UnreadSteps::default();
        let logits = |rows: Vec<f32>, n: usize| {
            Tensor::<2>::from_data(TensorData::new(rows, [n, 2]), &device)
        };
        let targets = |t: Vec<i64>| {
            Tensor::<1, Int>::from_data(TensorData::new(t.clone(), [t.len()]), &device)
        };
        let loss = |l: f32| Tensor::<1>::from_data(TensorData::new(vec![l], [1]), &device);
        // Step 1: 2 of 3 right; step 2: 1 of 1 right.
        unread.push(
            logits(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], 3),
            targets(vec![0, 1, 1]),
            loss(0.5),
        );
        unread.push(logits(vec![0.0, 2.0], 1), targets(vec![1]), loss(0.25));
        assert_eq!(unread.len(), 2);
        let read = unread.read().unwrap();
        assert!(unread.is_empty());
        assert_eq!(read.losses, [0.5, 0.25]);
        assert_eq!(read.images, [3, 1]);
        assert_eq!(read.correct, 3);
        assert_eq!(read.loss_sum(), 1.75);
        assert_eq!(read.first_non_finite(), None);
        unread.push(logits(vec![0.0, 2.0], 1), targets(vec![1]), loss(f32::NAN));
        let (k, l) = unread.read().unwrap().first_non_finite().unwrap();
        assert_eq!(k, 0);
        assert!(l.is_nan());
        assert_eq!(unread.read().unwrap().images, Vec::<usize>::new());
    }
}

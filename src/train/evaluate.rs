//! Test loss and accuracy of a model on a data loader (d2l's `evaluate_accuracy`).

use burn::data::dataloader::DataLoader;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::ImageBatch;
use crate::models::Model;

/// Loss and accuracy over a whole split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean cross-entropy per example.
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
}

/// Number of correct predictions in a batch, and the batch's mean loss.
pub fn batch_stats(logits: &Tensor<2>, targets: &Tensor<1, Int>, loss: &Tensor<1>) -> (usize, f64) {
    let predicted = logits.clone().argmax(1).flatten::<1>(0, 1);
    let correct = predicted
        .equal(targets.clone())
        .int()
        .sum()
        .into_scalar::<i64>();
    (correct as usize, loss.clone().into_scalar::<f32>() as f64)
}

/// Evaluates `model` (in inference mode) on every batch of `loader`.
pub fn evaluate(model: &Model, loader: &dyn DataLoader<ImageBatch>) -> Result<EvalReport, String> {
    evaluate_with(model, loader, &mut |_| {})
}

/// As [`evaluate`], calling `progress` with the size of each batch done.
pub fn evaluate_with(
    model: &Model,
    loader: &dyn DataLoader<ImageBatch>,
    progress: &mut dyn FnMut(usize),
) -> Result<EvalReport, String> {
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    let mut loss_fn = None;
    for batch in loader.iter() {
        let batch = batch.map_err(|e| format!("reading a test batch failed: {e}"))?;
        let n = batch.targets.dims()[0];
        let device = batch.images.device();
        let loss_fn = loss_fn.get_or_insert_with(|| CrossEntropyLossConfig::new().init(&device));
        let logits = model.forward(batch.images);
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
        let (batch_correct, batch_loss) = batch_stats(&logits, &batch.targets, &loss);
        loss_sum += batch_loss * n as f64;
        correct += batch_correct;
        seen += n;
        progress(n);
    }
    let denom = seen.max(1) as f64;
    Ok(EvalReport {
        loss: loss_sum / denom,
        accuracy: correct as f64 / denom,
        images: seen,
    })
}

//! A run's history as files beside its checkpoints, as Keras' `History` and d2l's animator keep
//! it: `metrics.csv` (one row per epoch), `steps.csv` (the running loss every N steps) and
//! `metrics.jsonl` (both, one JSON object per line, in step order).
//!
//! The files are written from the [`Progress`] saved in the checkpoint, whole and atomically,
//! each time a checkpoint is: after a resume they read exactly as if the run never stopped.

use std::path::Path;

use serde::Serialize;

use super::state::{EpochReport, Progress, StepLoss};

/// One line of `metrics.jsonl`.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record<'a> {
    Epoch(&'a EpochReport),
    Step(&'a StepLoss),
}

fn csv_bytes<T: Serialize>(rows: &[T]) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(std::io::Error::other)?;
    }
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Writes `metrics.csv`, `steps.csv` and `metrics.jsonl` for `progress` into `dir`.
pub fn write(dir: &Path, progress: &Progress) -> std::io::Result<()> {
    let mut epochs = progress.history.iter().peekable();
    let mut lines = Vec::new();
    // Interleave by step: an epoch's report comes after its last step record.
    for step in &progress.steps {
        while let Some(report) = epochs.next_if(|r| r.epoch < step.epoch) {
            lines.push(serde_json::to_string(&Record::Epoch(report))?);
        }
        lines.push(serde_json::to_string(&Record::Step(step))?);
    }
    for report in epochs {
        lines.push(serde_json::to_string(&Record::Epoch(report))?);
    }
    let mut jsonl = lines.join("\n");
    if !jsonl.is_empty() {
        jsonl.push('\n');
    }
    crate::fsutil::write_atomic(&dir.join("metrics.csv"), &csv_bytes(&progress.history)?)?;
    crate::fsutil::write_atomic(&dir.join("steps.csv"), &csv_bytes(&progress.steps)?)?;
    crate::fsutil::write_atomic(&dir.join("metrics.jsonl"), jsonl.as_bytes())
}

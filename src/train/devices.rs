//! One process training one network on several devices of its machine (`--device
//! cuda:0,cuda:1`): a thread per device, each a rank of a [`DeviceGroup`] that runs the
//! ordinary training loop on its share of every batch, as the ranks `mpirun` starts do
//! ([`crate::distributed`]). On CUDA devices the gradients are averaged by burn's collectives
//! (NCCL) during the backward pass; on other backends on the host, between the threads.
//!
//! The thread of the first device is the calling thread: it alone speaks to the observer and
//! writes the run directory.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;

use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use burn::tensor::Device;

use super::error::TrainError;
use super::fit::{resume_across, train_model_across};
use super::state::{Silent, TrainConfig, TrainObserver, TrainOutcome};
use crate::data::ImageDataset;
use crate::distributed::{DeviceGroup, GroupMember, PeerStopped};
use crate::models::Model;

/// As [`super::train_model`], on every device of `devices` at once: `config.batch_size` is the
/// global batch, split evenly between the devices.
pub fn train_model_on_devices<D: ImageDataset>(
    config: &TrainConfig,
    train_set: &D,
    test_set: &D,
    devices: &[Device],
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<Model>, TrainError> {
    on_devices(devices, observer, |device, observer, world| {
        train_model_across(config, train_set, test_set, device, observer, world)
    })
}

/// As [`super::resume`], on every device of `devices` at once (any number of them, whatever the
/// run was trained on).
pub fn resume_on_devices<D: ImageDataset>(
    run_dir: &Path,
    train_set: &D,
    test_set: &D,
    devices: &[Device],
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<Model>, TrainError> {
    on_devices(devices, observer, |device, observer, world| {
        resume_across(run_dir, train_set, test_set, device, observer, world)
    })
}

/// How one device's thread ended.
enum Ended<T> {
    Done(T),
    Failed(TrainError),
    /// Another rank failed first.
    Stopped,
    Panicked(Box<dyn Any + Send>),
}

/// Runs `train` on every device, each in its own thread as a rank of one group, and gives the
/// first device's outcome, or the error of the rank that failed first.
fn on_devices<T>(
    devices: &[Device],
    observer: &mut dyn TrainObserver,
    train: impl Fn(&Device, &mut dyn TrainObserver, &GroupMember) -> Result<T, TrainError> + Sync,
) -> Result<T, TrainError> {
    if devices.is_empty() {
        return Err(TrainError::Invalid(
            "no device to train on: name at least one".to_string(),
        ));
    }
    let collectives = DeviceGroup::averages_on_device(devices);
    // Kept alive for the whole run: its drop closes the collectives' server.
    let _collectives = collectives.then(|| {
        DistributedContext::init(
            devices.to_vec(),
            DistributedConfig {
                all_reduce_op: ReduceOperation::Mean,
            },
        )
    });
    let ranks = DeviceGroup::ranks(devices.len(), collectives);
    let (first, others) = std::thread::scope(|scope| {
        let train = &train;
        let others: Vec<_> = ranks
            .iter()
            .zip(devices)
            .skip(1)
            .map(|(rank, device)| {
                scope.spawn(move || {
                    // The other ranks train in silence, and give back nothing but how they
                    // ended.
                    match as_rank(rank, || train(device, &mut Silent, rank)) {
                        Ended::Done(_) => Ended::Done(()),
                        Ended::Failed(e) => Ended::Failed(e),
                        Ended::Stopped => Ended::Stopped,
                        Ended::Panicked(p) => Ended::Panicked(p),
                    }
                })
            })
            .collect();
        let first = as_rank(&ranks[0], || train(&devices[0], observer, &ranks[0]));
        let others: Vec<Ended<()>> = others
            .into_iter()
            .map(|thread| thread.join().unwrap_or_else(Ended::Panicked))
            .collect();
        (first, others)
    });
    let mut failure = None;
    for ended in others {
        match ended {
            Ended::Panicked(payload) => resume_unwind(payload),
            Ended::Failed(error) => failure = failure.or(Some(error)),
            Ended::Done(()) | Ended::Stopped => {}
        }
    }
    match first {
        Ended::Done(outcome) => Ok(outcome),
        Ended::Failed(error) => Err(error),
        Ended::Panicked(payload) => resume_unwind(payload),
        Ended::Stopped => Err(failure.unwrap_or_else(|| {
            TrainError::Invalid("a device's training thread stopped without saying why".into())
        })),
    }
}

/// `work` as `rank`: if it fails, the group is abandoned, so that the other ranks stop at their
/// next exchange instead of waiting for this one forever.
fn as_rank<T>(rank: &GroupMember, work: impl FnOnce() -> Result<T, TrainError>) -> Ended<T> {
    let ended = catch_unwind(AssertUnwindSafe(work));
    // This thread's dropout masks go back to the device's generator (the first device's
    // thread is the caller's, which may train again as one process).
    crate::nn::seed_thread_masks(None);
    match ended {
        Ok(Ok(outcome)) => Ended::Done(outcome),
        Ok(Err(error)) => {
            rank.abandon();
            Ended::Failed(error)
        }
        Err(payload) if payload.is::<PeerStopped>() => Ended::Stopped,
        Err(payload) => {
            rank.abandon();
            Ended::Panicked(payload)
        }
    }
}

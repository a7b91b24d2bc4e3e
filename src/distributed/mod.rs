//! Data-parallel training across processes and devices: the [`Collective`] operations the training loop
//! needs (sums across ranks), one process's [`Solo`] version of them, the averaging of a
//! step's gradients in large buckets ([`average_gradients`]), and with the cargo feature `mpi`
//! the same operations on MPI (`mpi_world`, through rsmpi and the system's Open MPI), and
//! between the threads of one process that drive several devices ([`DeviceGroup`]).
//!
//! Every rank builds the same network from the same seed (or checkpoint), reads its own shard
//! of each epoch ([`crate::data::Shard`]), computes the gradients of its local batch's mean
//! loss, and adds them to the other ranks' with one all-reduce per step: the average is the
//! gradient of the global batch's mean loss, so every rank takes the same optimizer step and
//! the weights stay identical without ever being sent.

pub mod device_group;
pub mod gradients;
#[cfg(feature = "mpi")]
pub mod mpi_world;

pub use device_group::{with_gradients_averaged_on_device, DeviceGroup, GroupMember, PeerStopped};
pub use gradients::{average_gradients, BUCKET_BYTES};
#[cfg(feature = "mpi")]
pub use mpi_world::MpiWorld;

use crate::data::Shard;
use crate::flex::RankSum;

/// The collective operations of a group of ranks that train one model together.
///
/// Every rank must call the same operations in the same order with buffers of the same
/// lengths (MPI's rule): the training loop does, since each step, read and epoch happens on
/// every rank.
pub trait Collective {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;
    /// How many ranks train together.
    fn size(&self) -> usize;
    /// Replaces `values` on every rank with their elementwise sum over all ranks.
    fn sum_f32(&self, values: &mut [f32]);
    /// Replaces `values` on every rank with their elementwise sum over all ranks.
    fn sum_f64(&self, values: &mut [f64]);
    /// Says what the ranks run on, for the start of a run ("MPI (Open MPI v4.1.4), 2 ranks").
    fn describe(&self) -> String;

    /// [`sum_f64`](Self::sum_f64) as a function that owns what it needs, for batch norm with
    /// statistics synchronized across ranks (`crate::flex::sync_batch_norm`), which calls it
    /// during autodiff's backward pass; `None` where this group cannot give one.
    fn shared_sum_f64(&self) -> Option<RankSum> {
        None
    }

    /// Whether the backward pass already gives the gradients averaged over the ranks (burn's
    /// collectives on CUDA devices, [`DeviceGroup`]); else the loop averages them on the host
    /// ([`average_gradients`]).
    fn averages_on_device(&self) -> bool {
        false
    }

    /// Whether the ranks are threads of this process (one per device), which share the CPU
    /// device's random generator: each then draws its dropout masks from its own.
    fn shares_this_process(&self) -> bool {
        false
    }

    /// Rank 0 alone writes checkpoints, logs and figures.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// This rank's share of each epoch.
    fn shard(&self) -> Shard {
        Shard {
            rank: self.rank(),
            ranks: self.size(),
            padded: true,
        }
    }

    /// Whether `flag` holds on any rank.
    fn any(&self, flag: bool) -> bool {
        if self.size() == 1 {
            return flag;
        }
        let mut value = [f64::from(u8::from(flag))];
        self.sum_f64(&mut value);
        value[0] > 0.0
    }
}

/// A single process: every operation is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&self, _: &mut [f32]) {}
    fn sum_f64(&self, _: &mut [f64]) {}
    fn describe(&self) -> String {
        "one process".to_string()
    }
}

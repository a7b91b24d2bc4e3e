//! Several devices of one machine trained by one process: one thread per device, each thread
//! a rank of a [`DeviceGroup`]. The ranks add their numbers (losses, counts, gradients on
//! backends without collectives) through shared memory; on CUDA the gradients themselves are
//! averaged by burn's collectives (NCCL) on the devices, during the backward pass
//! ([`Collective::averages_on_device`]).
//!
//! A rank that fails [abandons](GroupMember::abandon) the group, and every other rank stops at
//! its next exchange by unwinding with [`PeerStopped`], instead of waiting forever for the rank
//! that is gone (what Open MPI's abort does for processes).

use std::ops::AddAssign;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;

use super::Collective;
use crate::device::has_collectives;
use crate::flex::RankSum;
use burn::tensor::Device;

/// The unwinding payload of a rank whose group another rank abandoned: that rank's own error
/// is the one to report.
#[derive(Debug, Clone, Copy)]
pub struct PeerStopped;

/// Creates the ranks of one process's group of `size` devices. With `averages_on_device`, the
/// caller has started burn's collectives for the devices, and the gradients arrive averaged
/// from the backward pass.
pub struct DeviceGroup;

impl DeviceGroup {
    /// Whether burn's collectives average the gradients of a group of `devices` during the
    /// backward pass: several devices that all have them (CUDA). Otherwise the ranks average
    /// them on the host.
    pub fn averages_on_device(devices: &[Device]) -> bool {
        devices.len() > 1 && devices.iter().all(has_collectives)
    }

    /// How a group of `devices` trains, for a run's header; `names` are the devices as the
    /// user named them (`cpu,cpu`).
    pub fn describe(names: &str, devices: &[Device]) -> String {
        let how = how_averaged(Self::averages_on_device(devices));
        format!(
            "one process on {} devices ({names}; gradients averaged {how})",
            devices.len()
        )
    }

    /// The group's ranks, rank 0 first: hand each to the thread of its device.
    pub fn ranks(size: usize, averages_on_device: bool) -> Vec<GroupMember> {
        assert!(size > 0, "a group has at least one rank");
        let shared = Arc::new(Shared {
            size,
            averages_on_device,
            f32_slots: (0..size).map(|_| RwLock::default()).collect(),
            f64_slots: (0..size).map(|_| RwLock::default()).collect(),
            gate: Mutex::new(Gate::default()),
            turn: Condvar::new(),
        });
        (0..size)
            .map(|rank| GroupMember {
                rank,
                shared: Arc::clone(&shared),
            })
            .collect()
    }
}

/// One rank of a [`DeviceGroup`].
#[derive(Clone)]
pub struct GroupMember {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    averages_on_device: bool,
    /// Each rank's numbers of the exchange under way.
    f32_slots: Vec<RwLock<Vec<f32>>>,
    f64_slots: Vec<RwLock<Vec<f64>>>,
    gate: Mutex<Gate>,
    turn: Condvar,
}

/// The barrier every exchange passes twice. Written by hand (std's `Barrier` cannot be told
/// that a rank is gone, and would leave the others waiting forever).
#[derive(Default)]
struct Gate {
    arrived: usize,
    generation: u64,
    abandoned_by: Option<usize>,
}

impl Shared {
    /// Waits until every rank has arrived; unwinds with [`PeerStopped`] if a rank abandoned the
    /// group.
    fn meet(&self) {
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        if gate.abandoned_by.is_some() {
            drop(gate);
            std::panic::resume_unwind(Box::new(PeerStopped));
        }
        gate.arrived += 1;
        if gate.arrived == self.size {
            gate.arrived = 0;
            gate.generation += 1;
            self.turn.notify_all();
            return;
        }
        let generation = gate.generation;
        while gate.generation == generation && gate.abandoned_by.is_none() {
            gate = self.turn.wait(gate).unwrap_or_else(PoisonError::into_inner);
        }
        if gate.generation == generation {
            drop(gate);
            std::panic::resume_unwind(Box::new(PeerStopped));
        }
    }
}

impl GroupMember {
    /// Leaves the group for good (this rank failed): every other rank stops at its next
    /// exchange.
    pub fn abandon(&self) {
        let mut gate = self
            .shared
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        gate.abandoned_by.get_or_insert(self.rank);
        self.shared.turn.notify_all();
    }

    /// Every rank's `values` added in rank order, so that every rank gets the same bits, and
    /// the same bits from run to run.
    fn sum<T: Copy + AddAssign>(&self, slots: &[RwLock<Vec<T>>], values: &mut [T]) {
        if self.shared.size == 1 {
            return;
        }
        {
            let mut mine = slots[self.rank]
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            mine.clear();
            mine.extend_from_slice(values);
        }
        self.shared.meet();
        for (rank, slot) in slots.iter().enumerate() {
            let theirs = slot.read().unwrap_or_else(PoisonError::into_inner);
            if rank == 0 {
                values.copy_from_slice(&theirs);
            } else {
                values
                    .iter_mut()
                    .zip(theirs.iter())
                    .for_each(|(v, t)| *v += *t);
            }
        }
        // No rank writes its next numbers before every rank has read these.
        self.shared.meet();
    }
}

impl Collective for GroupMember {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn sum_f32(&self, values: &mut [f32]) {
        self.sum(&self.shared.f32_slots, values);
    }

    fn sum_f64(&self, values: &mut [f64]) {
        self.sum(&self.shared.f64_slots, values);
    }

    fn describe(&self) -> String {
        let how = how_averaged(self.shared.averages_on_device);
        format!(
            "one process on {} devices (gradients averaged {how})",
            self.shared.size
        )
    }

    fn shared_sum_f64(&self) -> Option<RankSum> {
        let member = self.clone();
        Some(Rc::new(move |values: &mut [f64]| member.sum_f64(values)))
    }

    fn averages_on_device(&self) -> bool {
        self.shared.averages_on_device
    }

    fn shares_this_process(&self) -> bool {
        true
    }
}

fn how_averaged(on_device: bool) -> &'static str {
    if on_device {
        "by burn's collectives during the backward pass"
    } else {
        "on the host"
    }
}

/// `module` with every parameter marked for burn's collectives: each backward pass then hands
/// its gradients to the collectives' server, which averages them over the devices of the
/// process's `burn::tensor::distributed::DistributedContext` while the pass goes on (NCCL on
/// CUDA), and the optimizer's steps keep the mark. What burn-train's `ModuleSharder` does,
/// which this crate cannot call without depending on all of burn-train.
pub fn with_gradients_averaged_on_device<M: Module>(module: M) -> M {
    module.map(&mut AverageOnDevice)
}

struct AverageOnDevice;

impl ModuleMapper for AverageOnDevice {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.set_distributed(id), mapper)
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::{DeviceGroup, PeerStopped};
    use crate::distributed::Collective;

    #[test]
    fn every_rank_gets_the_sum_in_rank_order() {
        let ranks = DeviceGroup::ranks(3, false);
        let sums: Vec<(Vec<f32>, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = ranks
                .iter()
                .map(|member| {
                    s.spawn(move || {
                        let r = member.rank() as f32;
                        let mut a = vec![r, 10.0 * r, 1e8];
                        let mut b = vec![f64::from(r) + 0.5];
                        // Several exchanges in a row reuse the slots.
                        for _ in 0..3 {
                            member.sum_f32(&mut a);
                            a.iter_mut().for_each(|v| *v /= 3.0);
                        }
                        member.sum_f64(&mut b);
                        (a, b)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (a, b) in &sums {
            // (0 + 1 + 2) / 3 = 1, and the mean of equal numbers is themselves.
            assert_eq!(a, &vec![1.0, 10.0, 1e8]);
            assert_eq!(b, &vec![4.5]);
        }
        assert_eq!(ranks[2].rank(), 2);
        assert_eq!(ranks[2].size(), 3);
        assert!(!ranks[0].averages_on_device());
    }

    #[test]
    fn a_rank_that_abandons_stops_the_others_at_their_next_exchange() {
        let ranks = DeviceGroup::ranks(2, false);
        let waiting = ranks[1].clone();
        let stopped = std::thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| waiting.sum_f32(&mut [1.0])))
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        ranks[0].abandon();
        let payload = stopped.join().unwrap().unwrap_err();
        assert!(payload.is::<PeerStopped>());
        // And one that arrives later stops at once.
        let late = catch_unwind(AssertUnwindSafe(|| ranks[1].sum_f64(&mut [1.0])));
        assert!(late.unwrap_err().is::<PeerStopped>());
    }
}

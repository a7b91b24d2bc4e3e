//! What `device::setup_cpu` sets up: rayon's global pool (where burn's flex backend, gemm and
//! our kernels run) with the calling thread as its first thread, and flush-to-zero on every
//! thread that computes, the caller's and the workers'. The default, IEEE 754 arithmetic, is
//! checked by the unit test in `src/flex/denormals.rs`. One test in this binary, since rayon's
//! global pool is set up once per process.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::{Device, Tensor};
use inception::device::setup_cpu;
use inception::flex::flushes_denormals;
use rayon::prelude::*;

fn tiny_product() -> f32 {
    black_box(1e-20f32) * black_box(1e-20f32)
}

#[test]
fn the_caller_computes_in_the_pool_and_every_computing_thread_flushes_subnormals() {
    assert!(tiny_product().is_subnormal(), "IEEE 754 before the setup");
    assert_eq!(rayon::current_thread_index(), None, "outside any pool");
    setup_cpu(Some(2), true).unwrap();

    // Two threads in all: the caller, as the pool's first, and one worker.
    assert_eq!(rayon::current_num_threads(), 2);
    assert_eq!(rayon::current_thread_index(), Some(0));
    // A join's first half runs on the caller; its second half, on the worker at the same
    // time (the first half waits for it, and would run it itself after 5 s).
    let started = AtomicBool::new(false);
    let (here, (there, there_flushes)) = rayon::join(
        || {
            let waiting = Instant::now();
            while !started.load(Ordering::Acquire) && waiting.elapsed() < Duration::from_secs(5) {
                std::hint::spin_loop();
            }
            rayon::current_thread_index()
        },
        || {
            started.store(true, Ordering::Release);
            (rayon::current_thread_index(), tiny_product() == 0.0)
        },
    );
    assert_eq!(here, Some(0));
    assert_eq!(there, Some(1), "the worker took the second half");
    assert!(there_flushes, "the worker flushes subnormals");

    // The calling thread.
    assert!(flushes_denormals());
    assert_eq!(tiny_product(), 0.0);

    // Each of rayon's workers, whichever runs a piece of work.
    let seen: Vec<(Option<usize>, bool, f32)> = (0..256)
        .into_par_iter()
        .map(|_| {
            (
                rayon::current_thread_index(),
                flushes_denormals(),
                tiny_product(),
            )
        })
        .collect();
    let on_workers: Vec<_> = seen.iter().filter(|(index, ..)| index.is_some()).collect();
    assert!(
        !on_workers.is_empty(),
        "some of the work ran on rayon's workers"
    );
    for (index, flushes, product) in seen {
        assert!(flushes, "thread {index:?} does not flush");
        assert_eq!(product, 0.0, "thread {index:?} computed a subnormal");
    }

    // What a user sees: burn's flex backend computes tiny products as zero, large ones exactly.
    let device = Device::flex();
    let x = Tensor::<2>::full([64, 64], 1e-20, &device);
    let square: Vec<f32> = (x.clone() * x.clone())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(
        square.iter().all(|v| *v == 0.0),
        "elementwise product flushed"
    );
    let product: Vec<f32> = x.clone().matmul(x).into_data().try_to_vec::<f32>().unwrap();
    assert!(product.iter().all(|v| *v == 0.0), "matrix product flushed");
    let y = Tensor::<2>::full([64, 64], 1e-18, &device);
    let normal: Vec<f32> = (y.clone() * y).into_data().try_to_vec::<f32>().unwrap();
    assert!(normal
        .iter()
        .all(|v| v.is_normal() && (*v / 1e-36 - 1.0).abs() < 1e-5));
}

//! Flush-to-zero on every thread that computes: `device::setup_cpu` turns it on for the caller
//! and for rayon's workers (where burn's flex backend, gemm and our kernels run). The default,
//! IEEE 754 arithmetic, is checked by the unit test in `src/flex/denormals.rs`. One test in
//! this binary, since rayon's global pool is set up once per process.

use std::hint::black_box;

use burn::tensor::{Device, Tensor};
use inception::device::setup_cpu;
use inception::flex::flushes_denormals;
use rayon::prelude::*;

fn tiny_product() -> f32 {
    black_box(1e-20f32) * black_box(1e-20f32)
}

#[test]
fn every_computing_thread_flushes_subnormals() {
    assert!(tiny_product().is_subnormal(), "IEEE 754 before the setup");
    setup_cpu(Some(2), true).unwrap();

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

//! The IDX reader on arbitrary bytes, plain and gzip-wrapped: an error or a value, never a
//! panic, never an allocation beyond what the header's checked sizes allow.
#![no_main]

use std::io::Write;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz");
    let _ = inception::data::idx::parse_images(&mut &data[..], path);
    let _ = inception::data::idx::parse_labels(&mut &data[..], path, 9);
    // The same bytes inside a gzip stream, as the .gz files are read.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    let gz = gz.finish().unwrap();
    let _ = inception::data::idx::parse_images(&mut flate2::read::GzDecoder::new(&gz[..]), path);
    // And the raw bytes as if they were gzip (corrupt streams).
    let _ = inception::data::idx::parse_labels(&mut flate2::read::GzDecoder::new(data), path, 9);
});

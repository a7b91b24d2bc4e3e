//! What training and evaluation read: any labelled image dataset. Fashion-MNIST is one; a
//! program brings its own by implementing [`ImageDataset`].

use burn::data::dataset::Dataset;

/// A labelled image dataset: burn's `Dataset` of [`RawImage`]s (8-bit grayscale images of any
/// size with their class), with a name and class names. Training resizes the images to the
/// network's input and repeats the gray channel to its channels.
pub trait ImageDataset: Dataset<RawImage> + Clone + 'static {
    /// Its name, for messages and figures (`Fashion-MNIST`).
    fn name(&self) -> String;

    /// The name of every class, in label order.
    fn class_names(&self) -> Vec<String>;
}

/// One raw example: an 8-bit grayscale image (`rows` x `cols`, row-major) and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawImage {
    pub pixels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
    pub label: u8,
}

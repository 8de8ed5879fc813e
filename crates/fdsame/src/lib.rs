//! fdsame: are these two file descriptors the same thing?
pub mod uapi;

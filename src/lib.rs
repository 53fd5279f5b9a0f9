//! Rust core of cdn-manager: the local side of every transfer.
//!
//! Python decides *what* to move; this crate turns object keys into safe local
//! paths, writes downloads atomically and computes every checksum, with the GIL
//! released for all file I/O and hashing.
#![deny(unsafe_code)]

mod buffer;
mod checksum;
mod compress;
mod control;
mod error;
mod filehash;
mod http;
mod paths;
mod reader;
mod resolve;
mod sigv4;
mod tcp;
mod writer;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::checksum::{checksum, combine_checksums, md5_hex, part_checksums};
    #[pymodule_export]
    use crate::compress::compress_file;
    #[pymodule_export]
    use crate::control::Control;
    #[pymodule_export]
    use crate::filehash::file_digests;
    #[pymodule_export]
    use crate::http::{Engine, Response};
    #[pymodule_export]
    use crate::paths::prepare_destination;
    #[pymodule_export]
    use crate::reader::{file_part_checksums, read_file_range};
    #[pymodule_export]
    use crate::writer::{FileWriter, MemoryWriter, PartSink};
}

//! Rust core of cdn-manager: the local side of every transfer, and the
//! native S3 data plane.
//!
//! Python decides *what* to move; this crate turns object keys into safe local
//! paths, writes downloads atomically, computes every checksum and sends the
//! object requests, with the GIL released for all I/O and hashing.
#![deny(unsafe_code)]

mod buffer;
mod checksum;
mod control;
mod error;
mod http;
mod paths;
mod reader;
mod writer;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::checksum::{checksum, combine_checksums, md5_hex, part_checksums};
    #[pymodule_export]
    use crate::control::Control;
    #[pymodule_export]
    use crate::http::{sign_request, Engine, Response};
    #[pymodule_export]
    use crate::paths::prepare_destination;
    #[pymodule_export]
    use crate::reader::{file_part_checksums, read_file_range};
    #[pymodule_export]
    use crate::writer::{FileWriter, MemoryWriter, PartSink};
}

//! Rust core of cdn-manager: the local side of every transfer, and the
//! native S3 data plane.
//!
//! Python decides *what* to move; this crate turns object keys into safe local
//! paths, writes downloads atomically, computes every checksum and sends the
//! object requests, with the GIL released for all I/O and hashing.
//!
//! - `paths.rs`: key -> safe local path
//! - `escape.rs`: outside names escaped for messages
//! - `writer.rs`, `reader.rs`: downloads written, uploads read
//! - `buffer.rs`: a caller's bytes read soundly without the GIL
//! - `checksum.rs`: CRC32/CRC32C/MD5
//! - `control.rs`: progress and cancellation of a transfer
//! - `bandwidth.rs`: a manager's bandwidth limit (one token bucket)
//! - `http/`: the native data plane (endpoint, signing, GET, PUT)
//! - `platform.rs`: everything that differs by operating system
//! - `error.rs`: core errors -> Python exceptions
#![deny(unsafe_code)]

mod bandwidth;
mod buffer;
mod checksum;
mod compress;
mod control;
mod error;
mod escape;
mod filehash;
mod http;
mod paths;
mod platform;
mod reader;
mod writer;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::bandwidth::Bandwidth;
    #[pymodule_export]
    use crate::checksum::{checksum, combine_checksums, digest, part_checksums};
    #[pymodule_export]
    use crate::compress::compress_file;
    #[pymodule_export]
    use crate::control::Control;
    #[pymodule_export]
    use crate::filehash::file_digests;
    #[pymodule_export]
    use crate::http::{sign_request, Engine, Response};
    #[pymodule_export]
    use crate::reader::{file_part_checksums, file_part_hashes, FileReader};
    #[pymodule_export]
    use crate::writer::{Destination, FileWriter, MemoryWriter, PartSink};

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        // The package's one version (pyproject.toml takes it from
        // Cargo.toml): `--version` reads it here rather than through
        // importlib.metadata, whose import costs 25 ms of start-up.
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::control::remember_main_thread(m.py())
    }
}

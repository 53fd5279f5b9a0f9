//! Borrowing a caller's bytes-like object without copying it.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::prelude::*;

/// A read-only view of a contiguous Python buffer (`bytes`, `bytearray`,
/// `memoryview`, ...), held for as long as this value lives.
pub struct BorrowedBytes {
    buffer: PyBuffer<u8>,
}

impl BorrowedBytes {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let buffer = PyBuffer::<u8>::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a bytes-like object, got {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        if !buffer.is_c_contiguous() {
            return Err(PyBufferError::new_err("buffer is not contiguous"));
        }
        Ok(BorrowedBytes { buffer })
    }

    pub fn as_slice(&self) -> &[u8] {
        let len = self.buffer.len_bytes();
        if len == 0 {
            return &[];
        }
        #[allow(unsafe_code)]
        // Safety: the buffer is C-contiguous, `len_bytes` long, and stays
        // exported (so not freed or resized) while `self.buffer` is alive.
        // A `bytearray` may still be mutated by another thread meanwhile; the
        // bytes read are then whatever was there, which the checksum exposes.
        unsafe {
            std::slice::from_raw_parts(self.buffer.buf_ptr() as *const u8, len)
        }
    }
}

//! Reading a caller's bytes-like object with the GIL released, soundly.
//!
//! Rust may only hold a `&[u8]` over memory nothing else can change. An
//! immutable object (`bytes`, or a `memoryview` of one) is therefore read in
//! place, zero-copy, with the GIL released. Any other buffer (`bytearray`,
//! `mmap`, `array`, a writable `memoryview`, ...) may be changed by another
//! Python thread at any moment, so it is copied out a chunk at a time while
//! holding the GIL (which every Python-level change needs), and only the
//! copy is hashed or sent. Nothing here is `unsafe`.

use std::ops::Range;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyMemoryView};

/// Bytes copied out of a mutable buffer per GIL hold.
pub const COPY_CHUNK: usize = 1 << 20;

/// A caller's bytes-like object.
pub enum Bytes {
    /// Part of an immutable `bytes` object, readable without the GIL.
    Shared(PyBackedBytes, Range<usize>),
    /// A buffer that may change: read only through copies.
    Mutable(PyBuffer<u8>),
}

/// The bytes to send or hash: a view of immutable memory, or a copy.
pub enum Contents {
    Shared(PyBackedBytes, Range<usize>),
    Copied(Vec<u8>),
}

impl Contents {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Contents::Shared(bytes, range) => &bytes[range.clone()],
            Contents::Copied(data) => data,
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

/// Where `view`'s memory lies inside `bytes`, if it lies inside it at all
/// (found by address comparison only).
fn range_within(bytes: &[u8], view: &PyBuffer<u8>) -> Option<Range<usize>> {
    let start = (view.buf_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
    let end = start.checked_add(view.len_bytes())?;
    (end <= bytes.len()).then_some(start..end)
}

impl Bytes {
    /// Takes `bytes`, `bytearray`, `memoryview` or any other contiguous
    /// buffer; raises `TypeError` for anything else.
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            let backed = PyBackedBytes::from(bytes.clone());
            let all = 0..backed.len();
            return Ok(Bytes::Shared(backed, all));
        }
        let buffer = PyBuffer::<u8>::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a bytes-like object, got {}",
                type_name(obj)
            ))
        })?;
        if !buffer.is_c_contiguous() {
            return Err(PyBufferError::new_err("buffer is not contiguous"));
        }
        if obj.is_instance_of::<PyMemoryView>() && buffer.readonly() {
            // A view of (part of) an exact `bytes` object: nobody can change
            // those bytes, so they are read in place.
            let exporter = obj.getattr("obj")?;
            if exporter.is_exact_instance_of::<PyBytes>() {
                let backed = PyBackedBytes::from(exporter.cast_into::<PyBytes>()?);
                if let Some(range) = range_within(&backed, &buffer) {
                    return Ok(Bytes::Shared(backed, range));
                }
            }
        }
        Ok(Bytes::Mutable(buffer))
    }

    pub fn len(&self) -> usize {
        match self {
            Bytes::Shared(_, range) => range.len(),
            Bytes::Mutable(buffer) => buffer.len_bytes(),
        }
    }

    /// Copies `range` of a mutable buffer into `out`, holding the GIL.
    fn copy_range(buffer: &PyBuffer<u8>, py: Python<'_>, range: Range<usize>, out: &mut Vec<u8>) {
        out.clear();
        // Cells, not a `&[u8]`: the memory is only ever read through them,
        // under the GIL, and never referenced once it is released.
        let cells = buffer
            .as_slice(py)
            .expect("a C-contiguous u8 buffer has a slice");
        out.extend(cells[range].iter().map(|cell| cell.get()));
    }

    /// The whole contents: in place if immutable, else one copy taken now.
    pub fn contents(self, py: Python<'_>) -> Contents {
        match self {
            Bytes::Shared(bytes, range) => Contents::Shared(bytes, range),
            Bytes::Mutable(buffer) => {
                let mut copy = Vec::with_capacity(buffer.len_bytes());
                Self::copy_range(&buffer, py, 0..buffer.len_bytes(), &mut copy);
                Contents::Copied(copy)
            }
        }
    }

    /// Calls `f` with consecutive pieces of `range` (at most `COPY_CHUNK`
    /// bytes each when copied), the GIL released during each call. Stops at
    /// the first error.
    pub fn for_each_piece<E: Send>(
        &self,
        py: Python<'_>,
        range: Range<usize>,
        mut f: impl FnMut(&[u8]) -> Result<(), E> + Send,
    ) -> Result<(), E> {
        match self {
            Bytes::Shared(bytes, all) => {
                let data = &bytes[all.clone()][range];
                py.detach(|| f(data))
            }
            Bytes::Mutable(buffer) => {
                let mut copy = Vec::with_capacity(COPY_CHUNK.min(range.len()));
                let mut start = range.start;
                while start < range.end {
                    let end = range.end.min(start + COPY_CHUNK);
                    Self::copy_range(buffer, py, start..end, &mut copy);
                    py.detach(|| f(&copy))?;
                    start = end;
                }
                Ok(())
            }
        }
    }
}

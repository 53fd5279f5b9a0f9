//! `MemoryWriter`: a download into a new `bytes` object, written in place
//! and handed to Python only once complete.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{Gate, PartSink, Target, CLOSED};
use crate::control::Control;
use crate::error::{CoreError, CoreResult};

/// Memory that no Python code can see yet (the inside of a new `bytes`
/// object), kept alive by its `owner` for as long as any sink can reach it.
struct SharedMemory<O> {
    /// Owns the allocation `ptr` points into.
    owner: O,
    ptr: *mut u8,
    len: usize,
    gate: Gate,
}

// Safety: `ptr` is only written through `write_at`, under the gate's
// exclusive lock (so no two copies overlap in time, whatever ranges the
// sinks were given), at bounds-checked offsets; the allocation lives as long
// as `owner`, which this value holds, so as long as any sink holds it.
#[allow(unsafe_code)]
unsafe impl<O: Send> Send for SharedMemory<O> {}
#[allow(unsafe_code)]
unsafe impl<O: Sync> Sync for SharedMemory<O> {}

impl<O: Send + Sync> Target for SharedMemory<O> {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()> {
        let start = usize::try_from(offset).map_err(|_| CoreError::State("offset too large"))?;
        if start
            .checked_add(data.len())
            .is_none_or(|end| end > self.len)
        {
            return Err(CoreError::State("write past the end of the object"));
        }
        self.gate.write_exclusive(|| {
            #[allow(unsafe_code)]
            // Safety: `start..start + data.len()` is inside the allocation
            // (checked above), which `owner` keeps alive; the gate is open,
            // so Python has not been given the object, and its exclusive
            // lock keeps every other write (and close) out until this copy
            // ends.
            unsafe {
                std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(start), data.len());
            }
            Ok(())
        })
    }
}

/// A download into a new `bytes` object of `size` bytes, written in place by
/// the parts and handed out by `commit()` only when complete.
#[pyclass(frozen)]
pub struct MemoryWriter {
    memory: Arc<SharedMemory<Py<PyBytes>>>,
}

#[pymethods]
impl MemoryWriter {
    #[new]
    fn new(py: Python<'_>, size: usize) -> PyResult<Self> {
        let mut ptr = std::ptr::null_mut();
        let bytes = PyBytes::new_with(py, size, |buffer| {
            ptr = buffer.as_mut_ptr();
            Ok(())
        })?;
        Ok(MemoryWriter {
            memory: Arc::new(SharedMemory {
                owner: bytes.unbind(),
                ptr,
                len: size,
                gate: Gate::default(),
            }),
        })
    }

    /// A sink that writes consecutive bytes from `offset` and digests them.
    #[pyo3(signature = (offset, algorithm = None, hash = None, control = None))]
    fn part(
        &self,
        offset: u64,
        algorithm: Option<&str>,
        hash: Option<&str>,
        control: Option<Py<Control>>,
    ) -> PyResult<PartSink> {
        self.memory.gate.ensure_open()?;
        PartSink::new(self.memory.clone(), offset, algorithm, hash, control)
    }

    /// The finished object, once the writes in flight are done; later
    /// writes through its sinks are refused.
    fn commit(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        if !py.detach(|| self.memory.gate.close()) {
            return Err(CoreError::State(CLOSED).into());
        }
        Ok(self.memory.owner.clone_ref(py))
    }

    /// Refuses further writes, once those in flight are done; the memory
    /// goes when the last sink does (`keep` is for files: memory cannot be
    /// resumed). Safe to call more than once.
    #[pyo3(signature = (keep = false))]
    fn abort(&self, py: Python<'_>, keep: bool) {
        let _ = keep;
        py.detach(|| self.memory.gate.close());
    }

    /// A download into memory has nothing from an earlier run.
    #[getter]
    fn kept(&self) -> Vec<PartSink> {
        Vec::new()
    }

    /// A download into memory journals nothing.
    fn finished(&self, sink: PyRef<'_, PartSink>) {
        let _ = sink;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(len: usize) -> SharedMemory<Vec<u8>> {
        let mut backing = vec![0u8; len];
        SharedMemory {
            ptr: backing.as_mut_ptr(),
            owner: backing,
            len,
            gate: Gate::default(),
        }
    }

    #[test]
    fn memory_writes_are_bounds_checked() {
        let memory = memory(4);
        memory.write_at(b"cd", 2).unwrap();
        assert!(memory.write_at(b"xyz", 2).is_err());
        assert!(memory.write_at(b"x", u64::MAX).is_err());
        memory.write_at(b"ab", 0).unwrap();
        assert!(memory.gate.close());
        assert!(memory.write_at(b"ab", 0).is_err());
        assert_eq!(memory.owner, b"abcd");
    }

    /// Covers the `unsafe` of `SharedMemory`: writers on many threads, some
    /// to the same bytes, while the memory is closed; nothing lands after
    /// `close` returns.
    #[test]
    fn closing_waits_for_writes_in_flight_and_stops_the_rest() {
        let memory = Arc::new(memory(1 << 20));
        let chunk = vec![7u8; 64 << 10];
        let refused = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..4)
                .map(|n| {
                    let (memory, chunk) = (&memory, &chunk);
                    scope.spawn(move || loop {
                        let offset = (n * 4096) as u64;
                        if memory.write_at(chunk, offset).is_err() {
                            return true;
                        }
                    })
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(memory.gate.close());
            let snapshot = memory.owner.clone();
            let refused = writers.into_iter().all(|w| w.join().unwrap());
            assert_eq!(memory.owner, snapshot, "a write landed after close");
            refused
        });
        assert!(refused);
    }
}

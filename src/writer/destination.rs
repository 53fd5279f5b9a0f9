//! `Destination`: where a download will land, checked and held open before
//! any writer is made for it (the key's checks are `paths.rs`'s).

use std::path::PathBuf;

use pyo3::prelude::*;

use super::journal;
use crate::error::CoreResult;
use crate::paths::{open_parent, Parent};

/// Where a download will land: the object key checked, the folders it
/// implies created below `folder`, and the file's folder held open, so the
/// temporary file, the rename and the sync that follow (`FileWriter`) happen
/// in that very folder, whatever is swapped on the way meanwhile.
///
/// Raises `UnsafePath` for a key that cannot be a file strictly inside
/// `folder`, and `OSError` for file-system failures.
#[pyclass(frozen)]
pub struct Destination {
    parent: Parent,
}

impl Destination {
    /// The open folder (a new descriptor of it), the file's name and path:
    /// one writer's own, as a download may open a writer per attempt.
    pub fn parent(&self) -> CoreResult<Parent> {
        self.parent.try_clone()
    }
}

#[pymethods]
impl Destination {
    #[new]
    fn new(py: Python<'_>, folder: PathBuf, key: String) -> PyResult<Self> {
        let parent = py.detach(|| open_parent(&folder, &key))?;
        Ok(Destination { parent })
    }

    /// `folder/key`.
    #[getter]
    fn path(&self) -> PathBuf {
        self.parent.path.clone()
    }

    /// Whether an earlier, interrupted download left a journal here.
    #[getter]
    fn journaled(&self) -> bool {
        journal::exists(&self.parent.dir, &self.parent.name)
    }
}

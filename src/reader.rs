//! Reading a local file for upload: part checksums ahead of a multipart
//! upload, and each part's bytes with their checksum, GIL released.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::checksum::{parallel_map, Algorithm};
use crate::error::{CoreError, CoreResult};

/// Bytes hashed per read when only the checksum is wanted.
const HASH_CHUNK: usize = 1 << 20;

fn open(path: &Path) -> CoreResult<File> {
    File::open(path).map_err(|e| CoreError::io("open", path, e))
}

fn read_exact_at(file: &File, path: &Path, buffer: &mut [u8], offset: u64) -> CoreResult<()> {
    file.read_exact_at(buffer, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            CoreError::io("read (the file shrank during the upload)", path, e)
        } else {
            CoreError::io("read", path, e)
        }
    })
}

fn range_checksum(
    file: &File,
    path: &Path,
    algorithm: Algorithm,
    offset: u64,
    length: u64,
) -> CoreResult<u64> {
    let mut buffer = vec![0; HASH_CHUNK.min(length as usize)];
    let mut crc = 0;
    let mut done = 0;
    while done < length {
        let n = (length - done).min(buffer.len() as u64) as usize;
        read_exact_at(file, path, &mut buffer[..n], offset + done)?;
        crc = algorithm.append(crc, &buffer[..n]);
        done += n as u64;
    }
    Ok(crc)
}

/// CRC of each `part_size` slice of the first `size` bytes of the file at
/// `path`, in order, read in parallel.
#[pyfunction]
#[pyo3(signature = (path, size, part_size, algorithm = "crc32"))]
pub fn file_part_checksums(
    py: Python<'_>,
    path: PathBuf,
    size: u64,
    part_size: u64,
    algorithm: &str,
) -> PyResult<Vec<u64>> {
    if part_size == 0 {
        return Err(PyValueError::new_err("part_size must be positive"));
    }
    let algorithm = Algorithm::parse(algorithm)?;
    let ranges: Vec<(u64, u64)> = (0..size)
        .step_by(part_size as usize)
        .map(|start| (start, part_size.min(size - start)))
        .collect();
    let crcs = py.detach(|| -> CoreResult<Vec<u64>> {
        let file = open(&path)?;
        parallel_map(&ranges, |&(offset, length)| {
            range_checksum(&file, &path, algorithm, offset, length)
        })
        .into_iter()
        .collect()
    })?;
    Ok(crcs)
}

/// `length` bytes of the file at `path` from `offset`, read straight into a
/// new `bytes` object, and their CRC.
#[pyfunction]
#[pyo3(signature = (path, offset, length, algorithm = "crc32"))]
pub fn read_file_range<'py>(
    py: Python<'py>,
    path: PathBuf,
    offset: u64,
    length: usize,
    algorithm: &str,
) -> PyResult<(Bound<'py, PyBytes>, u64)> {
    let algorithm = Algorithm::parse(algorithm)?;
    let mut crc = 0;
    let bytes = PyBytes::new_with(py, length, |buffer| {
        py.detach(|| -> CoreResult<()> {
            let file = open(&path)?;
            read_exact_at(&file, &path, buffer, offset)?;
            crc = algorithm.checksum(buffer);
            Ok(())
        })?;
        Ok(())
    })?;
    Ok((bytes, crc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checksums_match_in_memory_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * HASH_CHUNK + 17).map(|i| (i * 31) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = open(&path).unwrap();
        for (offset, length) in [(0, data.len()), (5, HASH_CHUNK + 3), (data.len() - 1, 1)] {
            assert_eq!(
                range_checksum(
                    &file,
                    &path,
                    Algorithm::Crc32c,
                    offset as u64,
                    length as u64
                )
                .unwrap(),
                Algorithm::Crc32c.checksum(&data[offset..offset + length])
            );
        }
    }

    #[test]
    fn reading_past_the_end_says_the_file_shrank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"short").unwrap();
        let file = open(&path).unwrap();
        let err = range_checksum(&file, &path, Algorithm::Crc32, 0, 10).unwrap_err();
        assert!(err.to_string().contains("shrank"), "{err}");
    }
}

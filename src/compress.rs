//! Compressing a local file for upload (gzip or brotli), GIL released: the
//! compressed bytes, and the CRC of the uncompressed bytes read, so the
//! caller can prove they are the content it planned to send.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::checksum::{Algorithm, Digests};
use crate::error::{CoreError, CoreResult};
use crate::filehash::{identity, open_regular, read_chunks, Identity};

/// Brotli's strongest setting: deploys compress once, CDNs serve many times.
const BROTLI_QUALITY: u32 = 11;
/// Brotli's window (log2 of bytes), the format's default.
const BROTLI_WINDOW: u32 = 22;

/// A content encoding this module produces.
#[derive(Clone, Copy, Debug)]
pub enum Encoding {
    Gzip,
    Brotli,
}

impl Encoding {
    pub fn parse(name: &str) -> PyResult<Self> {
        match name {
            "gzip" => Ok(Encoding::Gzip),
            "br" => Ok(Encoding::Brotli),
            other => Err(PyValueError::new_err(format!(
                "unsupported content encoding {other:?} (use 'gzip' or 'br')"
            ))),
        }
    }
}

/// One of the two encoders, writing into memory.
struct Output {
    gzip: Option<flate2::write::GzEncoder<Vec<u8>>>,
    brotli: Option<brotli::CompressorWriter<Vec<u8>>>,
}

impl Output {
    fn new(encoding: Encoding, size_hint: usize) -> Self {
        let out = Vec::with_capacity(size_hint / 3 + 64);
        match encoding {
            // No name and a zero mtime in the header: the same file compresses
            // to the same bytes (and ETag) every time.
            Encoding::Gzip => Output {
                gzip: Some(GzBuilder::new().write(out, Compression::best())),
                brotli: None,
            },
            Encoding::Brotli => Output {
                gzip: None,
                brotli: Some(brotli::CompressorWriter::new(
                    out,
                    64 * 1024,
                    BROTLI_QUALITY,
                    BROTLI_WINDOW,
                )),
            },
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match (&mut self.gzip, &mut self.brotli) {
            (Some(gzip), _) => gzip.write_all(data),
            (_, Some(brotli)) => brotli.write_all(data),
            _ => unreachable!("an encoder is always set"),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match (self.gzip, self.brotli) {
            (Some(gzip), _) => gzip.finish(),
            (_, Some(brotli)) => Ok(brotli.into_inner()),
            _ => unreachable!("an encoder is always set"),
        }
    }
}

fn compress(
    path: &Path,
    encoding: Encoding,
    algorithm: Algorithm,
) -> CoreResult<(Vec<u8>, u64, Identity, Identity)> {
    let (mut file, before) = open_regular(path)?;
    let mut output = Output::new(encoding, before.2 as usize);
    let mut digests = Digests::new(Some(algorithm), None);
    let mut failed = None;
    read_chunks(&mut file, path, |chunk| {
        if failed.is_none() {
            digests.update(chunk);
            failed = output.write(chunk).err();
        }
    })?;
    let after = identity(&file, path)?;
    let compressed = match failed {
        Some(err) => Err(err),
        None => output.finish(),
    }
    .map_err(|e| CoreError::io("compress", path, e))?;
    Ok((compressed, digests.crc().unwrap_or(0), before, after))
}

/// The file at `path` compressed with `encoding` ("gzip" or "br"), the
/// `algorithm` CRC of its uncompressed bytes, and its identity before and
/// after the read (see `file_digests`). Raises `OSError`.
#[pyfunction]
#[pyo3(signature = (path, encoding, algorithm = "crc32"))]
#[allow(clippy::type_complexity)]
pub fn compress_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    encoding: &str,
    algorithm: &str,
) -> PyResult<(Bound<'py, PyBytes>, u64, Identity, Identity)> {
    let encoding = Encoding::parse(encoding)?;
    let algorithm = Algorithm::parse(algorithm)?;
    let (compressed, crc, before, after) = py.detach(|| compress(&path, encoding, algorithm))?;
    Ok((PyBytes::new(py, &compressed), crc, before, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn both_encodings_round_trip_and_repeat_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page.html");
        let data = b"<p>hello, hello, hello</p>\n".repeat(5000);
        std::fs::write(&path, &data).unwrap();
        for encoding in [Encoding::Gzip, Encoding::Brotli] {
            let (once, crc, before, after) = compress(&path, encoding, Algorithm::Crc32).unwrap();
            let (twice, ..) = compress(&path, encoding, Algorithm::Crc32).unwrap();
            assert_eq!(once, twice, "{encoding:?} is deterministic");
            assert!(once.len() < data.len() / 10);
            assert_eq!(crc, Algorithm::Crc32.checksum(&data));
            assert_eq!(before, after);
            let mut back = Vec::new();
            match encoding {
                Encoding::Gzip => {
                    flate2::read::GzDecoder::new(&once[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Encoding::Brotli => {
                    brotli::Decompressor::new(&once[..], 4096)
                        .read_to_end(&mut back)
                        .unwrap();
                }
            }
            assert_eq!(back, data);
        }
    }
}

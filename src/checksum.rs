//! CRC32 / CRC32C / CRC64NVME and MD5 / SHA-1 / SHA-256: part digests, their
//! combination into a whole-object CRC, all computed with the GIL released. A
//! CRC is carried as a `u64` whatever its width (CRC32 values use the low 32
//! bits); a hash as its raw bytes.

use md5::Md5;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sha1::Sha1;
use sha2::Sha256;

use crate::buffer::Bytes;

/// The CRC families S3 stores that can be combined from part CRCs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    /// CRC-64/NVME, the AWS SDKs' and CLI's default since 2025.
    Crc64Nvme,
}

impl Algorithm {
    pub fn parse(name: &str) -> PyResult<Self> {
        match name {
            "crc32" => Ok(Algorithm::Crc32),
            "crc32c" => Ok(Algorithm::Crc32c),
            "crc64nvme" => Ok(Algorithm::Crc64Nvme),
            other => Err(PyValueError::new_err(format!(
                "unsupported checksum algorithm {other:?} (use 'crc32', 'crc32c' or 'crc64nvme')"
            ))),
        }
    }

    pub fn checksum(self, data: &[u8]) -> u64 {
        self.append(0, data)
    }

    /// The CRC of `a || data` from `crc(a)`.
    pub fn append(self, crc: u64, data: &[u8]) -> u64 {
        match self {
            Algorithm::Crc32 => {
                let mut hasher = crc32fast::Hasher::new_with_initial(crc as u32);
                hasher.update(data);
                u64::from(hasher.finalize())
            }
            Algorithm::Crc32c => u64::from(crc32c::crc32c_append(crc as u32, data)),
            Algorithm::Crc64Nvme => {
                // The state before the final inversion (init and xorout are
                // both all ones), so appending continues where `crc` ended.
                let mut digest =
                    crc_fast::Digest::new_with_init_state(crc_fast::CrcAlgorithm::Crc64Nvme, !crc);
                digest.update(data);
                digest.finalize()
            }
        }
    }

    /// CRC of `a || b` from `crc(a)`, `crc(b)` and `len(b)`.
    pub fn combine(self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        match self {
            Algorithm::Crc32 => {
                let mut a = crc32fast::Hasher::new_with_initial(crc_a as u32);
                a.combine(&crc32fast::Hasher::new_with_initial_len(
                    crc_b as u32,
                    len_b,
                ));
                u64::from(a.finalize())
            }
            Algorithm::Crc32c => u64::from(crc32c::crc32c_combine(
                crc_a as u32,
                crc_b as u32,
                len_b as usize,
            )),
            Algorithm::Crc64Nvme => {
                crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Nvme, crc_a, crc_b, len_b)
            }
        }
    }
}

/// The hashes S3 keeps of an object or of each part (an ETag is an MD5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashKind {
    Md5,
    Sha1,
    Sha256,
}

impl HashKind {
    pub fn parse(name: &str) -> PyResult<Self> {
        match name {
            "md5" => Ok(HashKind::Md5),
            "sha1" => Ok(HashKind::Sha1),
            "sha256" => Ok(HashKind::Sha256),
            other => Err(PyValueError::new_err(format!(
                "unsupported hash {other:?} (use 'md5', 'sha1' or 'sha256')"
            ))),
        }
    }

    fn start(self) -> Hasher {
        match self {
            HashKind::Md5 => Hasher::Md5(<Md5 as md5::Digest>::new()),
            HashKind::Sha1 => Hasher::Sha1(<Sha1 as sha1::Digest>::new()),
            HashKind::Sha256 => Hasher::Sha256(<Sha256 as sha2::Digest>::new()),
        }
    }
}

/// A running hash of one of the [`HashKind`]s.
#[derive(Clone)]
enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn kind(&self) -> HashKind {
        match self {
            Hasher::Md5(_) => HashKind::Md5,
            Hasher::Sha1(_) => HashKind::Sha1,
            Hasher::Sha256(_) => HashKind::Sha256,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => md5::Digest::update(h, data),
            Hasher::Sha1(h) => sha1::Digest::update(h, data),
            Hasher::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    /// The digest of what was hashed so far (the state is kept).
    fn finish(&self) -> Vec<u8> {
        match self.clone() {
            Hasher::Md5(h) => md5::Digest::finalize(h).to_vec(),
            Hasher::Sha1(h) => sha1::Digest::finalize(h).to_vec(),
            Hasher::Sha256(h) => sha2::Digest::finalize(h).to_vec(),
        }
    }
}

/// The running digests of one contiguous byte range.
#[derive(Clone)]
pub struct Digests {
    algorithm: Option<Algorithm>,
    crc: u64,
    hash: Option<Hasher>,
    length: u64,
}

impl Digests {
    pub fn new(algorithm: Option<Algorithm>, hash: Option<HashKind>) -> Self {
        Digests {
            algorithm,
            crc: 0,
            hash: hash.map(HashKind::start),
            length: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if let Some(algorithm) = self.algorithm {
            self.crc = algorithm.append(self.crc, data);
        }
        if let Some(hash) = self.hash.as_mut() {
            hash.update(data);
        }
        self.length += data.len() as u64;
    }

    pub fn crc(&self) -> Option<u64> {
        self.algorithm.map(|_| self.crc)
    }

    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    pub fn hash_kind(&self) -> Option<HashKind> {
        self.hash.as_ref().map(Hasher::kind)
    }

    /// The hash of the bytes so far, if one was asked for.
    pub fn hash(&self) -> Option<Vec<u8>> {
        self.hash.as_ref().map(Hasher::finish)
    }

    pub fn length(&self) -> u64 {
        self.length
    }
}

/// CRC of `data` (`bytes`, `bytearray`, `memoryview`, ...).
#[pyfunction]
#[pyo3(signature = (data, algorithm = "crc32"))]
pub fn checksum(py: Python<'_>, data: &Bound<'_, PyAny>, algorithm: &str) -> PyResult<u64> {
    let algorithm = Algorithm::parse(algorithm)?;
    let data = Bytes::new(data)?;
    let mut crc = 0;
    data.for_each_piece(py, 0..data.len(), |piece| -> PyResult<()> {
        crc = algorithm.append(crc, piece);
        Ok(())
    })?;
    Ok(crc)
}

/// The `hash` ("md5", "sha1" or "sha256") of `data` (`bytes`,
/// `bytearray`, `memoryview`, ...), as raw bytes.
#[pyfunction]
#[pyo3(signature = (data, hash = "md5"))]
pub fn digest<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    hash: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let kind = HashKind::parse(hash)?;
    let data = Bytes::new(data)?;
    let mut digests = Digests::new(None, Some(kind));
    data.for_each_piece(py, 0..data.len(), |piece| -> PyResult<()> {
        digests.update(piece);
        Ok(())
    })?;
    let value = digests.hash().expect("a hash was asked for");
    Ok(PyBytes::new(py, &value))
}

/// CRC of each `part_size` slice of `data`, in order. The parts of an
/// immutable `bytes` are hashed in parallel on the machine's cores; those of
/// a mutable buffer one copied piece after another.
#[pyfunction]
#[pyo3(signature = (data, part_size, algorithm = "crc32"))]
pub fn part_checksums(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    part_size: usize,
    algorithm: &str,
) -> PyResult<Vec<u64>> {
    if part_size == 0 {
        return Err(PyValueError::new_err("part_size must be positive"));
    }
    let algorithm = Algorithm::parse(algorithm)?;
    let data = Bytes::new(data)?;
    if let Bytes::Shared(bytes, range) = &data {
        let slice = &bytes[range.clone()];
        return Ok(py.detach(|| parallel_part_checksums(algorithm, slice, part_size)));
    }
    let mut crcs = Vec::new();
    for start in (0..data.len()).step_by(part_size) {
        let mut crc = 0;
        let end = data.len().min(start + part_size);
        data.for_each_piece(py, start..end, |piece| -> PyResult<()> {
            crc = algorithm.append(crc, piece);
            Ok(())
        })?;
        crcs.push(crc);
    }
    Ok(crcs)
}

fn parallel_part_checksums(algorithm: Algorithm, data: &[u8], part_size: usize) -> Vec<u64> {
    let parts: Vec<&[u8]> = data.chunks(part_size).collect();
    parallel_map(&parts, |part| algorithm.checksum(part))
}

/// `f` of every item, in order, computed on up to one thread per core.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|group| scope.spawn(move || group.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

/// The CRC of the concatenation of parts, given each part's `(crc, length)`.
#[pyfunction]
#[pyo3(signature = (parts, algorithm = "crc32"))]
pub fn combine_checksums(parts: Vec<(u64, u64)>, algorithm: &str) -> PyResult<u64> {
    let algorithm = Algorithm::parse(algorithm)?;
    Ok(parts
        .into_iter()
        .fold(0, |acc, (crc, len)| algorithm.combine(acc, crc, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &[u8] = b"The quick brown fox jumps over the lazy dog, then again and again.";

    #[test]
    fn known_values() {
        assert_eq!(Algorithm::Crc32.checksum(b"123456789"), 0xCBF4_3926);
        assert_eq!(Algorithm::Crc32c.checksum(b"123456789"), 0xE306_9283);
        // The CRC-64/NVME check value (the RevEng catalogue's).
        assert_eq!(
            Algorithm::Crc64Nvme.checksum(b"123456789"),
            0xAE8B_1486_0A79_9888
        );
        assert_eq!(Algorithm::Crc64Nvme.checksum(b""), 0);
    }

    #[test]
    fn combined_parts_equal_the_whole() {
        for algorithm in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            for part_size in [1, 7, 16, DATA.len()] {
                let crcs = parallel_part_checksums(algorithm, DATA, part_size);
                let combined = DATA
                    .chunks(part_size)
                    .zip(crcs)
                    .fold(0, |acc, (part, crc)| {
                        algorithm.combine(acc, crc, part.len() as u64)
                    });
                assert_eq!(
                    combined,
                    algorithm.checksum(DATA),
                    "{algorithm:?} {part_size}"
                );
            }
        }
    }

    #[test]
    fn appending_continues_a_crc() {
        for algorithm in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let (a, b) = DATA.split_at(17);
            let appended = algorithm.append(algorithm.checksum(a), b);
            assert_eq!(appended, algorithm.checksum(DATA), "{algorithm:?}");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hash(kind: HashKind, data: &[u8]) -> Vec<u8> {
        let mut digests = Digests::new(None, Some(kind));
        digests.update(data);
        digests.hash().unwrap()
    }

    #[test]
    fn digests_track_crc_hash_and_length() {
        let mut digests = Digests::new(Some(Algorithm::Crc32), Some(HashKind::Sha256));
        for chunk in DATA.chunks(5) {
            digests.update(chunk);
        }
        assert_eq!(digests.crc(), Some(Algorithm::Crc32.checksum(DATA)));
        assert_eq!(digests.hash(), Some(hash(HashKind::Sha256, DATA)));
        assert_eq!(digests.length(), DATA.len() as u64);
        let empty = Digests::new(None, Some(HashKind::Md5));
        assert_eq!(
            empty.hash().map(|h| hex(&h)).as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(empty.crc(), None);
    }

    #[test]
    fn known_hashes() {
        let abc = b"abc";
        assert_eq!(
            hex(&hash(HashKind::Sha1, abc)),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&hash(HashKind::Sha256, abc)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&hash(HashKind::Md5, abc)),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}

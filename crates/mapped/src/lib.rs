//! A read-only memory map of a file, for databases that are read in place (GeoIP MMDB files).
//!
//! Reading a 60–130 MB city database into the heap costs its whole size in every process that
//! opens it, for as long as it is open, plus the time to read it. Mapped, the kernel shares the
//! page cache's copy and a process holds only the pages its lookups touched (a few MB for
//! thousands of addresses). This is what libmaxminddb and the official readers do by default.
//!
//! This crate is the only `unsafe` code in the workspace (every other crate forbids it). See
//! [`Mapped::open`] for the one contract it relies on.

use std::fs::File;
use std::io;
use std::path::Path;

/// The bytes of a file, mapped read-only.
pub struct Mapped {
    map: memmap2::Mmap,
}

impl Mapped {
    /// Maps `path` read-only (private, so even a writable mapping could not reach the file).
    ///
    /// The contract: nobody truncates or rewrites the file in place while it is mapped. Tools
    /// that update these databases (geoipupdate, npm, a package manager) write a new file and
    /// rename it over the old one, which leaves an existing mapping on the old contents. A file
    /// truncated in place under the mapping would make a later read fault (SIGBUS) instead of
    /// returning an error; that is the cost of not copying the file into memory.
    pub fn open(path: &Path) -> io::Result<Mapped> {
        let file = File::open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (cannot be mapped)",
            ));
        }
        #[allow(unsafe_code)]
        // SAFETY: the mapping is read-only and private, and the returned value owns it, so the
        // slice it hands out never outlives the mapping. The remaining obligation (the file is
        // not truncated or changed in place while mapped) is the contract documented above; it
        // cannot be checked, only avoided, and database updaters replace files by rename.
        let map = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file)? };
        // Lookups jump around a search tree: read-ahead would only pull in pages nobody reads.
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Mapped { map })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapped").field("len", &self.map.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_the_bytes_of_a_file_and_refuses_what_is_not_one() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db.bin");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        File::create(&path)?.write_all(&bytes)?;
        let mapped = Mapped::open(&path)?;
        assert_eq!(mapped.len(), bytes.len());
        assert_eq!(mapped.as_ref(), &bytes[..]);

        // Replaced by rename (how database updaters work): the mapping keeps the old contents.
        let next = dir.path().join("db.next");
        File::create(&next)?.write_all(b"new contents")?;
        std::fs::rename(&next, &path)?;
        assert_eq!(mapped.as_ref(), &bytes[..]);
        assert_eq!(Mapped::open(&path)?.as_ref(), b"new contents");

        let err = Mapped::open(dir.path()).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "a directory: {err}");
        let err = Mapped::open(&dir.path().join("missing")).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        Ok(())
    }

    #[test]
    fn an_empty_file_maps_to_no_bytes() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("empty");
        File::create(&path)?;
        let mapped = Mapped::open(&path)?;
        assert!(mapped.is_empty());
        assert_eq!(mapped.as_ref(), b"");
        Ok(())
    }
}

//! Where Gatehouse keeps its configuration and local data. `GATEHOUSE_HOME` puts both under one
//! folder, which is how tests and the demo keep away from the analyst's real files.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no home directory could be determined for this user; set GATEHOUSE_HOME")]
    NoHome,
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// `GATEHOUSE_HOME` if set, otherwise the OS's conventional folders
    /// (on Linux `~/.config/gatehouse` and `~/.local/share/gatehouse`).
    pub fn discover() -> Result<Self, Error> {
        if let Some(home) = std::env::var_os("GATEHOUSE_HOME").filter(|h| !h.is_empty()) {
            return Ok(Self::under(Path::new(&home)));
        }
        let dirs = directories::ProjectDirs::from("dev", "Gatehouse", "gatehouse").ok_or(Error::NoHome)?;
        Ok(Self {
            config_dir: dirs.config_dir().to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
        })
    }

    pub fn under(home: &Path) -> Self {
        Self {
            config_dir: home.join("config"),
            data_dir: home.join("data"),
        }
    }

    /// Creates both folders (owner-only on Unix) if they do not exist yet.
    pub fn ensure(&self) -> Result<(), Error> {
        for dir in [&self.config_dir, &self.data_dir] {
            create_private_dir(dir).map_err(|source| Error::Create {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_puts_config_and_data_side_by_side() {
        let p = Paths::under(Path::new("/tmp/gh"));
        assert_eq!(p.config_dir, PathBuf::from("/tmp/gh/config"));
        assert_eq!(p.data_dir, PathBuf::from("/tmp/gh/data"));
    }

    #[test]
    fn ensure_creates_owner_only_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Paths::under(tmp.path());
        p.ensure().unwrap();
        assert!(p.config_dir.is_dir() && p.data_dir.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p.data_dir).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "data dir must not be readable by others: {mode:o}"
            );
        }
    }
}

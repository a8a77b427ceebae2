//! The dev cluster's passwords: random, kept in files only their owner can read, and handed
//! to PostgreSQL as SCRAM verifiers, so the plain text never reaches the server or its log.

use std::ffi::OsString;
use std::fs::{self, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use super::error::{io, ClusterError};
use crate::config::Secret;

/// Owner read and write, nobody else anything.
const OWNER_ONLY: u32 = 0o600;

/// 256 random bits in base64url: nothing in it needs quoting in SQL, a URL or a file.
pub fn new_password() -> Result<Secret, ClusterError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ClusterError::Setup("the system's random source failed".into()))?;
    Ok(Secret::new(URL_SAFE_NO_PAD.encode(bytes)))
}

/// Writes `password` to `path`, readable by its owner only. The file is replaced whole: a
/// crash leaves the old password or the new one, never part of one.
pub fn write_password_file(path: &Path, password: &Secret) -> Result<(), ClusterError> {
    let partial = with_suffix(path, ".partial");
    let _ = fs::remove_file(&partial);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(OWNER_ONLY)
        .open(&partial)
        .map_err(io(format!("cannot create {}", partial.display())))?;
    // The mode given at creation is cut by the umask; this one is exact.
    file.set_permissions(Permissions::from_mode(OWNER_ONLY))
        .and_then(|()| file.write_all(password.expose().as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(io(format!("cannot write {}", partial.display())))?;
    fs::rename(&partial, path).map_err(io(format!("cannot write {}", path.display())))
}

/// The password kept in `path`; none when there is no such file.
pub fn read_password_file(path: &Path) -> Result<Option<Secret>, ClusterError> {
    match fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Err(ClusterError::Setup(format!(
            "{} is empty; delete it, and maia sets a new password at its next start",
            path.display()
        ))),
        Ok(text) => Ok(Some(Secret::new(text.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("cannot read {}", path.display()))(e)),
    }
}

/// The password kept in `path`, made and kept there if there is none.
pub fn read_or_make_password_file(path: &Path) -> Result<Secret, ClusterError> {
    if let Some(password) = read_password_file(path)? {
        return Ok(password);
    }
    let password = new_password()?;
    write_password_file(path, &password)?;
    Ok(password)
}

/// What PostgreSQL stores for `password`. `ALTER ROLE … PASSWORD` with it sets the
/// password without the plain text.
pub fn scram_verifier(password: &Secret) -> String {
    postgres_protocol::password::scram_sha_256(password.expose().as_bytes())
}

/// `text` fit for a URL's userinfo or query: every byte but the unreserved ones (RFC 3986)
/// as `%XX`.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("maia-pw-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_password_file_is_the_owners_only_and_reads_back() {
        let dir = scratch("file");
        let path = dir.join("superuser.password");
        let password = new_password().unwrap();
        write_password_file(&path, &password).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let read = read_password_file(&path).unwrap().unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(mode, 0o600);
        assert_eq!(read.expose(), password.expose());
        assert_eq!(password.expose().len(), 43, "256 bits in base64url");
    }

    #[test]
    fn a_missing_file_is_none_and_an_empty_one_an_error() {
        let dir = scratch("missing");
        let missing = read_password_file(&dir.join("app.password")).unwrap();
        fs::write(dir.join("empty"), "\n").unwrap();
        let empty = read_password_file(&dir.join("empty"));
        let _ = fs::remove_dir_all(&dir);
        assert!(missing.is_none());
        assert!(matches!(empty, Err(ClusterError::Setup(_))));
    }

    #[test]
    fn two_passwords_differ_and_the_verifier_does_not_hold_the_password() {
        let (a, b) = (new_password().unwrap(), new_password().unwrap());
        let verifier = scram_verifier(&a);
        assert_ne!(a.expose(), b.expose());
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
        assert!(!verifier.contains(a.expose()));
    }

    #[test]
    fn percent_encoding_keeps_unreserved_bytes_only() {
        assert_eq!(percent_encoded("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encoded("p@ss:w/rd%é"), "p%40ss%3Aw%2Frd%25%C3%A9");
    }
}

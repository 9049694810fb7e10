//! Files callbudget writes for people (reports, charts, exports): each written beside its final
//! name and renamed into place, so a reader never sees half a file; with the permissions the
//! umask gives (0644 under umask 022, so a web server can serve a report); and never through a
//! symbolic link below the output directory that callbudget did not create, so a link planted in
//! `--out` cannot redirect a write to another file.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "refusing to write through {}: it is a symbolic link inside the output directory",
        path.display()
    )]
    SymbolicLink { path: PathBuf },
}

/// Creates `root/relative` and every directory between them, refusing any component below `root`
/// that is a symbolic link (`root` itself is the user's choice and may be one). Returns the path.
pub fn create_dirs_below(root: &Path, relative: &Path) -> Result<PathBuf, OutputError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| OutputError::Io { path, source }
    };
    std::fs::create_dir_all(root).map_err(io(root))?;
    let mut dir = root.to_owned();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            continue;
        };
        dir.push(name);
        match dir.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(OutputError::SymbolicLink { path: dir });
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(OutputError::Io {
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "a file is in the way of a directory",
                    ),
                    path: dir,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).map_err(io(&dir))?;
            }
            Err(e) => {
                return Err(OutputError::Io {
                    path: dir,
                    source: e,
                });
            }
        }
    }
    Ok(dir)
}

/// Writes `path` through `write`, into a temporary file of a unique name in the same directory
/// that is then renamed over `path`: the rename replaces a link at `path` rather than following
/// it, two writers never share a temporary file, and a failed write leaves nothing behind.
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    let err = |source| OutputError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".callbudget-").suffix(".partial");
    #[cfg(unix)]
    {
        // Created 0666 & !umask, as any file the user's shell would create; tempfile's default
        // (0600) would hide a report from the web server meant to serve it.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut file = builder.tempfile_in(dir).map_err(err)?;
    write(file.as_file_mut())
        .and_then(|()| file.as_file().sync_all())
        .map_err(err)?;
    file.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Writes `data` to `path` (see [`write_with`]).
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), OutputError> {
    write_with(path, |file| file.write_all(data))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_written_file_has_the_umasks_permissions_and_replaces_a_link_without_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious.txt");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.path().join("report.html");
        std::os::unix::fs::symlink(&target, &link).unwrap();

        write_atomically(&link, b"<html>").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert!(!link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&link).unwrap(), b"<html>");
        // The umask is the test runner's: the mode is what any newly created file gets.
        let probe = dir.path().join("probe");
        std::fs::File::create(&probe).unwrap();
        let expected = probe.metadata().unwrap().permissions().mode() & 0o777;
        let mode = link.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected);
    }

    #[test]
    fn a_link_below_the_output_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), out.join("api_requests")).unwrap();
        let err = create_dirs_below(&out, Path::new("api_requests/org=1")).unwrap_err();
        assert!(matches!(err, OutputError::SymbolicLink { .. }), "{err}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

        let made = create_dirs_below(&out, Path::new("requests/org=1/day=2026-11-19")).unwrap();
        assert!(made.is_dir());
        assert_eq!(made, out.join("requests/org=1/day=2026-11-19"));
    }
}

//! The database an import writes into. An existing one is opened as every command opens it. A new
//! one (no file at the path yet) is built under a name of its own beside it, without a journal,
//! and published under its path only once the import is complete: it is written once instead of
//! twice (into the write-ahead log, then into the file), nobody can read it half-built, and an
//! import that fails leaves no file behind (one killed outright leaves only its hidden building
//! file, which nothing reads).

use crate::{Store, StoreError};
use std::path::{Path, PathBuf};
use tempfile::TempPath;

/// Where an import writes: see the module docs. Dropped without [`ImportDatabase::publish`], a new
/// database is deleted.
#[derive(Debug)]
pub struct ImportDatabase {
    // Declared first, so that it closes before a new database's file is removed.
    store: Store,
    staged: Option<Staged>,
}

/// A new database under its building name, and the path it is published under; deleted when
/// dropped unpublished.
#[derive(Debug)]
struct Staged {
    /// Removed when dropped.
    building: Option<TempPath>,
    path: PathBuf,
}

impl ImportDatabase {
    /// The database at `path` (see [`Store::open`]), or a new one to be published there.
    pub fn open(path: &Path) -> Result<ImportDatabase, StoreError> {
        // A link, even a dangling one, is not "no file": it is opened in place.
        let is_new = path != Path::new(":memory:")
            && matches!(path.symlink_metadata(), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
        if is_new && let Some(building) = building_file(path) {
            let staged = Staged {
                building: Some(building),
                path: path.to_owned(),
            };
            // Dropped on failure, `staged` takes with it whatever the open made.
            if let Some(building) = &staged.building
                && let Ok(mut store) = Store::open(building)
            {
                store.begin_bulk_load()?;
                return Ok(ImportDatabase {
                    store,
                    staged: Some(staged),
                });
            }
        }
        // Also when the building file cannot be made (a read-only directory): then the error
        // names the path asked for.
        Ok(ImportDatabase {
            store: Store::open(path)?,
            staged: None,
        })
    }

    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Makes what was imported the database at its path: a new database is switched to WAL mode,
    /// synced and given its name, unless another file took that name meanwhile (then it is
    /// deleted and that file is left as it is).
    pub fn publish(self) -> Result<(), StoreError> {
        let ImportDatabase { mut store, staged } = self;
        let Some(staged) = staged else {
            return Ok(());
        };
        let ended = store.end_bulk_load();
        // Closed first (also when that failed): the last connection takes the write-ahead log
        // back into the file.
        drop(store);
        ended?;
        staged.publish()
    }
}

impl Staged {
    fn publish(mut self) -> Result<(), StoreError> {
        let Some(building) = self.building.take() else {
            return Ok(());
        };
        let failed = |source| StoreError::Publish {
            path: self.path.clone(),
            source,
        };
        std::fs::File::open(&building)
            .and_then(|file| file.sync_all())
            .map_err(failed)?;
        // Never over a file that took the name meanwhile (a rename that refuses to replace, else
        // a link); a refused building file is removed with its `TempPath`.
        if let Err(refused) = building.persist_noclobber(&self.path) {
            return Err(match refused.error.kind() {
                std::io::ErrorKind::AlreadyExists => StoreError::TakenMeanwhile {
                    path: self.path.clone(),
                },
                _ => failed(refused.error),
            });
        }
        // The new name made durable where the file system can: the database is complete and has
        // its name whatever this says.
        let directory = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let _ = std::fs::File::open(directory).and_then(|dir| dir.sync_all());
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // The file itself goes with its `TempPath`; SQLite's files beside it, if any, here.
        if let Some(building) = &self.building {
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut file = building.to_path_buf().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

/// A new, empty file `.NAME.import-XXXXXX` beside `path` (hidden; created exclusively, never
/// through a link), with the permissions the umask gives, as the database would have had.
fn building_file(path: &Path) -> Option<TempPath> {
    let name = path.file_name()?.to_string_lossy();
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let prefix = format!(".{name}.import-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(directory)
        .ok()
        .map(tempfile::NamedTempFile::into_temp_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrgId;
    use crate::import::{DEFAULT_MAX_SPAN, ImportOptions, LogFormat, Provider, import_log};
    use callbudget_api::budget::BudgetModel;

    fn options() -> ImportOptions {
        ImportOptions {
            org_id: OrgId::new("77"),
            org_name: None,
            provider: Provider::Meraki,
            format: LogFormat::Jsonl,
            budget: BudgetModel::meraki(),
            strict: false,
            max_span: DEFAULT_MAX_SPAN,
        }
    }

    const LOG: &str = "{\"ts\":\"2026-11-20T10:00:00Z\",\"path\":\"/a\",\"status\":429}\n\
                       {\"ts\":\"2026-11-20T10:00:01Z\",\"path\":\"/b\",\"status\":200}\n";

    fn import(database: &mut ImportDatabase) {
        let now = callbudget_api::timestamp::parse("2026-11-21T00:00:00Z").unwrap();
        let summary = import_log(
            database.store(),
            LOG.as_bytes(),
            Path::new("log.jsonl"),
            &options(),
            now,
        )
        .unwrap();
        assert_eq!(summary.records, 2);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_new_database_is_built_aside_and_appears_whole_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cb.db");
        let mut database = ImportDatabase::open(&path).unwrap();
        let building = names(dir.path());
        assert_eq!(building.len(), 1);
        assert!(building[0].starts_with(".cb.db.import-"), "{building:?}");
        assert_eq!(database.store().path(), dir.path().join(&building[0]));
        import(&mut database);
        // Nobody sees it before it is complete.
        assert!(!path.exists());
        assert_eq!(names(dir.path()), building);
        database.publish().unwrap();
        assert_eq!(names(dir.path()), ["cb.db"]);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let requests: i64 = conn
            .query_row("SELECT count(*) FROM api_requests", [], |row| row.get(0))
            .unwrap();
        assert_eq!(requests, 2);
        drop(conn);
        // An ordinary database from then on: the next import opens it in place.
        let mut database = ImportDatabase::open(&path).unwrap();
        assert_eq!(database.store().path(), path);
        import(&mut database);
        database.publish().unwrap();
    }

    #[test]
    fn a_new_database_dropped_unpublished_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut database = ImportDatabase::open(&dir.path().join("cb.db")).unwrap();
        import(&mut database);
        drop(database);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_file_that_took_the_name_meanwhile_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cb.db");
        let mut database = ImportDatabase::open(&path).unwrap();
        import(&mut database);
        std::fs::write(&path, "someone else's").unwrap();
        let err = database.publish().unwrap_err();
        assert!(
            matches!(&err, StoreError::TakenMeanwhile { path: named } if named == &path),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{} appeared while the import built the new database beside it: it is left as it is and nothing was imported (import again to import into it)",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone else's");
        assert_eq!(names(dir.path()), ["cb.db"]);
    }
}

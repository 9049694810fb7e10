//! Which provider an organization's log comes from and the budget model its log is replayed
//! through (table `org_providers`, migration 0005). The model is kept as JSON text: the store owns
//! the SQL, [`callbudget_api::budget::BudgetModel`] owns the format.

use super::{OrgId, Store, StoreError};
use callbudget_api::timestamp;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

/// An organization's provider and its budget model as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProvider {
    /// `meraki`, `xdr` or `generic`.
    pub provider: String,
    /// The budget model, JSON.
    pub budget_model_json: String,
}

impl Store {
    /// Records `org_id`'s provider and budget model (the organization must be stored), replacing
    /// what was recorded before.
    pub fn set_org_provider(
        &mut self,
        org_id: &OrgId,
        stored: &StoredProvider,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        upsert_org_provider(&self.conn, org_id, stored, updated_at)
            .map_err(self.sql_error("storing the organization's provider"))
    }

    /// `org_id`'s provider and budget model; `None` when none was recorded (a Meraki
    /// organization filled by `callbudget collect`).
    pub fn org_provider(&self, org_id: &OrgId) -> Result<Option<StoredProvider>, StoreError> {
        let err = self.sql_error("reading the organization's provider");
        self.conn
            .query_row(
                "SELECT provider, budget_model FROM org_providers WHERE org_id = ?1",
                [org_id],
                |row| {
                    Ok(StoredProvider {
                        provider: row.get(0)?,
                        budget_model_json: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(err)
    }
}

/// [`Store::set_org_provider`]'s statement, in a transaction of the caller's (an import stores the
/// provider with the log it came with).
pub(super) fn upsert_org_provider(
    conn: &rusqlite::Connection,
    org_id: &OrgId,
    stored: &StoredProvider,
    updated_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO org_providers (org_id, provider, budget_model, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org_id) DO UPDATE SET
             provider = excluded.provider,
             budget_model = excluded.budget_model,
             updated_at = excluded.updated_at",
        params![
            org_id,
            stored.provider,
            stored.budget_model_json,
            timestamp::format(&updated_at)
        ],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use callbudget_api::Organization;

    #[test]
    fn a_provider_is_replaced_and_an_unknown_org_has_none() {
        let mut store = Store::open_in_memory().unwrap();
        let now = timestamp::parse("2026-11-20T00:00:00Z").unwrap();
        let org = Organization {
            id: "xdr-acme".into(),
            name: "Acme".into(),
            url: None,
            api: None,
            licensing: None,
            cloud: None,
            management: None,
        };
        store.upsert_organizations(&[org], now).unwrap();
        let id = OrgId::new("xdr-acme");
        assert_eq!(store.org_provider(&id).unwrap(), None);
        for provider in ["generic", "xdr"] {
            let stored = StoredProvider {
                provider: provider.into(),
                budget_model_json: format!(r#"{{"name":"{provider}"}}"#),
            };
            store.set_org_provider(&id, &stored, now).unwrap();
            assert_eq!(store.org_provider(&id).unwrap(), Some(stored));
        }
        let bad = StoredProvider {
            provider: "aws".into(),
            budget_model_json: "{}".into(),
        };
        assert!(store.set_org_provider(&id, &bad, now).is_err());
    }
}

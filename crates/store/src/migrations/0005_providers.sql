-- Which provider's API an organization's log comes from, and the call budget its log is replayed
-- through. Written by `callbudget import`; an organization without a row is a Meraki one (what
-- `callbudget collect` fills). Only adds a table: api_requests and the views are untouched.
CREATE TABLE org_providers (
    org_id       TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- meraki, xdr or generic.
    provider     TEXT NOT NULL CHECK (provider IN ('meraki', 'xdr', 'generic')),
    -- The budget model (crate::budget::BudgetModel) as JSON.
    budget_model TEXT NOT NULL CHECK (json_valid(budget_model)),
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;

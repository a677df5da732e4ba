-- Migration 15: data-sharing agreement terms changed at run time (issue 7).
--
-- An owner's agreement is written in the config file; this table holds a
-- change made while `kuzet serve` runs (an owner withdraws an analytic,
-- shortens retention, narrows who may see its cameras), which the running
-- engine, retention job and API apply without a restart. Terms here only
-- narrow the config's: NULL = as configured. The counter lets every process
-- notice a change with one cheap read.
CREATE TABLE agreement_terms (
  owner TEXT PRIMARY KEY,
  analytics_json TEXT,
  viewer_roles_json TEXT,
  retention_days REAL,
  changed_by TEXT NOT NULL,
  changed_at INTEGER NOT NULL,
  reason TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO change_counter (name, value) VALUES ('agreements', 0);
CREATE TRIGGER agreement_terms_insert AFTER INSERT ON agreement_terms BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'agreements';
END;
CREATE TRIGGER agreement_terms_update AFTER UPDATE ON agreement_terms BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'agreements';
END;
CREATE TRIGGER agreement_terms_delete AFTER DELETE ON agreement_terms BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'agreements';
END;

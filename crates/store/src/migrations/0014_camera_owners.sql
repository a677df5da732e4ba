-- Migration 14: users limited to the cameras of given owners (issue 7).
--
-- Cameras belong to owners (`[[owner]]` in the config, with their
-- data-sharing agreements); a user may be scoped to some of them, e.g. a
-- shopping centre's security staff to its own cameras. Empty = no owner
-- limit (the camera-group scope still applies).
ALTER TABLE user_account ADD COLUMN owners_json TEXT NOT NULL DEFAULT '[]';

-- Migration 12: which cameras' events name an evidence file anywhere in
-- their details (frames, offence packages, video clips), so the evidence
-- route can apply a group-scoped user's camera scope to every such file,
-- not only to an event's main crop. Kept by triggers, so every writer
-- (inserts, a clip attached later) maintains it; an evidence row takes its
-- links with it when retention deletes it.
CREATE TABLE evidence_camera (
  hash TEXT NOT NULL,
  camera TEXT NOT NULL,
  PRIMARY KEY (hash, camera)
) WITHOUT ROWID;
CREATE TRIGGER evidence_camera_on_insert AFTER INSERT ON event
WHEN NEW.details_json IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO evidence_camera (hash, camera)
  SELECT value, NEW.camera FROM json_tree(NEW.details_json)
  WHERE type = 'text' AND length(value) = 64 AND value NOT GLOB '*[^0-9a-f]*';
END;
CREATE TRIGGER evidence_camera_on_update AFTER UPDATE OF details_json ON event
WHEN NEW.details_json IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO evidence_camera (hash, camera)
  SELECT value, NEW.camera FROM json_tree(NEW.details_json)
  WHERE type = 'text' AND length(value) = 64 AND value NOT GLOB '*[^0-9a-f]*';
END;
CREATE TRIGGER evidence_camera_follows AFTER DELETE ON evidence
BEGIN
  DELETE FROM evidence_camera WHERE hash = OLD.hash;
END;
INSERT OR IGNORE INTO evidence_camera (hash, camera)
SELECT j.value, e.camera FROM event e, json_tree(e.details_json) j
WHERE e.details_json IS NOT NULL AND j.type = 'text' AND length(j.value) = 64
  AND j.value NOT GLOB '*[^0-9a-f]*';

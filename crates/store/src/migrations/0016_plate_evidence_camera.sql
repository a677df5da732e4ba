-- Migration 16: plate-read evidence per camera.
--
-- The evidence route applies a camera-scoped user's scope through
-- `evidence_camera` (migration 12), which only events fed. A plate read's
-- crops and frame belong to its camera too; without these links a scoped
-- user could not open the plate crop of a read on their own camera unless an
-- event happened to name it. A trigger keeps the links for every writer;
-- the rows retention deletes take their links with them (migration 12).
CREATE TRIGGER evidence_camera_on_plate_read AFTER INSERT ON plate_reads
BEGIN
  INSERT OR IGNORE INTO evidence_camera (hash, camera)
  SELECT h, NEW.camera FROM (
    SELECT NEW.plate_crop AS h UNION SELECT NEW.vehicle_crop UNION SELECT NEW.frame
  ) WHERE h IS NOT NULL;
END;
INSERT OR IGNORE INTO evidence_camera (hash, camera)
SELECT plate_crop, camera FROM plate_reads WHERE plate_crop IS NOT NULL
UNION SELECT vehicle_crop, camera FROM plate_reads WHERE vehicle_crop IS NOT NULL
UNION SELECT frame, camera FROM plate_reads WHERE frame IS NOT NULL;

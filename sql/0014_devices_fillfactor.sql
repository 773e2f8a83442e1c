-- Room in every `devices` page for in-place (HOT) updates (issue 20). The writers update a
-- device's last_seen (and status) at a bounded rate per device, so a fleet of N devices
-- means about N / (bounded interval) row updates a second; none of the columns they change
-- is indexed, so with free space on the page an update is HOT: no new index entries in
-- `devices_pkey` and `devices_owner`, about 40 per cent fewer WAL records, and a third of the time
-- for a 1 000-device statement in a micro-benchmark (docs/ingest.md, "Fifth round").
-- Rows already stored keep their pages until they move; new rows and moved ones get the room.
ALTER TABLE devices SET (fillfactor = 50);

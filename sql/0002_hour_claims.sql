-- Which loader is working on which upload hour. A claim is live while its owner's session holds the
-- advisory lock (1095585868, owner_id) and its lease has not run out; a loader that died, or stopped
-- renewing, loses its hours to the next loader that asks. A claim is deleted in the same transaction
-- that commits its hour.
CREATE TABLE :AMPLITUDE_SCHEMA.hour_claims (
  upload_hour timestamptz PRIMARY KEY,
  owner_id integer NOT NULL,
  owner text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz NOT NULL
);

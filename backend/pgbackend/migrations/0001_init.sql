-- Version 1: records with revisions from one sequence, and blobs.
--
-- The migration runner sets search_path to the backend's schema, so the
-- names below land in it.

-- Every revision a record ever gets comes from this sequence, so a revision
-- is never given twice, not even to a record deleted and created again.
CREATE SEQUENCE revisions AS bigint MINVALUE 1;

CREATE TABLE records (
	-- Collation "C" compares the bytes of the UTF-8 encoding, the order
	-- that ListRecords promises.
	key      text COLLATE "C" PRIMARY KEY,
	revision bigint NOT NULL DEFAULT nextval('revisions'),
	data     bytea NOT NULL
);

ALTER SEQUENCE revisions OWNED BY records.revision;

CREATE TABLE blobs (
	key  text COLLATE "C" PRIMARY KEY,
	data bytea NOT NULL
);

-- Blobs are ciphertexts, which do not compress: store large ones out of
-- line without trying.
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;

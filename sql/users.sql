-- The users service's database: profiles and addresses, with every
-- personal field encrypted (AES-256-GCM) under a per-user data key that is
-- itself kept wrapped under the master key (see backends/users/vault.c).
-- Erasure deletes the user's data_keys row: what is left of the user, in
-- this database and in its backups, can no longer be read.
-- Safe to run again: everything is IF NOT EXISTS.  Times are UTC.
CREATE DATABASE IF NOT EXISTS users
	CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE users;

CREATE TABLE IF NOT EXISTS schema_version (
	version		INT NOT NULL PRIMARY KEY,
	applied_at	DATETIME(6) NOT NULL,
	description	VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A profile.  subject is the auth identity id (the "sub" of the user's
-- tokens), NULL while the registration is pending: the row is written
-- first, auth is called, and the row becomes active or is removed.
-- email compares case-insensitively, as auth's usernames do; it is NULL
-- once the user is erased.  *_enc columns hold base64url(nonce ||
-- ciphertext || tag), with "<user id>/<field>" as associated data.
CREATE TABLE IF NOT EXISTS users (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	subject		VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin
			    NULL,
	email		VARCHAR(191) NULL,
	state		ENUM('pending', 'active', 'erased') NOT NULL,
	name_enc	VARCHAR(2048) CHARACTER SET ascii NULL,
	phone_enc	VARCHAR(255) CHARACTER SET ascii NULL,
	version		INT UNSIGNED NOT NULL DEFAULT 1,
	identity_deleted TINYINT NOT NULL DEFAULT 0,
	created_at	DATETIME(6) NOT NULL,
	updated_at	DATETIME(6) NOT NULL,
	erased_at	DATETIME(6) NULL,
	UNIQUE KEY users_subject (subject),
	UNIQUE KEY users_email (email),
	KEY users_erasing (state, identity_deleted)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The per-user data key, wrapped (AES-256-GCM) under the master key with
-- "agora-users/dk/<user id>" as associated data.  Deleting the row is
-- the crypto-shredding of the user.
CREATE TABLE IF NOT EXISTS data_keys (
	user_id		BIGINT NOT NULL PRIMARY KEY,
	wrapped		VARCHAR(255) CHARACTER SET ascii NOT NULL,
	created_at	DATETIME(6) NOT NULL,
	CONSTRAINT data_keys_user FOREIGN KEY (user_id)
	    REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Postal addresses; the lines, city and postal code are encrypted with
-- "<user id>/address/<id>/<field>" as associated data, the country is not.
CREATE TABLE IF NOT EXISTS addresses (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	user_id		BIGINT NOT NULL,
	line1_enc	VARCHAR(2048) CHARACTER SET ascii NULL,
	line2_enc	VARCHAR(2048) CHARACTER SET ascii NULL,
	city_enc	VARCHAR(2048) CHARACTER SET ascii NULL,
	postal_code_enc	VARCHAR(255) CHARACTER SET ascii NULL,
	country		CHAR(2) CHARACTER SET ascii NOT NULL,
	created_at	DATETIME(6) NOT NULL,
	KEY addresses_user (user_id, id),
	CONSTRAINT addresses_user FOREIGN KEY (user_id)
	    REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Events, written in the transaction of the change they report
-- (backends/common/outbox.h): user.registered {id, email} and
-- user.erased {id}.  Never a password, never a decrypted field.
CREATE TABLE IF NOT EXISTS outbox (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	event_id	CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	type		VARCHAR(100) CHARACTER SET ascii NOT NULL,
	aggregate_id	VARCHAR(191) NOT NULL,
	occurred_at	DATETIME(6) NOT NULL,
	data		LONGTEXT NOT NULL CHECK (JSON_VALID(data)),
	UNIQUE KEY outbox_event_id (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Idempotency-Key store (backends/common/idempotency.h).
CREATE TABLE IF NOT EXISTS idempotency_keys (
	scope		VARCHAR(191) CHARACTER SET utf8mb4
			    COLLATE utf8mb4_bin NOT NULL,
	idem_key	VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin
			    NOT NULL,
	request_hash	CHAR(64) CHARACTER SET ascii COLLATE ascii_bin
			    NOT NULL,
	state		ENUM('running', 'done') NOT NULL,
	status		SMALLINT NULL,
	content_type	VARCHAR(255) NULL,
	headers		TEXT NULL,
	body		LONGBLOB NULL,
	created_at	DATETIME(6) NOT NULL,
	PRIMARY KEY (scope, idem_key),
	KEY idempotency_keys_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO schema_version (version, applied_at, description)
	VALUES (1, UTC_TIMESTAMP(6), 'profiles, data keys, addresses, outbox,'
	' idempotency');

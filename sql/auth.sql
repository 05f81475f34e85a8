-- The auth service's database: identities and their credentials, OAuth
-- clients, refresh tokens, revoked access tokens and the signing keys.
-- Safe to run again: everything is IF NOT EXISTS.  Times are Unix seconds
-- (BIGINT), compared with the clock of the service that writes them.
CREATE DATABASE IF NOT EXISTS auth
	CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE auth;

CREATE TABLE IF NOT EXISTS schema_version (
	version		INT NOT NULL PRIMARY KEY,
	applied_at	DATETIME(6) NOT NULL,
	description	VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A person who logs in.  The subject of their tokens is the id.
-- password_hash is "$scrypt$N$r$p$salt$hash" (base64url parts), so the
-- parameters can be raised and old hashes upgraded on the next login.
-- failures/failed_at drive the lockout: the count decays with time.
-- username compares case-insensitively (utf8mb4_unicode_ci).
CREATE TABLE IF NOT EXISTS identities (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	username	VARCHAR(191) NOT NULL,
	password_hash	VARCHAR(255) NOT NULL,
	roles		VARCHAR(255) NOT NULL DEFAULT 'customer',
	failures	INT NOT NULL DEFAULT 0,
	failed_at	BIGINT NOT NULL DEFAULT 0,
	created_at	BIGINT NOT NULL,
	updated_at	BIGINT NOT NULL,
	last_login_at	BIGINT NULL,
	UNIQUE KEY identities_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
-- Version 2: the time of the last password grant, for the GDPR export.
ALTER TABLE identities ADD COLUMN IF NOT EXISTS last_login_at BIGINT NULL
	AFTER updated_at;

-- OAuth clients.  secret_hash is the hex SHA-256 of a random 256-bit
-- secret (high entropy needs no slow hash), NULL for a public client.
-- grant_types and scope are space-separated; roles go into the tokens
-- of client_credentials grants.
CREATE TABLE IF NOT EXISTS clients (
	client_id	VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin
			    NOT NULL PRIMARY KEY,
	secret_hash	CHAR(64) CHARACTER SET ascii NULL,
	grant_types	VARCHAR(255) NOT NULL,
	scope		VARCHAR(255) NOT NULL DEFAULT '',
	roles		VARCHAR(255) NOT NULL DEFAULT '',
	created_at	BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Refresh tokens are opaque; only their SHA-256 is kept.  Every token of
-- one login shares a family; using a token marks it 'used' and issues
-- its successor, and presenting a used one again revokes the family.
CREATE TABLE IF NOT EXISTS refresh_tokens (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	token_hash	CHAR(64) CHARACTER SET ascii NOT NULL,
	family		CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	identity_id	BIGINT NOT NULL,
	client_id	VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin
			    NOT NULL,
	scope		VARCHAR(255) NOT NULL DEFAULT '',
	state		ENUM('active', 'used', 'revoked') NOT NULL
			    DEFAULT 'active',
	created_at	BIGINT NOT NULL,
	expires_at	BIGINT NOT NULL,
	UNIQUE KEY refresh_tokens_hash (token_hash),
	KEY refresh_tokens_family (family),
	KEY refresh_tokens_identity (identity_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Access tokens revoked before they expire (RFC 7009), by jti; rows
-- past expires_at can go.
CREATE TABLE IF NOT EXISTS revoked_access (
	jti		VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin
			    NOT NULL PRIMARY KEY,
	expires_at	BIGINT NOT NULL,
	KEY revoked_access_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Token signing keys.  private_enc is base64url(nonce || AES-256-GCM
-- ciphertext of the PKCS#8 PEM || tag) under the master key, with the kid
-- as associated data.  The newest key without retired_at signs; a key
-- stays in the JWKS until expires_at (set at retirement to the moment
-- its last token expires).
CREATE TABLE IF NOT EXISTS signing_keys (
	kid		VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin
			    NOT NULL PRIMARY KEY,
	alg		VARCHAR(16) NOT NULL,
	private_enc	TEXT CHARACTER SET ascii NOT NULL,
	created_at	BIGINT NOT NULL,
	retired_at	BIGINT NULL,
	expires_at	BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO schema_version (version, applied_at, description)
	VALUES (1, UTC_TIMESTAMP(6), 'identities, clients, tokens, keys');
INSERT IGNORE INTO schema_version (version, applied_at, description)
	VALUES (2, UTC_TIMESTAMP(6), 'identities.last_login_at');

-- The catalog service's database: products (categories come later).
-- Safe to run again: everything is IF NOT EXISTS.
CREATE DATABASE IF NOT EXISTS catalog
	CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE catalog;

CREATE TABLE IF NOT EXISTS schema_version (
	version		INT NOT NULL PRIMARY KEY,
	applied_at	DATETIME(6) NOT NULL,
	description	VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Times are UTC (the service sets time_zone '+00:00').  A deleted product
-- keeps its row (deleted_at set); `live` is 1 for live rows and NULL for
-- deleted ones, so the unique key only forbids two live rows with one sku
-- and a sku can be reused after a delete.  sku compares byte for byte,
-- trailing spaces included (nopad_bin): "MUG" and "mug " are different.
CREATE TABLE IF NOT EXISTS products (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	sku		VARCHAR(64) CHARACTER SET utf8mb4
			    COLLATE utf8mb4_nopad_bin NOT NULL,
	name		VARCHAR(200) NOT NULL,
	description	VARCHAR(4000) NOT NULL DEFAULT '',
	price_amount	BIGINT NOT NULL CHECK (price_amount >= 0),
	currency	CHAR(3) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	category	VARCHAR(64) NULL,
	version		INT UNSIGNED NOT NULL DEFAULT 1,
	created_at	DATETIME(6) NOT NULL,
	updated_at	DATETIME(6) NOT NULL,
	deleted_at	DATETIME(6) NULL,
	live		TINYINT AS (IF(deleted_at IS NULL, 1, NULL)) PERSISTENT,
	UNIQUE KEY products_sku_live (sku, live),
	KEY products_category (category, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO schema_version (version, applied_at, description)
	VALUES (1, UTC_TIMESTAMP(6), 'products');

-- Events of the catalog (price and product changes), written in the
-- transaction of the change (backends/common/outbox.h).
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

-- The inventory service's database: stock per sku, reservations with a
-- TTL, the outbox of its events and its Idempotency-Key store.
-- Safe to run again: everything is IF NOT EXISTS.  Times are UTC (the
-- service sets time_zone '+00:00').
CREATE DATABASE IF NOT EXISTS inventory
	CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE inventory;

CREATE TABLE IF NOT EXISTS schema_version (
	version		INT NOT NULL PRIMARY KEY,
	applied_at	DATETIME(6) NOT NULL,
	description	VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per sku.  available = on_hand - reserved is never stored: the
-- CHECK keeps reserved within on_hand, and reservations only ever move
-- `reserved` through one conditional UPDATE (... WHERE on_hand - reserved
-- >= qty), so no interleaving can oversell.  sku compares byte for byte,
-- like catalog.products.sku.  low_stock_threshold: an inventory.low_stock
-- event is written when available drops below it.
CREATE TABLE IF NOT EXISTS stock (
	sku		VARCHAR(64) CHARACTER SET utf8mb4
			    COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
	on_hand		BIGINT NOT NULL DEFAULT 0,
	reserved	BIGINT NOT NULL DEFAULT 0,
	low_stock_threshold BIGINT NOT NULL DEFAULT 5,
	version		INT UNSIGNED NOT NULL DEFAULT 1,
	updated_at	DATETIME(6) NOT NULL,
	CONSTRAINT stock_counts CHECK (on_hand >= 0 AND reserved >= 0
	    AND reserved <= on_hand),
	CONSTRAINT stock_threshold CHECK (low_stock_threshold >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A reservation holds stock for an order until it is committed (the goods
-- leave), released, or expires (the sweeper releases it after expires_at).
CREATE TABLE IF NOT EXISTS reservations (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	order_ref	VARCHAR(64) NULL,
	state		ENUM('active', 'committed', 'released', 'expired')
			    NOT NULL DEFAULT 'active',
	created_by	VARCHAR(191) NOT NULL DEFAULT '',
	created_at	DATETIME(6) NOT NULL,
	expires_at	DATETIME(6) NOT NULL,
	updated_at	DATETIME(6) NOT NULL,
	KEY reservations_due (state, expires_at),
	KEY reservations_order (order_ref)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS reservation_lines (
	reservation_id	BIGINT NOT NULL,
	sku		VARCHAR(64) CHARACTER SET utf8mb4
			    COLLATE utf8mb4_nopad_bin NOT NULL,
	qty		BIGINT NOT NULL CHECK (qty > 0),
	PRIMARY KEY (reservation_id, sku),
	CONSTRAINT reservation_lines_reservation FOREIGN KEY (reservation_id)
	    REFERENCES reservations (id) ON DELETE CASCADE,
	CONSTRAINT reservation_lines_stock FOREIGN KEY (sku)
	    REFERENCES stock (sku)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Events, written in the transaction of the change they report
-- (backends/common/outbox.h); agora-relay delivers them in id order.
CREATE TABLE IF NOT EXISTS outbox (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	event_id	CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	type		VARCHAR(100) CHARACTER SET ascii NOT NULL,
	aggregate_id	VARCHAR(191) NOT NULL,
	occurred_at	DATETIME(6) NOT NULL,
	data		LONGTEXT NOT NULL CHECK (JSON_VALID(data)),
	UNIQUE KEY outbox_event_id (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Idempotency-Key store (backends/common/idempotency.h): one row per
-- caller (scope) and key; pruned after 24 hours.
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
	VALUES (1, UTC_TIMESTAMP(6), 'stock, reservations, outbox, idempotency');

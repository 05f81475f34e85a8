-- The catalog service's database: categories, products, the outbox of
-- its events and its Idempotency-Key store.
-- Safe to run again, also over a version 1 database: tables are IF NOT
-- EXISTS and the version 2 changes are ADD ... IF NOT EXISTS.
CREATE DATABASE IF NOT EXISTS catalog
	CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE catalog;

CREATE TABLE IF NOT EXISTS schema_version (
	version		INT NOT NULL PRIMARY KEY,
	applied_at	DATETIME(6) NOT NULL,
	description	VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Categories form a tree: parent is the slug of another category or NULL
-- for a root.  A category is created after its parent and never changes,
-- so the tree can hold no cycle.  Slugs are [a-z0-9-], 1..64.
CREATE TABLE IF NOT EXISTS categories (
	id		BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	slug		VARCHAR(64) NOT NULL,
	name		VARCHAR(200) NOT NULL,
	parent		VARCHAR(64) NULL,
	created_at	DATETIME(6) NOT NULL,
	UNIQUE KEY categories_slug (slug),
	KEY categories_parent (parent),
	CONSTRAINT categories_parent_fk FOREIGN KEY (parent)
	    REFERENCES categories (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Times are UTC (the service sets time_zone '+00:00').  A deleted product
-- keeps its row (deleted_at set); `live` is 1 for live rows and NULL for
-- deleted ones, so the unique key only forbids two live rows with one sku
-- and a sku can be reused after a delete.  sku compares byte for byte,
-- trailing spaces included (nopad_bin): "MUG" and "mug " are different.
-- category references categories.slug (a missing one is a 422).
-- products_text serves ?q= (MATCH ... AGAINST in boolean mode).
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

-- Version 2: categories, full-text search.  A version 1 database may
-- hold products whose category has no row yet: those get one (named
-- after the slug) before the foreign key is added.
INSERT IGNORE INTO categories (slug, name, parent, created_at)
	SELECT DISTINCT category, category, NULL, UTC_TIMESTAMP(6)
	FROM products WHERE category IS NOT NULL;
-- Without stopwords: InnoDB would otherwise drop "the", "about"... from
-- the index, and a required stopword in a query matches nothing.  The
-- index keeps the setting it was created with.
SET SESSION innodb_ft_enable_stopword = OFF;
ALTER TABLE products
	ADD FULLTEXT KEY IF NOT EXISTS products_text (name, description);
ALTER TABLE products
	ADD CONSTRAINT products_category_fk FOREIGN KEY IF NOT EXISTS
	    (category) REFERENCES categories (slug);
INSERT IGNORE INTO schema_version (version, applied_at, description)
	VALUES (2, UTC_TIMESTAMP(6), 'categories, full-text search, events');

-- Events of the catalog (product.created, product.updated,
-- product.price_changed, product.deleted, category.created), written in
-- the transaction of the change (backends/common/outbox.h).
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

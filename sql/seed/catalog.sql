-- Demo catalog: a small category tree and a dozen products.  Loaded
-- after sql/catalog.sql; skips slugs and skus already present, so it can
-- run again.  Categories first: products reference them.
USE catalog;

INSERT IGNORE INTO categories (slug, name, parent, created_at)
VALUES
	('home', 'Home', NULL, UTC_TIMESTAMP(6)),
	('clothing', 'Clothing', NULL, UTC_TIMESTAMP(6)),
	('books', 'Books', NULL, UTC_TIMESTAMP(6)),
	('stationery', 'Stationery', NULL, UTC_TIMESTAMP(6));
-- A child: ?category=home lists the kitchen too.
INSERT IGNORE INTO categories (slug, name, parent, created_at)
VALUES
	('kitchen', 'Kitchen', 'home', UTC_TIMESTAMP(6));

INSERT IGNORE INTO products
	(sku, name, description, price_amount, currency, category,
	 created_at, updated_at)
VALUES
	('MUG-001', 'Mug', 'A sturdy 330 ml stoneware mug.', 1299, 'EUR',
	 'kitchen', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('MUG-002', 'Espresso cup', 'Set of two 90 ml cups with saucers.',
	 1599, 'EUR', 'kitchen', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('TEA-001', 'Teapot', 'Cast iron teapot, 800 ml.', 4500, 'EUR',
	 'kitchen', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('KNF-001', 'Chef''s knife', '20 cm blade, carbon steel.', 8900, 'EUR',
	 'kitchen', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('TSH-001', 'T-shirt', 'Organic cotton, unisex.', 2500, 'EUR',
	 'clothing', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('HOD-001', 'Hoodie', 'Heavyweight fleece hoodie.', 5900, 'EUR',
	 'clothing', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('SCK-001', 'Socks', 'Merino wool, three pairs.', 1800, 'EUR',
	 'clothing', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('BK-001', 'The C Programming Language', 'Kernighan & Ritchie, 2nd edition.',
	 4999, 'EUR', 'books', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('BK-002', 'Advanced Programming in the UNIX Environment',
	 'Stevens & Rago, 3rd edition.', 6999, 'EUR', 'books',
	 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('NB-001', 'Notebook', 'A5, dotted, 192 pages.', 1450, 'EUR',
	 'stationery', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('PEN-001', 'Fountain pen', 'Steel nib, medium.', 3200, 'EUR',
	 'stationery', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
	('LMP-001', 'Desk lamp', 'LED, warm white, dimmable.', 3999, 'EUR',
	 'home', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));

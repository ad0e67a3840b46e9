-- Written at pg_bss 0.12.0: regions. In a database without a region every
-- stream is this database's; a category's home and policy are kept for the
-- day it joins regions.
SELECT bss.set_category_home('customer', NULL, 'forward');
SELECT home_region, owner, epoch, on_foreign FROM bss.stream_owner('customer-1');

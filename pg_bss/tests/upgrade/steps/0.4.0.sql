-- Written at pg_bss 0.4.0: bss.stats reads what is there.
SELECT stat, key FROM bss.stats WHERE stat IN ('streams', 'dead_letters') ORDER BY stat, key;

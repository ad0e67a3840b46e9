-- Written at pg_bss 0.13.0: fencing a region. With bss.region_fencing off
-- (the default) nothing is fenced; bss.regions says which peers replicate.
SELECT reason FROM bss.region_fence();
SELECT count(*) FROM bss.regions WHERE replicated;

-- Every row of every table of the extension's schemas (partitions through
-- their parent), in a stable order: what an update must leave as it was.
SELECT format('SELECT %L AS "table", t::text AS "row" FROM %s t ORDER BY 2', c.oid::regclass, c.oid::regclass)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('bss', 'bss_projection') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 1
\gexec

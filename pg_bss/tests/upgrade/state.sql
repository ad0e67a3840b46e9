-- Every row of every table of the extension's schemas (partitions through
-- their parent), one line each: the table, a tab, the row as text.
\pset format unaligned
\pset tuples_only on
\pset fieldsep '\t'
SELECT format('SELECT %L, t::text FROM %s t ORDER BY 2', c.oid::regclass, c.oid::regclass)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('bss', 'bss_projection') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 1
\gexec

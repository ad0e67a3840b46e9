-- Every table of the extension's schemas (partitions through their parent):
-- a line with its name alone, then one line per row: the table, a tab, the
-- row as a JSON object (so that run.sh can leave out columns an update added).
\pset format unaligned
\pset tuples_only on
\pset fieldsep '\t'
SELECT format('SELECT line FROM (SELECT 0 AS k, %L AS line UNION ALL
                SELECT 1, %L || E''\t'' || to_jsonb(t)::text FROM %s t) s ORDER BY k, line',
              c.oid::regclass, c.oid::regclass, c.oid::regclass)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('bss', 'bss_projection') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 1
\gexec

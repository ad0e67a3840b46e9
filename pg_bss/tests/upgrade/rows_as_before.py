"""The state after an update (state.sql's lines, on stdin) restricted to what
the state before it (the file named by the argument) had: the tables it
named, and of each row the columns its rows had. Prints the result, for a
diff with the state before passed through it too (both printed alike)."""
import json
import sys

tables = {}  # table -> the columns of its rows before (None: no rows then)
with open(sys.argv[1]) as before:
    for line in before:
        table, _, row = line.rstrip("\n").partition("\t")
        tables.setdefault(table, None)
        if row:
            tables[table] = set(json.loads(row))

lines = []
for line in sys.stdin:
    table, tab, row = line.rstrip("\n").partition("\t")
    if table not in tables:
        continue
    if row:
        columns = tables[table]
        values = json.loads(row, parse_float=str, parse_int=str)
        if columns is not None:
            values = {k: v for k, v in values.items() if k in columns}
        row = json.dumps(values, sort_keys=True, ensure_ascii=False)
    lines.append(table + tab + row)
print("\n".join(sorted(lines)))

#!lua name=bss_sidecar_v2
--[[
The Redis side of bss-sidecar's Redis sink (src/sink/redis.rs), loaded with
FUNCTION LOAD REPLACE. It applies a chunk of events in commit order,
idempotently, so the sidecar may deliver events again after any failure:

  FCALL bss_apply_events_v2 <numkeys> <chain key> <key>...
        <maxlen or ''> <prev or ''> <event count>
        then per event:
        <stream key #> <agg key #> <counter key #> (1-based, into the keys)
        <entry id> <version> <type> <counter expire-at> <data exact: 1 or 0>
        <field count> [<field> <value>]... (the last field is data)

  * stream: XADD <stream key> [MAXLEN ~ <maxlen>] <entry id> <fields>, only
    when <entry id> is greater than the stream's last ID (otherwise the
    entry is there already: redelivery adds nothing);
  * aggregate: hash <agg key> {state, version, exact}; state becomes the
    RFC 7396 merge patch of data onto state, only when <version> is greater
    than the stored version;
  * counter: HINCRBY <counter key> <type> by the entries added (never by an
    entry delivered before); EXPIREAT <expire-at> with the first count of
    a type in the key;
  * chain: the sidecar sends the next call before this one's reply. <prev>
    is then the entry id of the last event of the call sent before it, and
    the call runs only if field `last` of hash <chain key> holds exactly
    that id, that is, only if the call before it ran. A refused call
    (BSSCHAIN) writes nothing: otherwise, with the one before it refused
    (OOM, BUSY), its higher entry ids would land first and the retried
    lower ones be taken for redeliveries. Every call that runs sets `last`
    to its last entry id; a call with no predecessor in flight sends ''
    and is not checked.

Returns {entries added, states changed}. An error names the event:
"BSSEVENT <i> <error>" (i: 1-based in the call); malformed data (BSSDATA)
fails before anything is written. One call per chunk (not per event) saves
Redis the per-call overhead, reads each state once, and counts each minute
and type once.

Exact JSON: Redis 7.0's cjson has no array_mt ([] comes back as {}) and
prints numbers with 14 significant digits. So the merge goes through cjson
(C, fast) only when both texts survive it: <data exact> = 1 says so for the
data (the sidecar checks: no empty array, no number beyond 14 significant
digits), field `exact` = 1 for the stored state (cjson's own output, or data
that was exact); that path keeps every value but not the member order or
the spelling (-0.5e3 becomes -500, "/" becomes "\/"). Otherwise a scanner
merges the raw texts, in order and byte for byte: it parses only
object members and carries every other value (arrays, strings, numbers,
literals) as its original text. The text is valid JSON
already (the sidecar checks it), so the scanner only finds where values
end; it never loops forever on bad input.
]]

-- Redis runs the library's top level in a sandbox without the standard
-- libraries: they are bound on the first call.
local find, sub, byte, concat, decode, encode, null
local function bind_libraries()
    find, sub, byte, concat = string.find, string.sub, string.byte, table.concat
    decode, encode, null = cjson.decode, cjson.encode, cjson.null
end

local QUOTE, LBRACE, RBRACE, LBRACKET, COMMA, COLON = 34, 123, 125, 91, 44, 58

local function fail(msg)
    error({err = 'BSSDATA ' .. msg})
end

-- Index of the first non-whitespace character at or after i (#s + 1 if none).
local function skip_ws(s, i)
    return find(s, '[^ \t\n\r]', i) or (#s + 1)
end

-- s[i] is '"': index just after the closing quote.
local function string_end(s, i)
    local pos = i + 1
    while true do
        local j = find(s, '["\\]', pos)
        if not j then
            fail('unterminated string at ' .. i)
        end
        if byte(s, j) == QUOTE then
            return j + 1
        end
        pos = j + 2
    end
end

-- s[i] starts a value: index just after it.
local function value_end(s, i)
    local c = byte(s, i)
    if c == QUOTE then
        return string_end(s, i)
    end
    if c == LBRACE or c == LBRACKET then
        local depth, pos = 1, i + 1
        while true do
            local j = find(s, '[%[%]{}"]', pos)
            if not j then
                fail('unterminated object or array at ' .. i)
            end
            local d = byte(s, j)
            if d == QUOTE then
                pos = string_end(s, j)
            else
                if d == LBRACE or d == LBRACKET then
                    depth = depth + 1
                else
                    depth = depth - 1
                end
                if depth == 0 then
                    return j + 1
                end
                pos = j + 1
            end
        end
    end
    -- A number or a literal ends at the next delimiter.
    local j = find(s, '[,}%]%s]', i)
    if c == nil or j == i then
        fail('value expected at ' .. i)
    end
    return j or (#s + 1)
end

-- The member name a raw JSON string stands for (escapes decoded).
local function name_of(raw)
    if find(raw, '\\', 1, true) then
        return decode(raw)
    end
    return sub(raw, 2, -2)
end

-- s[i] is '{': its members in order, as raw text, and the index after '}'.
local function parse_object(s, i)
    local o = {n = 0, keys = {}, names = {}, vals = {}, at = {}}
    local pos = skip_ws(s, i + 1)
    if byte(s, pos) == RBRACE then
        return o, pos + 1
    end
    while true do
        if byte(s, pos) ~= QUOTE then
            fail('member name expected at ' .. pos)
        end
        local key_end = string_end(s, pos)
        local key = sub(s, pos, key_end - 1)
        pos = skip_ws(s, key_end)
        if byte(s, pos) ~= COLON then
            fail("':' expected at " .. pos)
        end
        pos = skip_ws(s, pos + 1)
        local val_end = value_end(s, pos)
        local val = sub(s, pos, val_end - 1)
        local name = name_of(key)
        local k = o.at[name]
        if k then
            o.vals[k] = val -- a repeated name: the last one counts
        else
            k = o.n + 1
            o.n = k
            o.keys[k], o.names[k], o.vals[k], o.at[name] = key, name, val, k
        end
        pos = skip_ws(s, val_end)
        local c = byte(s, pos)
        if c == RBRACE then
            return o, pos + 1
        end
        if c ~= COMMA then
            fail("',' or '}' expected at " .. pos)
        end
        pos = skip_ws(s, pos + 1)
    end
end

-- RFC 7396 MergePatch(target, patch) on raw JSON texts; target may be nil.
local function merge(target, patch)
    if byte(patch, 1) ~= LBRACE then
        return patch
    end
    local t
    if target ~= nil and byte(target, 1) == LBRACE then
        t = parse_object(target, 1)
    else
        t = {n = 0, keys = {}, names = {}, vals = {}, at = {}}
    end
    local p = parse_object(patch, 1)
    for k = 1, p.n do
        local name, v = p.names[k], p.vals[k]
        local at = t.at[name]
        if v == 'null' then
            if at then
                t.vals[at] = false
            end
        elseif at then
            t.vals[at] = merge(t.vals[at] or nil, v)
        else
            local n = t.n + 1
            t.n = n
            t.keys[n], t.names[n], t.vals[n], t.at[name] = p.keys[k], name, merge(nil, v), n
        end
    end
    local out, m = {}, 0
    for k = 1, t.n do
        local v = t.vals[k]
        if v then
            m = m + 1
            out[m] = t.keys[k] .. ':' .. v
        end
    end
    return '{' .. concat(out, ',') .. '}'
end

-- A decoded JSON object (cjson decodes arrays to tables with keys 1..n;
-- an empty table is an object, as exact texts have no []).
local function is_object(v)
    return type(v) == 'table' and type(next(v) or '') == 'string'
end

-- RFC 7396 MergePatch on cjson-decoded values.
local function merge_decoded(target, patch)
    if not is_object(patch) then
        return patch
    end
    if not is_object(target) then
        target = {}
    end
    for k, v in pairs(patch) do
        if v == null then
            target[k] = nil
        elseif type(v) ~= 'table' then
            target[k] = v -- a scalar replaces (the common case, inline)
        else
            target[k] = merge_decoded(target[k], v)
        end
    end
    return target
end

local function merge_with_cjson(state, data)
    local target
    if state then
        target = decode(state)
    end
    return encode(merge_decoded(target, decode(data)))
end

-- The one JSON value in s, without surrounding whitespace.
local function trimmed(s)
    local a = skip_ws(s, 1)
    if a > #s then
        fail('empty data')
    end
    local b = value_end(s, a)
    if skip_ws(s, b) <= #s then
        fail('text after the value at ' .. b)
    end
    return sub(s, a, b - 1)
end

-- The state after applying data to state (nil: none yet), and whether it
-- is exact (see the top).
local function merged_state(state, state_exact, data, data_exact)
    if data_exact and (state == nil or state_exact) then
        local ok, out = pcall(merge_with_cjson, state, data)
        if ok then
            return out, true
        end
    end
    local patch = trimmed(data)
    if byte(patch, 1) ~= LBRACE then
        return patch, data_exact
    end
    return merge(state, patch), false
end

-- Raises the error of event i of the call: BSSEVENT <i> <error>.
local function fail_event(i, e)
    if type(e) == 'table' then
        e = e.err
    end
    error({err = 'BSSEVENT ' .. i .. ' ' .. tostring(e)})
end

-- The aggregate of one key within a call: its stored fields (base), then
-- the events of the call applied in order. While every event is exact, the
-- state stays decoded (doc[1]) and is encoded once, at the end of the call,
-- instead of decoded and encoded again for every event of the stream.
local function new_agg(version, state, exact)
    return {v = tonumber(version), state = state, exact = exact,
        base_state = state, base_exact = exact, applied = {}}
end

-- Redoes agg's applied events one by one from its base, with merged_state:
-- the answer when the decoded state cannot be encoded (cjson's limits).
local function replay(agg, args)
    agg.doc, agg.state, agg.exact = nil, agg.base_state, agg.base_exact
    for _, e in ipairs(agg.applied) do
        local ok, state, exact = pcall(merged_state, agg.state, agg.exact, args[e.data_at], e.exact)
        if not ok then
            fail_event(e.i, state)
        end
        agg.state, agg.exact = state, exact
    end
end

-- agg.state as text: the decoded state encoded, if there is one.
local function materialize(agg, args)
    if agg.doc then
        local ok, text = pcall(encode, agg.doc[1])
        if ok then
            agg.doc, agg.state, agg.exact = nil, text, true
        else
            replay(agg, args)
        end
    end
end

-- Applies event i (data at args[data_at]) to agg.
local function apply_event(agg, args, i, data_at, data_exact)
    local data = args[data_at]
    if data_exact and (agg.doc or agg.state == nil or agg.exact) then
        local ok, patch = pcall(decode, data)
        if ok and not agg.doc then
            local target
            if agg.state then
                ok, target = pcall(decode, agg.state)
            end
            agg.doc = ok and {target} or nil
        end
        if ok then
            agg.doc[1] = merge_decoded(agg.doc[1], patch)
            agg.applied[#agg.applied + 1] = {i = i, data_at = data_at, exact = data_exact}
            return
        end
    end
    materialize(agg, args)
    local ok, state, exact = pcall(merged_state, agg.state, agg.exact, data, data_exact)
    if not ok then
        fail_event(i, state)
    end
    agg.state, agg.exact = state, exact
    agg.applied[#agg.applied + 1] = {i = i, data_at = data_at, exact = data_exact}
end

local function apply_events(keys, args)
    if not find then
        bind_libraries()
    end
    local maxlen, prev, count = args[1], args[2], tonumber(args[3])
    if count == nil or count < 1 then
        fail('event count is not a positive number')
    end
    local chain = keys[1]
    if prev ~= '' then
        local last = redis.call('HMGET', chain, 'last')[1]
        if last ~= prev then
            error({err = 'BSSCHAIN the call before this one (last entry ' .. prev
                .. ') did not run; ' .. chain .. ' holds ' .. tostring(last)})
        end
    end

    -- 1. Read the states and merge, without writing: bad input fails here,
    -- before anything is written. at[i]: where event i's arguments start.
    local at, aggs = {}, {}
    local pos = 4
    for i = 1, count do
        at[i] = pos
        local nfields = tonumber(args[pos + 8])
        local agg_key = keys[tonumber(args[pos + 1])]
        local v = tonumber(args[pos + 4])
        if nfields == nil or nfields < 1 or v == nil or agg_key == nil
            or keys[tonumber(args[pos])] == nil or keys[tonumber(args[pos + 2])] == nil then
            fail_event(i, 'BSSDATA bad key index, version or field count')
        end
        local data_at = pos + 8 + 2 * nfields
        local agg = aggs[agg_key]
        if agg == nil then
            local cur = redis.pcall('HMGET', agg_key, 'version', 'state', 'exact')
            if cur.err then
                fail_event(i, cur)
            end
            agg = new_agg(cur[1], cur[2] or nil, cur[3] == '1')
            aggs[agg_key] = agg
        end
        if agg.v == nil or v > agg.v then
            apply_event(agg, args, i, data_at, args[pos + 7] == '1')
            agg.v, agg.version, agg.dirty = v, args[pos + 4], true
        end
        pos = data_at + 1
    end
    at[count + 1] = pos
    for _, agg in pairs(aggs) do
        materialize(agg, args)
    end

    -- 2. The stream entries, in order; count what was added.
    local added, counts, expiry = 0, {}, {}
    for i = 1, count do
        local p = at[i]
        local stream, id, first, last = keys[tonumber(args[p])], args[p + 3], p + 9, at[i + 1] - 1
        local res
        if maxlen == '' then
            res = redis.pcall('XADD', stream, id, unpack(args, first, last))
        else
            res = redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, id, unpack(args, first, last))
        end
        if type(res) == 'table' and res.err then
            if not find(res.err, 'equal or smaller', 1, true) then
                fail_event(i, res)
            end -- else delivered before
        else
            added = added + 1
            local counter, ty = keys[tonumber(args[p + 2])], args[p + 5]
            local c = counts[counter]
            if c == nil then
                c = {}
                counts[counter] = c
                expiry[counter] = args[p + 6]
            end
            c[ty] = (c[ty] or 0) + 1
        end
    end

    -- 3. The states and the counters.
    local applied = 0
    for key, agg in pairs(aggs) do
        if agg.dirty then
            redis.call('HSET', key, 'state', agg.state, 'version', agg.version,
                'exact', agg.exact and '1' or '0')
            applied = applied + 1
        end
    end
    for counter, c in pairs(counts) do
        for ty, n in pairs(c) do
            -- The first count of a type in a minute sets the minute's expiry.
            if redis.call('HINCRBY', counter, ty, n) == n then
                redis.call('EXPIREAT', counter, expiry[counter])
            end
        end
    end
    redis.call('HSET', chain, 'last', args[at[count] + 3])
    return {added, applied}
end

redis.register_function{function_name = 'bss_apply_events_v2', callback = apply_events}

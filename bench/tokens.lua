-- SPDX-License-Identifier: Apache-2.0
-- wrk script: every request carries the next of N pre-signed tokens
-- (bench/mint_many.py), so no per-token memo can help.
--   wrk -s bench/tokens.lua URL -- TOKENS_FILE
-- (bench/rss.sh appends a response() that exits after one pass.)
local threads_seen = 0
function setup(thread)
    thread:set("thread_no", threads_seen)
    threads_seen = threads_seen + 1
end

tokens, n, i = {}, 0, 0
function init(args)
    for line in io.lines(args[1]) do
        if #line > 0 then
            n = n + 1
            tokens[n] = "Bearer " .. line
        end
    end
    -- threads start in different places of the list
    i = ((thread_no or 0) * 7919) % n
end

function request()
    i = i % n + 1
    return wrk.format(nil, nil, { ["Authorization"] = tokens[i] })
end


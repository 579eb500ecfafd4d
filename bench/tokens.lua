-- wrk script: every request carries the next of N pre-signed tokens
-- (bench/mint_many.py), so no per-token memo can help.
--   wrk -s bench/tokens.lua URL -- TOKENS_FILE [once]
-- "once" (one wrk thread): stop after one pass over the file.
local threads_seen = 0
function setup(thread)
    thread:set("thread_no", threads_seen)
    threads_seen = threads_seen + 1
end

local tokens, n, i, sent, once = {}, 0, 0, 0, false
function init(args)
    once = args[2] == "once"
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
    sent = sent + 1
    if once and sent > n then
        wrk.thread:stop()
    end
    i = i % n + 1
    return wrk.format(nil, nil, { ["Authorization"] = tokens[i] })
end

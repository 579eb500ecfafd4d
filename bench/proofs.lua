-- SPDX-License-Identifier: Apache-2.0
-- wrk script for the DPoP row: one DPoP-bound access token, and every
-- request with the next of N pre-signed proofs (bench/mint_proofs.py), each
-- used once (the module refuses a replayed jti): wrk thread k of T takes
-- lines k, k+T, k+2T... Past the last one a request goes without a proof,
-- is refused, and bench/run.sh reports the non-2xx answers.
--   wrk -s bench/proofs.lua URL -- PROOFS_FILE TOKEN THREADS
local threads_seen = 0
function setup(thread)
    thread:set("thread_no", threads_seen)
    threads_seen = threads_seen + 1
end

proofs, n, i, auth = {}, 0, 0, nil
function init(args)
    local t, k, line_no = tonumber(args[3] or "1"), thread_no or 0, 0
    for line in io.lines(args[1]) do
        if #line > 0 then
            if line_no % t == k then
                n = n + 1
                proofs[n] = line
            end
            line_no = line_no + 1
        end
    end
    auth = "DPoP " .. args[2]
end

function request()
    i = i + 1
    local h = { ["Authorization"] = auth }
    if i <= n then
        h["DPoP"] = proofs[i]
    end
    return wrk.format(nil, nil, h)
end

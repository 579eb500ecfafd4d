#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every source, build and test file of the project names its licence
# (Apache-2.0, LICENSE) in an SPDX line near its top: one TAP test per file.
# Run by `make check` (srcdir from automake) or by hand from the tree.
set -u
top=${srcdir:-$(dirname "$0")/..}
cd "$top" || exit 1
files=$(find src fuzz tests scripts bench t .ci -type f \
            \( -name '*.[ch]' -o -name '*.sh' -o -name '*.pl' -o -name '*.pm' -o -name '*.t' \
               -o -name '*.py' -o -name '*.lua' -o -name '*.cgi' -o -name '*.PL' -o -name run \) \
            -not -path 't/logs/*' -not -path 't/run/*' -not -path 't/pki/*' \
            -not -path 'src/obo_build.h' 2>/dev/null | sort)
# (src/obo_build.h: written by configure, in the source tree when the build
# is there, as the Debian package's is; its template carries the line)
files="$files Makefile.am configure.ac autogen.sh"
n=0
for f in $files; do n=$((n + 1)); done
echo "1..$n"
i=0
for f in $files; do
    i=$((i + 1))
    if head -n 3 "$f" | grep -q 'SPDX-License-Identifier: Apache-2.0'; then
        echo "ok $i - $f"
    else
        echo "not ok $i - $f has no 'SPDX-License-Identifier: Apache-2.0' in its first 3 lines"
    fi
done

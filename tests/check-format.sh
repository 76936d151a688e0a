#!/bin/sh
# TAP: every C file is as clang-format (with the checked-in .clang-format) would write it.
cd "$1" || exit 1
n=0
fail=0
for f in $(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find common store runtime daemon api cli tests bench -name '*.[ch]'); do
    n=$((n + 1))
    if clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "ok $n - $f"
    else
        echo "not ok $n - $f (run clang-format -i $f)"
        fail=1
    fi
done
echo "1..$n"
exit $fail

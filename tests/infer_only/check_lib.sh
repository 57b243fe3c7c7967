#!/usr/bin/env bash
# Checks of the inference-only library as built (tests/infer_only/CMakeLists.txt):
#   check_lib.sh LIB EXAMPLE_C CC [MODEL W H]
# 1. the C example links against LIB with the C compiler alone (no libstdc++);
# 2. LIB needs nothing outside an allow-list of libc/libm/libgcc symbols: no C++ runtime,
#    no exceptions or RTTI, no allocation, no threads or OpenMP;
# 3. with MODEL (from `qsr export --format engine --golden WxH`): the example reproduces
#    MODEL.golden_out.raw from MODEL.golden_in.raw on several bands, SIMD and scalar.
set -u
lib=${1:?usage: check_lib.sh LIB EXAMPLE_C CC [MODEL W H]}
src=${2:?}
cc=${3:?}
model=${4:-}
failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
root=$(cd "$(dirname "$0")/../.." && pwd)

if "$cc" -std=c99 -O2 -Wall -Wextra -Werror -I"$root" "$src" "$lib" -lm -o "$tmp/example" 2>"$tmp/link.err"; then
  pass "the C example links with $cc and libm alone (no C++ runtime)"
else
  fail "the C example links with $cc without libstdc++: $(head -c 1500 "$tmp/link.err")"
fi

# Symbols LIB uses but does not define.
nm "$lib" 2>/dev/null | awk '$1 != "U" && NF == 3 {print $3}' | sort -u >"$tmp/defined"
nm -u "$lib" 2>/dev/null | awk '{print $NF}' | grep -v -e ':$' -e '^$' | sort -u >"$tmp/used"
comm -23 "$tmp/used" "$tmp/defined" >"$tmp/external"
allowed='^(memcpy|memmove|memset|memchr|memcmp|strcmp|strlen|getenv|lroundf|lround|llround|round|roundf|floor|floorf|ldexp|frexp|__cpu_model|__cpu_features2|__cpu_indicator_init|_GLOBAL_OFFSET_TABLE_|__stack_chk_fail)$'
bad=$(grep -v -E "$allowed" "$tmp/external" | tr '\n' ' ')
if [ -s "$tmp/external" ] && [ -z "$bad" ]; then
  pass "the library needs only: $(tr '\n' ' ' <"$tmp/external")"
else
  fail "the library needs symbols outside libc/libm/libgcc's allow-list: ${bad:-(nm found no symbols)}"
fi
if nm "$lib" 2>/dev/null | grep -q -E '__cxa_|__gxx_personality|_ZTI|_ZTS|_Znw|_Zna|_Zdl|_Zda|malloc|GOMP_|omp_|pthread_'; then
  fail "the library mentions the C++ runtime, RTTI, allocation or threads"
else
  pass "no exceptions, RTTI, allocation or threads in the library"
fi

if [ -n "$model" ]; then
  w=${5:?} h=${6:?}
  ok=0
  for opts in "" "--band 1" "--band 2" "--band 7 --scalar" "--band 64"; do
    "$tmp/example" "$model" "$model.golden_in.raw" "$w" "$h" "$tmp/out.raw" $opts >"$tmp/run.out" 2>&1 &&
      cmp -s "$tmp/out.raw" "$model.golden_out.raw" || { ok=1; cat "$tmp/run.out"; }
  done
  if [ $ok -eq 0 ]; then
    pass "the example reproduces the integer engine's golden output: $(head -c 300 "$tmp/run.out")"
  else
    fail "the example's output differs from $model.golden_out.raw"
  fi
fi
exit $((failures > 0))

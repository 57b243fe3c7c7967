#!/usr/bin/env python3
"""The tree's size limits: no source file over 800 lines, no function over 120 lines.

    scripts/code_limits.py [--top N]   exit status 1 when a limit is broken

Counts the C, C++ and header files git tracks (kernels' .inc bodies included). A function is a
definition that starts at column 0 and ends at the next line that starts with '}' (the layout
clang-format and this tree use); lambdas and class members defined inside a class are counted
with their enclosing function or not at all.
"""
import argparse
import os
import re
import subprocess
import sys

MAX_FILE, MAX_FUNCTION = 800, 120
SOURCES = ('.c', '.cpp', '.h', '.hpp', '.inc')
START = re.compile(r'^(template\b|[A-Za-z_])')
NOT_FUNCTION = re.compile(r'^(namespace|struct|class|enum|union|extern|typedef|using)\b')


def functions(lines):
    i = 0
    while i < len(lines):
        line = lines[i]
        if (START.match(line) and line.rstrip().endswith('{') and not NOT_FUNCTION.match(line)
                and '=' not in line.split('(')[0]):
            j = i + 1
            while j < len(lines) and not lines[j].startswith('}'):
                j += 1
            yield i + 1, j - i + 1, line.strip()
            i = j
        i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--top', type=int, default=5, help='also list the N longest functions and files')
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = subprocess.run(['git', '-C', root, 'ls-files'], capture_output=True, text=True, check=True).stdout.split()
    fns, sizes = [], []
    for f in files:
        if not f.endswith(SOURCES):
            continue
        with open(os.path.join(root, f), errors='replace') as fh:
            lines = fh.read().split('\n')
        sizes.append((len(lines) - 1, f))
        fns += [(n, f, start, sig) for start, n, sig in functions(lines)]
    fns.sort(reverse=True)
    sizes.sort(reverse=True)
    bad = [f'{f}: {n} lines (limit {MAX_FILE})' for n, f in sizes if n > MAX_FILE]
    bad += [f'{f}:{s}: function of {n} lines (limit {MAX_FUNCTION}): {sig[:70]}' for n, f, s, sig in fns if n > MAX_FUNCTION]
    for n, f, s, sig in fns[:args.top]:
        print(f'longest functions: {n:4d} {f}:{s} {sig[:70]}')
    for n, f in sizes[:args.top]:
        print(f'longest files:     {n:4d} {f}')
    for b in bad:
        print('code_limits: ' + b, file=sys.stderr)
    print(f'code_limits: {len(fns)} functions in {len(sizes)} files; '
          + ('every one within the limits' if not bad else f'{len(bad)} over the limits'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""The import graph of a Rust source tree (default `src/`): prints the direction between its
top-level modules and every cycle between files, and exits 1 if there is one.

An edge A -> B means file A names an item of file B through a `crate::` or `super::` path
(items re-exported by a `mod.rs` count for the file that defines them). A `mod.rs` declaring
and re-exporting its children is not an edge. Exported macros live at the crate root.

    python3 scripts/import_cycles.py [src]
"""
import os
import re
import sys
from collections import defaultdict


def modules(root):
    files = {}
    for d, _, names in os.walk(root):
        for f in names:
            if f.endswith('.rs'):
                path = os.path.join(d, f)
                mod = os.path.relpath(path, root)[:-3].replace(os.sep, '::')
                if mod.endswith('::mod'):
                    mod = mod[:-5]
                if mod in ('lib', 'main'):
                    mod = ''
                files[mod] = path
    return files


def reexports(files):
    out = defaultdict(dict)
    for mod, path in files.items():
        if not path.endswith(('mod.rs', 'lib.rs')):
            continue
        text = open(path).read()
        prefix = mod + '::' if mod else ''
        for m in re.finditer(r'pub use (\w+)::\{([^}]*)\}', text):
            for name in re.split(r'[,\s]+', m.group(2)):
                if name:
                    out[mod][name] = prefix + m.group(1)
        for m in re.finditer(r'pub use (\w+)::(\w+);', text):
            out[mod][m.group(2)] = prefix + m.group(1)
    return out


def graph(files, exported):
    def resolve(segs):
        parts = list(segs)
        while parts and '::'.join(parts) not in files:
            parts.pop()
        target = '::'.join(parts)
        rest = segs[len(parts):]
        if rest and rest[0] in exported.get(target, {}):
            return exported[target][rest[0]]
        return target

    edges = defaultdict(set)
    for mod, path in files.items():
        text = open(path).read()
        is_dir = path.endswith(('mod.rs', 'lib.rs'))
        own = mod.split('::') if mod else []
        parent = own if is_dir else own[:-1]
        for m in re.finditer(r'(?<![\w:])(crate|super)((?:::\w+)+)(::\{([^}]*)\})?', text):
            base = m.group(2).split('::')[1:]
            # `super` in a file is its module's parent; in a mod.rs, the parent's parent.
            start = [] if m.group(1) == 'crate' else (parent[:-1] if is_dir else parent)
            names = [base]
            if m.group(4):
                names = [base + [n.split('::')[0]] for n in re.split(r'[,\s]+', m.group(4))
                         if n and n != 'self'] or [base]
            for segs in names:
                target = resolve(start + segs)
                if target != mod:
                    edges[mod].add(target)
    return edges


def cycles(files, edges):
    index, low, on, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in files:
        if v not in index:
            visit(v)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else 'src'
    files = modules(root)
    edges = graph(files, reexports(files))
    top = defaultdict(set)
    for a, targets in edges.items():
        for b in targets:
            ta, tb = a.split('::')[0] or 'lib', b.split('::')[0] or 'lib'
            if ta != tb and tb != 'lib':
                top[ta].add(tb)
    for a in sorted(top):
        print(f'{a} -> {", ".join(sorted(top[a]))}')
    found = cycles(files, edges) + cycles(list(top), top)
    for comp in found:
        print('cycle:', ' <-> '.join(c or 'lib' for c in comp))
        graph_of = top if all(c in top or '::' not in c for c in comp) and comp[0] in top else edges
        for a in comp:
            for b in sorted(graph_of.get(a, ())):
                if b in comp:
                    print(f'    {a or "lib"} -> {b or "lib"}')
    print(f'{len(found)} import cycles (between files or between top-level modules)')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())

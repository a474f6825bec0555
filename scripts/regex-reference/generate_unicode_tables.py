#!/usr/bin/env python3
"""Generates Sources/Biscuit/Regex/RegexUnicodeData.swift from the dump of regex-syntax 0.8.11's
Unicode 16.0.0 tables (this folder's dump_tables binary), so that the Swift engine uses exactly the
data of the reference implementation.

Encoding: every number is a variable-length quantity written with the 64 characters from '0'
(0x30) to 'o' (0x6F): each character carries 5 bits, least significant group first, and the
0x20 bit says another character follows. Range tables are (start - previous end, end - start)
pairs; the case-folding table is (key - previous key, count, zigzag(other - key)...)."""
import sys

BASE = 0x30

def vlq(n, out):
    assert n >= 0
    while True:
        group = n & 0x1F
        n >>= 5
        if n:
            out.append(chr(BASE + (group | 0x20)))
        else:
            out.append(chr(BASE + group))
            return

def zigzag(n):
    return (n << 1) if n >= 0 else ((-n) << 1) - 1

def main(dump_path, out_path):
    tables = []          # (kind, name, [(s, e)])
    fold = []            # (c, [others])
    names = []           # (normalized, canonical)
    values = {}          # prop -> [(normalized, canonical)]
    current = None
    for line in open(dump_path, encoding='utf-8'):
        parts = line.split()
        if parts[0] == 'T':
            kind, name = parts[1], parts[2]
            if kind == 'fold':
                current = ('fold', None)
            elif kind == 'names':
                current = ('names', None)
            elif kind == 'values':
                values[name] = []
                current = ('values', name)
            else:
                tables.append((kind, name, []))
                current = ('ranges', None)
            continue
        if current[0] == 'ranges':
            tables[-1][2].append((int(parts[0], 16), int(parts[1], 16)))
        elif current[0] == 'fold':
            fold.append((int(parts[0], 16), [int(p, 16) for p in parts[1:]]))
        elif current[0] == 'names':
            names.append((parts[0], parts[1]))
        else:
            values[current[1]].append((parts[0], parts[1]))

    data = []
    directory = []
    for kind, name, ranges in tables:
        offset = len(data)
        previous_end = -1
        for s, e in ranges:
            assert s > previous_end and e >= s
            vlq(s - previous_end - 1, data)
            vlq(e - s, data)
            previous_end = e
        directory.append(f"{kind}:{name}:{offset}:{len(ranges)}")
    fold_data = []
    previous = -1
    for c, others in fold:
        assert c > previous
        vlq(c - previous - 1, fold_data)
        vlq(len(others), fold_data)
        for o in others:
            vlq(zigzag(o - c), fold_data)
        previous = c

    def chunks(s, width=120):
        return [s[i:i + width] for i in range(0, len(s), width)]

    def raw_literal(s):
        assert '"#' not in s
        body = '\n'.join(chunks(s))
        return '#"""\n' + body + '\n"""#'

    value_lines = []
    for prop in sorted(values):
        value_lines.append(prop + '=' + ','.join(f"{n}:{c}" for n, c in values[prop]))

    out = []
    out.append('// GENERATED from the Unicode tables of regex-syntax 0.8.11 (Unicode 16.0.0), the data of the')
    out.append('// Rust `regex` crate that Biscuit\'s reference implementation uses, by')
    out.append('// scripts/regex-reference/generate_unicode_tables.py. Do not edit by hand.')
    out.append('')
    out.append('/// The encoded Unicode data of the regex engine; `RegexUnicode` decodes it on first use.')
    out.append('///')
    out.append('/// Numbers are variable-length quantities over the characters `0` (0x30) to `o` (0x6F):')
    out.append('/// five bits per character, least significant first, bit 0x20 meaning "more follows".')
    out.append('enum RegexUnicodeData {')
    out.append('    /// The Unicode version of the tables.')
    out.append('    static let unicodeVersion = "16.0.0"')
    out.append('')
    out.append('    /// One entry per range table, `kind:name:offset:count`, separated by `;`. Kinds: `gc`')
    out.append('    /// general category, `sc` script, `scx` script extensions, `bool` binary property, `age`,')
    out.append('    /// `gcb`, `wb` and `sb` (segmentation break properties), `perl` (`Word`, `Decimal`, `Space`).')
    out.append('    static let directory = ' + raw_literal(';'.join(directory)))
    out.append('')
    out.append('    /// All range tables: per range, the gap after the previous range\'s end (minus one) and')
    out.append('    /// the range\'s length (minus one).')
    out.append('    static let ranges = ' + raw_literal(''.join(data)))
    out.append('')
    out.append('    /// Simple case folding, all pairs: per entry, the gap after the previous key (minus one),')
    out.append('    /// the number of equivalent scalars, then each as a zigzag-encoded offset from the key.')
    out.append('    static let caseFolding = ' + raw_literal(''.join(fold_data)))
    out.append('')
    out.append('    /// Normalized property names and their canonical names, `normalized:canonical` pairs')
    out.append('    /// separated by `,`, sorted by normalized name.')
    out.append('    static let propertyNames = ' + raw_literal(','.join(f"{n}:{c}" for n, c in names)))
    out.append('')
    out.append('    /// For each property with named values, `Property=normalized:canonical,...`, one')
    out.append('    /// property per line.')
    out.append('    static let propertyValues = #"""\n' + '\n'.join(value_lines) + '\n"""#')
    out.append('}')
    out.append('')
    open(out_path, 'w', encoding='utf-8').write('\n'.join(out))
    print(f"{len(tables)} tables, {len(data)} range chars, {len(fold_data)} fold chars", file=sys.stderr)

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])

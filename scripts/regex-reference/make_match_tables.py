#!/usr/bin/env python3
"""Generates Tests/BiscuitTests/LinearRegexMatchTables.swift: the behaviour tables of the
regex tests. Every expected value is what the Rust regex crate (the oracle built from this
folder: the reference's engine) answers, and is also checked against the value intended when the case was written."""
import subprocess, sys

import os
RUST = os.environ.get('REGEX_ORACLE', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'target/release/regex-reference'))
M, N, E = True, False, 'invalid'

TABLES = {
    'literals': [
        ('abc', 'xxabcxx', M), ('abc', 'ab', N), ('', '', M), ('', 'anything', M), ('é', 'café', M),
        ('😀', 'a😀b', M), ('abc', 'ABC', N), (r'\.', '.', M), (r'\.', 'a', N),
        (r'\*\+\?\(\)\[\]\{\}\|\^\$', '*+?()[]{}|^$', M), (r'\-\/\%\#\&\~', '-/%#&~', M),
        (r'\n\t\r', '\n\t\r', M), (r'\x7F', '\x7f', M), (r'\x{10FFFF}', '\U0010FFFF', M), (r'\x41', 'A', M),
        (r'\u00E9', 'é', M), (r'\U0001F600', '😀', M), (r'\\', '\\', M), (r'\a\f\v', '\x07\x0c\x0b', M),
        (r'\x{0000041}', 'A', M), ('a b', 'a b', M), ('a b', 'ab', N),
    ],
    'dot': [
        ('a.c', 'abc', M), ('a.c', 'a\nc', N), ('(?s)a.c', 'a\nc', M), ('a.c', 'a😀c', M), ('a.c', 'a\rc', M),
        ('(?R)a.c', 'a\rc', N), ('(?s:.)', '\n', M), ('.', '', N), ('^.$', 'é', M), ('^.$', 'e\u0301', N),
    ],
    'classes': [
        ('[abc]', 'xbx', M), ('[abc]', 'xyz', N), ('[a-z]+', 'ABC', N), ('[^a-z]', 'abc', N), ('[^a-z]', 'abC', M),
        ('[]a]', ']', M), ('[^]a]', 'b', M), ('[a-]', '-', M), ('[-a]', '-', M), (r'[\]]', ']', M),
        (r'[a\-z]', 'b', N), (r'[\n]', '\n', M), (r'[\x41-\x43]', 'B', M), ('[[:alpha:]]', 'q', M),
        ('[[:^alpha:]]', 'q', N), ('[[:digit:][:upper:]]', 'Z', M), ('[[:alpha:]]', 'é', N), ('[[:loower:]]', 'w', M),
        ('[a-z&&[^aeiou]]', 'e', N), ('[a-z&&[^aeiou]]', 'x', M), ('[a-z--[aeiou]]', 'a', N),
        ('[a-c~~b-d]', 'b', N), ('[a-c~~b-d]', 'd', M), ('[[a-c][x-z]]', 'y', M), (r'[\d]', '5', M),
        (r'[\w&&\D]', '5', N), ('[α-ω]', 'λ', M), (r'[^\x00-\x{10FFFF}]', 'a', N), ('[a&&b]', 'a', N),
        (r'[\p{Greek}\d]', '7', M), ('[.]', 'a', N), ('[$^]', '^', M),
    ],
    'perl': [
        (r'\d', '٣', M), (r'\d', 'x', N), (r'\D', '5', N), (r'\w', 'é', M), (r'\w', '_', M), (r'\w', '-', N),
        (r'\W', 'é', N), (r'\s', '\u00a0', M), (r'\s', '\u2028', M), (r'\S', ' ', N), (r'(?-u:\d)', '٣', N),
        (r'(?-u:\w)', 'é', N), (r'(?-u:\s)', '\u00a0', N), (r'\w', '\u0301', M), (r'\d', '½', N),
    ],
    'unicodeClasses': [
        (r'\pL', 'ж', M), (r'\p{Greek}', 'α', M), (r'\p{Greek}', 'a', N), (r'\P{Greek}', 'a', M),
        (r'\p{Lu}', 'A', M), (r'\p{Lu}', 'a', N), (r'\p{sc=Cyrillic}', 'ж', M), (r'\p{Script_Extensions=Greek}', 'α', M),
        (r'\p{Emoji}', '😀', M), (r'\p{Nd}', '٣', M), (r'\p{gc!=Lu}', 'A', N), (r'\p{isGreek}', 'α', M),
        (r'\p{ascii}', 'é', N), (r'\p{Any}', '😀', M), (r'\p{Age=1.1}', '😀', N), (r'\pN', '½', M),
        (r'\p{General_Category=Uppercase_Letter}', 'Ж', M), (r'\p{ Greek }', 'α', M), (r'\p{sc:Greek}', 'α', M),
        (r'\p{White_Space}', '\u3000', M), (r'\p{gcb=Extend}', '\u0301', M), (r'\p{wb=ALetter}', 'a', M),
        (r'(?i)\p{Lu}', 'a', M), (r'\p{lc}', 'a', M), (r'\p{Assigned}', '\U0010FFFF', N),
    ],
    'anchors': [
        ('^abc', 'abcd', M), ('^abc', 'xabc', N), ('abc$', 'xabc', M), ('abc$', 'abc\n', N), ('(?m)^b', 'a\nb', M),
        ('(?m)a$', 'a\nb', M), ('^b', 'a\nb', N), (r'\Aa', 'ba', N), (r'a\z', 'ab', N), (r'(?m)\Ab', 'a\nb', N),
        ('^$', '', M), ('^$', 'a', N), ('(?m)^$', 'a\n\nb', M), ('(?mR)^b$', 'a\r\nb\r\n', M),
        ('(?m)^b$', 'a\r\nb\r\n', N), ('$a', 'a', N), ('a^', 'a', N), ('^*a', 'a', M), ('(?mR)^$', '\r\n', M),
        ('(?mR)^$', '\n\r', M),
    ],
    'alternation': [
        ('cat|dog', 'hotdog', M), ('cat|dog', 'cow', N), ('a|', 'xyz', M), ('|', '', M), ('(?:ab|cd)e', 'xcde', M),
        ('(ab|cd)e', 'abd', N), ('^(?:a|b)$', 'ab', N), ('^(?:abc|abd|ab)$', 'ab', M), ('foo|foobar', 'fooba', M),
    ],
    'quantifiers': [
        ('ab*c', 'ac', M), ('ab+c', 'ac', N), ('ab?c', 'abbc', N), ('a{3}', 'aa', N), ('a{3}', 'xaaax', M),
        ('^a{2,3}$', 'aaaa', N), ('^a{2,}$', 'aaaaaa', M), ('^a{0}$', '', M), ('^a*?$', 'aaa', M),
        ('^a+?$', 'aaa', M), ('^a??b$', 'ab', M), ('^a{1,2}?$', 'aa', M), ('^a{2}?$', 'aa', M),
        ('^(?:ab){2}$', 'abab', M), ('a**', '', M), ('a++', 'b', N), ('^a++$', 'aaa', M), ('^a{ 2 }$', 'aa', M),
        ('^(?:a{2,3}){2}$', 'aaaaa', M), ('^a{2,3}{2}$', 'aaaaa', M), ('(?U)^a+$', 'aaa', M), ('^(?:a*)*$', '', M),
        (r'^\b{3}a', 'a', M), ('^(?:a|)+$', 'aaa', M), ('^a{1001}$', 'a' * 1001, M),
    ],
    'flags': [
        ('(?i)HeLLo', 'hello', M), ('(?i)k', '\u212a', M), ('(?i)ß', 'ẞ', M), ('(?i)σ', 'ς', M), ('(?i)[a-c]', 'B', M),
        ('(?i)[^k]', 'K', N), ('(?i)[^k]', '\u212a', N), ('(?i:a)b', 'AB', N), ('(?i:a)b', 'Ab', M), ('a(?i)b', 'aB', M),
        ('a(?i)b|c', 'C', M), ('(?i)a(?-i)b', 'Ab', M), ('(?i)a(?-i)b', 'AB', N), ('(?-u:(?i)k)', '\u212a', N),
        ('(?x) a b c # comment', 'abc', M), (r'(?x) a\ b', 'a b', M), ('((?i)a)b', 'AB', N), ('(?m)(?s).', '\n', M),
        ('(?i)ǅ', 'ǆ', M), ('(?i)straße', 'STRASSE', N), ('(?i)İ', 'i', N), ('(?x)a{ 2 }', 'aa', M),
        ('(?x)[a b]', ' ', N), ('(?imsUuRx)a', 'A', M), ('(?-i)a', 'A', N), ('(?i)(?-i:a)', 'A', N),
    ],
    'wordBoundaries': [
        (r'\bfoo\b', 'a foo b', M), (r'\bfoo\b', 'afoo', N), (r'\Bfoo', 'afoo', M), (r'\bé', 'é', M),
        (r'(?-u:\b)é', ' é', N), (r'\<foo\>', 'foo', M), (r'\<oo', 'foo', N), (r'\b{start}foo', ' foo', M),
        (r'foo\b{end}', 'foo ', M), (r'\b{start-half}foo', 'foo', M), (r'\b{end-half}', '', M), (r'\b', '', N),
        (r'\B', '', M), (r'^\b$', '', N), (r'\bж\b', ' ж ', M), (r'(?-u:\B)ж', 'aж', N),
    ],
    'groups': [
        (r'(?P<year>\d{4})', '2024', M), ('(?<y>a)', 'a', M), ('(?P<n.a[1]>x)', 'x', M), ('(?P<ж>x)', 'x', M),
        ('(a)(b)(c)', 'abc', M), ('(?:)', '', M), ('()', 'x', M), ('((((a))))', 'a', M),
    ],
    'invalid': [
        (r'(a)\1', 'aa', E), (r'\0', '', E), (r'\8', '', E), ('(?=a)', 'a', E), ('(?!a)', 'b', E), ('(?<=a)b', 'ab', E),
        ('(?<!a)b', 'b', E), ('(', '', E), (')', '', E), ('(a', 'a', E), ('a)', 'a', E), ('[a', 'a', E), ('[]', '', E),
        ('[^]', '', E), ('a{', 'a', E), ('a{2', 'aa', E), ('a{,2}', 'a', E), ('a{3,2}', 'aaa', E), ('a{x}', 'a', E),
        ('*a', 'a', E), ('+', '', E), ('?', '', E), ('{2}', '', E), ('(?i)*', '', E), ('a|*', 'a', E), ('[z-a]', 'a', E),
        (r'[\w-z]', 'a', E), (r'[\b]', 'a', E), (r'\e', 'e', E), (r'\y', 'y', E), (r'\x{110000}', '', E),
        (r'\x{D800}', '', E), (r'\x{}', '', E), (r'\p{Nonsense}', 'a', E), (r'\p{sc=Nope}', 'a', E), ('(?z)', '', E),
        ('(?ii)', '', E), ('(?i-)', '', E), ('(?--i)', '', E), ('(?', '', E), ('(?)', '', E), ('(?i', '', E),
        ('(?P<>a)', 'a', E), ('(?P<1a>x)', 'x', E), ('(?P<n>a)(?P<n>b)', 'ab', E), ('(?P<n', '', E),
        ('(?-u).', 'a', E), (r'(?-u)\W', 'a', E), ('(?-u)[^a]', 'b', E), (r'(?-u)\xFF', '', E), (r'(?-u)\pL', 'a', E),
        ('(?-u)[é]', 'é', E), (r'\b{bogus}', '', E), (r'\b{start', '', E), (r'\p\\', '', E), (r'\Z', '', E),
        (r'\x4', '', E), ('x{4294967296}', '', E), (r'\c', '', E),
    ],
}

def swift_string(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch == '\\':
            out.append('\\\\')
        elif ch == '"':
            out.append('\\"')
        elif 0x20 <= o < 0x7f:
            out.append(ch)
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\r':
            out.append('\\r')
        elif ch == '\t':
            out.append('\\t')
        else:
            out.append('\\u{%X}' % o)
    return '"' + ''.join(out) + '"'

def main(out_path):
    pairs = [(p, t) for cases in TABLES.values() for p, t, _ in cases]
    inp = ''.join(p.encode().hex() + '\t' + t.encode().hex() + '\n' for p, t in pairs)
    results = subprocess.run([RUST], input=inp.encode(), capture_output=True).stdout.decode().splitlines()
    index = 0
    lines = ['// GENERATED by scripts/regex-reference/make_match_tables.py: every expectation is the answer of the Rust',
             '// `regex` crate 1.13 (the reference implementation\'s engine), `Regex::new(p)?.is_match(t)`,',
             '// with an invalid pattern as `nil`. Do not edit by hand.', '', 'import Testing', '',
             '/// One behaviour: a pattern, a text, and whether the pattern matches (nil: invalid pattern).',
             'struct RegexCase: Sendable, CustomTestStringConvertible {',
             '    /// The pattern, in Rust `regex` syntax.', '    let pattern: String',
             '    /// The text searched.', '    let text: String',
             '    /// Whether the pattern matches somewhere in the text; nil when the pattern is invalid.',
             '    let expected: Bool?', '',
             '    var testDescription: String { "\\(pattern.debugDescription) on \\(text.debugDescription)" }',
             '}', '', '/// The behaviour tables, by topic.', 'enum RegexCaseTables {']
    failures = 0
    for name, cases in TABLES.items():
        lines.append(f'    /// {name} cases.')
        lines.append(f'    static let {name}: [RegexCase] = [')
        for pattern, text, intended in cases:
            rust = results[index]
            index += 1
            expected = None if rust.startswith('E') else rust == '1'
            want = None if intended == E else intended
            if expected != want:
                failures += 1
                print(f'INTENT MISMATCH {name}: {pattern!r} on {text!r}: rust {rust[:100]!r}, intended {intended}',
                      file=sys.stderr)
            value = 'nil' if expected is None else ('true' if expected else 'false')
            lines.append(f'        RegexCase(pattern: {swift_string(pattern)}, text: {swift_string(text)}, expected: {value}),')
        lines.append('    ]')
    lines.append('}')
    open(out_path, 'w', encoding='utf-8').write('\n'.join(lines) + '\n')
    print(f'{len(pairs)} cases, {failures} intent mismatches', file=sys.stderr)

if __name__ == '__main__':
    main(sys.argv[1])

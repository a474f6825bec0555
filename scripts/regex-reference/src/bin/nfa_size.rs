// For each line hex(pattern): prints "fwd rev" = the peak builder memory of the forward and
// reverse Thompson NFAs that regex's meta engine builds (found by bisecting nfa_size_limit),
// or "E" if the pattern does not parse.
use regex_automata::nfa::thompson::{Compiler, Config, WhichCaptures};
use std::io::{BufRead, Write};

fn unhex(s: &str) -> String {
    let b: Vec<u8> = (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect();
    String::from_utf8(b).unwrap()
}

fn builds(hir: &regex_syntax::hir::Hir, reverse: bool, limit: usize) -> bool {
    let config = Config::new()
        .utf8(true)
        .reverse(reverse)
        .nfa_size_limit(Some(limit))
        .shrink(false)
        .which_captures(if reverse { WhichCaptures::None } else { WhichCaptures::All });
    Compiler::new().configure(config).build_from_hir(hir).is_ok()
}

fn peak(hir: &regex_syntax::hir::Hir, reverse: bool) -> usize {
    let (mut lo, mut hi) = (0usize, 1usize << 26);
    if !builds(hir, reverse, hi) { return usize::MAX; }
    while lo < hi {
        let mid = (lo + hi) / 2;
        if builds(hir, reverse, mid) { hi = mid } else { lo = mid + 1 }
    }
    lo
}

fn main() {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let pattern = unhex(line.unwrap().split('\t').next().unwrap());
        match regex_syntax::Parser::new().parse(&pattern) {
            Ok(hir) => writeln!(out, "{} {}", peak(&hir, false), peak(&hir, true)).unwrap(),
            Err(_) => writeln!(out, "E").unwrap(),
        }
    }
}

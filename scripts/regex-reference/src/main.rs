// Differential-testing oracle: reads lines "hex(pattern)\thex(text)" from stdin and writes
// one line per input: "1" (match), "0" (no match) or "E <reason>" (Regex::new failed).
use std::io::{BufRead, Write};

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

fn main() {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // The last pattern compiled, reused while lines repeat it (exhaustive class checks).
    let mut last: Option<(String, Result<regex::Regex, regex::Error>)> = None;
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let mut parts = line.splitn(2, '\t');
        let pattern = unhex(parts.next().unwrap_or(""));
        let text = unhex(parts.next().unwrap_or(""));
        if last.as_ref().map_or(true, |(p, _)| *p != pattern) {
            let compiled = regex::Regex::new(&pattern);
            last = Some((pattern.clone(), compiled));
        }
        match &last.as_ref().unwrap().1 {
            Ok(re) => writeln!(out, "{}", if re.is_match(&text) { "1" } else { "0" }).unwrap(),
            Err(e) => writeln!(out, "E {}", format!("{}", e).replace('\n', " | ")).unwrap(),
        }
    }
}

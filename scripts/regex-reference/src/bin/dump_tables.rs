// Dumps regex-syntax's Unicode tables (the exact data the reference uses) as plain text for
// the Swift table generator: "T <kind> <name>" headers, then "start end" lines in hex.
#![allow(dead_code)]
#[path = "../../vendor/regex-syntax/src/unicode_tables/age.rs"] mod age;
#[path = "../../vendor/regex-syntax/src/unicode_tables/case_folding_simple.rs"] mod cfs;
#[path = "../../vendor/regex-syntax/src/unicode_tables/general_category.rs"] mod gc;
#[path = "../../vendor/regex-syntax/src/unicode_tables/grapheme_cluster_break.rs"] mod gcb;
#[path = "../../vendor/regex-syntax/src/unicode_tables/perl_word.rs"] mod pw;
#[path = "../../vendor/regex-syntax/src/unicode_tables/property_bool.rs"] mod pb;
#[path = "../../vendor/regex-syntax/src/unicode_tables/property_names.rs"] mod pn;
#[path = "../../vendor/regex-syntax/src/unicode_tables/property_values.rs"] mod pv;
#[path = "../../vendor/regex-syntax/src/unicode_tables/script.rs"] mod sc;
#[path = "../../vendor/regex-syntax/src/unicode_tables/script_extension.rs"] mod scx;
#[path = "../../vendor/regex-syntax/src/unicode_tables/sentence_break.rs"] mod sb;
#[path = "../../vendor/regex-syntax/src/unicode_tables/word_break.rs"] mod wb;

fn ranges(kind: &str, name: &str, r: &[(char, char)]) {
    println!("T {} {}", kind, name);
    for &(s, e) in r { println!("{:x} {:x}", s as u32, e as u32); }
}

fn main() {
    for (kind, by) in [("gc", gc::BY_NAME), ("sc", sc::BY_NAME), ("scx", scx::BY_NAME),
                       ("bool", pb::BY_NAME), ("age", age::BY_NAME), ("gcb", gcb::BY_NAME),
                       ("wb", wb::BY_NAME), ("sb", sb::BY_NAME)] {
        for (name, r) in by.iter() { ranges(kind, name, r); }
    }
    ranges("perl", "Word", pw::PERL_WORD);
    ranges("perl", "Decimal", gc::DECIMAL_NUMBER);
    ranges("perl", "Space", pb::WHITE_SPACE);
    println!("T fold -");
    for (c, others) in cfs::CASE_FOLDING_SIMPLE.iter() {
        let v: Vec<String> = others.iter().map(|o| format!("{:x}", *o as u32)).collect();
        println!("{:x} {}", *c as u32, v.join(" "));
    }
    println!("T names -");
    for (n, c) in pn::PROPERTY_NAMES.iter() { println!("{} {}", n, c); }
    for (p, vals) in pv::PROPERTY_VALUES.iter() {
        println!("T values {}", p);
        for (n, c) in vals.iter() { println!("{} {}", n, c); }
    }
}

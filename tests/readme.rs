//! The README's column lists are the output of `affinity-audit columns`: they cannot drift.

use affinity_audit::cli::columns_markdown;

#[test]
fn readme_column_lists_match_the_table_specs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("read README.md");
    let begin = "<!-- columns:begin -->\n";
    let end = "<!-- columns:end -->";
    let start = readme.find(begin).expect("README has the columns:begin marker") + begin.len();
    let stop = readme[start..].find(end).expect("README has the columns:end marker") + start;
    let expected = columns_markdown();
    assert!(
        readme[start..stop] == expected,
        "README.md's column lists are stale: replace the text between the markers with the output of `affinity-audit columns`"
    );
}

//! Writes generated tables into a markdown document between marker comments, so prose around
//! them stays hand-written and the numbers are always regenerated:
//! `<!-- tidegate-load:NAME -->` … `<!-- /tidegate-load:NAME -->`.

use std::path::Path;

use crate::error::LoadError;

/// Replaces section `name` of `doc` with `content` (appending the section if absent).
pub fn splice(doc: &Path, name: &str, content: &str) -> Result<(), LoadError> {
    let text = std::fs::read_to_string(doc).unwrap_or_default();
    std::fs::write(doc, splice_text(&text, name, content)).map_err(|err| LoadError::io(doc, err))
}

fn splice_text(text: &str, name: &str, content: &str) -> String {
    let begin = format!("<!-- tidegate-load:{name} -->");
    let end = format!("<!-- /tidegate-load:{name} -->");
    let block = format!("{begin}\n{}\n{end}", content.trim_end());
    match (text.find(&begin), text.find(&end)) {
        (Some(start), Some(stop)) if stop > start => {
            format!("{}{block}{}", &text[..start], &text[stop + end.len()..])
        }
        _ => format!("{}\n{block}\n", text.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_between_markers_and_keeps_the_rest() {
        let doc = "# T\nintro\n<!-- tidegate-load:x -->\nold\n<!-- /tidegate-load:x -->\nafter\n";
        let out = splice_text(doc, "x", "new\n");
        assert_eq!(
            out,
            "# T\nintro\n<!-- tidegate-load:x -->\nnew\n<!-- /tidegate-load:x -->\nafter\n"
        );
        assert_eq!(splice_text(&out, "x", "new"), out);
    }

    #[test]
    fn appends_a_missing_section() {
        let out = splice_text("# T\n", "y", "table");
        assert_eq!(
            out,
            "# T\n<!-- tidegate-load:y -->\ntable\n<!-- /tidegate-load:y -->\n"
        );
    }
}

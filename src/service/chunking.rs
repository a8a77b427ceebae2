//! Markdown cut into chunks for embedding: a new chunk at each heading, paragraphs kept
//! whole while they fit, a chunk at most [`MAX_CHUNK_CHARS`] of body, and a chunk that
//! continues a section starting with its heading and the last words of the chunk before
//! (the overlap), so that a passage cut in two is still found whole. Front-matter, links
//! and code are kept as they are written: they are text the owner may ask about. A code
//! fence is never cut at its blank lines.

/// The most characters of body a chunk holds (its heading and overlap come on top).
pub const MAX_CHUNK_CHARS: usize = 1200;
/// How much of the chunk before a continuation starts with.
pub const OVERLAP_CHARS: usize = 200;
/// The most of a heading repeated at the start of a continuation.
const MAX_HEADING_CHARS: usize = 200;

/// A run of lines: a heading, or the text between blank lines.
#[derive(Debug, PartialEq, Eq)]
enum Block {
    Heading(String),
    Text(String),
}

/// The chunks of `markdown`, in order; none for a text of whitespace only.
pub fn chunk_markdown(markdown: &str) -> Vec<String> {
    let mut chunks = Chunker::default();
    for block in blocks(markdown) {
        match block {
            Block::Heading(heading) => chunks.heading(heading),
            Block::Text(text) => {
                for piece in pieces(&text, MAX_CHUNK_CHARS) {
                    chunks.text(piece);
                }
            }
        }
    }
    chunks.finish()
}

#[derive(Default)]
struct Chunker {
    done: Vec<String>,
    heading: Option<String>,
    /// The chunk being filled, and how much of it is body.
    current: String,
    body_chars: usize,
}

impl Chunker {
    fn heading(&mut self, heading: String) {
        self.flush();
        self.current = heading.clone();
        self.heading = Some(first_chars(&heading, MAX_HEADING_CHARS));
    }

    fn text(&mut self, text: &str) {
        let chars = text.chars().count();
        if self.body_chars > 0 && self.body_chars + chars > MAX_CHUNK_CHARS {
            let overlap = tail(&self.current, OVERLAP_CHARS);
            self.flush();
            self.current = self.heading.clone().unwrap_or_default();
            self.push(&overlap);
        }
        self.push(text);
        self.body_chars += chars;
    }

    fn push(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if !self.current.is_empty() {
            self.current.push_str("\n\n");
        }
        self.current.push_str(text);
    }

    fn flush(&mut self) {
        let chunk = std::mem::take(&mut self.current);
        if !chunk.trim().is_empty() {
            self.done.push(chunk);
        }
        self.body_chars = 0;
    }

    fn finish(mut self) -> Vec<String> {
        self.flush();
        self.done
    }
}

/// The blocks of `markdown`: headings, and text between blank lines (front-matter and
/// fenced code are each one block, blank lines and all).
fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut text: Vec<&str> = Vec::new();
    let mut fence: Option<&str> = None;
    let mut lines = markdown.lines().peekable();
    let end_text = |text: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !text.is_empty() {
            blocks.push(Block::Text(text.join("\n").trim().to_string()));
            text.clear();
        }
    };
    if lines.peek().map(|l| l.trim_end()) == Some("---") {
        fence = Some("---");
        text.extend(lines.next());
    }
    for line in lines {
        let trimmed = line.trim_start();
        if let Some(marker) = fence {
            text.push(line);
            if trimmed.trim_end() == marker || (marker != "---" && trimmed.starts_with(marker)) {
                fence = None;
                if marker == "---" {
                    end_text(&mut text, &mut blocks);
                }
            }
        } else if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            text.push(line);
        } else if is_heading(trimmed) {
            end_text(&mut text, &mut blocks);
            blocks.push(Block::Heading(trimmed.trim_end().to_string()));
        } else if line.trim().is_empty() {
            end_text(&mut text, &mut blocks);
        } else {
            text.push(line);
        }
    }
    end_text(&mut text, &mut blocks);
    blocks
}

/// `# Title` to `###### Title`.
fn is_heading(line: &str) -> bool {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    (1..=6).contains(&hashes) && line[hashes..].starts_with([' ', '\t'])
}

/// `text` cut at whitespace into pieces of at most `max` characters (a word longer than
/// that is cut where it must be).
fn pieces(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let cut = rest[..limit]
            .rfind(char::is_whitespace)
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        pieces.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// The last words of `text`, at most `max` characters, starting at a word.
fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return String::new();
    }
    let start = text.char_indices().nth(count - max).map_or(0, |(i, _)| i);
    let tail = &text[start..];
    match tail.find(char::is_whitespace) {
        Some(i) => tail[i..].trim().to_string(),
        None => tail.to_string(),
    }
}

fn first_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_heading_starts_a_chunk_and_paragraphs_stay_together() {
        let note = "# Backups\n\nThe dump runs nightly.\n\nIt keeps two copies.\n\n## Restore\n\nStop maia first.\n";
        let chunks = chunk_markdown(note);
        assert_eq!(
            chunks,
            [
                "# Backups\n\nThe dump runs nightly.\n\nIt keeps two copies.",
                "## Restore\n\nStop maia first."
            ]
        );
    }

    #[test]
    fn front_matter_links_and_code_are_kept_as_text() {
        let note = "---\ntags: [db]\n\ntitle: x\n---\nSee [the guide](https://example.org/g) and [[Other note]].\n\n```sh\npg_dump\n\npsql\n```\n";
        let chunks = chunk_markdown(note);
        assert_eq!(chunks.len(), 1, "{chunks:?}");
        let chunk = &chunks[0];
        assert!(
            chunk.starts_with("---\ntags: [db]\n\ntitle: x\n---"),
            "{chunk}"
        );
        assert!(chunk.contains("[the guide](https://example.org/g)"));
        assert!(chunk.contains("[[Other note]]"));
        assert!(
            chunk.contains("```sh\npg_dump\n\npsql\n```"),
            "a fence is one block"
        );
    }

    #[test]
    fn a_long_section_is_cut_with_its_heading_and_an_overlap() {
        let sentence = "Every word here belongs to one very long paragraph about storage. ";
        let note = format!("# Storage\n\n{}", sentence.repeat(60));
        let chunks = chunk_markdown(&note);
        assert!(chunks.len() >= 3, "{}", chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            assert!(
                chunk.starts_with("# Storage"),
                "chunk {i} names its section"
            );
            let bound = MAX_CHUNK_CHARS + OVERLAP_CHARS + MAX_HEADING_CHARS + 4;
            assert!(chunk.chars().count() <= bound, "chunk {i} is bounded");
        }
        // The second chunk begins with the words the first one ended with.
        let first_end: String = chunks[0].chars().rev().take(40).collect::<String>();
        let first_end: String = first_end.chars().rev().collect();
        assert!(
            chunks[1].contains(first_end.trim()),
            "overlap: {first_end:?}"
        );
    }

    #[test]
    fn whitespace_alone_makes_no_chunk_and_a_huge_word_is_still_cut() {
        assert!(chunk_markdown("  \n\n \t\n").is_empty());
        let word = "é".repeat(MAX_CHUNK_CHARS * 2 + 5);
        let chunks = chunk_markdown(&word);
        assert_eq!(chunks.len(), 3);
        assert!(chunks
            .iter()
            .all(|c| c.chars().count() <= MAX_CHUNK_CHARS + OVERLAP_CHARS + 2));
    }

    #[test]
    fn only_real_headings_start_chunks() {
        assert!(is_heading("# A"));
        assert!(is_heading("###### A"));
        assert!(!is_heading("#hashtag"));
        assert!(!is_heading("####### seven"));
    }
}

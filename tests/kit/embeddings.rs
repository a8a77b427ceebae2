//! Embeddings that carry meaning without a model: a hashed bag of words. Each word (in
//! lowercase, its plural `s` dropped, stop words left out) adds ±1 to one of [`DIMENSIONS`]
//! numbers picked by its hash; the vector is then scaled to length 1. Texts that share
//! words point the same way, so cosine similarity ranks them as a real model would, only
//! cruder. The fake Ollama answers `/api/embed` with these; the bench uses them too. Test
//! code only: the product never makes up an embedding.

/// The length of every embedding (that of `nomic-embed-text`, maia's default).
pub const DIMENSIONS: usize = 768;

/// The model the fake Ollama embeds with (maia's default `knowledge.embed_model`).
pub const EMBED_MODEL: &str = "nomic-embed-text";

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "in",
    "is", "it", "my", "of", "on", "or", "should", "that", "the", "this", "to", "was", "what",
    "when", "where", "which", "who", "why", "with", "you",
];

/// The embedding of `text`: [`DIMENSIONS`] numbers, length 1.
pub fn embed(text: &str) -> Vec<f32> {
    let mut vector = vec![0f32; DIMENSIONS];
    for word in words(text) {
        let hash = fnv1a(word.as_bytes());
        let slot = (hash % DIMENSIONS as u64) as usize;
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        vector[slot] += sign;
    }
    // A text of stop words only still points somewhere (a zero vector has no direction,
    // and cosine distance from it is undefined).
    vector[0] += 0.01;
    let length = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|x| *x /= length);
    vector
}

/// The words that count: letters and digits, lowercase, without a plural `s`, no stop
/// words.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.as_str()))
        .map(|w| match w.strip_suffix('s') {
            Some(stem) if stem.len() > 2 && !stem.ends_with('s') => stem.to_string(),
            _ => w,
        })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Cosine similarity of two embeddings of length 1.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

//! The embeddings of all-MiniLM-L6-v2 against published values: token ids
//! and the first five numbers of two sentences' vectors, and their cosine,
//! as sentence-transformers gives them (docs/intelligence-groundwork.md,
//! section 1: an independent numpy forward pass of the same files, which
//! agrees with the model card). Also the tokenizer's settings: no padding,
//! 256 tokens at most.

use bss_intel::embedding::{cosine, Embedder, MAX_TOKENS, MODEL_DIR_IN_REPOSITORY};

use crate::data;

fn embedder_or_skip(test: &str) -> Option<Embedder> {
    let dir = data::dir_or_skip(test, MODEL_DIR_IN_REPOSITORY, "all-MiniLM-L6-v2")?;
    Some(Embedder::from_dir(&dir).unwrap_or_else(|e| panic!("{test}: {e}")))
}

const TOLERANCE: f32 = 1e-4;

#[test]
fn vectors_equal_the_published_ones() {
    let Some(embedder) = embedder_or_skip("embeddings") else {
        return;
    };
    let cases: [(&str, &[u32], [f32; 5]); 2] = [
        (
            "This is an example sentence",
            &[101, 2023, 2003, 2019, 2742, 6251, 102],
            [0.067657, 0.063496, 0.048713, 0.079305, 0.037448],
        ),
        (
            "Each sentence is converted",
            &[101, 2169, 6251, 2003, 4991, 102],
            [0.086439, 0.102763, 0.005395, 0.002044, -0.009963],
        ),
    ];
    let mut vectors = Vec::new();
    for (text, ids, head) in cases {
        assert_eq!(embedder.token_ids(text).unwrap(), ids, "{text}");
        let v = embedder.embed(text).unwrap();
        assert_eq!(v.len(), 384);
        for (k, (got, want)) in v.iter().zip(head).enumerate() {
            assert!(
                (got - want).abs() < TOLERANCE,
                "{text}: number {k} is {got}, want {want}"
            );
        }
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{text}: length {norm}");
        vectors.push(v);
    }
    let c = cosine(&vectors[0], &vectors[1]);
    assert!(
        (c - 0.404559).abs() < TOLERANCE,
        "cosine {c}, want 0.404559"
    );
    data::report("embeddings: token ids, vectors and their cosine equal the published values");
}

#[test]
fn texts_are_neither_padded_nor_cut_before_256_tokens() {
    let Some(embedder) = embedder_or_skip("token limits") else {
        return;
    };
    // tokenizer.json as shipped pads every text to 128 tokens and cuts at 128.
    assert_eq!(embedder.token_ids("hello").unwrap().len(), 3);
    let long = "my invoice is wrong ".repeat(60);
    let ids = embedder.token_ids(&long).unwrap();
    assert_eq!(ids.len(), MAX_TOKENS, "cut at sentence-transformers' 256");
    assert_eq!((ids[0], ids[MAX_TOKENS - 1]), (101, 102), "[CLS] ... [SEP]");
    let v = embedder.embed(&long).unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    let empty = embedder.embed("").unwrap();
    assert_eq!(empty.len(), 384);
    assert!(empty.iter().all(|x| x.is_finite()));
}

#[test]
fn texts_embedded_together_get_the_vectors_they_get_alone() {
    let Some(embedder) = embedder_or_skip("batches") else {
        return;
    };
    let texts = [
        "This is an example sentence",
        "",
        "My bill is WRONG again!! I was charged twice for roaming in Spain.",
        "Each sentence is converted",
    ];
    let together = embedder.embed_many(&texts).unwrap();
    assert_eq!(together.len(), texts.len());
    for (text, v) in texts.iter().zip(&together) {
        let alone = embedder.embed(text).unwrap();
        let worst = alone
            .iter()
            .zip(v)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{text:?}: differs by {worst} in a batch");
    }
}

#[test]
fn similar_tickets_are_nearer_than_different_ones() {
    let Some(embedder) = embedder_or_skip("similarity") else {
        return;
    };
    let e = |t: &str| embedder.embed(t).unwrap();
    let outage = e("No signal at home since Monday, calls drop all the time");
    let coverage = e("My phone has no network coverage in my street");
    let refund = e("I was charged twice on my invoice and want my money back");
    assert!(
        cosine(&outage, &coverage) > cosine(&outage, &refund) + 0.1,
        "network tickets should be nearer each other than to a billing one"
    );
}

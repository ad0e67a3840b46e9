//! The embeddings of all-MiniLM-L6-v2 against published values: token ids
//! and the first five numbers of two sentences' vectors, and their cosine,
//! as sentence-transformers gives them (docs/intelligence-groundwork.md,
//! section 1: an independent numpy forward pass of the same files, which
//! agrees with the model card). Also the tokenizer's settings: no padding,
//! 256 tokens at most. The published values are f32's; the int8 encoder
//! (the default) is held to them through f32: its vectors within a cosine
//! of the f32 ones.

use bss_intel::embedding::{cosine, Embedder, Precision, MAX_TOKENS, MODEL_DIR_IN_REPOSITORY};

use crate::data;

fn embedder_or_skip(test: &str, precision: Precision) -> Option<Embedder> {
    let dir = data::dir_or_skip(test, MODEL_DIR_IN_REPOSITORY, "all-MiniLM-L6-v2")?;
    Some(Embedder::from_dir_in(&dir, precision).unwrap_or_else(|e| panic!("{test}: {e}")))
}

const TOLERANCE: f32 = 1e-4;

#[test]
fn vectors_equal_the_published_ones() {
    let Some(embedder) = embedder_or_skip("embeddings", Precision::F32) else {
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
    let Some(embedder) = embedder_or_skip("token limits", Precision::Int8) else {
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
    // f32 within rounding; int8 exactly (each token's row is quantized on
    // its own, attention stays within a text).
    for (precision, tolerance) in [(Precision::F32, 1e-5), (Precision::Int8, 0.0)] {
        let Some(embedder) = embedder_or_skip("batches", precision) else {
            return;
        };
        together_as_alone(&embedder, tolerance, precision);
    }
}

fn together_as_alone(embedder: &Embedder, tolerance: f32, precision: Precision) {
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
        assert!(
            worst <= tolerance,
            "{precision:?} {text:?}: differs by {worst} in a batch"
        );
    }
}

#[test]
fn similar_tickets_are_nearer_than_different_ones() {
    let Some(embedder) = embedder_or_skip("similarity", Precision::Int8) else {
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

/// The int8 encoder's vectors against f32's on the held-out tickets (the
/// first 150) and the two published sentences.
#[test]
fn int8_vectors_stay_within_a_cosine_of_f32() {
    let (Some(f32s), Some(int8)) = (
        embedder_or_skip("int8 against f32", Precision::F32),
        embedder_or_skip("int8 against f32", Precision::Int8),
    ) else {
        return;
    };
    let heldout = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tickets_heldout.tsv");
    let text = std::fs::read_to_string(heldout).unwrap();
    let mut texts: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t').map(|(_, t)| t))
        .take(150)
        .collect();
    assert_eq!(texts.len(), 150, "{heldout}");
    texts.extend(["This is an example sentence", "Each sentence is converted"]);
    let (a, b) = (
        f32s.embed_many(&texts).unwrap(),
        int8.embed_many(&texts).unwrap(),
    );
    let cosines: Vec<f32> = a.iter().zip(&b).map(|(x, y)| cosine(x, y)).collect();
    let worst = cosines.iter().copied().fold(1.0f32, f32::min);
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    assert!(worst > 0.99, "an int8 vector at cosine {worst} from f32's");
    assert!(
        mean > 0.995,
        "int8 vectors at cosine {mean} from f32's on average"
    );
    let n = texts.len();
    let published = cosine(&b[n - 2], &b[n - 1]);
    assert!(
        (published - 0.404559).abs() < 0.01,
        "int8: the published sentences at cosine {published}, f32's 0.404559"
    );
    data::report(&format!(
        "embeddings: int8 against f32 on {n} texts: cosine {worst:.4} at worst, {mean:.4} on average"
    ));
}

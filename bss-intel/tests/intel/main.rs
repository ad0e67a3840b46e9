//! bss-intel against its references, with the data `scripts/intel_data.sh`
//! fetches (`make test-intel`): VADER against vaderSentiment 3.3.2 itself,
//! the embeddings against all-MiniLM-L6-v2's published values.

mod data;
mod embedding;
mod sentiment_parity;

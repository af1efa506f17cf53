//! Encodings of local features: k-means and GMM codebooks, BoVW, VLAD, Fisher vectors,
//! additive-kernel maps, and the image -> vector `encoder` stage built from them.

pub mod bovw;
pub mod encoder;
pub mod fisher;
pub mod gmm;
pub mod homkermap;
pub mod kmeans;
pub mod vlad;

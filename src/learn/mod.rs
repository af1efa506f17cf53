//! Learners on feature vectors: preprocessing, nearest centroid, linear SVM, softmax
//! regression, decision trees, random forests and kNN.

pub mod centroid;
pub mod forest;
pub mod knn;
#[cfg(feature = "linfa")]
pub mod linfa;
pub mod preprocess;
pub mod softmax;
pub mod svm;
pub mod tree;

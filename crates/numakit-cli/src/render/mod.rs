//! Renderings: the machine model as text, and benchmark reports as text
//! and SVG.

pub mod bench;
pub mod hardware;
pub mod matrix;
pub mod stat;
pub mod svg;
pub mod tree;

//! Text renderings of the machine model.

pub mod hardware;
pub mod matrix;
pub mod stat;
pub mod tree;

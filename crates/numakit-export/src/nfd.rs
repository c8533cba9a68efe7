//! stub
use numakit_topo::Machine;
/// stub
pub struct Label {
    /// n
    pub name: String,
    /// v
    pub value: String,
}
/// stub
pub fn labels(_m: &Machine) -> Vec<Label> {
    Vec::new()
}

//! stub
use numakit_topo::Machine;
/// stub
pub fn render(_m: &Machine) -> String {
    String::new()
}

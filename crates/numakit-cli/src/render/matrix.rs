//! The device-to-device matrix.

use numakit_topo::Machine;

/// Renders the matrix.
pub fn render(_m: &Machine) -> String {
    String::from("matrix: not built yet\n")
}

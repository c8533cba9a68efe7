//! stub
use numakit_topo::Machine;
/// stub
pub fn object(_m: &Machine, _name: &str) -> serde_json::Value {
    serde_json::Value::Null
}
/// stub
pub fn to_yaml(_v: &serde_json::Value) -> String {
    String::new()
}

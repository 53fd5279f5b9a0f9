//! Response headers as Python sees them: one map, shared by every request
//! that returns them (GET, HEAD, PUT), so none imports another for it.

use std::collections::HashMap;

use ureq::http;

/// Response headers by lower-case name, repeated ones joined by `,`.
pub fn header_map(headers: &http::HeaderMap) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

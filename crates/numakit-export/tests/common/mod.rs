//! What the export tests share: a small XML reader for the documents
//! hwloc and numakit write.

#![allow(dead_code)] // each test file uses part of it

use std::collections::BTreeMap;

/// One `<object>` or other element of hwloc's XML: its name, attributes
/// and children.
#[derive(Debug, Default)]
pub struct El {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub text: String,
    pub kids: Vec<El>,
}

/// A small reader for the XML hwloc writes: elements, attributes, text; no
/// comments or CDATA (hwloc writes none).
pub fn parse(xml: &str) -> El {
    let mut stack = vec![El::default()];
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        stack.last_mut().unwrap().text.push_str(&rest[..lt]);
        let gt = rest[lt..].find('>').unwrap() + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let done = stack.pop().unwrap();
            assert_eq!(done.name, name.trim(), "closing tag");
            stack.last_mut().unwrap().kids.push(done);
            continue;
        }
        let selfclose = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs_text) = tag.split_once(' ').unwrap_or((tag, ""));
        let mut el = El {
            name: name.to_string(),
            ..El::default()
        };
        while let Some(eq) = attrs_text.find("=\"") {
            let key = attrs_text[..eq].trim().to_string();
            let end = attrs_text[eq + 2..].find('"').unwrap() + eq + 2;
            el.attrs.insert(key, attrs_text[eq + 2..end].to_string());
            attrs_text = &attrs_text[end + 1..];
        }
        if selfclose {
            stack.last_mut().unwrap().kids.push(el);
        } else {
            stack.push(el);
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    stack.pop().unwrap()
}

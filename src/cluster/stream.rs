//! A list decoded while its body streams in: the bytes are split into the
//! list's items as they arrive, each item decoded on its own and dropped, so
//! a list of any size is held only as the model's lean types, never as its
//! body plus a decoded copy. An item that does not decode is reported, not
//! fatal; a body that ends early is an error, never a shorter list.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::model::flux::{Meta, Undecodable};

/// A list's metadata (the only part of it besides the items jobgate reads).
#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub(super) struct ListMeta {
    #[serde(rename = "continue", default)]
    pub(super) continue_: Option<String>,
}

#[derive(Deserialize)]
struct MetaOnly {
    #[serde(default)]
    metadata: ListMeta,
}

/// An object's name alone (the rest skipped, not decoded).
#[derive(Deserialize)]
pub(super) struct NameOnly {
    #[serde(default)]
    pub(super) metadata: Meta,
}

/// A list's decodable items, and a sentence for each that was not.
pub(super) struct Listed<T> {
    pub(super) items: Vec<T>,
    pub(super) undecodable: Vec<Undecodable>,
}

/// Where the splitter is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Outside the top-level `items` array (the rest of the list is kept).
    Outside,
    /// In the `items` array, between items.
    Between,
    /// In an item.
    Item,
}

/// Splits a list's body, fed in chunks of any size, into its items. The
/// list's own fields (with `"items":[]` in place of the items) are kept, so
/// that its `metadata` is read wherever the server wrote it: kube-apiserver
/// puts a built-in list's before the items and a custom resource's after
/// them (its keys are sorted).
pub(super) struct ListDecoder<T> {
    listed: Listed<T>,
    /// The list without its items.
    rest: Vec<u8>,
    /// The item being read.
    item: Vec<u8>,
    place: Place,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The last string read at depth 1 (a key of the list), when short.
    key: Vec<u8>,
    /// `key` is `items` and a `:` followed it: the next `[` opens the items.
    items_next: bool,
}

impl<T: DeserializeOwned> Default for ListDecoder<T> {
    fn default() -> Self {
        Self {
            listed: Listed {
                items: Vec::new(),
                undecodable: Vec::new(),
            },
            rest: Vec::new(),
            item: Vec::new(),
            place: Place::Outside,
            depth: 0,
            in_string: false,
            escaped: false,
            key: Vec::new(),
            items_next: false,
        }
    }
}

impl<T: DeserializeOwned> ListDecoder<T> {
    /// Reads the next bytes of the body.
    pub(super) fn feed(&mut self, chunk: &[u8]) {
        let mut from = 0;
        let mut i = 0;
        while let Some(&b) = chunk.get(i) {
            if self.in_string {
                i += self.string(&chunk[i..]);
                continue;
            }
            match (self.place, b) {
                (Place::Between, b']') => {
                    if !self.item.is_empty() {
                        self.decode_item();
                    }
                    from = i;
                    self.depth -= 1;
                    self.place = Place::Outside;
                    self.items_next = false;
                }
                (Place::Between, b'{' | b'[') => {
                    from = i;
                    self.depth += 1;
                    self.place = Place::Item;
                }
                (Place::Between, b',' | b' ' | b'\n' | b'\r' | b'\t') => {
                    if !self.item.is_empty() {
                        self.decode_item();
                    }
                    from = i + 1;
                }
                (Place::Between, _) => {
                    // An item that is not an object: kept, up to the next
                    // comma, as an item that fails to decode.
                    self.in_string = b == b'"';
                    self.item.push(b);
                    from = i + 1;
                }
                (_, b'"') => {
                    self.in_string = true;
                    if self.depth == 1 && self.place == Place::Outside {
                        self.key.clear();
                        self.items_next = false;
                    }
                }
                (Place::Outside, b':') if self.depth == 1 => {
                    self.items_next = self.key == b"items";
                }
                (Place::Outside, b'[') if self.depth == 1 && self.items_next => {
                    self.rest.extend_from_slice(&chunk[from..=i]);
                    from = i + 1;
                    self.depth += 1;
                    self.place = Place::Between;
                }
                (_, b'{' | b'[') => self.depth += 1,
                (Place::Item, b'}' | b']') => {
                    self.depth -= 1;
                    if self.depth == 2 {
                        self.item.extend_from_slice(&chunk[from..=i]);
                        from = i + 1;
                        self.decode_item();
                        self.place = Place::Between;
                    }
                }
                (_, b'}' | b']') => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
        let tail = &chunk[from..];
        match self.place {
            Place::Outside => self.rest.extend_from_slice(tail),
            Place::Item => self.item.extend_from_slice(tail),
            Place::Between => {}
        }
    }

    /// Reads on in a string, `rest` starting in it; returns how many bytes
    /// it read (at least one).
    fn string(&mut self, rest: &[u8]) -> usize {
        if self.escaped {
            self.escaped = false;
            return 1;
        }
        if self.depth == 1 && self.place == Place::Outside {
            // A key of the list: kept, when short, to find `items`.
            match rest.first() {
                Some(b'\\') => self.escaped = true,
                Some(b'"') => self.in_string = false,
                Some(&b) if self.key.len() < 8 => self.key.push(b),
                _ => {}
            }
            return 1;
        }
        // Most of a body is strings, and only a quote or a backslash ends
        // or escapes one: skip to the next.
        let Some(at) = memchr::memchr2(b'"', b'\\', rest) else {
            return rest.len().max(1);
        };
        if rest[at] == b'\\' {
            self.escaped = true;
        } else {
            self.in_string = false;
        }
        at + 1
    }

    fn decode_item(&mut self) {
        // Checked as UTF-8 once, whole: from bytes, serde_json checks each
        // of its strings on its own (two million of them at 5,000 apps, 8%
        // of all the instructions of `status -A -o json`).
        let decoded = match std::str::from_utf8(&self.item) {
            Ok(text) => serde_json::from_str::<T>(text),
            Err(_) => serde_json::from_slice::<T>(&self.item),
        };
        match decoded {
            Ok(item) => self.listed.items.push(item),
            Err(e) => {
                let meta = serde_json::from_slice::<NameOnly>(&self.item)
                    .map(|n| n.metadata)
                    .unwrap_or_default();
                self.listed.undecodable.push(Undecodable {
                    namespace: meta.namespace,
                    name: meta.name,
                    error: e.to_string(),
                });
            }
        }
        self.item.clear();
    }

    /// The list, once the body has ended: an error if it is not a whole
    /// JSON document (a body cut short is never a shorter list).
    pub(super) fn finish(mut self) -> Result<(Listed<T>, ListMeta), serde_json::Error> {
        if !self.item.is_empty() && self.place == Place::Between {
            self.decode_item();
        }
        if self.place == Place::Item {
            // Cut inside an item: let the parser say where.
            self.rest.append(&mut self.item);
        }
        let meta = serde_json::from_slice::<MetaOnly>(&self.rest)?.metadata;
        Ok((self.listed, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        metadata: Meta,
        #[serde(default)]
        n: u32,
    }

    fn decode(body: &[u8], chunk: usize) -> Result<(Listed<Item>, ListMeta), serde_json::Error> {
        let mut d = ListDecoder::<Item>::default();
        for c in body.chunks(chunk.max(1)) {
            d.feed(c);
        }
        d.finish()
    }

    fn names(l: &Listed<Item>) -> Vec<&str> {
        l.items.iter().map(|i| i.metadata.name.as_str()).collect()
    }

    const CUSTOM: &str = r#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","items":[{"metadata":{"name":"a","resourceVersion":"1","annotations":{"x":"a \"quoted\" } ] { [ string","items":"[" }}},
 {"metadata":{"name":"b"},"n":2,"spec":{"items":[[],[{}]]}}],"kind":"KustomizationList","metadata":{"continue":"t2","resourceVersion":"9"}}"#;

    #[test]
    fn the_continue_token_is_found_before_or_after_the_items() {
        let meta = |body: &str| decode(body.as_bytes(), body.len()).unwrap().1.continue_;
        // A built-in list (Jobs), as kube-apiserver writes it.
        assert_eq!(
            meta(
                r#"{"kind":"JobList","apiVersion":"batch/v1","metadata":{"continue":"t1"},"items":[{"metadata":{"name":"a"}}]}"#
            ),
            Some("t1".into())
        );
        // A custom-resource list: keys sorted, the items' metadata first.
        assert_eq!(meta(CUSTOM), Some("t2".into()));
        assert_eq!(meta(r#"{"items":[],"metadata":{}}"#), None);
        assert_eq!(
            meta(r#"{"items":null,"metadata":{"continue":""}}"#),
            Some(String::new())
        );
    }

    /// Every way the body can be cut into chunks gives the same list:
    /// strings holding brackets and escaped quotes, nested `items` keys,
    /// and white space between items included.
    #[test]
    fn any_chunking_gives_the_same_list() {
        for chunk in 1..=CUSTOM.len() {
            let (listed, meta) = decode(CUSTOM.as_bytes(), chunk).unwrap();
            assert_eq!(names(&listed), ["a", "b"], "chunks of {chunk}");
            assert_eq!(listed.items[1].n, 2);
            assert!(listed.undecodable.is_empty(), "chunks of {chunk}");
            assert_eq!(meta.continue_.as_deref(), Some("t2"));
        }
    }

    #[test]
    fn an_item_that_does_not_decode_is_reported_and_skipped() {
        let body = r#"{"items":[{"metadata":{"name":"a"},"n":"x"},{"metadata":{"name":"b"}},7, "s,]"],"metadata":{}}"#;
        for chunk in [1, 5, body.len()] {
            let (listed, _) = decode(body.as_bytes(), chunk).unwrap();
            assert_eq!(names(&listed), ["b"]);
            let bad: Vec<&str> = listed.undecodable.iter().map(|u| u.name.as_str()).collect();
            assert_eq!(bad, ["a", "", ""], "chunks of {chunk}");
        }
    }

    #[test]
    fn a_body_cut_short_is_an_error_not_a_shorter_list() {
        for cut in 1..CUSTOM.len() {
            assert!(
                decode(&CUSTOM.as_bytes()[..cut], 7).is_err(),
                "cut after {cut} bytes"
            );
        }
        assert!(decode(b"", 1).is_err());
    }
}

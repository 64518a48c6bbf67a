//! A list decoded while its body streams in: each of the list's items is
//! decoded as soon as its bytes have arrived, straight from the chunk they
//! came in, and only the start of an item that a chunk cut is kept until the
//! next; so a list of any size is held only as the model's lean types, never
//! as its body plus a decoded copy. An item that does not decode is
//! reported, not fatal; a body that ends early, or is not JSON, is an error,
//! never a shorter list.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

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

/// Where the decoder is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Outside the top-level `items` array (the rest of the list is kept).
    Outside,
    /// In the `items` array.
    Items,
}

/// How far [`ListDecoder::items`] read.
enum Read {
    /// To the end of the items: the `]` at this offset is the list's again.
    Ended(usize),
    /// To this offset, where an item starts that has not all arrived.
    Short(usize),
}

/// How much of a chunk is first added to an item the last chunk cut short
/// (an item is 3 KB at most, mostly).
const COMPLETING: usize = 4096;

/// Decodes a list's body, fed in chunks of any size. The list's own fields
/// (with `"items":[]` in place of the items) are kept, so that its
/// `metadata` is read wherever the server wrote it: kube-apiserver puts a
/// built-in list's before the items and a custom resource's after them (its
/// keys are sorted).
///
/// The items are parsed once, by serde_json itself: a parse that runs out of
/// bytes says the item is not whole yet. Telling the items apart with a scan
/// of its own had cost as much as decoding them (40% of the decoding
/// threads' time at 5,000 apps).
pub(super) struct ListDecoder<T> {
    listed: Listed<T>,
    /// The list without its items.
    rest: Vec<u8>,
    /// The start of an item that has not all arrived.
    pending: Vec<u8>,
    /// How long `pending` was when last found short: it is parsed again once
    /// it has doubled, so that a body in tiny chunks costs linear time.
    tried_at: usize,
    /// The body is not JSON: decoding stopped here.
    broken: Option<serde_json::Error>,
    place: Place,
    // Outside the items, a scan that finds them.
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
            pending: Vec::new(),
            tried_at: 0,
            broken: None,
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
        // The item that the last chunk cut short is completed from the start
        // of this one, a few kilobytes at a time, so that the rest of this
        // one (360 KB on average, at 5,000 apps) is read where it lies, not
        // copied.
        let mut from = 0;
        let mut step = COMPLETING.max(self.pending.len());
        while !self.pending.is_empty() && from < chunk.len() {
            let took = step.min(chunk.len() - from);
            self.pending.extend_from_slice(&chunk[from..from + took]);
            from += took;
            step = step.saturating_mul(2);
            if self.pending.len() < self.tried_at.saturating_mul(2) {
                continue;
            }
            let pending = std::mem::take(&mut self.pending);
            self.read(&pending, false);
            if self.pending.len() <= took {
                // What is left is in this chunk: read from there.
                from -= self.pending.len();
                self.pending.clear();
            }
        }
        if from < chunk.len() {
            self.read(&chunk[from..], false);
        }
    }

    /// Reads `data`; what is left of it (an item cut short) goes to
    /// `pending`. `end`: no more bytes will come.
    fn read(&mut self, mut data: &[u8], end: bool) {
        while !data.is_empty() && self.broken.is_none() {
            match self.place {
                Place::Outside => match self.outside(data) {
                    Some(at) => data = &data[at..],
                    None => return,
                },
                Place::Items => match self.items(data, end) {
                    Read::Ended(at) => {
                        self.place = Place::Outside;
                        data = &data[at..];
                    }
                    Read::Short(at) => {
                        self.tried_at = data.len() - at;
                        self.pending.extend_from_slice(&data[at..]);
                        return;
                    }
                },
            }
        }
    }

    /// Scans the list outside its items, keeping it in `rest`; returns the
    /// offset just past the `[` that opens the items, if `data` holds it.
    fn outside(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ if self.depth == 1 && self.key.len() < 8 => self.key.push(b),
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 {
                        self.key.clear();
                        self.items_next = false;
                    }
                }
                b':' if self.depth == 1 => self.items_next = self.key == b"items",
                b'[' if self.depth == 1 && self.items_next => {
                    self.rest.extend_from_slice(&data[..=i]);
                    self.depth += 1;
                    self.items_next = false;
                    self.place = Place::Items;
                    return Some(i + 1);
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        self.rest.extend_from_slice(data);
        None
    }

    /// Decodes the items that `data` holds whole.
    fn items(&mut self, data: &[u8], end: bool) -> Read {
        // Checked as UTF-8 once, whole: from bytes, serde_json checks each
        // of its strings on its own (two million of them at 5,000 apps, 8%
        // of all the instructions of `status -A -o json`). A character cut
        // by the chunk's end waits for the next, with its item.
        let text = match std::str::from_utf8(data) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut at = 0;
        loop {
            match data.get(at) {
                None => return Read::Short(at),
                Some(b' ' | b'\n' | b'\r' | b'\t' | b',') => at += 1,
                Some(b']') => return Read::Ended(at),
                Some(_) => match self.item(data, text, at, end) {
                    Some(len) => at += len,
                    None => return Read::Short(at),
                },
            }
        }
    }

    /// Decodes the item at `at`; returns its length, or `None` when it has
    /// not all arrived (or the body is not JSON: `broken`).
    fn item(&mut self, data: &[u8], text: &str, at: usize, end: bool) -> Option<usize> {
        if let Some(from) = text.get(at..) {
            let mut stream = serde_json::Deserializer::from_str(from).into_iter::<T>();
            match stream.next() {
                Some(Ok(item)) => {
                    self.listed.items.push(item);
                    return Some(stream.byte_offset());
                }
                Some(Err(e)) if e.is_eof() && text.len() == data.len() => return None,
                // Not this type, or bytes that are not UTF-8: found
                // whole below, then decoded from its bytes.
                _ => {}
            }
        }
        let mut stream =
            serde_json::Deserializer::from_slice(&data[at..]).into_iter::<IgnoredAny>();
        let len = match stream.next() {
            // At the end of the data, a number may go on in the next chunk.
            Some(Ok(_)) if at + stream.byte_offset() < data.len() || end => stream.byte_offset(),
            Some(Err(e)) if !e.is_eof() => {
                self.broken = Some(e);
                return None;
            }
            _ => return None,
        };
        let bytes = &data[at..at + len];
        match serde_json::from_slice::<T>(bytes) {
            Ok(item) => self.listed.items.push(item),
            Err(e) => {
                let meta = serde_json::from_slice::<NameOnly>(bytes)
                    .map(|n| n.metadata)
                    .unwrap_or_default();
                self.listed.undecodable.push(Undecodable {
                    namespace: meta.namespace,
                    name: meta.name,
                    error: e.to_string(),
                });
            }
        }
        Some(len)
    }

    /// The list, once the body has ended: an error if it is not a whole
    /// JSON document (a body cut short is never a shorter list).
    pub(super) fn finish(mut self) -> Result<(Listed<T>, ListMeta), serde_json::Error> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.read(&pending, true);
        }
        if let Some(e) = self.broken {
            return Err(e);
        }
        // Cut inside an item: the parser says where.
        self.rest.append(&mut self.pending);
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
    fn a_body_that_is_not_json_is_an_error_not_a_shorter_list() {
        let body = r#"{"items":[{"metadata":{"name":"a"}},{"metadata":{"name" "b"}},{"metadata":{"name":"c"}}],"metadata":{}}"#;
        for chunk in [1, 7, body.len()] {
            assert!(decode(body.as_bytes(), chunk).is_err(), "chunks of {chunk}");
        }
    }

    /// kube-apiserver never sends bytes that are not UTF-8; another server
    /// might. Only an item whose decoded fields hold them fails.
    #[test]
    fn bytes_that_are_not_utf8_fail_only_the_item_that_reads_them() {
        let mut body = br#"{"items":[{"metadata":{"name":"a"},"x":"X"},{"metadata":{"name":"bX"}},{"metadata":{"name":"c"}}],"metadata":{}}"#.to_vec();
        for b in body.iter_mut().filter(|b| **b == b'X') {
            *b = 0xff;
        }
        for chunk in [1, 7, body.len()] {
            let (listed, _) = decode(&body, chunk).unwrap();
            assert_eq!(names(&listed), ["a", "c"], "chunks of {chunk}");
            assert_eq!(listed.undecodable.len(), 1, "chunks of {chunk}");
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

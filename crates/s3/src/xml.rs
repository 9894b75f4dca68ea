//! The little XML S3 answers with: a `ListBucketResult` page and an
//! `Error` document. Their elements are flat text (no attributes Ferry
//! needs, no nesting of the same name), so a tag scanner with entity
//! decoding reads them; anything else is a malformed answer.

/// The text of every `<tag>...</tag>` element in `xml`, in order, undecoded.
pub fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        found.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    found
}

/// The decoded text of the first `<tag>` in `xml`.
pub fn first(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).first().map(|text| unescape(text))
}

/// Decodes XML's predefined entities and character references.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';').filter(|semi| *semi <= 10) else {
            out.push('&');
            rest = after;
            continue;
        };
        let entity = &after[..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes a key of a listing asked with `encoding-type=url`, as Go's
/// `url.QueryUnescape` does (`+` is a space); `None` when malformed.
pub fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listing_page() {
        let page = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;en</NextContinuationToken>
<Contents><Key>a%20b%2Bc.yaml</Key><ETag>&#34;9b2cf535f27731c974343645a3985328&#34;</ETag><Size>3</Size></Contents>
<Contents><Key>dir/x</Key><ETag>&quot;abc-2&quot;</ETag><Size>5</Size></Contents>
<EncodingType>url</EncodingType></ListBucketResult>"#;
        let contents = elements(page, "Contents");
        assert_eq!(contents.len(), 2);
        assert_eq!(url_decode(&first(contents[0], "Key").unwrap()).unwrap(), "a b+c.yaml");
        assert_eq!(first(contents[0], "ETag").unwrap(), "\"9b2cf535f27731c974343645a3985328\"");
        assert_eq!(first(contents[1], "ETag").unwrap(), "\"abc-2\"");
        assert_eq!(first(page, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(first(page, "NextContinuationToken").as_deref(), Some("tok&en"));
        assert_eq!(unescape("a &unknown; b & c &#x41;"), "a &unknown; b & c A");
        assert_eq!(url_decode("bad%zz"), None);
        assert_eq!(url_decode("x+y%2Fz").as_deref(), Some("x y/z"));
    }
}

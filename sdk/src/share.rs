//! Share links' resource paths: what may be shared, and which request paths a share covers.
//! Here, beside the verifier, so that keygate's services, its authorizer and any service using
//! this crate apply one rule.

/// Longest resource path, in bytes.
pub const MAX_RESOURCE_BYTES: usize = 512;

/// Why a resource path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidResource {
    #[error("resource must be an absolute path starting with /")]
    /// Not starting with `/`.
    NotAbsolute,
    #[error("resource is longer than 512 bytes")]
    /// Over [`MAX_RESOURCE_BYTES`].
    TooLong,
    #[error("resource may not have a query or a fragment")]
    /// A `?` or `#` in it.
    QueryOrFragment,
    #[error("resource may not have a . or .. segment, an empty segment or a backslash")]
    /// A `.`, `..` or empty segment, a backslash, or `/` alone.
    DotSegment,
    #[error("resource may not have percent-encoded separators or dots")]
    /// `%2F`, `%5C` or `%2E` in it, or a `%` not starting two hex digits.
    EncodedSeparator,
    #[error("resource may not have control characters or spaces")]
    /// A control character or white space in it.
    Control,
    #[error("resource may not have ;, an escaped %, an invalid escape, or a character that normalises to a separator")]
    /// A `;` (path parameters: `..;`), a percent-escape of `%` (`%25`: decoded twice by some
    /// servers), escapes that are not UTF-8 (overlong `%c0%ae`), or a character whose NFKC form
    /// holds `.`, `/` or `\` (full-width `．`, `／`, `＼`).
    Ambiguous,
}

/// A shareable resource: an absolute path of whole segments, compared segment by segment.
///
/// Refused, so that no spelling can reach outside the prefix through a server that normalises
/// paths differently: `.` and `..` segments, empty segments (`//`), backslashes, a query or a
/// fragment, percent-encoded `/`, `\` or `.`, control characters and spaces; and every spelling
/// that another server might read as one of those (contract section 12): `;` (Tomcat and Spring
/// drop `;params`, so `/42/..;/43` is `/43` there), `%25` (decoded twice, `%252e` is `.`), escapes
/// that do not decode to UTF-8 (overlong `%c0%ae`, which lenient decoders read as `.`), and
/// characters that NFKC maps to `.`, `/` or `\` (`．`, `／`, `＼`, `․`), literal or escaped. A
/// trailing `/` is dropped (`/graphs/42/` is `/graphs/42`); `/` alone shares everything and is
/// refused too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourcePath(String);

impl ResourcePath {
    /// Parses a resource path.
    pub fn parse(s: &str) -> Result<ResourcePath, InvalidResource> {
        if s.len() > MAX_RESOURCE_BYTES {
            return Err(InvalidResource::TooLong);
        }
        let rest = s.strip_prefix('/').ok_or(InvalidResource::NotAbsolute)?;
        if s.contains(['?', '#']) {
            return Err(InvalidResource::QueryOrFragment);
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidResource::Control);
        }
        let lower = s.to_ascii_lowercase();
        if ["%2f", "%5c", "%2e"].iter().any(|e| lower.contains(e)) {
            return Err(InvalidResource::EncodedSeparator);
        }
        // Every `%` starts an escape of two hex digits (RFC 3986): no spelling a server might
        // decode otherwise.
        let bytes = s.as_bytes();
        let escapes_ok = bytes.iter().enumerate().filter(|(_, b)| **b == b'%').all(|(i, _)| {
            bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        });
        if !escapes_ok {
            return Err(InvalidResource::EncodedSeparator);
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.split('/').any(|seg| !unambiguous(seg)) {
            return Err(InvalidResource::Ambiguous);
        }
        if rest.is_empty() || s.contains('\\') || rest.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(InvalidResource::DotSegment);
        }
        Ok(ResourcePath(format!("/{rest}")))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a request for `path` is this resource or lies under it, segment by segment:
    /// `/graphs/42` covers `/graphs/42` and `/graphs/42/nodes`, never `/graphs/420`. A request
    /// path that is not itself a valid resource path (dot segments, encoded separators) is
    /// never covered.
    pub fn covers(&self, path: &str) -> bool {
        let Ok(p) = ResourcePath::parse(path) else {
            return false;
        };
        p.0 == self.0
            || p.0
                .strip_prefix(self.0.as_str())
                .is_some_and(|tail| tail.starts_with('/'))
    }
}

/// Whether a segment (already free of `%2e`, `%2f`, `%5c` and of bad `%` syntax) reads the same
/// to every server: no `;`, no escaped `%`, escapes that decode to UTF-8, and no character, as
/// written or decoded, whose NFKC form holds a separator or a dot, or that decodes to a control
/// character.
fn unambiguous(segment: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let lower = segment.to_ascii_lowercase();
    // `%25` (a server that decodes twice reads `%252e` as `.`) and `%3b` (one that splits on `;`).
    if segment.contains(';') || lower.contains("%25") || lower.contains("%3b") {
        return false;
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
    let Ok(decoded) = std::str::from_utf8(&decoded) else {
        return false;
    };
    decoded.chars().all(|c| {
        if c.is_control() {
            return false;
        }
        if c.is_ascii() {
            // Literal dots are part of names (`report.pdf`); escaped ones were refused before.
            return true;
        }
        !std::iter::once(c)
            .nfkc()
            .any(|n| matches!(n, '.' | '/' | '\\' | ';' | '%'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_are_whole_segments() {
        for ok in [
            "/graphs/42",
            "/graphs/42/",
            "/a",
            "/a/b-c_d~e/%41",
            "/files/report.pdf",
            "/caf%C3%A9",
            "/café/ü",
        ] {
            assert!(ResourcePath::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(ResourcePath::parse("/graphs/42/").unwrap().as_str(), "/graphs/42");
        let refused = [
            ("graphs/42", InvalidResource::NotAbsolute),
            ("", InvalidResource::NotAbsolute),
            ("/", InvalidResource::DotSegment),
            ("/graphs/../admin", InvalidResource::DotSegment),
            ("/graphs/./42", InvalidResource::DotSegment),
            ("/graphs//42", InvalidResource::DotSegment),
            ("/graphs\\42", InvalidResource::DotSegment),
            ("/graphs/42?x=1", InvalidResource::QueryOrFragment),
            ("/graphs/42#top", InvalidResource::QueryOrFragment),
            ("/graphs%2F42", InvalidResource::EncodedSeparator),
            ("/graphs/%2e%2e/admin", InvalidResource::EncodedSeparator),
            ("/graphs/%5Cadmin", InvalidResource::EncodedSeparator),
            ("/graphs/%zz", InvalidResource::EncodedSeparator),
            ("/graphs/%4", InvalidResource::EncodedSeparator),
            ("/graphs/4 2", InvalidResource::Control),
            ("/graphs/\n42", InvalidResource::Control),
            // Issue 23: spellings other servers normalise into `..` or another separator.
            ("/graphs/42/..;/43", InvalidResource::Ambiguous),
            ("/graphs/42;jsessionid=x", InvalidResource::Ambiguous),
            ("/graphs/42/%3b", InvalidResource::Ambiguous),
            ("/graphs/%252e%252e/43", InvalidResource::Ambiguous),
            ("/graphs/%25", InvalidResource::Ambiguous),
            ("/graphs/%c0%ae%c0%ae/43", InvalidResource::Ambiguous),
            ("/graphs/%e0%80%ae", InvalidResource::Ambiguous),
            ("/graphs/%ff", InvalidResource::Ambiguous),
            ("/graphs/%00", InvalidResource::Ambiguous),
            ("/graphs/\u{ff0e}\u{ff0e}/43", InvalidResource::Ambiguous),
            ("/graphs/%ef%bc%8e%ef%bc%8e/43", InvalidResource::Ambiguous),
            ("/graphs/a\u{ff0f}b", InvalidResource::Ambiguous),
            ("/graphs/a\u{ff3c}b", InvalidResource::Ambiguous),
            ("/graphs/\u{2024}\u{2024}", InvalidResource::Ambiguous),
        ];
        for (bad, why) in refused {
            assert_eq!(ResourcePath::parse(bad), Err(why), "{bad:?}");
        }
        assert_eq!(
            ResourcePath::parse(&format!("/{}", "a".repeat(MAX_RESOURCE_BYTES))),
            Err(InvalidResource::TooLong)
        );
    }

    #[test]
    fn a_share_covers_its_resource_and_below_segment_by_segment() {
        let r = ResourcePath::parse("/graphs/42").unwrap();
        for yes in ["/graphs/42", "/graphs/42/", "/graphs/42/nodes", "/graphs/42/nodes/7"] {
            assert!(r.covers(yes), "{yes}");
        }
        for no in [
            "/graphs/420",
            "/graphs/4",
            "/graphs",
            "/graphs/42/../43",
            "/graphs/42/%2e%2e/43",
            "/graphs/42%2F..%2F43",
            "/graphs/42//x",
            "/graphs/42/..;/43",
            "/graphs/42/%252e%252e/43",
            "/graphs/42/%c0%ae%c0%ae/43",
            "/graphs/42/\u{ff0e}\u{ff0e}/43",
            "graphs/42",
            "/GRAPHS/42",
        ] {
            assert!(!r.covers(no), "{no}");
        }
    }
}

//! Output formats of `kafkaroo consume`, mirroring kcat: `-f` format strings, the default `%s<delim>` (or
//! `%k<key delim>%s<delim>` with `-K`), and `-J` JSON envelopes.
//!
//! Rendering appends to a `Vec<u8>`: no allocation per record (numbers are formatted in place, keys and
//! values copied straight from the fetch buffer).

use std::fmt;

use kafkaroo::{ConsumerRecord, TimestampType};

/// One piece of a parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Literal bytes (escapes already converted).
    Literal(Vec<u8>),
    /// `%t`
    Topic,
    /// `%p`
    Partition,
    /// `%o`
    Offset,
    /// `%k`
    Key,
    /// `%K`: key length, -1 for a null key.
    KeyLen,
    /// `%s`
    Value,
    /// `%S`: value length, -1 for a null value.
    ValueLen,
    /// `%R`: value length as a big-endian 32-bit integer, -1 for a null value.
    ValueLenBinary,
    /// `%T`
    Timestamp,
    /// `%h`: `name=value` pairs separated by commas (`name=NULL` for a null value).
    Headers,
}

/// A format string that could not be parsed (kcat's messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormatError {
    /// `%` at the end of the string.
    Empty,
    /// `%` followed by an unknown character.
    Unsupported(char),
    /// `\x` without hex digits in a delimiter.
    BadHex(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "Empty formatter"),
            Self::Unsupported(c) => write!(f, "Unsupported formatter: %{c}"),
            Self::BadHex(s) => write!(f, "Delimiter {s} expects hex number"),
        }
    }
}

impl std::error::Error for FormatError {}

/// kcat's `strtoul(s, &end, base)` on a byte string: the value and the number of bytes consumed.
/// Base 0 means C's auto-detection (`0x` hex, leading `0` octal, else decimal).
fn strtoul(s: &[u8], base: u32) -> (u64, usize) {
    let (radix, skip) = match base {
        0 if s.len() > 2 && s[0] == b'0' && (s[1] | 0x20) == b'x' && s[2].is_ascii_hexdigit() => (16, 2),
        0 if s.first() == Some(&b'0') => (8, 0),
        0 => (10, 0),
        16 if s.len() > 2 && s[0] == b'0' && (s[1] | 0x20) == b'x' && s[2].is_ascii_hexdigit() => (16, 2),
        b => (b, 0),
    };
    let mut value: u64 = 0;
    let mut n = skip;
    while let Some(d) = s.get(n).and_then(|c| (*c as char).to_digit(radix)) {
        value = value.wrapping_mul(u64::from(radix)).wrapping_add(u64::from(d));
        n += 1;
    }
    if n == skip { (0, 0) } else { (value, n) }
}

/// Converts the backslash escapes of a literal part of a format string as kcat does: `\n`, `\t`, `\r`,
/// `\xNN` (hex), `\NNN` (C `strtoul` base 0: decimal, or octal with a leading 0, so `\0` is NUL), and
/// `\c` for any other `c` (so `\\` is a backslash).
pub(crate) fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            i += 1;
            match s[i] {
                b't' => out.push(b'\t'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b'x' => {
                    // kcat (1.7) reads hex only when a decimal digit follows `\x`; otherwise the next
                    // character is taken as is (`\xAB` prints `AB`).
                    match s.get(i + 1) {
                        Some(c) if c.is_ascii_digit() => {
                            let (v, n) = strtoul(&s[i + 1..], 16);
                            out.push(v as u8);
                            i += n;
                        }
                        Some(&c) => {
                            out.push(c);
                            i += 1;
                        }
                        None => out.push(b'x'),
                    }
                }
                c if c.is_ascii_digit() => {
                    let (v, n) = strtoul(&s[i..], 0);
                    out.push(v as u8);
                    i += n.max(1) - 1;
                }
                c => out.push(c),
            }
            i += 1;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Parses a `-D`/`-K` delimiter as kcat does: `\n`, `\t` and `\xNN`; everything else is literal.
pub(crate) fn parse_delim(s: &str) -> Result<Vec<u8>, FormatError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'x' => {
                    let (v, n) = strtoul(&b[i + 2..], 16);
                    if n == 0 {
                        return Err(FormatError::BadHex(s[i..].to_owned()));
                    }
                    out.push((v & 0xff) as u8);
                    i += 2 + n;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(out)
}

/// A parsed `-f` format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Format {
    pub(crate) tokens: Vec<Token>,
}

impl Format {
    /// Parses a kcat format string: `%t %p %o %k %K %s %S %R %T %h %%` and backslash escapes in literals.
    pub(crate) fn parse(fmt: &[u8]) -> Result<Self, FormatError> {
        let mut tokens = Vec::new();
        let mut literal = Vec::new();
        let flush = |literal: &mut Vec<u8>, tokens: &mut Vec<Token>| {
            if !literal.is_empty() {
                let bytes = unescape(literal);
                match tokens.last_mut() {
                    Some(Token::Literal(prev)) => prev.extend_from_slice(&bytes),
                    _ => tokens.push(Token::Literal(bytes)),
                }
                literal.clear();
            }
        };
        let mut i = 0;
        while i < fmt.len() {
            if fmt[i] != b'%' {
                literal.push(fmt[i]);
                i += 1;
                continue;
            }
            flush(&mut literal, &mut tokens);
            let token = match fmt.get(i + 1) {
                None => return Err(FormatError::Empty),
                Some(b'o') => Token::Offset,
                Some(b'k') => Token::Key,
                Some(b'K') => Token::KeyLen,
                Some(b's') => Token::Value,
                Some(b'S') => Token::ValueLen,
                Some(b'R') => Token::ValueLenBinary,
                Some(b't') => Token::Topic,
                Some(b'p') => Token::Partition,
                Some(b'T') => Token::Timestamp,
                Some(b'h') => Token::Headers,
                Some(b'%') => {
                    // kcat adds "%" as its own literal (no escape processing across the boundary).
                    match tokens.last_mut() {
                        Some(Token::Literal(prev)) => prev.push(b'%'),
                        _ => tokens.push(Token::Literal(vec![b'%'])),
                    }
                    i += 2;
                    continue;
                }
                Some(_) => {
                    let c = std::str::from_utf8(&fmt[i + 1..])
                        .ok()
                        .and_then(|s| s.chars().next())
                        .unwrap_or_else(|| char::from(fmt[i + 1]));
                    return Err(FormatError::Unsupported(c));
                }
            };
            tokens.push(token);
            i += 2;
        }
        flush(&mut literal, &mut tokens);
        Ok(Self { tokens })
    }

    /// kcat's default without `-f`: `%s<delim>`, or `%k<key delim>%s<delim>` with `-K`.
    pub(crate) fn default_for(delim: &[u8], key_delim: Option<&[u8]>) -> Self {
        let mut tokens = Vec::new();
        if let Some(kd) = key_delim {
            tokens.push(Token::Key);
            if !kd.is_empty() {
                tokens.push(Token::Literal(kd.to_vec()));
            }
        }
        tokens.push(Token::Value);
        if !delim.is_empty() {
            tokens.push(Token::Literal(delim.to_vec()));
        }
        Self { tokens }
    }

    /// Whether rendering needs the headers.
    #[cfg(test)]
    pub(crate) fn uses_headers(&self) -> bool {
        self.tokens.contains(&Token::Headers)
    }
}

/// Called with each header's name and value.
pub(crate) type HeaderFn<'a> = dyn FnMut(&[u8], Option<&[u8]>) + 'a;

/// What a renderer needs from a record (implemented by `ConsumerRecord`, and by test records).
pub(crate) trait Message {
    fn topic(&self) -> &str;
    fn partition(&self) -> i32;
    fn offset(&self) -> i64;
    fn timestamp(&self) -> i64;
    fn timestamp_type(&self) -> TimestampType;
    fn key(&self) -> Option<&[u8]>;
    fn value(&self) -> Option<&[u8]>;
    fn has_headers(&self) -> bool;
    fn for_each_header(&self, f: &mut HeaderFn<'_>);
}

impl Message for ConsumerRecord {
    fn topic(&self) -> &str {
        Self::topic(self)
    }
    fn partition(&self) -> i32 {
        Self::partition(self)
    }
    fn offset(&self) -> i64 {
        Self::offset(self)
    }
    fn timestamp(&self) -> i64 {
        Self::timestamp(self)
    }
    fn timestamp_type(&self) -> TimestampType {
        Self::timestamp_type(self)
    }
    fn key(&self) -> Option<&[u8]> {
        Self::key(self)
    }
    fn value(&self) -> Option<&[u8]> {
        Self::value(self)
    }
    fn has_headers(&self) -> bool {
        self.record().header_count() > 0
    }
    fn for_each_header(&self, f: &mut HeaderFn<'_>) {
        for h in self.headers() {
            f(h.key(), h.value());
        }
    }
}

/// Appends the decimal form of `v`.
#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `s` as a JSON string the way kcat's yajl does (`"`, `\`, `\b \f \n \r \t`, other control
/// characters as `\u00XX`; `/` and non-ASCII unescaped). Invalid UTF-8 is replaced (U+FFFD).
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let text = String::from_utf8_lossy(s);
    let b = text.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            c if c < 0x20 => &[],
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// How records are printed.
#[derive(Debug, Clone)]
pub(crate) enum Renderer {
    /// A format string (`-f`, or the default built from `-D`/`-K`). `null`: what an empty or null key or
    /// value prints as (`-Z`: `NULL`, like kcat).
    Format { format: Format, null: Option<Vec<u8>> },
    /// `-J`: one JSON object per record followed by `delim`.
    Json { delim: Vec<u8> },
}

impl Renderer {
    /// Appends `msg` to `out`. `broker`: the id of the partition's leader (JSON only).
    #[inline]
    pub(crate) fn render(&self, msg: &impl Message, broker: i32, out: &mut Vec<u8>) {
        match self {
            Self::Format { format, null } => render_format(format, null.as_deref(), msg, out),
            Self::Json { delim } => {
                render_json(msg, broker, out);
                out.extend_from_slice(delim);
            }
        }
    }
}

fn render_format(format: &Format, null: Option<&[u8]>, msg: &impl Message, out: &mut Vec<u8>) {
    for token in &format.tokens {
        match token {
            Token::Literal(bytes) => out.extend_from_slice(bytes),
            Token::Offset => push_i64(out, msg.offset()),
            Token::Partition => push_i64(out, i64::from(msg.partition())),
            Token::Topic => out.extend_from_slice(msg.topic().as_bytes()),
            Token::Timestamp => push_i64(out, msg.timestamp()),
            // kcat prints a key or value only when it is not empty; -Z prints "NULL" otherwise.
            Token::Key => match msg.key() {
                Some(k) if !k.is_empty() => out.extend_from_slice(k),
                _ => out.extend_from_slice(null.unwrap_or_default()),
            },
            Token::Value => match msg.value() {
                Some(v) if !v.is_empty() => out.extend_from_slice(v),
                _ => out.extend_from_slice(null.unwrap_or_default()),
            },
            Token::KeyLen => push_i64(out, msg.key().map_or(-1, |k| k.len() as i64)),
            Token::ValueLen => push_i64(out, msg.value().map_or(-1, |v| v.len() as i64)),
            Token::ValueLenBinary => {
                let len = msg.value().map_or(-1, |v| v.len() as i32);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Token::Headers => {
                let mut first = true;
                msg.for_each_header(&mut |name, value| {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(name);
                    out.push(b'=');
                    match value {
                        Some(v) => out.extend_from_slice(v),
                        None => out.extend_from_slice(b"NULL"),
                    }
                });
            }
        }
    }
}

/// kcat's JSON envelope: topic, partition, offset, tstype, ts, broker, headers (only when the record has
/// any, as a flat `[name, value, ...]` array), key, payload.
fn render_json(msg: &impl Message, broker: i32, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"topic\":");
    push_json_str(out, msg.topic().as_bytes());
    out.extend_from_slice(b",\"partition\":");
    push_i64(out, i64::from(msg.partition()));
    out.extend_from_slice(b",\"offset\":");
    push_i64(out, msg.offset());
    out.extend_from_slice(match msg.timestamp_type() {
        TimestampType::CreateTime => b",\"tstype\":\"create\",\"ts\":".as_slice(),
        TimestampType::LogAppendTime => b",\"tstype\":\"logappend\",\"ts\":".as_slice(),
    });
    push_i64(out, msg.timestamp());
    out.extend_from_slice(b",\"broker\":");
    push_i64(out, i64::from(broker));
    if msg.has_headers() {
        out.extend_from_slice(b",\"headers\":[");
        let mut first = true;
        msg.for_each_header(&mut |name, value| {
            if !first {
                out.push(b',');
            }
            first = false;
            push_json_str(out, name);
            out.push(b',');
            match value {
                Some(v) => push_json_str(out, v),
                None => out.extend_from_slice(b"null"),
            }
        });
        out.push(b']');
    }
    out.extend_from_slice(b",\"key\":");
    match msg.key() {
        Some(k) => push_json_str(out, k),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"payload\":");
    match msg.value() {
        Some(v) => push_json_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestMsg {
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    }

    impl Message for TestMsg {
        fn topic(&self) -> &str {
            "orders"
        }
        fn partition(&self) -> i32 {
            3
        }
        fn offset(&self) -> i64 {
            42
        }
        fn timestamp(&self) -> i64 {
            1_700_000_000_123
        }
        fn timestamp_type(&self) -> TimestampType {
            TimestampType::CreateTime
        }
        fn key(&self) -> Option<&[u8]> {
            self.key.as_deref()
        }
        fn value(&self) -> Option<&[u8]> {
            self.value.as_deref()
        }
        fn has_headers(&self) -> bool {
            !self.headers.is_empty()
        }
        fn for_each_header(&self, f: &mut HeaderFn<'_>) {
            for (k, v) in &self.headers {
                f(k, v.as_deref());
            }
        }
    }

    fn msg(key: Option<&str>, value: Option<&str>, headers: &[(&str, Option<&str>)]) -> TestMsg {
        TestMsg {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect(),
        }
    }

    fn render(r: &Renderer, m: &TestMsg) -> String {
        let mut out = Vec::new();
        r.render(m, 1, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn fmt(s: &str) -> Renderer {
        Renderer::Format {
            format: Format::parse(s.as_bytes()).unwrap(),
            null: None,
        }
    }

    #[test]
    fn every_token() {
        let m = msg(
            Some("k1"),
            Some("hello"),
            &[("a", Some("1")), ("b", None), ("c", Some(""))],
        );
        assert_eq!(
            render(&fmt("%t|%p|%o|%k|%K|%s|%S|%T|%h|%%|\\t\\n"), &m),
            "orders|3|42|k1|2|hello|5|1700000000123|a=1,b=NULL,c=|%|\t\n"
        );
        let mut out = Vec::new();
        fmt("%R").render(&m, 1, &mut out);
        assert_eq!(out, 5i32.to_be_bytes());
    }

    #[test]
    fn nulls_and_empties_print_empty_unless_z() {
        let m = msg(None, None, &[]);
        assert_eq!(render(&fmt("[%k][%s][%K][%S][%h]"), &m), "[][][-1][-1][]");
        let e = msg(Some(""), Some(""), &[]);
        assert_eq!(render(&fmt("[%k][%s][%K][%S]"), &e), "[][][0][0]");
        let z = Renderer::Format {
            format: Format::parse(b"[%k][%s]").unwrap(),
            null: Some(b"NULL".to_vec()),
        };
        assert_eq!(render(&z, &m), "[NULL][NULL]");
        assert_eq!(
            render(&z, &e),
            "[NULL][NULL]",
            "kcat's -Z also applies to empty ones"
        );
    }

    #[test]
    fn escapes_like_kcat() {
        assert_eq!(unescape(b"a\\tb\\nc\\rd"), b"a\tb\nc\rd");
        assert_eq!(unescape(b"\\\\"), b"\\");
        assert_eq!(unescape(b"\\0"), b"\0");
        assert_eq!(unescape(b"\\x41\\x4a!"), b"AJ!");
        assert_eq!(unescape(b"\\xAB"), b"AB", "kcat needs a digit after \\x");
        assert_eq!(unescape(b"\\65"), b"A", "decimal");
        assert_eq!(unescape(b"\\0101"), b"A", "octal with a leading zero");
        assert_eq!(unescape(b"\\q"), b"q");
        assert_eq!(unescape(b"end\\"), b"end\\", "a trailing backslash stays");
        assert_eq!(parse_delim("\\n").unwrap(), b"\n");
        assert_eq!(parse_delim("\\t\\n\\n").unwrap(), b"\t\n\n");
        assert_eq!(parse_delim("\\x54!\\x45\\x53T").unwrap(), b"T!EST");
        assert_eq!(parse_delim("\\x30").unwrap(), b"0");
        assert_eq!(
            parse_delim("\\r").unwrap(),
            b"\\r",
            "kcat's -D knows only \\n \\t \\x"
        );
        assert!(parse_delim("\\xZ").is_err());
    }

    #[test]
    fn parse_errors_name_the_formatter() {
        assert_eq!(Format::parse(b"%o %").unwrap_err().to_string(), "Empty formatter");
        assert_eq!(
            Format::parse(b"%o %q").unwrap_err().to_string(),
            "Unsupported formatter: %q"
        );
    }

    #[test]
    fn literals_merge_and_default_formats() {
        let f = Format::parse(b"a%%b%oc").unwrap();
        assert_eq!(
            f.tokens,
            vec![
                Token::Literal(b"a%b".to_vec()),
                Token::Offset,
                Token::Literal(b"c".to_vec())
            ]
        );
        assert!(!f.uses_headers());
        let d = Format::default_for(b"\n", None);
        assert_eq!(d.tokens, vec![Token::Value, Token::Literal(b"\n".to_vec())]);
        let k = Format::default_for(b"\n", Some(b":"));
        let r = Renderer::Format {
            format: k,
            null: None,
        };
        assert_eq!(render(&r, &msg(Some("k"), Some("v"), &[])), "k:v\n");
    }

    #[test]
    fn numbers() {
        for v in [
            0i64,
            1,
            9,
            10,
            99,
            100,
            -1,
            -10,
            1234567890123,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            push_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn json_envelope() {
        let r = Renderer::Json {
            delim: b"\n".to_vec(),
        };
        let m = msg(Some("k\"1"), None, &[("h", Some("x")), ("n", None)]);
        assert_eq!(
            render(&r, &m),
            "{\"topic\":\"orders\",\"partition\":3,\"offset\":42,\"tstype\":\"create\",\"ts\":1700000000123,\
             \"broker\":1,\"headers\":[\"h\",\"x\",\"n\",null],\"key\":\"k\\\"1\",\"payload\":null}\n"
        );
        let plain = msg(None, Some("v"), &[]);
        assert!(!render(&r, &plain).contains("headers"));
    }

    #[test]
    fn json_strings() {
        let mut out = Vec::new();
        push_json_str(&mut out, b"a/b\\c\"d\n\r\t\x08\x0c\x01\x1f\x7f\xc3\xa9");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a/b\\\\c\\\"d\\n\\r\\t\\b\\f\\u0001\\u001F\u{7f}é\""
        );
        let mut out = Vec::new();
        push_json_str(&mut out, b"x\xffy");
        assert_eq!(String::from_utf8(out).unwrap(), "\"x\u{fffd}y\"");
    }
}

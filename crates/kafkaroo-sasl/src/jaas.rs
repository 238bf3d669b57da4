//! Java's `sasl.jaas.config`: `<LoginModule class> <flag> (<name>=<value>)*;`, tokenized as Kafka's
//! `JaasConfig` does with `java.io.StreamTokenizer`: whitespace is every character up to space, `;` and
//! `=` stand alone, `"` and `'` quote (with backslash escapes), `/` starts a comment (`//`, `/* */`, or a
//! lone `/` to the end of the line), and everything else forms words. A Kafka client takes exactly one
//! login module, and the entry must end with `;`.

use std::str::FromStr;

use crate::{Credentials, SaslError, Secret};

/// The login module class of a JAAS entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginModule {
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`.
    Plain,
    /// `org.apache.kafka.common.security.scram.ScramLoginModule`.
    Scram,
    /// `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule`.
    OAuthBearer,
    /// Any other class (GSSAPI's `com.sun.security.auth.module.Krb5LoginModule`, vendor modules).
    Other(String),
}

const PLAIN_CLASS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_CLASS: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const OAUTHBEARER_CLASS: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

impl LoginModule {
    /// The Java class name.
    pub fn class_name(&self) -> &str {
        match self {
            Self::Plain => PLAIN_CLASS,
            Self::Scram => SCRAM_CLASS,
            Self::OAuthBearer => OAUTHBEARER_CLASS,
            Self::Other(name) => name,
        }
    }

    fn from_class_name(name: &str) -> Self {
        match name {
            PLAIN_CLASS => Self::Plain,
            SCRAM_CLASS => Self::Scram,
            OAUTHBEARER_CLASS => Self::OAuthBearer,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A JAAS control flag. A client with one login module behaves the same under all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFlag {
    /// `required`.
    Required,
    /// `requisite`.
    Requisite,
    /// `sufficient`.
    Sufficient,
    /// `optional`.
    Optional,
}

/// A parsed `sasl.jaas.config`. Every option value is a [`Secret`], so `Debug` shows option names only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JaasConfig {
    /// The login module class.
    pub login_module: LoginModule,
    /// Its control flag.
    pub control_flag: ControlFlag,
    /// The options in the order given (a repeated name: the last one counts, as in Java).
    pub options: Vec<(String, Secret)>,
}

impl JaasConfig {
    /// The value of option `name` (case-sensitive, as in Java), the last one when repeated.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.expose())
    }

    /// `username` and `password`, when both are given (PLAIN and SCRAM modules).
    pub fn credentials(&self) -> Option<Credentials> {
        Some(Credentials {
            username: self.option("username")?.to_owned(),
            password: Secret::from(self.option("password")?),
        })
    }

    /// `tokenauth="true"`: the SCRAM credentials are a delegation token (KIP-48), see
    /// [`ClientSession::scram_delegation_token`](crate::ClientSession::scram_delegation_token).
    pub fn token_auth(&self) -> bool {
        self.option("tokenauth")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

impl FromStr for JaasConfig {
    type Err = SaslError;

    fn from_str(s: &str) -> Result<Self, SaslError> {
        parse_jaas_config(s)
    }
}

/// Parses a `sasl.jaas.config` value such as
/// `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`.
///
/// Errors name the problem and where it is (a character position), but never an option's value.
pub fn parse_jaas_config(value: &str) -> Result<JaasConfig, SaslError> {
    let mut lexer = Lexer::new(value);
    let mut entries = Vec::new();
    while let Some(first) = lexer.next()? {
        entries.push(parse_entry(&mut lexer, first)?);
    }
    match entries.len() {
        1 => Ok(entries.pop().expect("one entry")),
        0 => Err(jaas_error(
            "sasl.jaas.config is empty: give `<LoginModule class> required <name>=\"<value>\" ...;`"
                .to_owned(),
        )),
        n => Err(jaas_error(format!(
            "sasl.jaas.config holds {n} login modules; a Kafka client takes exactly one: keep one entry"
        ))),
    }
}

fn parse_entry(lexer: &mut Lexer<'_>, first: Token) -> Result<JaasConfig, SaslError> {
    let (Kind::Word(module) | Kind::Quoted(module)) = first.kind else {
        return Err(jaas_error(format!(
            "sasl.jaas.config: expected a login module class name at character {}, found {}",
            first.at,
            first.kind.describe()
        )));
    };
    let flag_token = lexer.next()?.ok_or_else(|| {
        jaas_error(
            "sasl.jaas.config: the control flag is missing after the login module class: add `required`"
                .to_owned(),
        )
    })?;
    let flag = match &flag_token.kind {
        Kind::Word(w) => flag_from(w),
        _ => None,
    }
    .ok_or_else(|| {
        jaas_error(format!(
            "sasl.jaas.config: expected the control flag (required, requisite, sufficient or optional) after \
             the login module class, found {} at character {}",
            flag_token.kind.describe(),
            flag_token.at
        ))
    })?;
    let mut options: Vec<(String, Secret)> = Vec::new();
    loop {
        let Some(token) = lexer.next()? else {
            return Err(jaas_error(
                "sasl.jaas.config: the entry does not end with ';': add a semicolon after the last option"
                    .to_owned(),
            ));
        };
        // A quoted name is not echoed: it may be a misplaced value.
        let (name, shown) = match token.kind {
            Kind::Semicolon => break,
            Kind::Word(w) => {
                let shown = format!("option {}", short(&w));
                (w, shown)
            }
            Kind::Quoted(w) => (w, format!("the quoted option name at character {}", token.at)),
            Kind::Equals => {
                return Err(jaas_error(format!(
                    "sasl.jaas.config: '=' without an option name before it at character {}",
                    token.at
                )));
            }
        };
        match lexer.next()? {
            Some(Token {
                kind: Kind::Equals, ..
            }) => {}
            _ => {
                return Err(jaas_error(format!(
                    "sasl.jaas.config: {shown} is not followed by '=': write name=\"value\""
                )));
            }
        }
        match lexer.next()? {
            Some(Token {
                kind: Kind::Word(v) | Kind::Quoted(v),
                ..
            }) => options.push((name, Secret::from(v))),
            _ => {
                return Err(jaas_error(format!(
                    "sasl.jaas.config: {shown} has no value: write name=\"value\""
                )));
            }
        }
    }
    Ok(JaasConfig {
        login_module: LoginModule::from_class_name(&module),
        control_flag: flag,
        options,
    })
}

fn flag_from(word: &str) -> Option<ControlFlag> {
    [
        ("required", ControlFlag::Required),
        ("requisite", ControlFlag::Requisite),
        ("sufficient", ControlFlag::Sufficient),
        ("optional", ControlFlag::Optional),
    ]
    .into_iter()
    .find(|(name, _)| name.eq_ignore_ascii_case(word))
    .map(|(_, flag)| flag)
}

fn jaas_error(problem: String) -> SaslError {
    SaslError::Jaas { problem }
}

/// A name for an error message: at most 60 characters, debug-quoted.
fn short(s: &str) -> String {
    format!("{:?}", s.chars().take(60).collect::<String>())
}

enum Kind {
    Word(String),
    Quoted(String),
    Semicolon,
    Equals,
}

impl Kind {
    /// For error messages: never the text of a quoted string.
    fn describe(&self) -> String {
        match self {
            Self::Word(w) => format!("the word {}", short(w)),
            Self::Quoted(_) => "a quoted string".to_owned(),
            Self::Semicolon => "';'".to_owned(),
            Self::Equals => "'='".to_owned(),
        }
    }
}

struct Token {
    kind: Kind,
    /// 1-based character position, for error messages.
    at: usize,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    /// Characters consumed so far.
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.chars().peekable(),
            pos: 0,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        self.pos += 1;
        Some(c)
    }

    fn next(&mut self) -> Result<Option<Token>, SaslError> {
        loop {
            let Some(c) = self.bump() else {
                return Ok(None);
            };
            let at = self.pos;
            let kind = match c {
                c if c <= ' ' => continue,
                '/' => {
                    self.skip_comment(at)?;
                    continue;
                }
                ';' => Kind::Semicolon,
                '=' => Kind::Equals,
                '"' | '\'' => Kind::Quoted(self.quoted(c, at)?),
                c => {
                    let mut word = String::from(c);
                    while let Some(&c) = self.chars.peek() {
                        if c <= ' ' || matches!(c, ';' | '=' | '"' | '\'' | '/') {
                            break;
                        }
                        word.push(c);
                        self.bump();
                    }
                    Kind::Word(word)
                }
            };
            return Ok(Some(Token { kind, at }));
        }
    }

    /// After a `/`: `/* ... */`, or a comment to the end of the line (`//` or a lone `/`).
    fn skip_comment(&mut self, at: usize) -> Result<(), SaslError> {
        if self.chars.peek() == Some(&'*') {
            self.bump();
            let mut star = false;
            loop {
                match self.bump() {
                    None => {
                        return Err(jaas_error(format!(
                            "sasl.jaas.config: the comment opened with /* at character {at} is not closed: add */"
                        )));
                    }
                    Some('/') if star => return Ok(()),
                    Some(c) => star = c == '*',
                }
            }
        }
        while let Some(c) = self.bump() {
            if c == '\n' || c == '\r' {
                break;
            }
        }
        Ok(())
    }

    /// A quoted string with `StreamTokenizer`'s escapes (`\n`, `\t`, octal `\123`, `\"`, `\\`, ...).
    /// Unlike Java, a string still open at the end of the line is an error rather than cut short there.
    fn quoted(&mut self, quote: char, at: usize) -> Result<String, SaslError> {
        let unclosed = || {
            jaas_error(format!(
                "sasl.jaas.config: the quoted string opened at character {at} is not closed on its line: \
                 add the closing {quote}"
            ))
        };
        let mut out = String::new();
        loop {
            match self.bump().ok_or_else(unclosed)? {
                c if c == quote => return Ok(out),
                '\n' | '\r' => return Err(unclosed()),
                '\\' => {
                    let c = self.bump().ok_or_else(unclosed)?;
                    match c {
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'v' => out.push('\u{b}'),
                        '0'..='7' => {
                            // Up to three octal digits, the first of three at most 3 (one byte).
                            let mut n = c.to_digit(8).expect("octal digit");
                            let max_digits = if c <= '3' { 3 } else { 2 };
                            for _ in 1..max_digits {
                                match self.chars.peek().and_then(|d| d.to_digit(8)) {
                                    Some(d) => {
                                        n = n * 8 + d;
                                        self.bump();
                                    }
                                    None => break,
                                }
                            }
                            out.push(char::from_u32(n).expect("at most 0o377"));
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests;

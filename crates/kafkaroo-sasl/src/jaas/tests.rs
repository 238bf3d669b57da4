use crate::{ControlFlag, Credentials, JaasConfig, LoginModule, SaslError, Secret, parse_jaas_config};

const PLAIN: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

fn err(text: &str) -> String {
    match parse_jaas_config(text) {
        Err(SaslError::Jaas { problem }) => problem,
        other => panic!("{text:?} gave {other:?}"),
    }
}

#[test]
fn plain_login_module_as_kafka_documents_it() {
    let c = parse_jaas_config(&format!(
        "{PLAIN} required username=\"alice\" password=\"alice-secret\";"
    ))
    .unwrap();
    assert_eq!(c.login_module, LoginModule::Plain);
    assert_eq!(c.control_flag, ControlFlag::Required);
    assert_eq!(c.option("username"), Some("alice"));
    assert_eq!(c.option("password"), Some("alice-secret"));
    assert_eq!(c.option("Username"), None);
    assert_eq!(c.credentials(), Some(Credentials::new("alice", "alice-secret")));
    assert!(!c.token_auth());
}

#[test]
fn scram_and_oauthbearer_modules() {
    let c = parse_jaas_config(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"id\" password=\"hmac\" \
         tokenauth=\"true\";",
    )
    .unwrap();
    assert_eq!(c.login_module, LoginModule::Scram);
    assert!(c.token_auth());
    let c = parse_jaas_config(
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         unsecuredLoginStringClaim_sub=\"thePrincipalName\";",
    )
    .unwrap();
    assert_eq!(c.login_module, LoginModule::OAuthBearer);
    assert_eq!(
        c.option("unsecuredLoginStringClaim_sub"),
        Some("thePrincipalName")
    );
    assert_eq!(c.credentials(), None);
    let c =
        parse_jaas_config("com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;").unwrap();
    assert_eq!(
        c.login_module,
        LoginModule::Other("com.sun.security.auth.module.Krb5LoginModule".into())
    );
    assert_eq!(
        c.login_module.class_name(),
        "com.sun.security.auth.module.Krb5LoginModule"
    );
    assert_eq!(LoginModule::Plain.class_name(), PLAIN);
}

#[test]
fn flags_are_case_insensitive() {
    for (word, flag) in [
        ("required", ControlFlag::Required),
        ("REQUISITE", ControlFlag::Requisite),
        ("Sufficient", ControlFlag::Sufficient),
        ("optional", ControlFlag::Optional),
    ] {
        assert_eq!(
            parse_jaas_config(&format!("{PLAIN} {word};"))
                .unwrap()
                .control_flag,
            flag
        );
    }
}

#[test]
fn whitespace_newlines_and_comments_anywhere() {
    let text = format!(
        "\n\t{PLAIN}   // the module\n  required /* flag */\r\n username\n=\n'bob'\t password = \"p w\" \n ;\n  "
    );
    let c = parse_jaas_config(&text).unwrap();
    assert_eq!(c.credentials(), Some(Credentials::new("bob", "p w")));
    // A lone '/' comments out the rest of the line, as in Java.
    let c = parse_jaas_config(&format!("{PLAIN} required a=b / c=d\n;")).unwrap();
    assert_eq!(c.options, vec![("a".to_owned(), Secret::from("b"))]);
}

#[test]
fn quoted_values_and_escapes() {
    let c = parse_jaas_config(&format!(
        r#"{PLAIN} required a="x\"y" b='it\'s' c="back\\slash" d="t\tn\nr\r" e="\101\60\0" f="q=;/'" g="é€";"#
    ))
    .unwrap();
    assert_eq!(c.option("a"), Some("x\"y"));
    assert_eq!(c.option("b"), Some("it's"));
    assert_eq!(c.option("c"), Some("back\\slash"));
    assert_eq!(c.option("d"), Some("t\tn\nr\r"));
    assert_eq!(c.option("e"), Some("A0\0"));
    assert_eq!(c.option("f"), Some("q=;/'"));
    assert_eq!(c.option("g"), Some("é€"));
}

#[test]
fn unquoted_values_and_repeated_names() {
    let c = parse_jaas_config(&format!("{PLAIN} required n=42 user=alice.b-c_d$ n=43;")).unwrap();
    assert_eq!(c.option("n"), Some("43"));
    assert_eq!(c.option("user"), Some("alice.b-c_d$"));
    assert_eq!(c.options.len(), 3);
    assert_eq!("x required;".parse::<JaasConfig>().unwrap().options, vec![]);
}

#[test]
fn missing_semicolon_is_an_error() {
    assert_eq!(
        err(&format!("{PLAIN} required username=\"a\" password=\"b\"")),
        "sasl.jaas.config: the entry does not end with ';': add a semicolon after the last option"
    );
    assert_eq!(
        err(&format!("{PLAIN} required")),
        "sasl.jaas.config: the entry does not end with ';': add a semicolon after the last option"
    );
}

#[test]
fn structural_errors_name_the_problem() {
    assert_eq!(
        err("  \n "),
        "sasl.jaas.config is empty: give `<LoginModule class> required <name>=\"<value>\" ...;`"
    );
    assert_eq!(err("/* only a comment */"), err(""));
    assert_eq!(
        err(PLAIN),
        "sasl.jaas.config: the control flag is missing after the login module class: add `required`"
    );
    assert_eq!(
        err(&format!("{PLAIN} username=\"a\";")),
        "sasl.jaas.config: expected the control flag (required, requisite, sufficient or optional) after the \
         login module class, found the word \"username\" at character 57"
    );
    assert_eq!(
        err(&format!("{PLAIN} required username \"a\";")),
        "sasl.jaas.config: option \"username\" is not followed by '=': write name=\"value\""
    );
    assert_eq!(
        err(&format!("{PLAIN} required username=;")),
        "sasl.jaas.config: option \"username\" has no value: write name=\"value\""
    );
    assert_eq!(
        err(&format!("{PLAIN} required username=")),
        "sasl.jaas.config: option \"username\" has no value: write name=\"value\""
    );
    assert_eq!(
        err(&format!("{PLAIN} required =\"a\";")),
        "sasl.jaas.config: '=' without an option name before it at character 66"
    );
    assert_eq!(
        err("; required;"),
        "sasl.jaas.config: expected a login module class name at character 1, found ';'"
    );
    assert_eq!(
        err(&format!("{PLAIN} required a=b; {PLAIN} required c=d;")),
        "sasl.jaas.config holds 2 login modules; a Kafka client takes exactly one: keep one entry"
    );
    assert_eq!(
        err(&format!("{PLAIN} required /* open")),
        "sasl.jaas.config: the comment opened with /* at character 66 is not closed: add */"
    );
}

#[test]
fn unterminated_quotes_are_errors() {
    assert_eq!(
        err(&format!("{PLAIN} required username=\"alice;")),
        "sasl.jaas.config: the quoted string opened at character 75 is not closed on its line: add the closing \""
    );
    assert_eq!(
        err(&format!("{PLAIN} required username='a\nb';")),
        "sasl.jaas.config: the quoted string opened at character 75 is not closed on its line: add the closing '"
    );
    assert!(err(&format!("{PLAIN} required username=\"a\\")).contains("is not closed"));
}

/// Whatever is wrong, the error shows no value, only names and positions.
#[test]
fn errors_never_echo_a_password() {
    const PW: &str = "Sup3rS3cret";
    for text in [
        format!("{PLAIN} required username=\"a\" password=\"{PW}\""),
        format!("{PLAIN} required username=\"a\" password \"{PW}\";"),
        format!("{PLAIN} required username=\"a\" password=\"{PW}"),
        format!("{PLAIN} required username=\"a\" \"{PW}\";"),
        format!("{PLAIN} required password=\"{PW}\" \"x\"="),
        format!("{PLAIN} \"{PW}\" username=\"a\";"),
        format!("{PLAIN} required password=\"{PW}\"; {PLAIN} required password=\"{PW}\";"),
        format!("\"{PW}\""),
    ] {
        let e = parse_jaas_config(&text).unwrap_err();
        assert!(!e.to_string().contains(PW), "{text:?} → {e}");
        assert!(!format!("{e:?}").contains(PW), "{text:?} → {e:?}");
    }
    let ok = parse_jaas_config(&format!("{PLAIN} required username=\"a\" password=\"{PW}\";")).unwrap();
    assert!(!format!("{ok:?}").contains(PW));
}

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{ClientSession, SaslError, Secret, TokenProvider, UnsecuredTokenProvider, parse_jaas_config};

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The token's claims, after checking the JWS shape Kafka's `OAuthBearerUnsecuredJws` requires: three
/// dot-separated base64url parts, header `{"alg":"none"}`, empty signature.
fn claims(token: &Secret) -> (String, Value) {
    let parts: Vec<&str> = token.expose().split('.').collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(
        parts[0], "eyJhbGciOiJub25lIn0",
        "base64url of {{\"alg\":\"none\"}}, as librdkafka sends it"
    );
    assert_eq!(parts[2], "", "no signature");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let value = serde_json::from_str(&text).unwrap();
    (text, value)
}

fn config_err(config: &str) -> String {
    match UnsecuredTokenProvider::from_config(config) {
        Err(SaslError::OAuthBearerConfig { problem }) => problem,
        other => panic!("{config:?} gave {other:?}"),
    }
}

#[test]
fn default_token_has_sub_iat_exp_in_seconds() {
    let token = UnsecuredTokenProvider::new("alice")
        .token_at(at(1_700_000_000_123))
        .unwrap();
    let (text, value) = claims(&token.value);
    assert_eq!(
        value,
        json!({"sub": "alice", "iat": 1_700_000_000.123, "exp": 1_700_003_600.123})
    );
    assert!(
        text.contains("\"iat\":1700000000.123") && text.contains("\"exp\":1700003600.123"),
        "{text}"
    );
    assert_eq!(token.principal, "alice");
    assert_eq!(token.expires_at, at(1_700_003_600_123));
    assert!(token.extensions.is_empty());
}

#[test]
fn whole_seconds_are_integers() {
    let token = UnsecuredTokenProvider::new("a")
        .token_at(at(1_700_000_000_000))
        .unwrap();
    let (text, _) = claims(&token.value);
    assert!(
        text.contains("\"iat\":1700000000,") || text.contains("\"iat\":1700000000}"),
        "{text}"
    );
}

#[test]
fn from_config_reads_librdkafkas_syntax() {
    let p = UnsecuredTokenProvider::from_config(
        "principalClaimName=azp principal=admin scopeClaimName=roles scope=role1,role2,,role1 lifeSeconds=600 \
         extension_traceId=123 extension_logicalCluster=lkc-1",
    )
    .unwrap();
    let token = p.token_at(at(1_000_000)).unwrap();
    let (_, value) = claims(&token.value);
    assert_eq!(
        value,
        json!({"azp": "admin", "iat": 1000, "exp": 1600, "roles": ["role1", "role2"]})
    );
    assert_eq!(token.expires_at, at(1_600_000));
    assert_eq!(
        token.extensions,
        vec![
            ("traceId".to_owned(), "123".to_owned()),
            ("logicalCluster".to_owned(), "lkc-1".to_owned())
        ]
    );
    let mut session = ClientSession::oauthbearer(&token).unwrap();
    let first = session.initial_response();
    assert!(first.ends_with(b"\x01traceId=123\x01logicalCluster=lkc-1\x01\x01"));
}

#[test]
fn from_config_errors() {
    assert_eq!(
        config_err(" "),
        "sasl.oauthbearer.config is empty: give at least principal=<name>"
    );
    assert_eq!(
        config_err("scope=a"),
        "sasl.oauthbearer.config has no principal: add principal=<name>"
    );
    assert_eq!(
        config_err("principal=a principal=b"),
        "sasl.oauthbearer.config gives \"principal\" twice: keep one"
    );
    assert_eq!(
        config_err("principal="),
        "sasl.oauthbearer.config: principal is empty: give it a value"
    );
    assert_eq!(
        config_err("principal=a lifetime=5"),
        "sasl.oauthbearer.config: unknown name \"lifetime\" (names: principal, principalClaimName, scope, \
         scopeClaimName, lifeSeconds, extension_<name>)"
    );
    assert_eq!(
        config_err("principal=a hidden-secret"),
        "sasl.oauthbearer.config: item 2 is not name=value (items are separated by spaces, so values cannot \
         contain one)"
    );
    for bad in ["0", "-1", "1.5", "x", "2147483648"] {
        assert_eq!(
            config_err(&format!("principal=a lifeSeconds={bad}")),
            "sasl.oauthbearer.config: lifeSeconds must be a whole number of seconds from 1 to 2147483647"
        );
    }
    let e = UnsecuredTokenProvider::from_config("principal=a extension_auth=x").unwrap_err();
    assert!(matches!(e, SaslError::InvalidExtension { .. }), "{e:?}");
    let e = UnsecuredTokenProvider::from_config("principal=a extension_a1=x").unwrap_err();
    assert!(matches!(e, SaslError::InvalidExtension { .. }), "{e:?}");
}

#[test]
fn from_jaas_reads_javas_unsecured_login_options() {
    let jaas = parse_jaas_config(
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginListClaim_scope=\"|read|write|\" \
         unsecuredLoginNumberClaim_level=\"3\" unsecuredLoginStringClaim_my_claim=\"x\" \
         unsecuredLoginExtension_traceId=\"t1\" unsecuredLoginLifetimeSeconds=\"60\" someOtherOption=\"ignored\";",
    )
    .unwrap();
    let token = UnsecuredTokenProvider::from_jaas(&jaas)
        .unwrap()
        .token_at(at(5_000))
        .unwrap();
    let (_, value) = claims(&token.value);
    assert_eq!(
        value,
        json!({"sub": "alice", "iat": 5, "exp": 65, "scope": ["read", "write"], "level": 3, "my_claim": "x"})
    );
    assert_eq!(token.extensions, vec![("traceId".to_owned(), "t1".to_owned())]);
    assert_eq!(token.principal, "alice");

    let jaas = parse_jaas_config(
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         unsecuredLoginPrincipalClaimName=\"azp\" unsecuredLoginStringClaim_azp=\"svc\";",
    )
    .unwrap();
    let token = UnsecuredTokenProvider::from_jaas(&jaas)
        .unwrap()
        .token_at(at(0))
        .unwrap();
    assert_eq!(
        claims(&token.value).1,
        json!({"azp": "svc", "iat": 0, "exp": 3600})
    );
}

#[test]
fn from_jaas_errors() {
    let module = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required";
    let problem = |options: &str| match UnsecuredTokenProvider::from_jaas(
        &parse_jaas_config(&format!("{module} {options};")).unwrap(),
    ) {
        Err(SaslError::OAuthBearerConfig { problem }) => problem,
        other => panic!("{options:?} gave {other:?}"),
    };
    assert_eq!(
        problem("a=b"),
        "sasl.jaas.config has no principal: add unsecuredLoginStringClaim_sub=\"<name>\""
    );
    assert_eq!(
        problem("unsecuredLoginStringClaim_sub=\"\""),
        "sasl.jaas.config: the principal claim \"sub\" must be a non-empty unsecuredLoginStringClaim_sub"
    );
    assert_eq!(
        problem("unsecuredLoginStringClaim_sub=a unsecuredLoginNumberClaim_exp=5"),
        "sasl.jaas.config: unsecuredLoginNumberClaim_exp sets a claim the token provider computes: remove it (use \
         unsecuredLoginLifetimeSeconds for the lifetime)"
    );
    assert_eq!(
        problem("unsecuredLoginStringClaim_sub=a unsecuredLoginNumberClaim_n=five"),
        "sasl.jaas.config: unsecuredLoginNumberClaim_n is not a number: give digits, e.g. \
         unsecuredLoginNumberClaim_n=\"5\""
    );
    assert!(problem("unsecuredLoginStringClaim_sub=a unsecuredLoginLifetimeSeconds=0").contains("from 1 to"));
    let plain =
        parse_jaas_config("org.apache.kafka.common.security.plain.PlainLoginModule required;").unwrap();
    assert_eq!(
        UnsecuredTokenProvider::from_jaas(&plain).unwrap_err().to_string(),
        "sasl.jaas.config names org.apache.kafka.common.security.plain.PlainLoginModule, not \
         org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule: unsecured tokens come from the \
         OAUTHBEARER login module"
    );
}

#[test]
fn builder_methods() {
    let p = UnsecuredTokenProvider::new("bob")
        .with_scope(["x"])
        .with_lifetime(Duration::from_secs(10))
        .with_principal_claim_name("user")
        .with_scope_claim_name("scp")
        .with_extension("k", "v")
        .unwrap();
    let token = p.token_at(at(0)).unwrap();
    assert_eq!(
        claims(&token.value).1,
        json!({"user": "bob", "scp": ["x"], "iat": 0, "exp": 10})
    );
    assert!(
        UnsecuredTokenProvider::new("bob")
            .with_extension("auth", "v")
            .is_err()
    );
    let d = format!(
        "{:?}",
        UnsecuredTokenProvider::new("bob")
            .with_extension("k", "hidden")
            .unwrap()
    );
    assert!(
        d.contains("bob") && d.contains("\"k\"") && !d.contains("hidden"),
        "{d}"
    );
}

#[test]
fn token_at_refuses_what_it_cannot_express() {
    assert_eq!(
        UnsecuredTokenProvider::new("")
            .token_at(at(0))
            .unwrap_err()
            .to_string(),
        "the OAUTHBEARER token provider failed: the unsecured token's principal is empty: give a principal name"
    );
    let before_1970 = UNIX_EPOCH - Duration::from_secs(1);
    assert!(UnsecuredTokenProvider::new("a").token_at(before_1970).is_err());
    let forever = UnsecuredTokenProvider::new("a").with_lifetime(Duration::MAX);
    assert!(forever.token_at(at(0)).is_err());
}

#[test]
fn principal_and_claims_are_json_escaped() {
    let token = UnsecuredTokenProvider::new("a\"b\\c é").token_at(at(0)).unwrap();
    assert_eq!(claims(&token.value).1["sub"], "a\"b\\c é");
    // Still a b64token the session accepts.
    assert!(ClientSession::oauthbearer(&token).is_ok());
}

#[test]
fn the_provider_reads_the_clock() {
    let p = UnsecuredTokenProvider::new("a");
    let before = SystemTime::now();
    let mut fut = pin!(p.token());
    let Poll::Ready(token) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the unsecured provider is ready at once");
    };
    let token = token.unwrap();
    assert!(token.expires_at >= before + Duration::from_secs(3600));
    assert!(token.expires_at <= SystemTime::now() + Duration::from_secs(3600));
}

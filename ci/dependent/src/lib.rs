//! Stands for a user's crate that depends on kafkaroo (see `Cargo.toml`); the checks are in `tests/`.

/// Builds a consumer configuration through kafkaroo's public API, so this crate links kafkaroo as any
/// dependent does.
pub fn config(bootstrap: &str) -> Result<kafkaroo::ConsumerConfig, kafkaroo::Error> {
    kafkaroo::ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn kafkaroo_is_usable() {
        super::config("127.0.0.1:9092").expect("a valid configuration");
    }
}

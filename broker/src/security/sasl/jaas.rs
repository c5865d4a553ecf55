//! JAAS config values (`sasl.jaas.config`) as Kafka reads them: one or more
//! `LoginModuleClass flag key=value ...;` entries, values bare or in double quotes. Kafka
//! counterpart: `JaasConfig`.

use std::collections::BTreeMap;

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    /// The login module class, e.g. `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub class: String,
    /// The options after the control flag.
    pub options: BTreeMap<String, String>,
}

/// Parses a JAAS config value. The error says what was expected, never the value itself
/// (it holds passwords).
pub fn parse(text: &str) -> Result<Vec<LoginModule>, String> {
    let tokens = tokenize(text)?;
    let mut modules = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let class = match &tokens[i] {
            Token::Word(w) => w.clone(),
            _ => return Err("a login module class name first".into()),
        };
        let flag = match tokens.get(i + 1) {
            Some(Token::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(format!("a control flag after {class}")),
        };
        if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
            return Err(format!(
                "a control flag of required, requisite, sufficient or optional after {class}"
            ));
        }
        i += 2;
        let mut options = BTreeMap::new();
        loop {
            match tokens.get(i) {
                Some(Token::Semicolon) => {
                    i += 1;
                    break;
                }
                Some(Token::Word(key)) => {
                    if tokens.get(i + 1) != Some(&Token::Equals) {
                        return Err(format!("key=value options in {class} (after `{key}`)"));
                    }
                    let value = match tokens.get(i + 2) {
                        Some(Token::Word(v)) | Some(Token::Quoted(v)) => v.clone(),
                        _ => return Err(format!("a value for option `{key}` of {class}")),
                    };
                    options.insert(key.clone(), value);
                    i += 3;
                }
                _ => return Err(format!("options ending with `;` in {class}")),
            }
        }
        modules.push(LoginModule { class, options });
    }
    if modules.is_empty() {
        return Err("at least one login module".into());
    }
    Ok(modules)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                tokens.push(Token::Equals);
            }
            ';' => {
                chars.next();
                tokens.push(Token::Semicolon);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => value.push(e),
                            None => return Err("a closing quote".into()),
                        },
                        Some(ch) => value.push(ch),
                        None => return Err("a closing quote".into()),
                    }
                }
                tokens.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ch == '=' || ch == ';' || ch == '"' {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// The `user_<name>="<password>"` options of PLAIN login modules: the users PLAIN accepts
/// (Kafka's `PlainServerCallbackHandler`).
pub fn plain_users(modules: &[LoginModule]) -> BTreeMap<String, String> {
    modules
        .iter()
        .flat_map(|m| m.options.iter())
        .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_documented_plain_config_parses() {
        let text = r#"org.apache.kafka.common.security.plain.PlainLoginModule required
            username="admin"
            password="admin-secret"
            user_admin="admin-secret"
            user_alice="alice \"quoted\" secret";"#;
        let modules = parse(text).unwrap();
        assert_eq!(modules.len(), 1);
        assert!(modules[0].class.ends_with("PlainLoginModule"));
        let users = plain_users(&modules);
        assert_eq!(users["admin"], "admin-secret");
        assert_eq!(users["alice"], "alice \"quoted\" secret");
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn bare_values_and_several_modules() {
        let modules = parse("a.B required x=1; c.D optional;").unwrap();
        assert_eq!(modules.len(), 2);
        assert_eq!(modules[0].options["x"], "1");
    }

    #[test]
    fn malformed_configs_say_what_is_missing_without_the_secret() {
        for bad in [
            "",
            "a.B",
            "a.B sometimes;",
            "a.B required user_x=\"secret",
            "a.B required user_x;",
            "a.B required user_x=\"s\"",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                !err.contains("secret") || !bad.contains("\"secret"),
                "{err}"
            );
        }
    }
}

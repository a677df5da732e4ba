//! The route policy: which roles may call which route, read from one table
//! (`policy.txt`, compiled in) so that reviewers and the route × role test
//! read the same thing the server enforces.

use auth::Role;
use axum::http::Method;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The table, as shipped.
pub const POLICY_TABLE: &str = include_str!("policy.txt");

/// Who may call one route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// No login needed.
    pub public: bool,
    /// Roles allowed (ignored when `public`).
    pub roles: Vec<Role>,
    /// Also needs the organisation to be law enforcement and faces enabled.
    pub biometric: bool,
}

impl Rule {
    pub fn allows(&self, role: Role) -> bool {
        self.public || self.roles.contains(&role)
    }
}

/// The parsed table.
#[derive(Debug, Default)]
pub struct Policy {
    rules: HashMap<(Method, String), Rule>,
    /// Rows in table order, for listing.
    order: Vec<(Method, String)>,
}

impl Policy {
    /// Parses a table; every bad line is an error naming its line number.
    pub fn parse(text: &str) -> Result<Policy, Vec<String>> {
        let mut p = Policy::default();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = |m: String| format!("policy.txt line {}: {m}", i + 1);
            let mut cols = line.split_whitespace();
            let (Some(method), Some(path)) = (cols.next(), cols.next()) else {
                errors.push(at("expected METHOD PATH ACCESS...".into()));
                continue;
            };
            let method = match method {
                "GET" => Method::GET,
                "POST" => Method::POST,
                "PUT" => Method::PUT,
                "PATCH" => Method::PATCH,
                "DELETE" => Method::DELETE,
                other => {
                    errors.push(at(format!(
                        "bad method {other:?}: use GET, POST, PUT, PATCH or DELETE"
                    )));
                    continue;
                }
            };
            let mut rule = Rule {
                public: false,
                roles: Vec::new(),
                biometric: false,
            };
            let mut any_access = false;
            for a in cols {
                any_access = true;
                match a {
                    "public" => rule.public = true,
                    "any" => rule.roles = Role::ALL.to_vec(),
                    "biometric" => rule.biometric = true,
                    r => match r.parse::<Role>() {
                        Ok(role) if !rule.roles.contains(&role) => rule.roles.push(role),
                        Ok(_) => {}
                        Err(e) => errors.push(at(e.to_string())),
                    },
                }
            }
            if !any_access || (!rule.public && rule.roles.is_empty()) {
                errors.push(at(format!("{method} {path}: no access given")));
                continue;
            }
            if rule.public && rule.biometric {
                errors.push(at(format!(
                    "{method} {path}: a biometric route cannot be public"
                )));
                continue;
            }
            let key = (method, path.to_owned());
            if p.rules.insert(key.clone(), rule).is_some() {
                errors.push(at(format!("{} {}: listed twice", key.0, key.1)));
            }
            p.order.push(key);
        }
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }

    /// The rule of a route pattern.
    pub fn get(&self, method: &Method, path: &str) -> Option<&Rule> {
        self.rules.get(&(method.clone(), path.to_owned()))
    }

    /// Every row, in table order.
    pub fn rows(&self) -> impl Iterator<Item = (&Method, &str, &Rule)> {
        self.order
            .iter()
            .map(|k| (&k.0, k.1.as_str(), &self.rules[k]))
    }
}

/// The shipped policy. A table that does not parse denies everything (and
/// the unit test below fails first).
pub fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| match Policy::parse(POLICY_TABLE) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                tracing::error!("{e}");
            }
            Policy::default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses() {
        let p = Policy::parse(POLICY_TABLE).unwrap();
        assert!(p.rows().count() > 20);
        let r = p.get(&Method::POST, "/api/faces/search").unwrap();
        assert!(r.biometric && r.allows(Role::Investigator) && !r.allows(Role::Admin));
        assert!(p.get(&Method::GET, "/healthz").unwrap().public);
    }

    #[test]
    fn bad_lines_are_named() {
        let e = Policy::parse("GET /a root\nFETCH /b viewer\nGET /c\nGET /d public biometric")
            .unwrap_err();
        for line in 1..=4 {
            assert!(
                e.iter().any(|x| x.contains(&format!("line {line}:"))),
                "line {line} not reported: {e:?}"
            );
        }
        assert!(e[0].contains("unknown role"), "{e:?}");
    }
}

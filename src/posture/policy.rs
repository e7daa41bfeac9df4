//! Lenient parsing of bucket policies, the way IAM reads them.
//!
//! IAM accepts many shapes for the same meaning: `Statement` as one object or a list,
//! `Principal`/`Action`/`Resource` as a string or a list, condition values as strings, lists,
//! numbers or JSON booleans, operator and key names in any case. Checkers that only understand
//! one shape report false passes, so this module turns every accepted shape into one model that
//! the rules in [`super::rules`] can reason about. The glob matching IAM uses for actions and
//! resources is in [`super::glob`], which part of a bucket a resource reaches in
//! [`super::reach`]; both are re-exported here, where the checks look for them.

use serde_json::Value;
use std::fmt;

pub use super::glob::{
    Case, action_matches, actions_cover, glob_covers, glob_intersects, glob_match,
};
pub use super::reach::{BucketReach, bucket_arn, reach, resources_cover};

/// Why a policy document could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyParseError {
    /// Not JSON at all.
    #[error("the policy is not valid JSON: {0}")]
    Json(String),
    /// JSON, but not shaped like an IAM policy.
    #[error("the policy is not an IAM policy document: {0}")]
    Shape(String),
}

/// `Effect` of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants access.
    Allow,
    /// Removes access, whatever any Allow says.
    Deny,
}

/// The principals named in a `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, including anonymous callers.
    pub everyone: bool,
    /// `AWS` entries: account ids, account root ARNs, user and role ARNs.
    pub aws: Vec<String>,
    /// `Service` entries (AWS service principals).
    pub service: Vec<String>,
    /// `Federated` entries (web identity and SAML providers).
    pub federated: Vec<String>,
    /// `CanonicalUser` entries.
    pub canonical_user: Vec<String>,
}

impl Principals {
    /// True when these principals include the public: everyone, a wildcard AWS principal,
    /// any federated identity provider (anyone with an account there, as AWS's own example
    /// with `graph.facebook.com` shows) or a wildcard canonical user.
    pub fn includes_public(&self) -> bool {
        self.everyone
            || !self.federated.is_empty()
            || self.aws.iter().any(|p| p.contains('*') || p.contains('?'))
            || self.canonical_user.iter().any(|p| p.contains('*'))
    }
}

/// The principal element of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalElement {
    /// `Principal`: these principals.
    Principal(Principals),
    /// `NotPrincipal`: everyone except these principals.
    NotPrincipal(Principals),
    /// Neither element (valid in identity policies, not in bucket policies).
    Missing,
}

impl PrincipalElement {
    /// True when the statement applies to members of the public.
    pub fn includes_public(&self) -> bool {
        match self {
            PrincipalElement::Principal(p) => p.includes_public(),
            // Everyone except a list of named principals: anonymous callers are never named.
            PrincipalElement::NotPrincipal(_) => true,
            PrincipalElement::Missing => false,
        }
    }

    /// True when the statement applies to every caller without exception (`"*"`).
    pub fn is_everyone(&self) -> bool {
        matches!(self, PrincipalElement::Principal(p) if p.everyone)
    }
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionElement {
    /// These action patterns.
    Action(Vec<String>),
    /// Every action except these patterns.
    NotAction(Vec<String>),
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceElement {
    /// These resource patterns.
    Resource(Vec<String>),
    /// Every resource except these patterns.
    NotResource(Vec<String>),
    /// Neither element.
    Missing,
}

/// One `operator: {key: values}` pair of a `Condition` block. A block with two keys under one
/// operator becomes two clauses; all clauses of a statement are ANDed, as in IAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionClause {
    /// The operator as written, e.g. `ForAnyValue:StringLikeIfExists`.
    pub operator: String,
    /// The condition key as written, e.g. `aws:SourceIp`.
    pub key: String,
    /// The values, as strings (`true`, not a JSON boolean).
    pub values: Vec<String>,
}

/// The set-operator prefix of a condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// `ForAnyValue:`: true if any request value matches; false when the key is missing.
    ForAnyValue,
    /// `ForAllValues:`: true if every request value matches; true when the key is missing.
    ForAllValues,
}

/// A condition operator taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// `ForAnyValue` / `ForAllValues` prefix, if any.
    pub qualifier: Option<SetQualifier>,
    /// The operator without prefix and without `IfExists`, lowercased (`stringequals`).
    pub base: String,
    /// Whether the operator ends in `IfExists`.
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name, case-insensitively.
    pub fn parse(name: &str) -> Operator {
        let mut rest = name.trim().to_ascii_lowercase();
        let mut qualifier = None;
        if let Some(r) = rest.strip_prefix("foranyvalue:") {
            qualifier = Some(SetQualifier::ForAnyValue);
            rest = r.to_string();
        } else if let Some(r) = rest.strip_prefix("forallvalues:") {
            qualifier = Some(SetQualifier::ForAllValues);
            rest = r.to_string();
        }
        let mut if_exists = false;
        if let Some(r) = rest.strip_suffix("ifexists") {
            if_exists = true;
            rest = r.to_string();
        }
        Operator {
            qualifier,
            base: rest,
            if_exists,
        }
    }

    /// True for operators that are true when the request value does *not* match
    /// (`StringNotEquals`, `NotIpAddress`, ...). A missing key makes them true.
    pub fn is_negated(&self) -> bool {
        matches!(
            self.base.as_str(),
            "stringnotequals"
                | "stringnotequalsignorecase"
                | "stringnotlike"
                | "arnnotequals"
                | "arnnotlike"
                | "notipaddress"
                | "numericnotequals"
                | "datenotequals"
        )
    }

    /// True for the positive matching operators that can pin a key to a set of values:
    /// string, ARN and IP matches.
    pub fn is_positive_match(&self) -> bool {
        matches!(
            self.base.as_str(),
            "stringequals"
                | "stringequalsignorecase"
                | "stringlike"
                | "arnequals"
                | "arnlike"
                | "ipaddress"
        )
    }

    /// True for the `...Like` operators, whose `*` and `?` are wildcards.
    pub fn is_like(&self) -> bool {
        matches!(
            self.base.as_str(),
            "stringlike" | "stringnotlike" | "arnlike" | "arnnotlike"
        )
    }

    /// ARN operators treat `*` and `?` in each ARN segment as wildcards even for `ArnEquals`.
    pub fn is_arn(&self) -> bool {
        self.base.starts_with("arn")
    }
}

impl ConditionClause {
    /// The operator taken apart.
    pub fn op(&self) -> Operator {
        Operator::parse(&self.operator)
    }

    /// The key, lowercased: IAM condition keys are case-insensitive.
    pub fn key_lower(&self) -> String {
        self.key.trim().to_ascii_lowercase()
    }
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Position in the policy, from 0.
    pub index: usize,
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` / `NotPrincipal`.
    pub principal: PrincipalElement,
    /// `Action` / `NotAction`.
    pub action: ActionElement,
    /// `Resource` / `NotResource`.
    pub resource: ResourceElement,
    /// Every condition clause (ANDed).
    pub conditions: Vec<ConditionClause>,
    /// The statement as written, for evidence.
    pub raw: Value,
}

impl Statement {
    /// A short label: `statement 2 "Sid"`.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(sid) if !sid.is_empty() => format!("statement {} (Sid \"{}\")", self.index, sid),
            _ => format!("statement {}", self.index),
        }
    }
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `Version`, if any.
    pub version: Option<String>,
    /// The statements in order.
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Parses a policy document from its JSON text.
    pub fn parse(text: &str) -> Result<Policy, PolicyParseError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PolicyParseError::Json(e.to_string()))?;
        Policy::from_value(&value)
    }

    /// Parses an already-decoded policy document.
    pub fn from_value(value: &Value) -> Result<Policy, PolicyParseError> {
        let obj = value
            .as_object()
            .ok_or_else(|| PolicyParseError::Shape("the document is not a JSON object".into()))?;
        let version = get_ci(obj, "Version").and_then(|v| v.as_str().map(str::to_string));
        let statements_value = get_ci(obj, "Statement")
            .ok_or_else(|| PolicyParseError::Shape("no Statement element".into()))?;
        let raw_statements: Vec<&Value> = match statements_value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![statements_value],
            _ => {
                return Err(PolicyParseError::Shape(
                    "Statement is neither an object nor a list".into(),
                ));
            }
        };
        let statements = raw_statements
            .into_iter()
            .enumerate()
            .map(|(index, raw)| parse_statement(index, raw))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            version,
            statements,
        })
    }
}

/// Looks up an object member by name, ignoring ASCII case (IAM element names).
fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A scalar as a string the way IAM compares it: strings as they are, booleans and numbers
/// in their JSON spelling.
fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string-or-list element as a list of strings.
fn string_or_list(v: &Value, what: &str) -> Result<Vec<String>, PolicyParseError> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                scalar_to_string(item).ok_or_else(|| {
                    PolicyParseError::Shape(format!("{what} has a member that is not a string"))
                })
            })
            .collect(),
        other => scalar_to_string(other)
            .map(|s| vec![s])
            .ok_or_else(|| PolicyParseError::Shape(format!("{what} is not a string or a list"))),
    }
}

fn parse_principals(v: &Value, what: &str) -> Result<Principals, PolicyParseError> {
    let mut p = Principals::default();
    match v {
        Value::String(s) if s.trim() == "*" => p.everyone = true,
        Value::String(s) => {
            return Err(PolicyParseError::Shape(format!(
                "{what} is the string {s:?}; only \"*\" may be written without a type"
            )));
        }
        Value::Object(map) => {
            for (kind, value) in map {
                let values = string_or_list(value, what)?;
                match kind.to_ascii_lowercase().as_str() {
                    "aws" => {
                        for value in values {
                            if value.trim() == "*" {
                                p.everyone = true;
                            } else {
                                p.aws.push(value.trim().to_string());
                            }
                        }
                    }
                    "service" => p.service.extend(values),
                    "federated" => p.federated.extend(values),
                    "canonicaluser" => p.canonical_user.extend(values),
                    other => {
                        return Err(PolicyParseError::Shape(format!(
                            "{what} has an unknown principal type {other:?}"
                        )));
                    }
                }
            }
        }
        _ => {
            return Err(PolicyParseError::Shape(format!(
                "{what} is neither \"*\" nor an object"
            )));
        }
    }
    Ok(p)
}

fn parse_conditions(v: &Value) -> Result<Vec<ConditionClause>, PolicyParseError> {
    let map = v
        .as_object()
        .ok_or_else(|| PolicyParseError::Shape("Condition is not an object".into()))?;
    let mut clauses = Vec::new();
    for (operator, block) in map {
        let block = block.as_object().ok_or_else(|| {
            PolicyParseError::Shape(format!("Condition operator {operator} is not an object"))
        })?;
        for (key, values) in block {
            clauses.push(ConditionClause {
                operator: operator.clone(),
                key: key.clone(),
                values: string_or_list(values, "a condition value")?,
            });
        }
    }
    Ok(clauses)
}

fn parse_statement(index: usize, raw: &Value) -> Result<Statement, PolicyParseError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| PolicyParseError::Shape(format!("statement {index} is not an object")))?;
    let sid = get_ci(obj, "Sid").and_then(scalar_to_string);
    let effect = match get_ci(obj, "Effect").and_then(|v| v.as_str()) {
        Some(e) if e.trim().eq_ignore_ascii_case("allow") => Effect::Allow,
        Some(e) if e.trim().eq_ignore_ascii_case("deny") => Effect::Deny,
        Some(e) => {
            return Err(PolicyParseError::Shape(format!(
                "statement {index} has Effect {e:?}"
            )));
        }
        None => {
            return Err(PolicyParseError::Shape(format!(
                "statement {index} has no Effect"
            )));
        }
    };
    let principal = if let Some(v) = get_ci(obj, "Principal") {
        PrincipalElement::Principal(parse_principals(v, "Principal")?)
    } else if let Some(v) = get_ci(obj, "NotPrincipal") {
        PrincipalElement::NotPrincipal(parse_principals(v, "NotPrincipal")?)
    } else {
        PrincipalElement::Missing
    };
    let action = if let Some(v) = get_ci(obj, "Action") {
        ActionElement::Action(trimmed(string_or_list(v, "Action")?))
    } else if let Some(v) = get_ci(obj, "NotAction") {
        ActionElement::NotAction(trimmed(string_or_list(v, "NotAction")?))
    } else {
        return Err(PolicyParseError::Shape(format!(
            "statement {index} has neither Action nor NotAction"
        )));
    };
    let resource = if let Some(v) = get_ci(obj, "Resource") {
        ResourceElement::Resource(trimmed(string_or_list(v, "Resource")?))
    } else if let Some(v) = get_ci(obj, "NotResource") {
        ResourceElement::NotResource(trimmed(string_or_list(v, "NotResource")?))
    } else {
        ResourceElement::Missing
    };
    let conditions = match get_ci(obj, "Condition") {
        Some(v) => parse_conditions(v)?,
        None => Vec::new(),
    };
    Ok(Statement {
        index,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
        raw: raw.clone(),
    })
}

fn trimmed(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(|v| v.trim().to_string()).collect()
}

impl fmt::Display for ActionElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionElement::Action(a) => write!(f, "{}", a.join(", ")),
            ActionElement::NotAction(a) => write!(f, "every action except {}", a.join(", ")),
        }
    }
}

impl fmt::Display for ResourceElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceElement::Resource(r) => write!(f, "{}", r.join(", ")),
            ResourceElement::NotResource(r) => {
                write!(f, "every resource except {}", r.join(", "))
            }
            ResourceElement::Missing => write!(f, "(no resource)"),
        }
    }
}

impl fmt::Display for PrincipalElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(p: &Principals) -> String {
            let mut parts = Vec::new();
            if p.everyone {
                parts.push("*".to_string());
            }
            parts.extend(p.aws.iter().cloned());
            parts.extend(p.service.iter().map(|s| format!("Service {s}")));
            parts.extend(p.federated.iter().map(|s| format!("Federated {s}")));
            parts.extend(
                p.canonical_user
                    .iter()
                    .map(|s| format!("CanonicalUser {s}")),
            );
            parts.join(", ")
        }
        match self {
            PrincipalElement::Principal(p) => write!(f, "{}", list(p)),
            PrincipalElement::NotPrincipal(p) => write!(f, "everyone except {}", list(p)),
            PrincipalElement::Missing => write!(f, "(no principal)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_parsing() {
        let op = Operator::parse("ForAnyValue:StringLikeIfExists");
        assert_eq!(op.qualifier, Some(SetQualifier::ForAnyValue));
        assert_eq!(op.base, "stringlike");
        assert!(op.if_exists);
        assert!(Operator::parse("stringnotequals").is_negated());
        assert!(Operator::parse("IPADDRESS").is_positive_match());
    }
}

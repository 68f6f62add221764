//! `{{ expr }}` templates of provider steps.
//!
//! `expr` is `value`, `type`, `indicator.value`, `indicator.type`, `auth.<field>` or
//! `steps.<name>.response.<path>` (numeric segments index lists), optionally `| urlencode`.
//! In URLs, indicator values and step results are percent-encoded as path segments while
//! `{{auth.*}}` is inserted as-is (so `{{auth.base_url}}/api/…` works — a v1 defect fixed).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use super::response::lookup;

/// Everything but RFC 3986 unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// What templates can refer to.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub indicator_type: &'a str,
    pub indicator_value: &'a str,
    /// Resolved credentials and settings.
    pub auth: &'a Map<String, Value>,
    /// Earlier steps' responses by step name.
    pub steps: &'a Map<String, Value>,
}

/// Percent-encodes a URL component.
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// A value as template text (`null` is empty, strings unquoted, others JSON).
pub fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        other => other.to_string(),
    }
}

/// Resolves one expression: `Some((text, from_auth))`, or `None` for an unknown namespace.
fn resolve(expr: &str, ctx: &Context<'_>) -> Option<(String, bool)> {
    let (namespace, rest) = match expr.split_once('.') {
        Some((ns, rest)) => (ns, rest),
        None => (expr, ""),
    };
    match (namespace, rest) {
        ("value", "") => Some((ctx.indicator_value.to_string(), false)),
        ("type", "") => Some((ctx.indicator_type.to_string(), false)),
        ("indicator", "value") => Some((ctx.indicator_value.to_string(), false)),
        ("indicator", "type") => Some((ctx.indicator_type.to_string(), false)),
        ("indicator", _) => Some((String::new(), false)),
        ("auth", path) => {
            let root = Value::Object(ctx.auth.clone());
            Some((lookup(&root, path).map(text_of).unwrap_or_default(), true))
        }
        ("steps", path) => {
            // steps.<name>.response.<path>
            let (name, tail) = path.split_once('.').unwrap_or((path, ""));
            let tail = tail.strip_prefix("response").map(|t| t.trim_start_matches('.')).unwrap_or(tail);
            let text = ctx
                .steps
                .get(name)
                .and_then(|resp| if tail.is_empty() { Some(resp) } else { lookup(resp, tail) });
            Some((text.map(text_of).unwrap_or_default(), false))
        }
        _ => None,
    }
}

/// The earlier-step values a template refers to, as `(step name, path in its response)`, in
/// every string of `value` (e.g. `{{steps.token.response.access_token}}` → `("token",
/// "access_token")`).
pub fn step_references(value: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    collect_step_references(value, &mut found);
    found
}

fn collect_step_references(value: &Value, found: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("{{") {
                let Some(len) = rest[start + 2..].find("}}") else { break };
                let expr = rest[start + 2..start + 2 + len].split('|').next().unwrap_or_default().trim();
                if let Some(path) = expr.strip_prefix("steps.") {
                    let (name, tail) = path.split_once('.').unwrap_or((path, ""));
                    let tail =
                        tail.strip_prefix("response").map(|t| t.trim_start_matches('.')).unwrap_or(tail);
                    found.push((name.to_string(), tail.to_string()));
                }
                rest = &rest[start + 2 + len + 2..];
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_step_references(v, found)),
        Value::Object(map) => map.values().for_each(|v| collect_step_references(v, found)),
        _ => {}
    }
}

/// Renders a template string; in a URL (`url`), non-auth values are encoded as path segments.
pub fn render(template: &str, ctx: &Context<'_>, url: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = after[..end].trim();
        let (expr, filter) = match inner.split_once('|') {
            Some((e, f)) => (e.trim(), Some(f.trim())),
            None => (inner, None),
        };
        match resolve(expr, ctx) {
            Some((text, from_auth)) => {
                let encoded = if filter == Some("urlencode") || (url && !from_auth) {
                    encode_component(&text)
                } else {
                    text
                };
                out.push_str(&encoded);
            }
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Renders every string inside a JSON value (headers, params, bodies); nothing is encoded
/// unless the template asks for `| urlencode`.
pub fn render_value(value: &Value, ctx: &Context<'_>) -> Value {
    match value {
        Value::String(s) => Value::String(render(s, ctx, false)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_value(v, ctx)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), render_value(v, ctx))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_namespaces_and_encodes_only_values_in_urls() {
        let auth =
            json!({"api_key": "k/1", "base_url": "http://127.0.0.1:9000"}).as_object().unwrap().clone();
        let steps = json!({"user_lookup": {"id": "00u1/2", "devices": [{"name": "laptop"}]}})
            .as_object()
            .unwrap()
            .clone();
        let ctx =
            Context { indicator_type: "account", indicator_value: "a b@c.com", auth: &auth, steps: &steps };
        assert_eq!(
            render(
                "{{auth.base_url}}/api/v1/users/{{ indicator.value }}/x/{{steps.user_lookup.response.id}}",
                &ctx,
                true
            ),
            "http://127.0.0.1:9000/api/v1/users/a%20b%40c.com/x/00u1%2F2"
        );
        assert_eq!(render("SSWS {{auth.api_key}}", &ctx, false), "SSWS k/1");
        assert_eq!(render("{{value | urlencode}}", &ctx, false), "a%20b%40c.com");
        assert_eq!(render("{{steps.user_lookup.response.devices.0.name}}", &ctx, false), "laptop");
        assert_eq!(
            render("{{unknown.thing}}-{{auth.missing}}-{{type}}", &ctx, false),
            "{{unknown.thing}}--account"
        );
        assert_eq!(render("broken {{value", &ctx, false), "broken {{value");
        let body = render_value(&json!({"q": ["{{value}}", 1], "k": "{{auth.api_key}}"}), &ctx);
        assert_eq!(body, json!({"q": ["a b@c.com", 1], "k": "k/1"}));
    }

    #[test]
    fn finds_the_step_values_a_template_uses() {
        let headers = serde_json::json!({"Authorization": "Bearer {{ steps.token.response.access_token | urlencode }}",
            "X-Other": "{{auth.key}} {{steps.user.response.id}}", "n": 1});
        let mut refs = step_references(&headers);
        refs.sort();
        assert_eq!(refs, vec![("token".into(), "access_token".into()), ("user".into(), "id".into())]);
        assert!(step_references(&serde_json::json!("{{steps.broken")).is_empty());
    }
}

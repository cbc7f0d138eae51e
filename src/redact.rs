//! Credentials out of text: `user:pass@` in URLs and credential-bearing query parameters
//! (signed-URL signatures, SAS tokens, access tokens) are replaced by `***` before a URI
//! reaches a log line, an error message or a metrics label.

/// Query parameters whose values are secrets (compared case-insensitively).
const SECRET_PARAMS: [&str; 16] = [
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "signature",
    "sig",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "password",
    "secret",
    "client_secret",
    "code",
];

/// Text from outside (a registry's version, alias or message, a model file's keys) as it may
/// go into a text log line: credentials redacted, control characters escaped (a newline
/// cannot forge a line), at most 256 characters.
pub fn loggable(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in redact(text).chars().enumerate() {
        if i == 256 {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with every URL's userinfo and every secret query value replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        // Userinfo first, over the whole token: a password may hold `/`, `?`, `#` or `)`
        // (unencoded, as users paste them), which would otherwise end the authority early.
        let token_end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '>'))
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let userinfo = token.rfind('@').filter(|&at| {
            let before = &token[..at];
            // `user:pass@` (whatever the password holds), or `token@host` (no path before it:
            // `s3://bucket/key@v1` keeps its path)
            before.contains(':') || !before.contains(['/', '?', '#'])
        });
        if let Some(at) = userinfo {
            out.push_str("***@");
            rest = &rest[at + 1..];
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '>' | ')'))
            .unwrap_or(rest.len());
        out.push_str(&redact_url_tail(&rest[..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The part of a URL after `scheme://`, redacted.
fn redact_url_tail(tail: &str) -> String {
    let authority_end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
    let (authority, path) = tail.split_at(authority_end);
    let mut out = String::with_capacity(tail.len());
    match authority.rfind('@') {
        Some(at) => {
            out.push_str("***@");
            out.push_str(&authority[at + 1..]);
        }
        None => out.push_str(authority),
    }
    let Some(q) = path.find('?') else {
        out.push_str(path);
        return out;
    };
    out.push_str(&path[..=q]);
    let query = &path[q + 1..];
    let (query, fragment) = match query.find('#') {
        Some(h) => (&query[..h], &query[h..]),
        None => (query, ""),
    };
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k)) => {
                out.push_str(k);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
    }
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn userinfo_and_secret_query_values_are_hidden() {
        assert_eq!(
            redact("https://alice:hunter2@mlflow.example.com/api"),
            "https://***@mlflow.example.com/api"
        );
        assert_eq!(
            redact("cannot reach http://tok@h:5000/x: refused"),
            "cannot reach http://***@h:5000/x: refused"
        );
        assert_eq!(
            redact("https://b.s3.amazonaws.com/m?X-Amz-Signature=abc&X-Amz-Date=1&x=2"),
            "https://b.s3.amazonaws.com/m?X-Amz-Signature=***&X-Amz-Date=1&x=2"
        );
        assert_eq!(
            redact("https://acct.blob.core.windows.net/c/m?sv=1&sig=SECRET"),
            "https://acct.blob.core.windows.net/c/m?sv=1&sig=***"
        );
        assert_eq!(
            redact("models:/wine@champion and s3://bucket/path"),
            "models:/wine@champion and s3://bucket/path"
        );
        assert_eq!(redact("no url here"), "no url here");
        // Passwords holding the characters that end an authority or a URL in text.
        for pw in ["pa/ss", "pa#ss", "pa?ss", "pa)ss", "p/a?s#s)"] {
            let text = format!("fetching https://alice:{pw}@host.example/m/1 failed");
            let r = redact(&text);
            assert!(!r.contains("alice") && !r.contains("ss"), "{r}");
            assert!(r.contains("https://***@host.example/m/1"), "{r}");
        }
        assert_eq!(redact("s3://bucket/key@v1"), "s3://bucket/key@v1");
    }

    #[test]
    fn loggable_text_cannot_forge_a_line() {
        let forged = super::loggable("3\n2026-12-05T00:00:00Z INFO swapped to 666");
        assert!(!forged.contains('\n'), "{forged}");
        assert!(forged.starts_with("3\\n2026"), "{forged}");
        assert_eq!(super::loggable(&"x".repeat(1000)).len(), 259);
    }
}

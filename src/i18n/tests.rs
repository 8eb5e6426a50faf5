use std::collections::BTreeSet;

use super::*;

/// The messages of a language, each with the names of its arguments.
fn messages(locale: Locale) -> Vec<(String, BTreeSet<String>)> {
    let mut all = Vec::new();
    for (area, text) in sources(locale) {
        let resource = FluentResource::try_new(text.to_string())
            .unwrap_or_else(|_| panic!("{}/{area}.ftl parses", locale.tag()));
        for entry in resource.entries() {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                let args = m.value.as_ref().map(arguments).unwrap_or_default();
                all.push((m.id.name.to_string(), args));
            }
        }
    }
    all
}

fn arguments(pattern: &fluent_syntax::ast::Pattern<&str>) -> BTreeSet<String> {
    use fluent_syntax::ast::{Expression, InlineExpression, PatternElement};
    fn inline(e: &InlineExpression<&str>, out: &mut BTreeSet<String>) {
        match e {
            InlineExpression::VariableReference { id } => {
                out.insert(id.name.to_string());
            }
            InlineExpression::Placeable { expression } => expression_args(expression, out),
            _ => {}
        }
    }
    fn expression_args(e: &Expression<&str>, out: &mut BTreeSet<String>) {
        match e {
            Expression::Inline(i) => inline(i, out),
            Expression::Select { selector, variants } => {
                inline(selector, out);
                for v in variants {
                    pattern_args(&v.value, out);
                }
            }
        }
    }
    fn pattern_args(p: &fluent_syntax::ast::Pattern<&str>, out: &mut BTreeSet<String>) {
        for element in &p.elements {
            if let PatternElement::Placeable { expression } = element {
                expression_args(expression, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    pattern_args(pattern, &mut out);
    out
}

#[test]
fn every_language_has_every_english_message_with_its_arguments() {
    let english = messages(Locale::En);
    let ids: BTreeSet<_> = english.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), english.len(), "an English id is defined twice");
    for locale in [Locale::De, Locale::Es] {
        let theirs = messages(locale);
        for (id, args) in &english {
            let found = theirs.iter().find(|(i, _)| i == id);
            let (_, their_args) = found.unwrap_or_else(|| panic!("{} lacks {id}", locale.tag()));
            assert_eq!(
                args,
                their_args,
                "{}: {id} takes other arguments",
                locale.tag()
            );
        }
        for (id, _) in &theirs {
            assert!(
                ids.contains(id),
                "{} has {id}, which English has not",
                locale.tag()
            );
        }
    }
}

/// The names of the keyword arguments of a call whose argument list starts at `rest` (just
/// after the message id's closing quote), up to its closing parenthesis.
fn keyword_names(rest: &str) -> BTreeSet<String> {
    let (mut depth, mut quote, mut end) = (0, None, rest.len());
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')') if depth == 0 => {
                end = i;
                break;
            }
            (None, ')' | ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    rest[..end]
        .split(',')
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let name = name.trim();
            let is_name = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            (is_name && !value.starts_with('=')).then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_message_a_template_asks_for_exists_and_gets_its_arguments() {
    let english = messages(Locale::En);
    let mut checked = 0;
    for entry in std::fs::read_dir("templates").unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("t(\"") {
            // `t(` itself, not the end of another name (`default("`).
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let id = text[at + 3..].split('"').next().unwrap();
            let (_, wanted) = english
                .iter()
                .find(|(i, _)| i == id)
                .unwrap_or_else(|| panic!("{}: no message {id}", path.display()));
            let given = keyword_names(&text[at + 3 + id.len() + 1..]);
            assert!(
                wanted.is_subset(&given),
                "{}: {id} needs {wanted:?}, is given {given:?}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 100,
        "the templates ask for {checked} messages only"
    );
}

#[test]
fn messages_fill_in_their_arguments_and_fall_back_to_english() {
    let wrong = |l| text_in(l, "engine-error-code-wrong", &[("n", 2i64.into())]);
    assert_eq!(
        wrong(Locale::En),
        "That code is not right. 2 attempts left."
    );
    assert_eq!(
        wrong(Locale::De),
        "Dieser Code ist nicht richtig. Noch 2 Versuche."
    );
    assert_eq!(
        wrong(Locale::Es),
        "Ese código no es correcto. Quedan 2 intentos."
    );
    assert_eq!(
        text_in(Locale::En, "engine-error-code-wrong", &[("n", 1i64.into())]),
        "That code is not right. 1 attempt left."
    );
    assert_eq!(
        text_in(Locale::De, "no-such-message", &[]),
        "no-such-message"
    );
}

#[test]
fn times_are_words_rounded_the_safe_way() {
    let now = 1_000_000;
    assert_eq!(until_in(Locale::En, now + 30, now), "in 30 seconds");
    assert_eq!(until_in(Locale::En, now + 61, now), "in 2 minutes");
    assert_eq!(until_in(Locale::De, now + 3600, now), "in 1 Stunde");
    assert_eq!(
        until_in(Locale::Es, now + 3 * 86_400, now),
        "dentro de 3 días"
    );
    assert_eq!(ago_in(Locale::En, now - 7200 - 59, now), "2 hours ago");
    assert_eq!(ago_in(Locale::De, now - 120, now), "vor 2 Minuten");
    assert_eq!(ago_in(Locale::Es, now - 1, now), "hace 1 segundo");
    assert_eq!(ago_in(Locale::En, now, now), "just now");
    assert_eq!(until_in(Locale::En, now + 3599, now), "in 1 hour");
    assert_eq!(until_in(Locale::En, now + 59, now), "in 59 seconds");
    assert_eq!(ago_in(Locale::En, now - 3599, now), "59 minutes ago");
    assert_eq!(duration_in(Locale::En, now + 2 * 86_400 - 1, now), "2 days");
    assert_eq!(
        ago_in(Locale::De, now + 2, now),
        "gerade eben",
        "another node's clock"
    );
    assert_eq!(ago_in(Locale::Es, now - 90, now), "hace 1 minuto");
    assert_eq!(duration_in(Locale::En, now + 899, now), "15 minutes");
    assert_eq!(duration_in(Locale::De, now + 3 * 86_400, now), "3 Tagen");
    assert_eq!(duration_in(Locale::En, now - 5, now), "0 seconds");
}

#[test]
fn languages_are_negotiated_by_tag_and_quality() {
    assert_eq!(Locale::from_tag("de-AT"), Some(Locale::De));
    assert_eq!(Locale::from_tag("ES_419"), Some(Locale::Es));
    assert_eq!(Locale::from_tag("fr"), None);
    assert_eq!(Locale::from_tag(""), None);
    let tags = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    assert_eq!(from_ui_locales(&tags("fr-CA de en")), Some(Locale::De));
    assert_eq!(from_ui_locales(&tags("fr ja")), None);
    assert_eq!(
        from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
        Some(Locale::De)
    );
    assert_eq!(
        from_accept_language("fr;q=1, en;q=0.5, es;q=0.7"),
        Some(Locale::Es)
    );
    assert_eq!(from_accept_language("es;q=0, en;q=0.1"), Some(Locale::En));
    assert_eq!(from_accept_language("en;q=0.5, de;q=0.5"), Some(Locale::En));
    assert_eq!(from_accept_language("*, fr"), None);
    assert_eq!(
        from_accept_language("de;q=2, es;q=abc, en;q=0.3"),
        Some(Locale::En)
    );
    assert_eq!(from_accept_language(""), None);
}

#[tokio::test]
async fn a_request_speaks_ui_locales_then_the_browser_then_the_organization() {
    assert_eq!(current(), Locale::En, "outside a request");
    let got = scope(Some("es;q=0.9, fr"), async {
        let browser = current();
        set_default(Some(Locale::De));
        let still_browser = current();
        prefer_ui_locales(&["fr".into(), "de".into()]);
        (browser, still_browser, current())
    })
    .await;
    assert_eq!(got, (Locale::Es, Locale::Es, Locale::De));
    let org_only = scope(Some("fr"), async {
        set_default(Some(Locale::Es));
        current()
    })
    .await;
    assert_eq!(org_only, Locale::Es);
}

#[test]
fn the_template_function_escapes_arguments_in_html_only() {
    let mut env = minijinja::Environment::new();
    env.add_function("t", template_function);
    env.add_template(
        "page.html",
        r#"{{ t("engine-error-code-wrong", n=n) }}|{{ t("time-in-minutes", n=3) }}"#,
    )
    .unwrap();
    env.add_template("x.html", r#"{{ t("engine-refusal-locked", wait=w) }}"#)
        .unwrap();
    env.add_template("x.txt", r#"{{ t("engine-refusal-locked", wait=w) }}"#)
        .unwrap();
    let page = env.get_template("page.html").unwrap();
    let out = page
        .render(minijinja::context! { locale => "es", n => 1 })
        .unwrap();
    assert_eq!(
        out,
        "Ese código no es correcto. Queda 1 intento.|dentro de 3 minutos"
    );
    let html = env.get_template("x.html").unwrap();
    let out = html.render(minijinja::context! { w => "<b>" }).unwrap();
    assert!(out.contains("after &lt;b&gt;."), "{out}");
    let txt = env.get_template("x.txt").unwrap();
    let out = txt.render(minijinja::context! { w => "<b>" }).unwrap();
    assert!(out.contains("after <b>."), "{out}");
}

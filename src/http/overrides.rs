//! The templates directory (`templates_dir`): files named like built-in templates (`login.html`,
//! `base.html`, `magic_link_email.txt`, …) replace them, read once at start and checked then —
//! each must parse, name a built-in template, and every template must render afterwards (with
//! an empty context and the default brand), so a broken template stops start-up with the file,
//! the line and the reason rather than failing a page later. Rendering with every variable
//! missing is the rule the built-in templates follow too (`{% if x %}` around what needs `x`).
//! Hidden files and folders are skipped; links are followed (a mounted ConfigMap).

use std::path::Path;

use super::pages::Pages;
use crate::mail::Templates;

/// The largest template file: far above any page's size, it only stops a wrong file.
const MAX_BYTES: u64 = 256 * 1024;

/// The pages and the mails with `dir`'s templates in place of the built-in ones, or why not
/// (naming the file).
pub fn load(dir: &Path) -> Result<(Pages, Templates), String> {
    let (mut pages, mut mails) = (Pages::default(), Templates::default());
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Following links: a mounted ConfigMap's files are links into a hidden folder.
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            continue;
        }
        if meta.len() > MAX_BYTES {
            return Err(format!("{}: larger than 256 KiB", path.display()));
        }
        let source =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let added = if pages.has(&name) {
            pages.replace(&name, source)
        } else if mails.has(&name) {
            mails.replace(&name, source)
        } else {
            return Err(format!(
                "{}: not the name of a built-in template (see the templates/ folder of the \
                 source for their names)",
                path.display()
            ));
        };
        added.map_err(|e| format!("{}: {}", path.display(), describe(&e)))?;
        names.push(name);
    }
    pages
        .check()
        .and_then(|()| mails.check())
        .map_err(|(name, e)| format!("{name} (with {}): {}", names.join(", "), describe(&e)))?;
    names.sort();
    tracing::info!(dir = %dir.display(), templates = %names.join(", "), "templates replaced");
    Ok((pages, mails))
}

/// minijinja's message with the template and line it names (the failing line may be in
/// another template than the one rendered: the `base.html` it extends).
fn describe(e: &minijinja::Error) -> String {
    match (e.name(), e.line()) {
        (Some(name), Some(line)) => format!("{name} line {line}: {e}"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_template_replaces_the_built_in_one() {
        let dir = dir_with(&[
            (
                "error.html",
                "{% extends \"base.html\" %}{% block content %}<h1>Oops: {{ title }}</h1>{% endblock %}",
            ),
            ("magic_link_email.txt", "Your link: {{ link }}"),
            (".gitkeep", ""),
        ]);
        // A folder (lost+found on a volume) is skipped; a link is followed.
        std::fs::create_dir(dir.path().join("lost+found")).unwrap();
        let target = dir.path().join("lost+found").join("otp.html");
        std::fs::write(
            &target,
            "{% extends \"base.html\" %}{% block content %}linked{% endblock %}",
        )
        .unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("otp.html")).unwrap();
        let (pages, mails) = load(dir.path()).unwrap();
        let page = pages.text("error.html", minijinja::context! { title => "gone" });
        assert!(page.unwrap().contains("<h1>Oops: gone</h1>"));
        assert!(
            pages
                .text("otp.html", minijinja::context! {})
                .unwrap()
                .contains("linked")
        );
        let (text, _) = mails
            .sign_in_link(crate::i18n::Locale::En, "App", "Org", "https://l", 5)
            .unwrap();
        assert_eq!(text, "Your link: https://l");
    }

    #[test]
    fn a_broken_or_unknown_template_stops_with_the_file_and_line() {
        let dir = dir_with(&[("login.html", "<h1>\n{% if %}</h1>")]);
        let err = load(dir.path()).unwrap_err();
        assert!(
            err.contains("login.html") && err.contains("line 2"),
            "{err}"
        );

        let dir = dir_with(&[("welcome.html", "hi")]);
        let err = load(dir.path()).unwrap_err();
        assert!(
            err.contains("welcome.html") && err.contains("not the name"),
            "{err}"
        );

        // Parses, but every page extending it fails to render.
        let dir = dir_with(&[(
            "base.html",
            "{% block content %}{% endblock %}\n{{ 1 | nosuchfilter }}",
        )]);
        let err = load(dir.path()).unwrap_err();
        assert!(
            err.contains("base.html line 2") && err.contains("filter"),
            "{err}"
        );

        let err = load(Path::new("/nonexistent/templates")).unwrap_err();
        assert!(err.contains("/nonexistent/templates"), "{err}");
    }
}

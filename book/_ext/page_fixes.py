"""Sphinx extension: each inline script appears once in a page.

With Sphinx 7.4 the inline scripts that sphinx-thebe and sphinx-togglebutton add once the builder exists land in a
page twice: once added to the builder directly (filename None) and once again from Sphinx's registry (filename
""), which the builder does not see as the same script. The second ``const THEBE_JS_URL = ...`` then throws
"Identifier 'THEBE_JS_URL' has already been declared" in every page's console. Dropping the repeats leaves what
each extension meant to add.
"""

from __future__ import annotations


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

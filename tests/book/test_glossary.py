"""The glossary (book/glossary.md): every entry has an English term, a Chinese term, a definition and a link to
the chapter that teaches it, and that link resolves to a file in the table of contents. Every ``{term}`` role in
the book's pages and chapters names a glossary term (Sphinx would only warn at build time)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GLOSSARY = ROOT / "book" / "glossary.md"
CJK = re.compile(r"[\u3400-\u9fff]")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")


def toc_files() -> set[str]:
    """Every file of _toc.yml, relative to the root and without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = {toc["root"]}

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.add(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return files


def glossary_entries(text: str) -> list[tuple[list[str], str]]:
    """``[(term lines, definition), ...]`` of the ``{glossary}`` directive: unindented lines are terms, the indented
    lines after them their definition."""
    body = re.search(r"^:::\{glossary\}\n(.*?)^:::\s*$", text, re.M | re.S)
    assert body, "book/glossary.md must hold a :::{glossary} directive"
    entries, terms, definition = [], [], []
    for line in body.group(1).splitlines():
        if line.startswith(":"):                      # directive options (:sorted:)
            continue
        if not line.strip():
            if terms and definition:
                entries.append((terms, " ".join(definition)))
                terms, definition = [], []
            continue
        if line.startswith((" ", "\t")):
            definition.append(line.strip())
        else:
            assert not definition, f"term line {line!r} directly after a definition: separate entries by a blank line"
            terms.append(line.strip())
    if terms:
        entries.append((terms, " ".join(definition)))
    return entries


def resolves(link: str, page: Path) -> str | None:
    """The toc name (root-relative, no suffix) a relative link from ``page`` points to, or None outside the book."""
    target = (page.parent / link).resolve()
    try:
        rel = target.relative_to(ROOT)
    except ValueError:
        return None
    return str(rel.with_suffix("")) if target.exists() else None


def test_parser_reads_terms_and_definitions():
    text = ":::{glossary}\n:sorted:\n\nterm\n术语\n  A definition. [chapter 1](../x.ipynb).\n\nb\n乙\n  Def b.\n:::\n"
    assert glossary_entries(text) == [(["term", "术语"], "A definition. [chapter 1](../x.ipynb)."),
                                      (["b", "乙"], "Def b.")]


def test_every_entry_is_complete():
    entries = glossary_entries(GLOSSARY.read_text(encoding="utf-8"))
    files = toc_files()
    assert "book/glossary" in files, "_toc.yml must list book/glossary"
    assert len(entries) >= 40
    seen = set()
    for terms, definition in entries:
        name = terms[0]
        assert not CJK.search(name) and re.search(r"[A-Za-z]", name), f"{name}: the first line is the English term"
        assert any(CJK.search(t) for t in terms), f"{name}: a Chinese term is missing"
        assert len(definition.split()) >= 8, f"{name}: the definition is missing or too short"
        assert re.search(r"Seeds? \d{3}", definition), f"{name}: say which seeds use the term"
        links = LINK.findall(definition)
        assert links, f"{name}: link the chapter that teaches it"
        for link in links:
            target = resolves(link, GLOSSARY)
            assert target in files, f"{name}: link {link} does not resolve to a file of the table of contents"
        lowered = [t.lower() for t in terms]
        assert not seen & set(lowered), f"{name}: a term appears in two entries ({seen & set(lowered)})"
        seen |= set(lowered)


def test_term_roles_name_glossary_terms():
    terms = {t.lower() for names, _ in glossary_entries(GLOSSARY.read_text(encoding="utf-8")) for t in names}
    sources = {p: p.read_text(encoding="utf-8") for p in (ROOT / "book").rglob("*.md")}
    for nb in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        sources[nb] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    used = 0
    for path, text in sources.items():
        for role in TERM_ROLE.findall(text):
            target = re.search(r"<([^>]+)>\s*$", role)
            name = (target.group(1) if target else role).strip().lower()
            assert name in terms, f"{path.relative_to(ROOT)}: {{term}}`{role}` names no glossary term"
            used += 1
    assert used > 0, "the chapters link their terms to the glossary"

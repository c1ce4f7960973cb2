"""axe-core in a real page: the WCAG 2.1 A and AA rules a machine can check.

The pages' Content-Security-Policy allows scripts from the site itself only, so the script
tag that brings axe in is refused there: contexts meant for these checks are opened with
Playwright's `bypass_csp=True` (`new_context(**AXE_CONTEXT)`). The policy itself is tested, in
force, by test_content_security_policy.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import service_missing

AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
WCAG_A_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
AXE_CONTEXT: dict[str, Any] = {"bypass_csp": True}
"""Options of `browser.new_context` for pages axe checks (see above)."""

_RUN = """options => axe.run(document, options).then(results => results.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary})),
})))"""


def violations(page: Any) -> list[dict[str, Any]]:
    """The page's violations of WCAG 2.1 A/AA as axe finds them, as it stands now."""
    if not AXE.exists():
        service_missing("axe-core", FileNotFoundError(f"{AXE} (make install)"))
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    options = {"runOnly": {"type": "tag", "values": list(WCAG_A_AA)}, "resultTypes": ["violations"]}
    found: list[dict[str, Any]] = page.evaluate(_RUN, options)
    return found


def report(found: list[dict[str, Any]]) -> str:
    """The violations, written for the developer who fixes them."""
    lines = []
    for violation in found:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            lines.append(f"    at {' '.join(map(str, node['target']))}")
            lines.append(f"       {node['html'][:300]}")
            for detail in (node.get("summary") or "").splitlines():
                lines.append(f"       {detail}")
    return "\n".join(lines)


def assert_accessible(page: Any, what: str = "") -> None:
    """Fail, listing every violation and where it is, unless axe finds none on the page."""
    found = violations(page)
    where = what or page.url
    assert not found, f"axe found {len(found)} violation(s) on {where}:\n{report(found)}"

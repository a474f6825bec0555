"""scripts/check-licences: the real SBOM passes the committed policy; a disallowed or
unrecognisable licence planted in a copy of the inputs fails it, naming the component."""

import json
from pathlib import Path

import pytest

from supply_chain_helpers import ROOT, component, load_script, make_sbom, run

check_licences = load_script("check-licences")
POLICY = ROOT / "scripts" / "licence-policy.json"


def planted_checkouts(tmp_path, package, licence_text):
    """A copy of .build/checkouts where every package is a link to the real checkout except
    `package`, which holds only a LICENSE with the given text."""
    real = ROOT / ".build" / "checkouts"
    assert real.is_dir(), f"{real} is missing: resolve the package first (`swift build`)"
    copy = tmp_path / "checkouts"
    copy.mkdir()
    for checkout in real.iterdir():
        if checkout.name == package:
            (copy / package).mkdir()
            (copy / package / "LICENSE").write_text(licence_text)
        else:
            (copy / checkout.name).symlink_to(checkout)
    return copy


def edited_sbom(sbom, tmp_path, name, licences):
    """A copy of the SBOM with one component's licences replaced (None: removed)."""
    document = json.loads(json.dumps(sbom))
    target = component(document, name)
    if licences is None:
        target.pop("licenses", None)
    else:
        target["licenses"] = licences
    path = tmp_path / "edited.cdx.json"
    path.write_text(json.dumps(document))
    return path


def test_the_real_sbom_passes_the_policy(sbom_path):
    finished = run("check-licences", sbom_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "licence policy: all" in finished.stdout and "swift-package" in finished.stdout


def test_a_gpl_licence_planted_in_a_checkout_fails_naming_the_package(tmp_path):
    gpl = Path("/usr/share/common-licenses/GPL-3").read_text()
    planted = make_sbom(tmp_path / "planted.cdx.json", "--checkouts", planted_checkouts(tmp_path, "swift-log", gpl))
    assert component(planted, "swift-log")["licenses"] == [{"license": {"id": "GPL-3.0-only"}}]
    finished = run("check-licences", tmp_path / "planted.cdx.json")
    assert finished.returncode == 1, finished.stdout + finished.stderr
    failed = [line for line in finished.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "swift-log" in failed[0] and "GPL-3.0-only" in failed[0], finished.stdout


def test_an_unrecognisable_licence_fails_naming_the_package(tmp_path):
    custom = "Copyright 2024 Example Corp. All rights reserved. Use permitted only under contract.\n"
    planted = make_sbom(tmp_path / "planted.cdx.json", "--checkouts", planted_checkouts(tmp_path, "swift-nio", custom))
    assert "licenses" not in component(planted, "swift-nio")
    finished = run("check-licences", tmp_path / "planted.cdx.json")
    assert finished.returncode == 1
    assert "swift-nio" in finished.stdout and "no recognisable licence" in finished.stdout, finished.stdout


def test_lgpl_is_allowed_for_a_directly_linked_system_library_but_not_for_a_swift_package(sbom, tmp_path):
    lgpl = [{"license": {"id": "LGPL-2.1-or-later"}}]
    assert run("check-licences", edited_sbom(sbom, tmp_path, "libc6", lgpl)).returncode == 0
    finished = run("check-licences", edited_sbom(sbom, tmp_path, "swift-crypto", lgpl))
    assert finished.returncode == 1 and "swift-crypto" in finished.stdout and "LGPL-2.1-or-later" in finished.stdout


def test_a_gpl_system_library_linked_directly_fails_and_one_linked_indirectly_is_reported(sbom, tmp_path):
    gpl = [{"license": {"id": "GPL-3.0-only"}}]
    finished = run("check-licences", edited_sbom(sbom, tmp_path, "libsqlite3-0", gpl))
    assert finished.returncode == 1 and "libsqlite3-0" in finished.stdout, finished.stdout
    # A library only the Swift runtime loads (the binary links none today: one is planted, a copy
    # of SQLite's component marked indirect, under another name).
    document = json.loads(json.dumps(sbom))
    planted = json.loads(json.dumps(component(document, "libsqlite3-0")))
    planted["name"] = planted["bom-ref"] = "libplanted-indirect"
    planted["properties"] = [p for p in planted.get("properties", []) if p["name"] != "rampart:linked"] + [
        {"name": "rampart:linked", "value": "indirect"}]
    planted["licenses"] = gpl
    document["components"].append(planted)
    path = tmp_path / "planted.cdx.json"
    path.write_text(json.dumps(document))
    finished = run("check-licences", path)
    assert finished.returncode == 0, finished.stdout
    assert "libplanted-indirect (GPL-3.0-only)" in finished.stdout, finished.stdout


def test_a_component_without_a_licence_fails(sbom, tmp_path):
    finished = run("check-licences", edited_sbom(sbom, tmp_path, "swift-runtime", None))
    assert finished.returncode == 1 and "swift-runtime" in finished.stdout


def test_a_missing_or_malformed_input_is_a_usage_error(sbom_path, tmp_path):
    assert run("check-licences", tmp_path / "absent.json").returncode == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    finished = run("check-licences", broken)
    assert finished.returncode == 2 and "broken.json" in finished.stderr
    policy = tmp_path / "policy.json"
    policy.write_text('{"scopes": {"swift-package": {"allow": "MIT"}}}')
    assert run("check-licences", "--policy", policy, sbom_path).returncode == 2


@pytest.mark.parametrize("expression, allowed", [
    ("MIT", True),
    ("mit", True),
    ("GPL-3.0-only", False),
    ("MIT OR GPL-3.0-only", True),
    ("MIT AND GPL-3.0-only", False),
    ("(MIT OR GPL-3.0-only) AND Apache-2.0", True),
    ("GPL-2.0-only OR MIT AND GPL-3.0-only", False),
    ("Apache-2.0 WITH Swift-exception", True),
    ("Apache-2.0 WITH Some-other-exception", False),
    ("GPL-3.0-or-later WITH GCC-exception-3.1", False),
])
def test_expressions_are_judged_by_spdx_rules(expression, allowed):
    allow = json.loads(POLICY.read_text())["scopes"]["swift-package"]["allow"]
    assert check_licences.allowed(expression, allow) is allowed


@pytest.mark.parametrize("expression", ["MIT AND", "(MIT", "MIT WITH", "AND MIT", "MIT MIT"])
def test_malformed_expressions_are_refused(expression):
    with pytest.raises(check_licences.InputError):
        check_licences.allowed(expression, ["Apache-2.0"])

"""scripts/audit-deps: hand-made OSV advisories against the real SBOM (one for a package and
version we use matches, one for a package we do not use and one whose range excludes our
version do not), and the version orders it relies on."""

import json
import subprocess
import zipfile

import pytest

from supply_chain_helpers import component, load_script, properties, run

audit = load_script("audit-deps")


def advisory(identifier, package, ranges=None, versions=None, **extra):
    affected = {"package": package}
    if ranges is not None:
        affected["ranges"] = ranges
    if versions is not None:
        affected["versions"] = versions
    return {"schema_version": "1.6.0", "id": identifier, "modified": "2025-01-01T00:00:00Z",
            "summary": f"planted advisory {identifier}", "affected": [affected], **extra}


def write(directory, *advisories):
    directory.mkdir(parents=True, exist_ok=True)
    for index, document in enumerate(advisories):
        (directory / f"{index}-{document['id']}.json").write_text(json.dumps(document))
    return directory


def next_patch(version):
    major, minor, patch = (int(part) for part in version.split("."))
    return f"{major}.{minor}.{patch + 1}"


def swift_nio(sbom):
    return component(sbom, "swift-nio")["version"]


SWIFT_NIO = {"ecosystem": "SwiftURL", "name": "github.com/apple/swift-nio"}


def test_an_advisory_for_our_swift_package_and_version_matches(sbom, sbom_path, tmp_path):
    ours = swift_nio(sbom)
    fixed = next_patch(ours)
    database = write(tmp_path / "osv", advisory("GHSA-plnt-0001-aaaa", SWIFT_NIO, ranges=[
        {"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"fixed": fixed}]}]))
    finished = run("audit-deps", "--advisories", database, sbom_path)
    assert finished.returncode == 1, finished.stdout + finished.stderr
    line = next(line for line in finished.stdout.splitlines() if line.startswith("VULNERABLE"))
    assert "swift-nio" in line and ours in line and "GHSA-plnt-0001-aaaa" in line and f"fixed in {fixed}" in line
    assert "planted advisory" in line


def test_a_purl_names_the_package_as_well(sbom, sbom_path, tmp_path):
    database = write(tmp_path / "osv", advisory(
        "OSV-PURL-1", {"purl": "pkg:swift/github.com/apple/swift-nio"},
        versions=[swift_nio(sbom)]))
    finished = run("audit-deps", "--advisories", database, sbom_path)
    assert finished.returncode == 1 and "OSV-PURL-1" in finished.stdout
    assert "no fixed version recorded" in finished.stdout


def test_advisories_for_other_packages_or_other_versions_do_not_match(sbom, sbom_path, tmp_path):
    ours = swift_nio(sbom)
    database = write(
        tmp_path / "osv",
        advisory("GHSA-othr-0001-aaaa", {"ecosystem": "SwiftURL", "name": "github.com/vapor/vapor"},
                 ranges=[{"type": "SEMVER", "events": [{"introduced": "0"}]}]),
        advisory("GHSA-past-0001-aaaa", SWIFT_NIO,
                 ranges=[{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "2.0.0"}]}]),
        advisory("GHSA-last-0001-aaaa", SWIFT_NIO,
                 ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "2.0.0"}]}]),
        advisory("GHSA-list-0001-aaaa", SWIFT_NIO, versions=["1.0.0", next_patch(ours)]),
        advisory("GHSA-wdrn-0001-aaaa", SWIFT_NIO, withdrawn="2025-02-01T00:00:00Z",
                 ranges=[{"type": "SEMVER", "events": [{"introduced": "0"}]}]),
        advisory("DSA-0000-1", {"ecosystem": "Debian:11", "name": "sqlite3"},
                 ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]),
    )
    finished = run("audit-deps", "--advisories", database, sbom_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "advisories: 6 read" in finished.stdout and "0 matches" in finished.stdout


def test_a_debian_advisory_matches_by_source_package_and_release(sbom, sbom_path, tmp_path):
    sqlite = component(sbom, "libsqlite3-0")
    source_version = properties(sqlite)["rampart:debian:source-version"]
    fixed = source_version + "+1"
    database = write(tmp_path / "osv", advisory("DSA-9999-1", {"ecosystem": "Debian:12", "name": "sqlite3"}, ranges=[
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]))
    finished = run("audit-deps", "--advisories", database, sbom_path)
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert "libsqlite3-0" in finished.stdout and "DSA-9999-1" in finished.stdout and fixed in finished.stdout
    already_fixed = write(tmp_path / "fixed", advisory("DSA-9999-2", {"ecosystem": "Debian:12", "name": "sqlite3"},
                                                       ranges=[{"type": "ECOSYSTEM", "events": [
                                                           {"introduced": "0"}, {"fixed": source_version}]}]))
    assert run("audit-deps", "--advisories", already_fixed, sbom_path).returncode == 0


def test_the_database_comes_from_the_environment_or_a_zip(sbom, sbom_path, tmp_path):
    matching = advisory("GHSA-envr-0001-aaaa", SWIFT_NIO, ranges=[
        {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": next_patch(swift_nio(sbom))}]}])
    database = write(tmp_path / "osv", matching)
    finished = run("audit-deps", sbom_path, env={"RAMPART_OSV_DIR": str(database)})
    assert finished.returncode == 1 and "GHSA-envr-0001-aaaa" in finished.stdout
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("GHSA-envr-0001-aaaa.json", json.dumps(matching))
    finished = run("audit-deps", "--advisories", archive, sbom_path)
    assert finished.returncode == 1 and "GHSA-envr-0001-aaaa" in finished.stdout


def test_no_database_and_malformed_advisories_are_usage_errors(sbom_path, tmp_path):
    finished = run("audit-deps", sbom_path)
    assert finished.returncode == 2 and "no advisory database given" in finished.stderr
    database = write(tmp_path / "osv", advisory("GHSA-good-0001-aaaa", SWIFT_NIO, versions=["0.1.0"]))
    (database / "broken-advisory.json").write_text('{"id": "GHSA-brkn", "affected": [')
    finished = run("audit-deps", "--advisories", database, sbom_path)
    assert finished.returncode == 2 and "broken-advisory.json" in finished.stderr
    (database / "broken-advisory.json").write_text('{"summary": "no id"}')
    finished = run("audit-deps", "--advisories", database, sbom_path)
    assert finished.returncode == 2 and "broken-advisory.json" in finished.stderr
    assert run("audit-deps", "--advisories", tmp_path / "absent", sbom_path).returncode == 2


# MARK: - Version orders

@pytest.mark.parametrize("left, right, expected", [
    ("1.0", "1.0", 0),
    ("1.0", "1.0-0", 0),
    ("1.0-1", "1.0-2", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1-1", "1.0~rc2-1", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0a", -1),
    ("1.0a", "1.0+", -1),
    ("1.0+dfsg", "1.0.1", -1),
    ("1:0.9", "2.0", 1),
    ("0:2.0", "2.0", 0),
    ("2.36-9+deb12u9", "2.36-9+deb12u14", -1),
    ("3.40.1-2+deb12u2", "3.40.1-2+deb12u2+1", -1),
    ("3.0.19-1~deb12u2", "3.0.19-1", -1),
    ("1.2.3-1-2", "1.2.3-1-1", 1),
    ("10", "9", 1),
    ("1.002", "1.2", 0),
    ("2:6.2.1+dfsg1-1.1", "2:6.2.1+dfsg1-1", 1),
])
def test_debian_versions_compare_as_dpkg_does(left, right, expected):
    assert audit.compare_debian(left, right) == expected
    assert audit.compare_debian(right, left) == -expected


def test_debian_version_order_agrees_with_dpkg_on_random_versions():
    """200 seeded random pairs of versions with epochs, tildes, letters and revisions, each
    compared by dpkg itself."""
    random = __import__("random").Random(22)

    def version():
        text = str(random.randint(0, 12)) + "".join(random.choice("0123456789.~+az") for _ in range(random.randint(0, 5)))
        if random.random() < 0.5:
            text += "-" + str(random.randint(0, 3)) + "".join(random.choice("0123456789.~+az") for _ in range(random.randint(0, 3)))
        return f"{random.randint(0, 2)}:{text}" if random.random() < 0.2 else text

    for _ in range(200):
        left, right = version(), version()
        by_dpkg = subprocess.run(["dpkg", "--compare-versions", left, "lt", right]).returncode == 0
        assert (audit.compare_debian(left, right) < 0) == by_dpkg, (left, right)
        if not by_dpkg:
            equal = subprocess.run(["dpkg", "--compare-versions", left, "eq", right]).returncode == 0
            assert (audit.compare_debian(left, right) == 0) == equal, (left, right)


@pytest.mark.parametrize("bad", ["a1.0", "x:1.0", ""])
def test_malformed_debian_versions_are_refused(bad):
    with pytest.raises(ValueError):
        audit.compare_debian(bad, "1.0")


@pytest.mark.parametrize("left, right, expected", [
    ("2.101.3", "2.101.10", -1),
    ("2.101.3", "2.101.3", 0),
    ("v1.2.3", "1.2.3", 0),
    ("1.0.0-alpha", "1.0.0", -1),
    ("1.0.0-alpha", "1.0.0-alpha.1", -1),
    ("1.0.0-alpha.1", "1.0.0-alpha.beta", -1),
    ("1.0.0-beta.2", "1.0.0-beta.11", -1),
    ("1.0.0-rc.1", "1.0.0", -1),
    ("1.0.0+build.5", "1.0.0", 0),
    ("1.2", "1.2.0", 0),
    ("3.0.0", "2.999.999", 1),
])
def test_semantic_versions_compare_by_semver_rules(left, right, expected):
    assert audit.compare_semver(left, right) == expected
    assert audit.compare_semver(right, left) == -expected


@pytest.mark.parametrize("events, version, expected", [
    ([{"introduced": "0"}], "1.0.0", True),
    ([{"introduced": "0"}, {"fixed": "1.0.0"}], "0.9.9", True),
    ([{"introduced": "0"}, {"fixed": "1.0.0"}], "1.0.0", False),
    ([{"introduced": "1.0.0"}, {"fixed": "2.0.0"}], "0.9.0", False),
    ([{"introduced": "1.0.0"}, {"last_affected": "1.5.0"}], "1.5.0", True),
    ([{"introduced": "1.0.0"}, {"last_affected": "1.5.0"}], "1.5.1", False),
    ([{"fixed": "2.0.0"}, {"introduced": "1.0.0"}], "1.5.0", True),
    ([{"introduced": "1.0.0"}, {"fixed": "1.2.0"}, {"introduced": "2.0.0"}, {"fixed": "2.1.0"}], "1.5.0", False),
    ([{"introduced": "1.0.0"}, {"fixed": "1.2.0"}, {"introduced": "2.0.0"}, {"fixed": "2.1.0"}], "2.0.5", True),
    ([{"introduced": "0"}, {"limit": "2.0.0"}], "2.0.0", False),
    ([{"introduced": "0"}, {"limit": "2.0.0"}], "1.9.0", True),
    ([{"introduced": "0"}, {"limit": "*"}], "9.0.0", True),
])
def test_osv_ranges_are_evaluated_as_the_schema_says(events, version, expected):
    assert audit.range_contains(version, events, audit.compare_semver) is expected


def test_a_git_range_is_judged_only_by_the_versions_the_advisory_lists():
    affected = {"ranges": [{"type": "GIT", "repo": "https://github.com/apple/swift-nio",
                            "events": [{"introduced": "0"}, {"fixed": "a" * 40}]}]}
    assert audit.version_affected("2.101.3", affected, audit.compare_semver) is None
    affected["versions"] = ["2.101.3"]
    assert audit.version_affected("2.101.3", affected, audit.compare_semver) == []


def test_a_package_pinned_to_a_revision_is_matched_only_by_the_listed_versions():
    revision = "b" * 40
    affected = {"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}
    assert audit.version_affected(revision, affected, audit.compare_semver) is None
    affected["versions"] = [revision]
    assert audit.version_affected(revision, affected, audit.compare_semver) == []

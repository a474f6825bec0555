"""scripts/sbom on the real build: the document validates against CycloneDX 1.5 and lists what
the binary contains and links, with versions from Package.resolved and dpkg and licences
recognised from the licence files."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from supply_chain_helpers import ROOT, binary_under_test, component, load_script, properties

sbom_script = load_script("sbom")


def resolved_pins():
    path = ROOT / "Package.resolved"
    assert path.is_file(), f"{path} is missing: the package has not been resolved (run `swift build`)"
    return {pin["identity"]: pin for pin in json.loads(path.read_text())["pins"]}


def swift_packages(document):
    return [c for c in document["components"] if properties(c)["rampart:kind"] == "swift-package"]


def test_document_validates_against_the_cyclonedx_1_5_schema(sbom):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.5"
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(sbom))
    assert error is None, f"the SBOM does not validate: {error}"


def test_the_application_is_the_binary_as_it_describes_its_own_build(sbom):
    """The SBOM's application component says what `rampart version` says (and so what
    `rampart --version` and the rampart_build_info metric say): version, revision, build date."""
    built = json.loads(subprocess.run([str(binary_under_test()), "version", "--output", "json"], capture_output=True, text=True,
                                      check=True).stdout)
    application = sbom["metadata"]["component"]
    assert application["name"] == "rampart" and application["version"] == built["version"]
    assert properties(application)["rampart:revision"] == built["revision"]
    assert properties(application)["rampart:build-date"] == built["build_date"]


def test_swift_packages_carry_their_resolved_version_revision_and_source(sbom):
    pins = resolved_pins()
    packages = swift_packages(sbom)
    assert len(packages) >= 10, [c["name"] for c in packages]
    for package in packages:
        pin = pins[package["name"]]
        assert package["version"] == pin["state"]["version"]
        assert properties(package)["rampart:swift:revision"] == pin["state"]["revision"]
        assert package["externalReferences"] == [{"type": "vcs", "url": pin["location"]}]
        assert properties(package)["rampart:swift:modules"], f"{package['name']} lists no linked module"
    nio = component(sbom, "swift-nio")
    assert nio["version"] == pins["swift-nio"]["state"]["version"]
    assert nio["purl"] == f"pkg:swift/github.com/apple/swift-nio@{pins['swift-nio']['state']['version']}"
    assert "NIOCore" in properties(nio)["rampart:swift:modules"].split()


def test_only_packages_linked_into_the_binary_are_listed(sbom):
    """The rule: a package with a module in the binary's link file list. The benchmark harness
    (ordo-one/benchmark) is never linked into rampart; every resolved pin is either a component
    or named as resolved but not linked."""
    names = {c["name"] for c in swift_packages(sbom)}
    not_linked = set(next(p["value"] for p in sbom["metadata"]["properties"]
                          if p["name"] == "rampart:sbom:resolved-not-linked").split())
    assert "benchmark" not in names
    assert names | not_linked == set(resolved_pins())
    assert not names & not_linked
    assert {"swift-nio", "swift-crypto", "swift-log", "hummingbird", "swift-argument-parser"} <= names


def test_swift_package_licences_are_recognised_from_their_licence_files(sbom):
    for package in swift_packages(sbom):
        assert package.get("licenses"), f"{package['name']}: no licence recognised"
    assert component(sbom, "swift-nio")["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    # swift-collections' LICENSE.txt appends the Swift runtime library exception to Apache 2.0.
    assert component(sbom, "swift-collections")["licenses"] == [{"expression": "Apache-2.0 WITH Swift-exception"}]


def dpkg_version(package):
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                          check=True).stdout


def readelf_needed(binary):
    finished = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True)
    assert finished.returncode == 0, f"readelf -d failed (binutils installed?): {finished.stderr}"
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", finished.stdout))


def test_system_libraries_come_from_the_binary_with_their_debian_versions(sbom):
    sqlite = component(sbom, "libsqlite3-0")
    assert sqlite["version"] == dpkg_version("libsqlite3-0")
    assert properties(sqlite)["rampart:linked"] == "direct"
    assert properties(sqlite)["rampart:debian:source"] == "sqlite3"
    assert "libsqlite3.so.0" in properties(sqlite)["rampart:libraries"].split()
    assert sqlite["purl"].startswith("pkg:deb/debian/libsqlite3-0@")
    libc = component(sbom, "libc6")
    assert libc["version"] == dpkg_version("libc6")
    assert libc["licenses"] == [{"license": {"id": "LGPL-2.1-or-later"}}]
    # Every library the binary names in DT_NEEDED (read here by readelf, independently of the
    # script's own ELF reader) is in a direct component.
    listed = {}
    for c in sbom["components"]:
        for library in properties(c).get("rampart:libraries", "").split():
            listed[library] = c
    for library in readelf_needed(binary_under_test()):
        assert library in listed, f"{library} is linked but not in the SBOM"
        linked = properties(listed[library]).get("rampart:linked")
        assert linked in ("direct", "dynamic"), f"{library} is linked directly but listed as {linked}"


def test_swift_runtime_has_the_toolchain_version(sbom):
    runtime = component(sbom, "swift-runtime")
    version_line = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout
    assert runtime["version"] == re.search(r"Swift version (\S+)", version_line).group(1)
    assert {"libswiftCore.so", "libFoundation.so"} <= set(properties(runtime)["rampart:libraries"].split())
    assert runtime["licenses"] == [{"expression": "Apache-2.0 WITH Swift-exception"}]
    assert "swift-runtime" in next(d for d in sbom["dependencies"] if d["ref"] == "rampart")["dependsOn"]


def test_a_statically_linked_swift_runtime_is_listed_too(monkeypatch):
    """A release built with --static-swift-stdlib links no libswiftCore.so: the runtime is found
    by the binary's Swift metadata sections instead (simulated here by hiding the toolchain's
    libraries from the script's view of the binary)."""
    binary = binary_under_test()
    real_paths, real_needed = sbom_script.ldd_paths(binary), sbom_script.elf_needed
    toolchain = {name for name, path in real_paths.items() if "/lib/swift/" in os.path.realpath(path)}
    assert "libswiftCore.so" in toolchain
    monkeypatch.setattr(sbom_script, "ldd_paths", lambda _: {n: p for n, p in real_paths.items() if n not in toolchain})
    monkeypatch.setattr(sbom_script, "elf_needed", lambda path: [n for n in real_needed(path) if n not in toolchain])
    components, edges = sbom_script.system_components(binary)
    runtime = components[0]
    assert runtime["name"] == "swift-runtime" and properties(runtime)["rampart:linked"] == "static"
    assert "swift-runtime" in edges["rampart"]


# MARK: - The licence recogniser

MIT = """MIT License

Copyright (c) 2024 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY.
"""

ISC = """Copyright (c) 2024 Someone

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES.
"""

BSD_2 = """Copyright (c) 2024 Someone. All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS".
"""

BSD_3 = BSD_2.replace("and/or other materials provided with the distribution.\n", (
    "and/or other materials provided with the distribution.\n"
    "3. Neither the name of the copyright holder nor the names of its\n"
    "   contributors may be used to endorse or promote products derived from\n"
    "   this software without specific prior written permission.\n"))


def common_licence(name):
    path = Path("/usr/share/common-licenses") / name
    assert path.is_file(), f"{path} is missing (Debian's base-files installs it)"
    return path.read_text()


@pytest.mark.parametrize("text, expected", [
    (MIT, "MIT"),
    (ISC, "ISC"),
    (BSD_2, "BSD-2-Clause"),
    (BSD_3, "BSD-3-Clause"),
    ("All rights reserved. Not for redistribution.", None),
    ("", None),
])
def test_recogniser_knows_the_standard_texts(text, expected):
    assert sbom_script.recognise_licence_text(text) == expected


@pytest.mark.parametrize("file, expected", [
    ("Apache-2.0", "Apache-2.0"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-2", "GPL-2.0-only"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("MPL-2.0", "MPL-2.0"),
])
def test_recogniser_knows_the_debian_copies_of_the_licences(file, expected):
    assert sbom_script.recognise_licence_text(common_licence(file)) == expected


def test_recogniser_reads_a_reformatted_text_and_refuses_a_truncated_one():
    """Line breaks, markdown and comment markers do not matter; a missing clause does."""
    reflowed = "# License\n\n" + " ".join(MIT.split()).replace("Software", "**Software**")
    assert sbom_script.recognise_licence_text(reflowed) == "MIT"
    truncated = MIT.split("The above copyright notice")[0]
    assert sbom_script.recognise_licence_text(truncated) is None


def test_debian_copyright_files_are_read_by_their_format():
    dep5 = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: someone\nLicense: LGPL-2.1+\n\n"
            "Files: debian/*\nCopyright: someone\nLicense: GPL-2+\n")
    assert sbom_script.debian_copyright_licence(dep5) == "LGPL-2.1-or-later"
    either = dep5.replace("License: LGPL-2.1+", "License: GPL-2+ or Expat")
    assert sbom_script.debian_copyright_licence(either) == "GPL-2.0-or-later OR MIT"
    unknown = dep5.replace("License: LGPL-2.1+", "License: Some-Custom-Terms")
    assert sbom_script.debian_copyright_licence(unknown) is None
    free_form = ("The library is free software; you can redistribute it and/or modify it under the terms "
                 "of the GNU Lesser General Public License as published by the Free Software Foundation; "
                 "either version 2.1 of the License, or (at your option) any later version.\n\n"
                 "The utilities are under the terms of the GNU General Public License as published by the "
                 "Free Software Foundation; either version 2 of the License, or (at your option) any later version.")
    assert sbom_script.debian_copyright_licence(free_form) == "LGPL-2.1-or-later"

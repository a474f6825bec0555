"""Helpers for the Biscuit interoperability tests: the `rampart biscuit` CLI and the reference
implementation (biscuit-python 0.4.0, built on biscuit-auth 6.0.0), with their authorization
outcomes brought to one comparable form.

Outcomes are dictionaries with one key:
  {"ok": policy_index}           an allow policy matched and every check held;
  {"refused": message}           a policy or checks refused; the message is the reference's
                                 wording ("authorization failed: ... the following checks failed:
                                 Check n°0 in block n°1: check if ..."), which Rampart writes too,
                                 so the failed checks (block, index, printed rule) compare exactly;
  {"error": kind}                the authorizer stopped: "Execution.Overflow", "RunLimit", ...
"""

import importlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The reference version the tests are written for (the brief: biscuit-auth 6.0.0).
REFERENCE_DISTRIBUTION = "biscuit-python"
REFERENCE_VERSION = "0.4.0"

#: Limits given to both sides: the reference's defaults (1,000 facts, 100 iterations) with 1 s
#: instead of its 1 ms, so that a loaded machine does not cause spurious timeouts.
MAX_FACTS = 1000
MAX_ITERATIONS = 100
MAX_TIME_MS = 1000

#: USAGE and failure exit codes of `rampart biscuit`.
EXIT_SUCCESS = 0
EXIT_USAGE = 64
EXIT_FAILURE = 1


def reference():
    """The biscuit_auth module, or a test failure saying it is missing (never a skip)."""
    try:
        module = importlib.import_module("biscuit_auth")
    except ImportError as error:
        pytest.fail(
            f"biscuit-python {REFERENCE_VERSION} is not installed ({error}): run scripts/test-deps", pytrace=False)
    version = importlib.metadata.version(REFERENCE_DISTRIBUTION)
    if version != REFERENCE_VERSION:
        pytest.fail(f"biscuit-python {version} is installed; these tests need {REFERENCE_VERSION}", pytrace=False)
    return module


def binary_path() -> Path:
    """The rampart binary under test: $RAMPART_BINARY, else the debug build; a test failure when
    it is missing."""
    path = Path(os.environ.get("RAMPART_BINARY") or ROOT / ".build" / "debug" / "rampart")
    if not path.exists():
        pytest.fail(f"{path} is missing: run `swift build --product rampart` first (or set RAMPART_BINARY)", pytrace=False)
    return path


class Rampart:
    """Runs `rampart biscuit ...` from a private copy of the binary (a build running meanwhile
    cannot replace it under the tests)."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary = str(binary)
        self.workdir = Path(workdir)
        self._files = 0

    @classmethod
    def copied(cls, workdir: Path) -> "Rampart":
        source = binary_path()
        target = Path(workdir) / "rampart"
        shutil.copy2(source, target)
        return cls(target, workdir)

    def run(self, *arguments, input=None, env=None, timeout=120):
        """Runs a verb; returns the completed process (text mode)."""
        environment = dict(os.environ)
        environment.pop("RAMPART_BISCUIT_PRIVATE_KEY", None)
        if env:
            environment.update(env)
        return subprocess.run(
            [self.binary, "biscuit", *map(str, arguments)], input=input, capture_output=True, text=True,
            env=environment, timeout=timeout, cwd=self.workdir)

    def ok(self, *arguments, input=None, env=None) -> str:
        """Runs a verb that must succeed; returns its standard output, stripped."""
        done = self.run(*arguments, input=input, env=env)
        assert done.returncode == 0, f"rampart biscuit {' '.join(map(str, arguments))} exited {done.returncode}: {done.stderr}{done.stdout}"
        return done.stdout.strip()

    def json(self, *arguments, input=None, env=None, expect=0):
        """Runs a verb with --output json; checks the exit code; returns the parsed object."""
        done = self.run(*arguments, "--output", "json", input=input, env=env)
        assert done.returncode == expect, (
            f"rampart biscuit {' '.join(map(str, arguments))}: exit {done.returncode}, expected {expect}: {done.stderr}{done.stdout}")
        return json.loads(done.stdout)

    def file(self, text: str, suffix: str = ".txt") -> Path:
        """A new file in the work directory holding `text`."""
        self._files += 1
        path = self.workdir / f"input-{self._files}{suffix}"
        path.write_text(text)
        return path

    def keypair(self, algorithm: str = "ed25519"):
        """A new key pair: (private key text, public key text)."""
        made = self.json("keypair", "--algorithm", algorithm)
        return made["private_key"], made["public_key"]

    def inspect(self, token: str, public_key: str, authorizer: str = None, expect=None, extra=()):
        """`inspect` with --output json; returns the report (the exit code is checked when
        `expect` is given)."""
        arguments = ["inspect", "-", "--public-key", public_key, *extra]
        if authorizer is not None:
            arguments += ["--authorize-with", self.file(authorizer, ".datalog")]
        done = self.run(*arguments, "--output", "json", input=token)
        if expect is not None:
            assert done.returncode == expect, f"inspect exited {done.returncode}, expected {expect}: {done.stderr}{done.stdout}"
        return json.loads(done.stdout)


def rampart_outcome(report: dict) -> dict:
    """The outcome of an `inspect` report's authorization."""
    authorization = report["authorization"]
    assert authorization is not None, f"no authorization in the report: {report}"
    if authorization["authorized"]:
        return {"ok": authorization["policy"]["index"]}
    if authorization["error"] is not None:
        kind = authorization["error"]["kind"]
        return {"error": "RunLimit" if kind.startswith("RunLimit.") else kind}
    return {"refused": authorization["message"]}


#: The reference's wording of expression errors (`Display` of `error::Expression`).
_EXECUTION_ERRORS = {
    "Division by zero": "DivideByZero",
    "Overflow": "Overflow",
    "Invalid type": "InvalidType",
    "Shadowed variable": "ShadowedVariable",
    "Unknown variable": "UnknownVariable",
    "Unknown symbol": "UnknownSymbol",
    "Invalid stack": "InvalidStack",
}


def reference_outcome_of_error(message: str) -> dict:
    """The outcome of the reference's `AuthorizationError` message."""
    if message.startswith("authorization failed:"):
        return {"refused": message}
    prefix = "Datalog  execution failure: "
    if message.startswith(prefix):
        detail = message[len(prefix):]
        if detail.startswith("Undefined extern func"):
            return {"error": "Execution.UndefinedExtern"}
        return {"error": "Execution." + _EXECUTION_ERRORS.get(detail, detail)}
    if message == "Reached Datalog execution limits":
        return {"error": "RunLimit"}
    return {"error": "Reference: " + message}


_REFUSAL = re.compile(
    r"authorization failed: (?:(an allow|a deny) policy matched \(policy index: (\d+)\)|no matching policy was found), "
    r"and the following checks failed: (.*)\Z", re.S)
_FAILED_CHECK = re.compile(r"(?:\A|, )Check n°(\d+) in (?:block n°(\d+)|(authorizer)): ")


def decision(outcome: dict):
    """An outcome without the printed text of the failed checks: ("ok", index), ("error", kind), or
    ("refused", policy kind, policy index, [(block or "authorizer", check index), ...]). Two
    outcomes with equal decisions differ at most in how the failed checks are printed."""
    if "refused" not in outcome:
        key = next(iter(outcome))
        return (key, outcome[key])
    match = _REFUSAL.match(outcome["refused"])
    assert match, f"not a refusal message: {outcome['refused']!r}"
    kind = {"an allow": "allow", "a deny": "deny", None: None}[match.group(1)]
    index = None if match.group(2) is None else int(match.group(2))
    checks = [("authorizer" if found.group(3) else int(found.group(2)), int(found.group(1)))
              for found in _FAILED_CHECK.finditer(match.group(3))]
    return ("refused", kind, index, checks)


def reference_authorizer(code: str):
    """The reference's authorizer builder for `code`, with the tests' limits."""
    ref = reference()
    builder = ref.AuthorizerBuilder(code)
    limits = builder.limits()
    limits.max_facts = MAX_FACTS
    limits.max_iterations = MAX_ITERATIONS
    limits.max_time = timedelta(milliseconds=MAX_TIME_MS)
    builder.set_limits(limits)
    return builder


def reference_authorize(token, code: str) -> dict:
    """The reference's outcome for a parsed token (`biscuit_auth.Biscuit`) and authorizer code."""
    ref = reference()
    try:
        authorizer = reference_authorizer(code).build(token)
        return {"ok": authorizer.authorize()}
    except ref.AuthorizationError as error:
        return reference_outcome_of_error(str(error))


def reference_parse(token_base64: str, public_key_text: str):
    """The reference's verified token."""
    ref = reference()
    return ref.Biscuit.from_base64(token_base64, ref.PublicKey(public_key_text))


def public_key_text(key) -> str:
    """`ed25519/<hex>` text of a reference public key."""
    return str(key)


def private_key_text(key) -> str:
    """`ed25519-private/<hex>` text of a reference private key."""
    return repr(key)

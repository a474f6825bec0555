"""Interoperability of Rampart's Biscuit library (through `rampart biscuit`) with the reference
implementation, biscuit-auth 6.0.0 through biscuit-python 0.4.0:

* tokens made by Rampart (generate, attenuate, seal, third-party blocks; v3 and v6 blocks;
  Ed25519 and P-256 keys) are read and authorized by the reference with the same outcome and
  the same revocation ids;
* tokens made by the reference are inspected and authorized by Rampart likewise;
* a seeded differential test: random (token, authorizer) pairs made by the reference, judged by
  both, with zero disagreements allowed;
* the CLI's conventions (exit codes, JSON output, key files).

Both sides authorize with 1,000 facts, 100 iterations and 1 s (the reference's default time
limit of 1 ms would time out under load). A missing biscuit-python or rampart binary fails the
tests, never skips them.
"""

import json
import os
from datetime import datetime, timezone
import stat
import sys
import time

import pytest

from datalog_generator import Generator
from interop_helpers import (
    EXIT_FAILURE,
    EXIT_SUCCESS,
    EXIT_USAGE,
    MAX_FACTS,
    MAX_ITERATIONS,
    MAX_TIME_MS,
    decision,
    private_key_text,
    public_key_text,
    rampart_outcome,
    reference_authorize,
    reference_parse,
)

FILE1_READ = 'resource("file1"); operation("read"); time(2025-01-01T00:00:00Z); allow if true;'
FILE2_READ = 'resource("file2"); operation("read"); time(2025-01-01T00:00:00Z); allow if true;'
FILE1_WRITE = 'resource("file1"); operation("write"); time(2025-01-01T00:00:00Z); allow if true;'


def both_outcomes(rampart, token_base64, public_key, authorizer, ref_token=None):
    """(Rampart's outcome and report, the reference's outcome) for one authorizer."""
    report = rampart.inspect(token_base64, public_key, authorizer)
    parsed = ref_token if ref_token is not None else reference_parse(token_base64, public_key)
    return rampart_outcome(report), report, reference_authorize(parsed, authorizer)


def assert_same_token_view(report, parsed):
    """Rampart's inspection and the reference's parsed token agree on revocation ids, block count,
    each block's printed Datalog and external key."""
    assert report["verified"], report
    assert report["revocation_ids"] == parsed.revocation_ids
    assert len(report["blocks"]) == parsed.block_count()
    for index, block in enumerate(report["blocks"]):
        assert block["source"] == parsed.block_source(index), f"block {index}"
        external = parsed.block_external_key(index)
        assert block["external_key"] == (None if external is None else public_key_text(external)), f"block {index}"


def assert_agree(rampart, token_base64, public_key, authorizers):
    """For each (authorizer, expected outcome): both sides give the expected outcome."""
    parsed = reference_parse(token_base64, public_key)
    for authorizer, expected in authorizers:
        ours, report, theirs = both_outcomes(rampart, token_base64, public_key, authorizer, parsed)
        assert ours == theirs, f"authorizer {authorizer!r}: rampart {ours}, reference {theirs}"
        if isinstance(expected, int):
            assert ours == {"ok": expected}, f"authorizer {authorizer!r}: {ours}"
        else:
            assert "refused" in ours and expected in ours["refused"], f"authorizer {authorizer!r}: {ours}"
        assert_same_token_view(report, parsed)
    return parsed


# MARK: - Rampart → reference


@pytest.mark.parametrize("algorithm", ["ed25519", "secp256r1"])
def test_rampart_v3_token_and_attenuation_are_read_and_authorized_by_reference(rampart, ref, algorithm):
    private, public = rampart.keypair(algorithm)
    authority = rampart.file(
        'user({id});\nright("file1", "read");\nright("file2", "read");\n'
        "check if time($t), $t < {expiry};\n"
        "allowed($r) <- right($r, $op), resource($r), operation($op);\n")
    token = rampart.ok(
        "generate", authority, "--private-key", private, "--root-key-id", 3, "--param", "id=alice",
        "--param", "expiry:date=2030-01-01T00:00:00Z")
    token = rampart.ok(
        "attenuate", "-", "--public-key", public, "--block-code", 'check if resource($r), {"file1", "file3"}.contains($r);',
        input=token)
    seen = []
    parsed = ref.Biscuit.from_base64(token, lambda key_id: seen.append(key_id) or ref.PublicKey(public))
    assert seen == [3]
    report = rampart.inspect(token, public)
    assert report["root_key_id"] == 3
    assert [block["version"] for block in report["blocks"]] == [3, 3]
    # An Ed25519 chain of v3 blocks keeps signature version 0; a P-256 root moves it to 1.
    assert [block["signature_version"] for block in report["blocks"]] == ([0, 0] if algorithm == "ed25519" else [1, 1])
    assert_same_token_view(report, parsed)
    assert_agree(rampart, token, public, [
        (FILE1_READ + " allow if allowed($r);", 0),
        (FILE2_READ, "Check n°0 in block n°1: check if resource($r), {\"file1\", \"file3\"}.contains($r)"),
        ('resource("file1"); operation("read"); time(2031-01-01T00:00:00Z); allow if true;', "Check n°0 in block n°0"),
        ('resource("file1"); operation("read"); time(2025-01-01T00:00:00Z); deny if user("alice"); allow if true;', "a deny policy matched"),
        ('resource("file1"); time(2025-01-01T00:00:00Z); allow if allowed($r);', "no matching policy"),
    ])


@pytest.mark.parametrize("next_key_algorithm", ["ed25519", "secp256r1"])
def test_rampart_v6_blocks_are_read_and_authorized_by_reference(rampart, ref, next_key_algorithm):
    private, public = rampart.keypair("ed25519")
    token = rampart.ok(
        "generate", "-", "--private-key", private, "--next-key-algorithm", next_key_algorithm,
        input='right("file1", "read");\nright("file1", "write");\nreject if revoked($id), $id == "t1";\n')
    token = rampart.ok(
        "attenuate", "-", "--public-key", public, "--next-key-algorithm", next_key_algorithm,
        "--block-code",
        'check if resource($r), operation($op), $r == "file1" && $op != "write";\n'
        'check if {"read", "list"}.any($p -> $p == "read") && [1, 2].all($x -> $x > 0);\n'
        'check if operation($op), $op.length() == 4 || $op.starts_with("w");\n',
        input=token)
    report = rampart.inspect(token, public)
    assert [block["version"] for block in report["blocks"]] == [6, 6]
    assert [block["signature_version"] for block in report["blocks"]] == [1, 1]
    assert_agree(rampart, token, public, [
        (FILE1_READ, 0),
        (FILE1_WRITE, 'Check n°0 in block n°1: check if resource($r), operation($op), $r == "file1" && $op != "write"'),
        ('revoked("t1"); ' + FILE1_READ, 'Check n°0 in block n°0: reject if revoked($id), $id == "t1"'),
        ('revoked("t2"); ' + FILE1_READ, 0),
    ])


def test_rampart_secp256r1_chain_is_read_by_reference(rampart, ref):
    private, public = rampart.keypair("secp256r1")
    token = rampart.ok("generate", "-", "--private-key", private, "--next-key-algorithm", "secp256r1", input='right("file1");')
    token = rampart.ok("attenuate", "-", "--public-key", public, "--next-key-algorithm", "secp256r1",
                       "--block-code", "check if resource($r), right($r);", input=token)
    token = rampart.ok("attenuate", "-", "--public-key", public, "--block-code", 'check if operation("read");', input=token)
    report = rampart.inspect(token, public)
    assert report["root_public_key"].startswith("secp256r1/")
    assert [block["signature_version"] for block in report["blocks"]] == [1, 1, 1]
    assert_agree(rampart, token, public, [
        (FILE1_READ, 0),
        (FILE2_READ, "Check n°0 in block n°1"),
        (FILE1_WRITE, "Check n°0 in block n°2"),
    ])


def test_rampart_sealed_token_is_read_by_reference_and_cannot_be_attenuated(rampart, ref):
    private, public = rampart.keypair()
    token = rampart.ok("generate", "-", "--private-key", private, input='right("file1");')
    token = rampart.ok("attenuate", "-", "--public-key", public, "--block-code", 'check if operation("read");', input=token)
    before = rampart.inspect(token, public)
    sealed = rampart.json("seal", "-", "--public-key", public, input=token)
    assert sealed["sealed"] is True
    sealed_token = sealed["token"]
    report = rampart.inspect(sealed_token, public)
    assert report["sealed"] is True
    # Sealing adds no block and no revocation id.
    assert report["revocation_ids"] == before["revocation_ids"] == sealed["revocation_ids"]
    parsed = assert_agree(rampart, sealed_token, public, [(FILE1_READ, 0), (FILE1_WRITE, "Check n°0 in block n°1")])
    with pytest.raises(Exception):
        parsed.append(ref.BlockBuilder("check if true;"))
    refused = rampart.json("attenuate", "-", "--public-key", public, "--block-code", "check if true;", input=sealed_token,
                           expect=EXIT_FAILURE)
    assert refused["error"]["kind"] == "AlreadySealed"
    refused = rampart.json("seal", "-", "--public-key", public, input=sealed_token, expect=EXIT_FAILURE)
    assert refused["error"]["kind"] == "AlreadySealed"
    refused = rampart.json("third-party-request", "-", "--public-key", public, input=sealed_token, expect=EXIT_FAILURE)
    assert refused["error"]["kind"] == "AppendOnSealed"


@pytest.mark.parametrize("third_party_algorithm", ["ed25519", "secp256r1"])
def test_rampart_third_party_blocks_are_read_and_authorized_by_reference(rampart, ref, third_party_algorithm):
    private, public = rampart.keypair()
    third_private, third_public = rampart.keypair(third_party_algorithm)
    token = rampart.ok(
        "generate", "-", "--private-key", private, "--param", f"tp:pubkey={third_public}",
        input='right("file1", "read");\ncheck if group("admin") trusting {tp};\n')

    def with_third_party_block(code):
        request = rampart.ok("third-party-request", "-", "--public-key", public, input=token)
        block = rampart.json("third-party-block", "--request", request, "--block-code", code, "--private-key", third_private)
        assert block["external_key"] == third_public
        return rampart.ok(
            "append-third-party", "-", "--public-key", public, "--external-key", third_public, "--third-party-block", block["block"],
            input=token)

    admin = with_third_party_block('group("admin");\ncheck if resource("file1");')
    report = rampart.inspect(admin, public)
    assert report["blocks"][1]["external_key"] == third_public
    assert report["blocks"][1]["version"] == 5 and report["blocks"][1]["signature_version"] == 1
    assert_agree(rampart, admin, public, [
        (FILE1_READ, 0),
        (FILE2_READ, 'Check n°0 in block n°1: check if resource("file1")'),
    ])
    guest = with_third_party_block('group("guest");')
    assert_agree(rampart, guest, public, [(FILE1_READ, 'Check n°0 in block n°0: check if group("admin") trusting ' + third_public)])
    # A first-party block after the third party's: its signature continues the v1 chain.
    attenuated = rampart.ok("attenuate", "-", "--public-key", public, "--block-code", 'check if operation("read");', input=admin)
    report = rampart.inspect(attenuated, public)
    assert [block["signature_version"] for block in report["blocks"]] == [0, 1, 1]
    assert_agree(rampart, attenuated, public, [(FILE1_READ, 0), (FILE1_WRITE, "Check n°0 in block n°2")])
    # The third party's block, signed for another token, is refused.
    other = rampart.ok("generate", "-", "--private-key", private, input='right("file1");')
    request = rampart.ok("third-party-request", "-", "--public-key", public, input=other)
    block = rampart.ok("third-party-block", "--request", request, "--block-code", 'group("admin");', "--private-key", third_private)
    refused = rampart.json(
        "append-third-party", "-", "--public-key", public, "--external-key", third_public, "--third-party-block", block,
        input=token, expect=EXIT_FAILURE)
    assert refused["error"]["kind"].startswith("Format.")


# MARK: - Reference → Rampart


def reference_root(ref, algorithm):
    if algorithm == "ed25519":
        return ref.KeyPair()
    return ref.KeyPair.from_private_key(ref.PrivateKey.from_bytes(os.urandom(32), ref.Algorithm.Secp256r1))


def assert_rampart_agrees(rampart, ref_token, public_key, authorizers):
    """Rampart, given the reference's token, agrees with the reference and with `expected`."""
    token = ref_token.to_base64()
    for authorizer, expected in authorizers:
        ours, report, theirs = both_outcomes(rampart, token, public_key, authorizer, ref_token)
        assert ours == theirs, f"authorizer {authorizer!r}: rampart {ours}, reference {theirs}"
        if isinstance(expected, int):
            assert ours == {"ok": expected}
        else:
            assert "refused" in ours and expected in ours["refused"], ours
        assert_same_token_view(report, ref_token)
    return rampart.inspect(token, public_key)


@pytest.mark.parametrize("algorithm", ["ed25519", "secp256r1"])
def test_reference_v3_tokens_are_inspected_and_authorized_by_rampart(rampart, ref, algorithm):
    root = reference_root(ref, algorithm)
    public = public_key_text(root.public_key)
    builder = ref.BiscuitBuilder(
        'user({id}); right("file1", "read"); right("file2", "read"); check if time($t), $t < {expiry};',
        {"id": "alice", "expiry": datetime(2030, 1, 1, tzinfo=timezone.utc)})
    builder.set_root_key_id(9)
    token = builder.build(root.private_key)
    token = token.append(ref.BlockBuilder('check if resource($r), operation("read"), {"file1", "file3"}.contains($r);'))
    report = assert_rampart_agrees(rampart, token, public, [
        (FILE1_READ, 0),
        (FILE2_READ, "Check n°0 in block n°1"),
        (FILE1_WRITE, "Check n°0 in block n°1"),
        ('resource("file1"); operation("read"); time(2031-01-01T00:00:00Z); allow if true;', "Check n°0 in block n°0"),
        ('resource("file1"); operation("read"); time(2025-01-01T00:00:00Z); deny if user($u);', "a deny policy matched (policy index: 0)"),
    ])
    assert report["root_key_id"] == 9
    assert [block["version"] for block in report["blocks"]] == [3, 3]


def test_reference_v6_blocks_are_inspected_and_authorized_by_rampart(rampart, ref):
    root = ref.KeyPair()
    public = public_key_text(root.public_key)
    token = ref.BiscuitBuilder('right("file1", "read"); right("file1", "write"); reject if revoked(true);').build(root.private_key)
    token = token.append(ref.BlockBuilder(
        'check if resource($r), operation($op), $r == "file1" && $op != "write";'
        'check if {"a", "b"}.all($p -> $p.length() == 1) || false;'
        'reject if operation($op), ["delete", "purge"].any($p -> $p == $op);'))
    token = token.append(ref.BlockBuilder('check if time($t), $t <= 2026-01-01T00:00:00Z && $t >= 2020-01-01T00:00:00Z;'))
    report = assert_rampart_agrees(rampart, token, public, [
        (FILE1_READ, 0),
        (FILE1_WRITE, "Check n°0 in block n°1"),
        ('resource("file1"); operation("delete"); time(2025-01-01T00:00:00Z); allow if true;', "Check n°2 in block n°1"),
        ('revoked(true); ' + FILE1_READ, "Check n°0 in block n°0: reject if revoked(true)"),
        ('resource("file1"); operation("read"); time(2027-01-01T00:00:00Z); allow if true;', "Check n°0 in block n°2"),
    ])
    assert [block["version"] for block in report["blocks"]] == [6, 6, 6]


@pytest.mark.parametrize("third_party_algorithm", ["ed25519", "secp256r1"])
def test_reference_third_party_blocks_are_inspected_and_authorized_by_rampart(rampart, ref, third_party_algorithm):
    root = reference_root(ref, "secp256r1")
    third = reference_root(ref, third_party_algorithm)
    public = public_key_text(root.public_key)
    token = ref.BiscuitBuilder('right("file1", "read"); check if group("admin") trusting {tp};', None,
                               {"tp": third.public_key}).build(root.private_key)
    block = token.third_party_request().create_block(third.private_key, ref.BlockBuilder('group("admin"); check if resource("file1");'))
    token = token.append_third_party(third.public_key, block)
    token = token.append(ref.BlockBuilder('check if operation("read");'))
    report = assert_rampart_agrees(rampart, token, public, [
        (FILE1_READ, 0),
        (FILE2_READ, "Check n°0 in block n°1"),
        (FILE1_WRITE, "Check n°0 in block n°2"),
        # The authorizer trusts the third party's facts only when it says so.
        (FILE1_READ.replace("allow if true;", f'allow if group("admin") trusting {public_key_text(third.public_key)};'), 0),
        (FILE1_READ.replace("allow if true;", 'allow if group("admin");'), "no matching policy"),
    ])
    assert report["blocks"][1]["external_key"] == public_key_text(third.public_key)


def test_reference_third_party_block_on_a_rampart_token(rampart, ref):
    """A token made by Rampart, a third-party block made and appended by the reference, read by
    Rampart again."""
    private, public = rampart.keypair()
    third = ref.KeyPair()
    token = rampart.ok("generate", "-", "--private-key", private, "--param", f"tp:pubkey={public_key_text(third.public_key)}",
                       input='right("file1");\ncheck if group("admin") trusting {tp};\n')
    parsed = reference_parse(token, public)
    block = parsed.third_party_request().create_block(third.private_key, ref.BlockBuilder('group("admin");'))
    appended = parsed.append_third_party(third.public_key, block)
    assert_rampart_agrees(rampart, appended, public, [(FILE1_READ, 0)])


def test_rampart_refuses_a_reference_token_under_another_root_key(rampart, ref):
    root, other = ref.KeyPair(), ref.KeyPair()
    builder = ref.BiscuitBuilder('right("file1");')
    builder.set_root_key_id(4)
    token = builder.build(root.private_key).to_base64()
    report = rampart.inspect(token, public_key_text(other.public_key), FILE1_READ, expect=EXIT_FAILURE)
    assert report["verified"] is False and report["root_key_id"] == 4 and report["blocks"] is None
    assert report["error"]["kind"] == "Format.Signature.InvalidSignature"
    with pytest.raises(ref.BiscuitValidationError):
        reference_parse(token, public_key_text(other.public_key))


def test_raw_input_reads_the_reference_bytes(rampart, ref):
    root = ref.KeyPair()
    token = ref.BiscuitBuilder('right("file1");').build(root.private_key)
    path = rampart.workdir / "token.bc"
    path.write_bytes(bytes(token.to_bytes()))
    report = rampart.json("inspect", path, "--raw-input", "--public-key", public_key_text(root.public_key))
    assert report["revocation_ids"] == token.revocation_ids


# MARK: - The CLI's conventions


@pytest.mark.parametrize("verb", [
    "keypair", "generate", "attenuate", "seal", "inspect", "third-party-request", "third-party-block", "append-third-party",
])
def test_every_verb_refuses_an_unknown_output_format(rampart, verb):
    done = rampart.run(verb, "--output", "yaml")
    assert done.returncode == EXIT_USAGE, done
    assert "yaml" in done.stderr and "json" in done.stderr


def test_keypair_writes_a_private_key_file_readable_by_its_owner_only(rampart, ref):
    path = rampart.workdir / "root.key"
    made = rampart.json("keypair", "--algorithm", "secp256r1", "--private-key-file", path)
    assert made["created"] is True and made["private_key"] is None and made["algorithm"] == "secp256r1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text().strip()
    assert text.startswith("secp256r1-private/")
    # The reference reads the key and finds the same public key.
    assert public_key_text(ref.KeyPair.from_private_key(ref.PrivateKey(text)).public_key) == made["public_key"]
    again = rampart.json("keypair", "--private-key-file", path)
    assert again["created"] is False and again["public_key"] == made["public_key"]
    assert path.read_text().strip() == text
    mismatch = rampart.run("keypair", "--private-key-file", path, "--algorithm", "ed25519")
    assert mismatch.returncode == EXIT_USAGE
    generated = rampart.ok("keypair").splitlines()
    assert generated[0].startswith("private key: ed25519-private/") and generated[1].startswith("public key: ed25519/")


def test_generate_reads_the_private_key_from_the_environment(rampart, ref):
    root = ref.KeyPair()
    token = rampart.ok("generate", "-", input='right("file1");', env={"RAMPART_BISCUIT_PRIVATE_KEY": private_key_text(root.private_key)})
    assert reference_parse(token, public_key_text(root.public_key)).block_source(0) == 'right("file1");\n'
    missing = rampart.run("generate", "-", input='right("file1");')
    assert missing.returncode == EXIT_USAGE and "RAMPART_BISCUIT_PRIVATE_KEY" in missing.stderr


def test_failures_exit_1_with_a_json_error(rampart, ref):
    private, public = rampart.keypair()
    bad = rampart.json("generate", "-", "--private-key", private, input="right(", expect=EXIT_FAILURE)
    assert bad["error"]["kind"] == "Language"
    bad = rampart.json("inspect", "-", "--public-key", public, input="not base64!", expect=EXIT_FAILURE)
    assert bad["error"]["kind"] in ("Base64", "Format.DeserializationError")
    bad = rampart.json("attenuate", "-", "--block-code", "check if true;", input="x", expect=EXIT_FAILURE)
    assert bad["error"]["kind"] in ("Base64", "Format.DeserializationError")
    usage = rampart.run("inspect", "-", "--time", "yesterday", "--authorize-with-code", "allow if true;", input="x")
    assert usage.returncode == EXIT_USAGE


def test_without_a_public_key_a_holder_inspects_and_attenuates_but_does_not_authorize(rampart, ref):
    """Without the issuer's key every signature but the authority block's is checked (as the
    reference's unverified tokens): a holder can read and narrow its token; authorizing needs
    the key."""
    private, public = rampart.keypair()
    token = rampart.ok("generate", "-", "--private-key", private, "--root-key-id", 42, input='right("file1");')
    report = rampart.json("inspect", "-", input=token)
    assert report["verified"] is False and report["root_key_id"] == 42 and report["blocks"][0]["source"] == 'right("file1");\n'
    text = rampart.run("inspect", "-", input=token)
    assert text.returncode == EXIT_SUCCESS and "root key id: 42" in text.stdout and "verified: no" in text.stdout
    narrowed = rampart.ok("attenuate", "-", "--block-code", 'check if operation("read");', input=token)
    assert rampart.json("inspect", "-", "--public-key", public, input=narrowed)["verified"] is True
    refused = rampart.json("inspect", "-", "--authorize-with-code", "allow if true;", input=token, expect=EXIT_FAILURE)
    assert refused["error"]["kind"] == "NotVerified" and "--public-key" in refused["error"]["message"]
    # A block's signature is still checked without the key: a tampered later block is refused.
    tampered = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]
    assert rampart.run("inspect", "-", input=tampered).returncode == EXIT_FAILURE


def test_inspect_time_and_parameters_reach_the_authorizer(rampart, ref):
    private, public = rampart.keypair()
    token = rampart.ok("generate", "-", "--private-key", private, input="check if time($t), $t < 2030-01-01T00:00:00Z;")
    authorizer = "allow if user({who});"
    for moment, expected in (("2029-12-31T23:59:59Z", True), ("2030-01-01T00:00:00+00:00", False)):
        report = rampart.json("inspect", "-", "--public-key", public, "--authorize-with-code", 'user("ann"); ' + authorizer,
                              "--param", "who=ann", "--time", moment, input=token, expect=0 if expected else EXIT_FAILURE)
        theirs = reference_authorize(reference_parse(token, public), f'user("ann"); time({moment}); allow if user("ann");')
        assert rampart_outcome(report) == theirs
        assert report["authorization"]["authorized"] is expected
        assert report["authorization"]["limits"] == {"max_facts": 1000, "max_iterations": 100, "max_time_ms": 1000}
    report = rampart.json("inspect", "-", "--public-key", public, "--authorize-with-code", "allow if true;", "--time", "now",
                          input=token)
    assert report["authorization"]["authorized"] is True


def test_inspect_batch_reports_every_line(rampart, ref):
    root = ref.KeyPair()
    public = public_key_text(root.public_key)
    token = ref.BiscuitBuilder('right("file1");').build(root.private_key).to_base64()
    lines = [
        {"id": "a", "token": token, "public_key": public, "authorizer": "allow if right($x);"},
        {"id": 2, "token": token, "public_key": public, "authorizer": "deny if true;"},
        {"id": "c", "token": token, "public_key": public, "authorizer": None},
        {"id": "d", "token": token, "public_key": None},
    ]
    batch = rampart.file("\n".join(json.dumps(line) for line in lines) + "\nnot json\n", ".jsonl")
    done = rampart.run("inspect", "--batch", batch, "--output", "json")
    assert done.returncode == EXIT_FAILURE  # the last line is not JSON
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [result["line"] for result in results] == [1, 2, 3, 4, 5]
    assert results[0]["id"] == "a" and rampart_outcome(results[0]["report"]) == {"ok": 0}
    assert results[1]["id"] == 2 and "deny policy" in rampart_outcome(results[1]["report"])["refused"]
    assert results[2]["report"]["authorization"] is None and results[2]["report"]["verified"] is True
    assert results[3]["report"]["verified"] is False
    assert results[4]["error"]["kind"] == "Input"


# MARK: - Differential


DIFFERENTIAL_CASES = int(os.environ.get("BISCUIT_DIFFERENTIAL_CASES", "1000"))
DIFFERENTIAL_SEED = int(os.environ.get("BISCUIT_DIFFERENTIAL_SEED", "20250715"))


def test_differential_random_tokens_and_authorizers(rampart, ref, tmp_path):
    """Random (token, authorizer) pairs made by the reference, judged by both: the outcomes
    (policy index; refusal with its failed checks in the reference's wording; error kind), the
    revocation ids and each block's printed Datalog must all agree."""
    print(f"\ndifferential: seed {DIFFERENTIAL_SEED} (BISCUIT_DIFFERENTIAL_SEED), {DIFFERENTIAL_CASES} cases")
    started = time.monotonic()
    generator = Generator(DIFFERENTIAL_SEED)
    roots = [ref.KeyPair(), reference_root(ref, "secp256r1")]
    cases = []
    rejected = 0
    while len(cases) < DIFFERENTIAL_CASES:
        authority, blocks, authorizer = generator.case()
        root = roots[len(cases) % 2]
        try:
            token = ref.BiscuitBuilder(authority).build(root.private_key)
            for block in blocks:
                token = token.append(ref.BlockBuilder(block))
            ref.AuthorizerBuilder(authorizer)
        except (ref.DataLogError, ref.BiscuitBuildError) as error:
            # The generator should only write what the reference accepts; count what it did not.
            rejected += 1
            assert rejected <= DIFFERENTIAL_CASES // 20, f"the reference refuses too many generated cases: {error}\n{authority}{blocks}{authorizer}"
            continue
        encoded = token.to_base64()
        parsed = reference_parse(encoded, public_key_text(root.public_key))
        cases.append({
            "authority": authority, "blocks": blocks, "authorizer": authorizer, "token": encoded,
            "public_key": public_key_text(root.public_key), "reference": reference_authorize(parsed, authorizer),
            "revocation_ids": parsed.revocation_ids, "sources": [parsed.block_source(i) for i in range(parsed.block_count())],
        })
    made = time.monotonic()
    batch = tmp_path / "differential.jsonl"
    batch.write_text("".join(
        json.dumps({"id": index, "token": case["token"], "public_key": case["public_key"], "authorizer": case["authorizer"]}) + "\n"
        for index, case in enumerate(cases)))
    done = rampart.run("inspect", "--batch", batch, "--output", "json", "--max-facts", MAX_FACTS, "--max-iterations", MAX_ITERATIONS,
                       "--max-time-ms", MAX_TIME_MS, timeout=600)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(cases)
    judged = time.monotonic()

    disagreements = []
    kinds = {}
    for index, (case, result) in enumerate(zip(cases, results)):
        assert result["id"] == index
        report = result["report"]
        problems = []
        if not report["verified"]:
            problems.append(("not verified", f"not verified: {report['error']}"))
        else:
            ours = rampart_outcome(report)
            if ours != case["reference"]:
                # A different decision (policy, failed check ids, error), or only the printed
                # text of the failed checks.
                what = "decision" if decision(ours) != decision(case["reference"]) else "failed check text"
                problems.append((what, f"{what}: rampart {ours}, reference {case['reference']}"))
            if report["revocation_ids"] != case["revocation_ids"]:
                problems.append(("revocation ids", "revocation ids differ"))
            sources = [block["source"] for block in report["blocks"]]
            for number, (mine, theirs) in enumerate(zip(sources, case["sources"])):
                if mine != theirs:
                    problems.append(("block source", f"block {number} prints differently:\n  rampart:   {mine!r}\n  reference: {theirs!r}"))
        outcome = next(iter(case["reference"]))
        kinds[outcome] = kinds.get(outcome, 0) + 1
        if problems:
            disagreements.append((index, case, problems))
    by_kind = {}
    for _, _, problems in disagreements:
        for what, _ in problems:
            by_kind[what] = by_kind.get(what, 0) + 1
    print(f"differential: {len(cases)} cases ({rejected} generated cases refused by the reference and replaced); "
          f"reference outcomes {kinds}; {len(cases) - len(disagreements)} agree, {len(disagreements)} disagree {by_kind}; "
          f"made in {made - started:.1f} s, judged by rampart in {judged - made:.1f} s")
    # Different decisions first: they matter more than the wording of a failed check.
    disagreements.sort(key=lambda item: (all(what == "failed check text" for what, _ in item[2]), item[0]))
    for index, case, problems in disagreements[:12]:
        uses = [method for method in (".matches(",) if method in case["authority"] + "".join(case["blocks"]) + case["authorizer"]]
        print(f"--- case {index} (seed {DIFFERENTIAL_SEED}){' uses ' + ', '.join(uses) if uses else ''}:")
        print("authority:\n" + case["authority"])
        for number, block in enumerate(case["blocks"], start=1):
            print(f"block {number}:\n" + block)
        print("authorizer:\n" + case["authorizer"])
        for _, problem in problems:
            print("  " + problem)
    sys.stdout.flush()
    assert not disagreements, f"{len(disagreements)} of {len(cases)} cases disagree (seed {DIFFERENTIAL_SEED}); see the output"

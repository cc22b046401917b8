"""The readers of signed models: a signature's manifest (no key, no network) and hub.toml's
[[trust]] rules. Property tests: whatever bytes or tables arrive, the answer is a manifest, a
rule, or one named error, never another exception."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hublock import ManifestError
from hublock.core import FileEntry, SignatureError
from hublock.formats import parse_manifest, parse_signature, signature_mismatches
from hublock.formats.trust import parse_trust, rule_for

paths = st.text("abcdefgh/._-", min_size=1, max_size=12).filter(lambda p: not p.startswith("/"))
digests = st.binary(min_size=32, max_size=32).map(bytes.hex)


def bundle(
    files: dict[str, str], *, material: str = "publicKey", ignore: tuple[str, ...] = ("model.sig",)
) -> bytes:
    root = hashlib.sha256(b"".join(bytes.fromhex(d) for d in files.values())).hexdigest()
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m", "digest": {"sha256": root}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "resources": [{"name": n, "digest": d, "algorithm": "sha256"} for n, d in files.items()],
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": list(ignore),
            },
        },
    }
    return json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {material: {"hint": "00"}},
            "dsseEnvelope": {
                "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": "AA=="}],
            },
        }
    ).encode()


@settings(max_examples=150, deadline=None)
@given(files=st.dictionaries(paths, digests, min_size=1, max_size=6), extra=paths, drop=st.booleans())
def test_a_manifest_is_read_back_and_any_difference_is_named(
    files: dict[str, str], extra: str, drop: bool
) -> None:
    signed = parse_signature(bundle(files))
    assert dict(signed.files) == files and signed.material == "key"
    entries = [FileEntry(p, 1, d) for p, d in files.items()]
    assert signature_mismatches(signed, [*entries, FileEntry("model.sig", 1, "00" * 32)], "model.sig") == []
    changed = entries[1:] if drop else [*entries, FileEntry(extra + ".new", 1, "11" * 32)]
    problems = signature_mismatches(signed, changed, "model.sig")
    assert problems and (
        "signed, but missing" in problems[0] if drop else "added after signing" in problems[0]
    )


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(lambda b, i: b[:i], st.just(bundle({"a": "00" * 32})), st.integers(0, 400)),
    )
)
def test_any_bytes_are_a_manifest_or_a_signature_error(data: bytes) -> None:
    try:
        parse_signature(data)
    except SignatureError as exc:
        assert "signature" in str(exc) or "signed" in str(exc)


def test_a_tampered_statement_is_refused() -> None:
    good = json.loads(bundle({"a": "00" * 32}))
    statement = json.loads(base64.b64decode(good["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "11" * 32  # the root digest no longer adds up
    good["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(SignatureError, match="inconsistent"):
        parse_signature(json.dumps(good).encode())


rule_tables = st.fixed_dictionaries(
    {},
    optional={
        "models": st.lists(st.sampled_from(["a", "b", "zz"]), max_size=2),
        "handles": st.sampled_from(["https://tfhub.dev/", "kaggle://acme/", "", 3]),
        "key": st.sampled_from(["k.pub", "", 1]),
        "certificate_chain": st.sampled_from([["ca.pem"], "ca.pem", [1]]),
        "identity": st.sampled_from(["me@acme.com", ""]),
        "issuer": st.sampled_from(["https://accounts.google.com"]),
        "require": st.sampled_from(["signed", "if-signed", "always"]),
        "signature": st.sampled_from(["model.sig", "../x", "/abs", "sig/model.sig"]),
        "bogus": st.just(1),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(rule_tables, max_size=3))
def test_any_trust_tables_are_rules_or_a_manifest_error(tables: list[dict[str, object]]) -> None:
    try:
        rules = parse_trust(tables, "hub.toml", Path("/p"), {"a", "b"})
    except ManifestError as exc:
        assert str(exc).startswith("hub.toml: trust")
        return
    for rule in rules:
        assert sum([rule.key is not None, bool(rule.certificate_chain), rule.identity is not None]) == 1
        assert rule.require in ("signed", "if-signed") and not rule.signature.startswith("/")


def test_a_model_follows_its_own_rule_then_the_longest_prefix_then_the_default() -> None:
    text = """
[models]
bert = "https://tfhub.dev/google/bert/1"
gemma = "https://tfhub.dev/google/gemma/1"
other = "https://tfhub.dev/acme/x/1"

[[trust]]
key = "all.pub"

[[trust]]
handles = "https://tfhub.dev/google/"
key = "google.pub"

[[trust]]
models = ["bert"]
key = "keys/bert.pub"
require = "signed"
"""
    manifest = parse_manifest(text, base_dir=Path("/proj"))
    keys = {m.name: (m.trust.key if m.trust else None) for m in manifest.models}
    assert keys == {
        "bert": Path("/proj/keys/bert.pub"),
        "gemma": Path("/proj/google.pub"),
        "other": Path("/proj/all.pub"),
    }
    assert rule_for(manifest.trust, "nobody", ("https://x/",)) is manifest.trust[0]
    # a rule is part of each entry it covers: changing it makes the lock stale for those models only
    changed = parse_manifest(
        text.replace('key = "google.pub"', 'key = "google-2027.pub"'), base_dir=Path("/elsewhere")
    )
    before = {m.name: m.entry_digest for m in manifest.models}
    after = {m.name: m.entry_digest for m in changed.models}
    assert (
        before["gemma"] != after["gemma"]
        and before["bert"] == after["bert"]
        and before["other"] == after["other"]
    )


def test_only_gits_metadata_may_be_left_out_of_a_signature() -> None:
    """model-signing lets a signer ignore any path; a file under one is a file nobody vouches for."""
    signed = parse_signature(
        bundle({"saved_model.pb": "00" * 32}, ignore=("model.sig", ".gitattributes", "variables"))
    )
    files = [
        FileEntry("saved_model.pb", 1, "00" * 32),
        FileEntry(".gitattributes", 1, "22" * 32),
        FileEntry("model.sig", 1, "33" * 32),
        FileEntry("variables/v.data", 1, "44" * 32),
    ]
    assert signature_mismatches(signed, files, "model.sig") == [
        "variables/v.data: not signed (the signature leaves it out)"
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "publicKey",
                        "x509CertificateChain",
                        "certificates",
                        "rawBytes",
                        "hint",
                        "dsseEnvelope",
                        "payload",
                        "payloadType",
                        "mediaType",
                        "verificationMaterial",
                    ]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_any_json_shaped_like_a_bundle_is_a_manifest_or_a_signature_error(shape: object) -> None:
    """Fields of the wrong type anywhere (a list where a table is expected, a number for bytes)."""
    good = json.loads(bundle({"a": "00" * 32}))
    for document in (shape, {**good, "verificationMaterial": shape}, {**good, "dsseEnvelope": shape}):
        with contextlib.suppress(SignatureError):
            parse_signature(json.dumps(document).encode())


def test_a_detached_signature_url_reaches_hub_lock_without_its_credentials() -> None:
    """hub.lock leaves the machine: a token in the signature's URL stays in hub.toml's world."""
    rules = parse_trust(
        [{"key": "k.pub", "detached": "https://ci:s3cret@sigs.example.com/{name}.sig?token=abc&v=2"}],
        "hub.toml",
        Path("/p"),
        set(),
    )
    recorded, read_from = rules[0].detached_at("bert") or ("", "")
    assert recorded == "https://sigs.example.com/bert.sig?v=2"
    assert read_from == "https://ci:s3cret@sigs.example.com/bert.sig?token=abc&v=2"
    local = parse_trust([{"key": "k.pub", "detached": "sigs/{name}.sig"}], "hub.toml", Path("/p"), set())
    assert local[0].detached_at("bert") == ("sigs/bert.sig", "/p/sigs/bert.sig")

"""OpenSSF Model Signing (OMS) signatures, read without cryptography: what a signature claims.

A signature (``model.sig`` beside the model's files, by default) is a Sigstore bundle: a DSSE
envelope over an in-toto statement whose predicate lists every signed file with its digest.
Whether the envelope was signed by whom the trust policy names is the ``model-signing``
library's job (``commands.trust``), done when a model is locked and again by ``hublock verify
--signatures``; what is here needs no key and no network, so that every sync can check that a
model's files are exactly the signed ones (pure hashing: the files' sha256 are already known).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from hublock.core import FileEntry, SignatureError

SIGNATURE_FILE = "model.sig"
"""Where the ``model_signing`` CLI writes a model's signature, and where hublock looks."""
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
)
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
PREDICATE_TYPES = ("https://model_signing/signature/v1.0",)


@dataclass(frozen=True)
class SignedManifest:
    """What a signature says was signed: each file's sha256 by its path in the model, the
    paths the signer left out on purpose (``ignore_paths``: ``.git``, the signature itself),
    and how the signer is named in the bundle (a key's hint, a certificate chain, Sigstore)."""

    files: Mapping[str, str]
    ignored: tuple[str, ...]
    material: str
    """"key", "certificate" (a chain) or "sigstore" (one short-lived certificate and a log entry)."""
    claimed: str = ""
    """The signer as the bundle names it, unverified: a key's hint (``sha256:`` of its PEM, as
    model-signing writes it) or the signing certificate's ``sha256:`` fingerprint; "" for
    Sigstore (its identity is inside the certificate)."""
    certificate: bytes = b""
    """The signing certificate (DER) of a certificate chain, the first of the chain."""


def parse_signature(data: bytes) -> SignedManifest:
    """The manifest a signature's statement carries, checked for consistency (the statement's
    root digest is the sha256 of its resources' digests) but not for who signed it. Raises
    ``SignatureError`` for anything that is not an OMS signature hublock can compare: another
    payload, a sharded manifest, a digest other than sha256."""
    try:
        bundle = json.loads(data)
        if not isinstance(bundle, dict):
            raise TypeError("not a JSON object")
        media = bundle.get("mediaType")
        if media not in BUNDLE_MEDIA_TYPES:
            raise ValueError(f"not a Sigstore bundle (mediaType {media!r})")
        envelope = bundle["dsseEnvelope"]
        if envelope.get("payloadType") != IN_TOTO_PAYLOAD:
            raise ValueError(
                f"the envelope carries {envelope.get('payloadType')!r}, not an in-toto statement"
            )
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        material = _material(bundle["verificationMaterial"])
        chain = (bundle["verificationMaterial"].get("x509CertificateChain") or {}).get("certificates")
        leaf = base64.b64decode(chain[0]["rawBytes"], validate=True) if chain else b""
        hint = (bundle["verificationMaterial"].get("publicKey") or {}).get("hint")
        claimed = f"sha256:{hint}" if hint else f"sha256:{hashlib.sha256(leaf).hexdigest()}" if leaf else ""
        return replace(_manifest(statement, material), claimed=claimed, certificate=leaf)
    except SignatureError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, binascii.Error) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise SignatureError(f"not a readable model signature: {detail}") from None


def _material(material: Mapping[str, Any]) -> str:
    if "publicKey" in material:
        return "key"
    if "x509CertificateChain" in material:
        return "certificate"
    if "certificate" in material:
        return "sigstore"
    raise ValueError("its verification material is neither a key, a certificate chain nor Sigstore's")


def _manifest(statement: Mapping[str, Any], material: str) -> SignedManifest:
    if statement.get("predicateType") not in PREDICATE_TYPES:
        raise ValueError(f"predicate {statement.get('predicateType')!r} is not a model signature")
    predicate = statement["predicate"]
    serialization = predicate["serialization"]
    if serialization.get("method") != "files":
        raise SignatureError(
            f"signed with the {serialization.get('method')!r} serialization: hublock compares "
            "whole files (sign with model_signing's default, the 'files' serialization)"
        )
    files: dict[str, str] = {}
    root = hashlib.sha256()
    for resource in predicate["resources"]:
        name, algorithm, digest = resource["name"], resource["algorithm"], resource["digest"]
        if algorithm != "sha256":
            raise SignatureError(
                f"{name}: signed with {algorithm!r}: hublock compares sha256 digests (sign with "
                "the default --hash_type sha256)"
            )
        if not isinstance(name, str) or name in files:
            raise ValueError(f"resource {name!r} is listed twice or has no name")
        root.update(bytes.fromhex(digest))
        files[name] = str(digest).lower()
    subjects = statement["subject"]
    if len(subjects) != 1 or subjects[0]["digest"]["sha256"] != root.hexdigest():
        raise ValueError("its statement is inconsistent: the subject's digest is not its resources'")
    ignored = tuple(str(p) for p in serialization.get("ignore_paths", ()))
    return SignedManifest(files, ignored, material)


UNSIGNED_OK = (".git", ".gitattributes", ".gitignore", ".github")
"""Paths a signer may leave out (model-signing's defaults: git's metadata, which no loader
reads). Any other path the signature says it ignored is a file nobody vouches for."""


def _under(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def signature_mismatches(signed: SignedManifest, files: Iterable[FileEntry], signature: str) -> list[str]:
    """How the model's files differ from the signed ones, in words (empty: they are the same).
    A file added after signing, one left out and one changed are each a difference; the
    signature itself and git's metadata the signer left out are not files of the model."""
    skipped = [p for p in signed.ignored if p.rstrip("/") in UNSIGNED_OK]
    actual = {f.path: f.sha256 for f in files if f.path != signature and not _under(f.path, skipped)}
    problems = [
        f"{path}: not signed (the signature leaves it out)"
        if _under(path, signed.ignored)
        else f"{path}: added after signing"
        for path in sorted(actual.keys() - signed.files.keys())
    ]
    problems += [f"{path}: signed, but missing" for path in sorted(signed.files.keys() - actual.keys())]
    problems += [
        f"{path}: changed after signing (signed sha256:{signed.files[path][:12]}..., now "
        f"sha256:{actual[path][:12]}...)"
        for path in sorted(actual.keys() & signed.files.keys())
        if actual[path] != signed.files[path]
    ]
    return problems

"""Signed models: who signed a model, checked against hub.toml's ``[[trust]]`` when it is locked,
and its files against the locked signature whenever they are published or verified.

The cryptographic check (is this signature by that key, chain or Sigstore identity?) is the
``model-signing`` library's (the ``hublock[signing]`` extra), run by ``lock`` and by ``verify
--signatures``. Comparing a signature's manifest with a model's files needs no key and no
network (``formats.signature``): ``sync`` and ``verify`` do it for every signed model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hublock.core import FileEntry, ManifestError, SignatureError
from hublock.formats import (
    LockedModel,
    LockedSignature,
    SignedManifest,
    TrustRule,
    parse_signature,
    signature_mismatches,
)

EXTRA = "pip install 'hublock[signing]'"
_MATERIALS = {
    "key": "a key",
    "certificate": "a certificate chain",
    "sigstore": "Sigstore (keyless, an OIDC identity)",
}


def signed_by(
    rule: TrustRule | None, files: Sequence[FileEntry], signature: bytes | None, *, detached: str = ""
) -> LockedSignature | None:
    """What ``lock`` records for a model with these files under this rule: its signer, verified
    (the signature is by whom the rule names, over exactly these files), or None where no rule
    covers the model or it is unsigned and the rule allows that. ``detached``: where the
    signature was read from when it is kept apart from the model. Raises ``SignatureError``."""
    if rule is None:
        return None
    if signature is None:
        if rule.require == "signed":
            raise SignatureError(
                f"unsigned, and hub.toml's [[trust]] for {rule.scope} requires a signature",
                expected=rule.expected,
                actual=f"nothing at {detached}" if detached else f"no {rule.signature} among its files",
                hint="ask the publisher for a signed release, or sign your own copy (docs/signing.md)",
            )
        return None
    signed = parse_signature(signature)
    signer = verify_signature(rule, signature, signed)
    check_files(signed, files, "" if detached else rule.signature)
    digest = f"sha256:{hashlib.sha256(signature).hexdigest()}"
    return LockedSignature(detached or rule.signature, digest, rule.method, signer, detached=bool(detached))


def check_files(signed: SignedManifest, files: Sequence[FileEntry], path: str) -> None:
    """Raise ``SignatureError`` unless the files are exactly the signed ones."""
    if problems := signature_mismatches(signed, files, path):
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise SignatureError(
            "its files are not the ones signed",
            expected=f"the {len(signed.files)} files {path} lists",
            actual=shown,
            hint="the model was changed after it was signed: do not use it; tell its publisher",
        )


def check_published(model: LockedModel, files: Sequence[FileEntry], read: Callable[[str], bytes]) -> None:
    """Offline, for a model whose lock entry records a signer among its files: its signature
    file is the locked one, and its files are the signed ones. ``read(path)``: a file's bytes,
    by its path in the model. Pure hashing: no key, no network. (A detached signature is not
    among the files: the tree hub.lock pins is what they are checked by, and lock compared
    that tree with the signature.)"""
    locked = model.signature
    if locked is None or locked.detached:
        return
    try:
        data = read(locked.path)
    except FileNotFoundError:
        raise SignatureError(
            f"hub.lock records a signature by {locked}, and {locked.path} is missing",
            model=model.name,
            hint="run `hublock sync` to restore the model",
        ) from None
    check_signed_files(model, files, data)


def check_signed_files(model: LockedModel, files: Sequence[FileEntry], data: bytes) -> SignedManifest:
    """The signature's bytes are the locked ones, and the files are exactly those it signed.
    Returns what it signed (its manifest, parsed once)."""
    locked = model.signature
    assert locked is not None
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    restore = "run `hublock sync` to restore the model"
    if locked.detached:
        restore = "it was replaced where it is kept: ask its publisher; `hublock lock --upgrade` after review"
    if digest != locked.digest:
        raise SignatureError(
            f"{locked.path} is not the locked signature",
            model=model.name,
            expected=locked.digest,
            actual=digest,
            hint=restore,
        )
    try:
        signed = parse_signature(data)
        check_files(signed, files, "" if locked.detached else locked.path)
    except SignatureError as exc:
        raise exc.about(model=model.name, handle=model.handle) from None
    return signed


def signer_change(locked: LockedSignature, upstream: bytes | None) -> str:
    """For ``audit``, without a key: how the signature served upstream now differs from the one
    locked, in words ("" when it still names the locked signer). It is read, not verified: the
    next ``lock --upgrade`` verifies it."""
    if upstream is None:
        return f"no longer signed (hub.lock records {locked})"
    try:
        claim = parse_signature(upstream)
    except SignatureError as exc:
        return f"its {locked.path} is no longer readable ({exc.message})"
    if claim.material != locked.method:
        return f"now signed with {_MATERIALS[claim.material]} (hub.lock records {locked})"
    if claim.claimed and not locked.signer.endswith(claim.claimed):
        return f"signed by another {locked.method} now ({claim.claimed}; hub.lock records {locked.signer})"
    return ""


def verify_signature(rule: TrustRule, signature: bytes, signed: SignedManifest) -> str:
    """Check the signature (``signed``: its manifest, ``parse_signature``, which gives a clear
    message for what is no OMS signature at all) with ``model-signing`` against the rule's
    signer; return the signer as hub.lock records it. Raises ``SignatureError`` (another signer,
    a broken signature) or ``ManifestError`` (the extra is missing, a key file cannot be read)."""
    if signed.material != rule.method:  # before any verifier: Sigstore's would go to the network
        raise SignatureError(
            "its signature is not by the signer hub.toml trusts",
            expected=rule.expected,
            actual=f"a signature made with {_MATERIALS[signed.material]}",
            hint="do not use it; if the publisher changed how it signs, update [[trust]] after "
            "checking with them",
        )
    try:
        from model_signing._signing import sign_certificate, sign_ec_key, sign_sigstore, sign_sigstore_pb
    except ImportError as exc:
        raise ManifestError(
            f"hub.toml's [[trust]] for {rule.scope} asks to check signatures, which needs the "
            f"model-signing library ({exc})",
            hint=EXTRA,
        ) from None
    try:
        if rule.key is not None:
            verifier: Any = sign_ec_key.Verifier(rule.key)
        elif rule.certificate_chain:
            verifier = sign_certificate.Verifier(rule.certificate_chain)
        else:
            verifier = sign_sigstore.Verifier(identity=rule.identity or "", oidc_issuer=rule.issuer or "")
    except Exception as exc:  # a bad key file, or Sigstore's trust root (fetched with TUF) offline
        raise ManifestError(
            f"hub.toml's [[trust]] for {rule.scope}: cannot use its signer: {type(exc).__name__}: {exc}",
            hint="check the key or chain files; a Sigstore signer needs the network to fetch its trust root",
        ) from None
    import tempfile  # here, like model-signing: only a signed model's lock needs it

    with tempfile.TemporaryDirectory(prefix="hublock-sig-") as tmp:
        path = Path(tmp) / "model.sig"
        path.write_bytes(signature)
        kind = sign_sigstore if rule.method == "sigstore" else sign_sigstore_pb
        try:
            verifier.verify(kind.Signature.read(path))
        except Exception as exc:  # ValueError, cryptography's InvalidSignature, OpenSSL's chain errors
            raise SignatureError(
                "its signature is not by the signer hub.toml trusts",
                expected=rule.expected,
                actual=f"{type(exc).__name__}: {exc}".rstrip(": "),
                hint="do not use it; if the publisher changed its key, update [[trust]] after checking "
                "with them",
            ) from None
    return _signer(rule, signed)


def _signer(rule: TrustRule, signed: SignedManifest) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if rule.key is not None:
        key = serialization.load_pem_public_key(rule.key.read_bytes())
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"sha256:{hashlib.sha256(pem).hexdigest()}"
    if rule.certificate_chain:
        subject = x509.load_der_x509_certificate(signed.certificate).subject.rfc4514_string()
        return f"{subject} {signed.claimed}"
    return f"{rule.identity} ({rule.issuer})"

"""``hublock verify``, ``status`` and ``env``: what the cache holds, checked against hub.lock,
and where the loaders should look. Reads only; ``sync`` repairs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hublock.caches import Cache, CacheChoice, Layout, Root, check_remote
from hublock.commands.project import Project
from hublock.commands.reports import (
    Environment,
    ModelCheck,
    ModelStatus,
    Status,
    StatusReport,
    VerifyReport,
    joined,
)
from hublock.commands.trust import check_signed_files, verify_signature
from hublock.core import HublockError, ModelErrors, SignatureError, settings, usable_cores
from hublock.formats import LockedModel, Lockfile, TrustRule, handle_kind, inflater_name


def verify(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    kaggle_cache: str | None = None,
    hf_cache: str | None = None,
    full: bool = False,
    jobs: int = 2,
    signatures: bool = False,
) -> VerifyReport:
    """Check every locked model in its cache against hub.lock, by stamp (fast) or re-hash (full).
    ``signatures``: also check again, offline, that each signed model's signature is by the
    signer its ``[[trust]]`` rule names today and covers exactly its files (implies ``full``);
    raises ``SignatureError`` (``ModelErrors`` for several) where one is not."""
    project = Project.load(manifest, lockfile, cache=cache, kaggle_cache=kaggle_cache, hf_cache=hf_cache)
    report = verify_project(project, project.lock(), full=full or signatures, jobs=jobs)
    return check_signatures(project, report) if signatures else report


def _signature_of(project: Project, model: LockedModel, rule: TrustRule, where: Path) -> bytes:
    """A signed model's signature: among its files in the cache, or kept apart (the download
    cache's copy, else where the rule says)."""
    locked = model.signature
    assert locked is not None
    located = rule.detached_at(model.name) if locked.detached else None
    if located is None:
        return (where / locked.path).read_bytes()
    with project.fetcher() as fetcher:
        data = fetcher.read_signature(located[1], sha256=locked.digest.removeprefix("sha256:"))
    if data is None:
        raise SignatureError(f"its detached signature is not at {located[0]} any more", path=located[0])
    return data


def check_signatures(project: Project, report: VerifyReport) -> VerifyReport:
    """``verify --signatures``: each signed model whose copy is intact, checked with model-signing
    against today's ``[[trust]]`` rule (a key or chain read from disk: no network). Returns the
    report with the signer of each model checked (``ModelCheck.signature``)."""
    failures: list[HublockError] = []
    checked = 0
    verified: set[str] = set()  # the copies (paths) whose signature held
    for part in report.parts:
        for check in part.checks:
            model, where = check.model, Path(check.path)
            if model.signature is None or not check.inspection.ok or not where.is_dir():
                continue
            checked += 1
            try:
                spec = project.manifest.model(model.name) if project.manifest else None
                rule = spec.trust if spec is not None else None
                if rule is None:
                    raise SignatureError(
                        f"hub.lock records a signature by {model.signature}, and hub.toml has no "
                        "[[trust]] rule for it any more",
                        hint="add the rule back, or `hublock lock` to record it unsigned",
                    )
                data = _signature_of(project, model, rule, where)
                # the locked signature over the files the full check hashed, then its signer
                signed = check_signed_files(model, check.inspection.hashed, data)
                signer = verify_signature(rule, data, signed)
                if signer != model.signature.signer:
                    raise SignatureError(
                        "signed by another signer than hub.lock records",
                        expected=model.signature.signer,
                        actual=signer,
                        hint="`hublock lock --upgrade` records it after review",
                    )
                verified.add(check.path)
            except HublockError as exc:
                failures.append(exc.about(model=model.name, handle=model.handle))
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ModelErrors(tuple(failures), checked)

    def marked(part: VerifyReport) -> VerifyReport:
        checks = (
            replace(c, signature=str(c.model.signature)) if c.path in verified else c for c in part.checks
        )
        return replace(part, checks=tuple(checks))

    kaggle, hf = report.kagglehub, report.huggingface
    return replace(
        marked(report),
        kagglehub=marked(kaggle) if kaggle is not None else None,
        huggingface=marked(hf) if hf is not None else None,
    )


def verify_project(project: Project, lock: Lockfile, *, full: bool = False, jobs: int = 2) -> VerifyReport:
    """Every cache the lock's models go to: tensorflow_hub's, and kagglehub's when any has a
    kagglehub handle."""
    return joined(
        [_verify_cache(project, lock, choice, target, full, jobs) for choice, target in project.targets(lock)]
    )


def _verify_cache(
    project: Project, lock: Lockfile, choice: CacheChoice, target: Cache, full: bool, jobs: int
) -> VerifyReport:
    checks = []
    for m in lock.models:
        if target.layout.address(m) is None:
            continue
        if m.uncompressed:
            checks.append(ModelCheck(m, m.url, check_remote(m, project.cache_options, full=full)))
        else:
            checks.append(ModelCheck(m, target.path_of(m), target.inspect(m, full=full, jobs=jobs)))
    if any(c.inspection.verified for c in checks):
        checks = _name_owners(checks, target.roots(), target.layout)
    return VerifyReport(choice, tuple(checks))


def _name_owners(checks: list[ModelCheck], roots: list[Root], layout: Layout) -> list[ModelCheck]:
    """A stale stamp in a shared cache usually means another project synced its own version of
    the handle there: say which."""
    owners: dict[tuple[str, str], list[str]] = {}
    for root in roots:
        for m in root.models:
            owners.setdefault((layout.address(m) or "", m.tree), []).append(root.label)
    named = []
    for check in checks:
        found = check.inspection
        address = layout.address(check.model) or ""
        labels = owners.get((address, found.verified), []) if found.verified else []
        if labels:
            found = replace(found, note=f"{found.note}; synced there for {', '.join(sorted(labels))}")
        named.append(replace(check, inspection=found))
    return named


def status(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    kaggle_cache: str | None = None,
    hf_cache: str | None = None,
) -> StatusReport:
    """Every model of hub.toml and hub.lock, with its state in the cache (fast checks only)."""
    project = Project.load(manifest, lockfile, cache=cache, kaggle_cache=kaggle_cache, hf_cache=hf_cache)
    # a project not locked yet has a status too: every model `not_locked`
    lock = project.current_lock() if project.manifest is not None else project.lock()
    report = verify_project(project, lock)
    stale = {p.name for p in project.problems(lock)}
    names = set(project.manifest.names) if project.manifest else None
    parts = []
    for part in report.parts:
        loader = part.cache.loader
        rows = []
        for check in part.checks:
            m, found = check.model, check.inspection
            state = Status.of(found.state)
            if m.uncompressed and found.ok:
                state = Status.REMOTE
            if names is not None and m.name not in names:
                state = Status.NOT_IN_MANIFEST
            elif m.name in stale:
                state = Status.STALE
            shown = f"kaggle://{m.kaggle}" if loader == "kagglehub" else m.handle  # as that loader names it
            signer = str(m.signature) if m.signature is not None else None
            rows.append(ModelStatus(m.name, shown, state, m.size, check.path, found.detail, signer))
        for spec in project.manifest.models if project.manifest else ():
            goes_here = {
                "kagglehub": bool(spec.kaggle),
                "huggingface": handle_kind(spec.handle) == "hf",
            }.get(loader, handle_kind(spec.handle) not in ("kaggle", "hf"))
            if goes_here and lock.get(spec.name) is None:
                rows.append(ModelStatus(spec.name, spec.handle, Status.NOT_LOCKED, None, None))
        parts.append(StatusReport(part.cache, tuple(sorted(rows, key=lambda r: r.name))))
    return joined(parts)


def environment(project: Project, *, show_all: bool = False) -> Environment:
    """The cache the loaders should be pointed at, and (``show_all``) every variable in force."""
    return Environment(
        project.cache_choice(),
        settings() if show_all else (),
        project.kaggle_cache_choice(),
        inflater_name(usable_cores()),
        project.hf_cache_choice(),
    )

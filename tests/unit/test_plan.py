from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hublock import Lockfile, ManifestError, parse_manifest
from hublock.caches.inspection import Inspection, State
from hublock.commands.plan import Action, lock_problems, plan_lock, plan_sync
from hublock.remote import apply_mirror, is_signed, source_url, with_format_query
from tests.unit.test_lockfile import model


def manifest(**models: str):  # type: ignore[no-untyped-def]
    body = "\n".join(f'{k} = "{v}"' for k, v in models.items())
    return parse_manifest(f"[models]\n{body}\n", base_dir=Path("/p"))


def locked_for(m, name: str):  # type: ignore[no-untyped-def]
    spec = m.model(name)
    return model(name, handle=spec.handle, manifest=spec.entry_digest)


def test_unchanged_entries_are_kept_changed_and_new_resolved_removed_dropped() -> None:
    m = manifest(a="https://h/a/1", b="https://h/b/2", c="https://h/c/1")
    lock = Lockfile.of(
        [locked_for(m, "a"), replace(locked_for(m, "b"), manifest="sha256:" + "0" * 64), model("gone")]
    )
    plan = plan_lock(m, lock)
    assert [x.name for x in plan.keep] == ["a"]
    assert [x.name for x in plan.resolve] == ["b", "c"]
    assert [x.name for x in plan.drop] == ["gone"]
    problems = lock_problems(m, lock)
    assert [(p.name, p.problem) for p in problems] == [("b", "stale"), ("c", "missing"), ("gone", "extra")]
    assert [str(p) for p in problems] == [
        "b: stale (hub.toml changed since it was locked)",
        "c: missing from hub.lock",
        "gone: in hub.lock but no longer in hub.toml",
    ]


def test_upgrade_all_or_by_name() -> None:
    m = manifest(a="https://h/a/1", b="https://h/b/1")
    lock = Lockfile.of([locked_for(m, "a"), locked_for(m, "b")])
    assert lock_problems(m, lock) == []
    assert [x.name for x in plan_lock(m, lock, upgrade=True).resolve] == ["a", "b"]
    assert [x.name for x in plan_lock(m, lock, upgrade={"b"}).resolve] == ["b"]
    with pytest.raises(ManifestError, match="did you mean 'a'"):
        plan_lock(m, lock, upgrade={"aa"})


def test_sync_plan_maps_cache_states_to_actions() -> None:
    lock = Lockfile.of([model(n) for n in "abcde"])
    states = dict(
        zip("abcde", [State.OK, State.MISSING, State.STALE, State.MODIFIED, State.UNSTAMPED], strict=True)
    )
    steps = plan_sync(lock, {n: Inspection(s, "why") for n, s in states.items()})
    assert [s.action for s in steps] == [
        Action.SKIP,
        Action.FETCH,
        Action.REPLACE,
        Action.REPLACE,
        Action.CHECK,
    ]


def test_mirrors_replace_the_longest_prefix_and_keep_the_rest() -> None:
    mirrors = {
        "https://tfhub.dev/": "http://m1/hub/",
        "https://tfhub.dev/google/": "http://m2/g",
        "https://www.kaggle.com/": "/srv/kaggle",
    }
    assert apply_mirror("https://tfhub.dev/google/x/5", mirrors) == "http://m2/g/x/5"
    assert apply_mirror("https://tfhub.dev/other/x/5", mirrors) == "http://m1/hub/other/x/5"
    assert (
        apply_mirror("https://www.kaggle.com/models/a/b/TensorFlow2/c/1", mirrors)
        == "/srv/kaggle/models/a/b/TensorFlow2/c/1.tar.gz"
    )
    assert apply_mirror("https://example.org/m.tar.gz", mirrors) == "https://example.org/m.tar.gz"
    assert (
        source_url("https://tfhub.dev/other/x/5?a=1", mirrors)
        == "http://m1/hub/other/x/5?a=1&tf-hub-format=compressed"
    )


def test_format_query_and_signed_urls() -> None:
    assert with_format_query("https://h/m/1") == "https://h/m/1?tf-hub-format=compressed"
    assert (
        with_format_query("https://h/m/1?tf-hub-format=compressed")
        == "https://h/m/1?tf-hub-format=compressed"
    )
    assert is_signed(
        "https://storage.googleapis.com/b/o.tar.gz?X-Goog-Algorithm=x&X-Goog-Expires=259200&X-Goog-Signature=ab"
    )
    assert is_signed("https://s3/o?X-Amz-Signature=1") and is_signed("https://cdn/o?Expires=1&Signature=2")
    assert not is_signed("https://www.kaggle.com/models/a/b/TensorFlow2/c/1?tf-hub-format=compressed")


def test_a_handle_that_leads_outside_a_mirror_directory_is_refused_at_fetch_time() -> None:
    """hub.toml refuses such a handle; a hand-edited hub.lock can still carry one, and a mirror
    directory never serves a file outside itself for it."""
    import pytest

    from hublock.core import FetchError

    assert apply_mirror("https://tfhub.dev/a/b/5", {"https://tfhub.dev/": "/srv/m"}) == "/srv/m/a/b/5.tar.gz"
    with pytest.raises(FetchError, match="leads outside the mirror directory /srv/m"):
        apply_mirror("https://tfhub.dev/a/../../etc/x", {"https://tfhub.dev/": "/srv/m"})

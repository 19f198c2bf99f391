"""Site and RouteTable: what the control plane fills and the edge reads."""

from __future__ import annotations

import dataclasses

import pytest

from previewd.edge import FileEntry, RouteTable, Site


def make_site(**kwargs: object) -> Site:
    return Site.build(
        "1a2b3c",
        "shop",
        [("index.html", "a" * 64, 10), ("assets/index-BdK2x8aZ.js", "b" * 64, 20)],
        **kwargs,
    )


def test_site_build_computes_entries() -> None:
    site = make_site(spa=True)
    assert site.spa
    assert site.files["index.html"] == FileEntry("a" * 64, 10, "text/html; charset=utf-8", False)
    js = site.files["assets/index-BdK2x8aZ.js"]
    assert (js.content_type, js.immutable, js.size) == ("text/javascript; charset=utf-8", True, 20)


def test_site_is_immutable() -> None:
    site = make_site()
    with pytest.raises(dataclasses.FrozenInstanceError):
        site.spa = True
    with pytest.raises(TypeError):
        site.files["new.html"] = site.files["index.html"]


def test_sites_compare_by_content() -> None:
    assert make_site() == make_site()
    assert make_site() != make_site(spa=True)


def test_route_table() -> None:
    routes = RouteTable()
    site = make_site()
    routes.set("Main--Shop", site)
    routes.set("shop", site)
    assert routes.get("main--shop") is site
    assert routes.labels() == ["main--shop", "shop"]
    assert len(routes) == 2
    routes.set("shop", None)
    routes.set("never-set", None)
    assert routes.get("shop") is None
    assert routes.labels() == ["main--shop"]


def test_replace_gives_a_site_with_its_own_memo() -> None:
    # the control plane shares one Site per snapshot and renames it per label
    base = make_site()
    base.resolved[b"/"] = "memo"
    renamed = dataclasses.replace(base, deployment_id="9z", project="other")
    assert (renamed.deployment_id, renamed.project) == ("9z", "other")
    assert renamed.files is base.files
    assert renamed.resolved == {}

"""/docs works without internet access: the page and every file it loads come from this server."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")


class _References(HTMLParser):
    """The URLs a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (tag, name) in {("script", "src"), ("link", "href"), ("img", "src")}:
                self.urls.append(value)


async def test_docs_page_loads_only_files_served_by_this_server(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert ABSOLUTE_URL.findall(page.text) == []  # no CDN, no other host, not even a favicon

    parser = _References()
    parser.feed(page.text)
    kinds = {url.rsplit(".", 1)[-1] for url in parser.urls}
    assert {"js", "css", "png"} <= kinds, parser.urls
    for url in parser.urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    script = next(url for url in parser.urls if url.endswith("swagger-ui-bundle.js"))
    assert "SwaggerUIBundle" in (await client.get(script)).text


async def test_docs_page_points_at_our_openapi_document(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert "url: '/openapi.json'" in page
    assert '"validatorUrl": null' in page
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")


async def test_a_missing_docs_asset_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs/assets/no-such-file.js")).status_code == 404

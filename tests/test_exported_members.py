import previewd


def test_every_exported_name_exists() -> None:
    missing = [name for name in previewd.__all__ if not hasattr(previewd, name)]
    assert missing == []


def test_the_public_surface() -> None:
    assert set(previewd.__all__) == {
        "AsyncClient",
        "Client",
        "Config",
        "PreviewdError",
        "__version__",
    }

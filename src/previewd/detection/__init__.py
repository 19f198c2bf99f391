"""Detection: what a source tree is, and how to build and run it.

    tree = DirectoryTree("my-app")          # or SnapshotTree(snapshot.files, blobs)
    detection = detect(tree)                # Detection(static, client, server, routes, spa, reasons)
    print(explain(detection))

Detection reads a few small files (package.json, requirements.txt, the
likely entry files of a Python app, previewd.toml) and never runs anything.
Each choice comes with a sentence that says why, and previewd.toml at the root
of the tree overrides any field (see :mod:`previewd.detection.overrides`).

    trees.py      the SourceTree seam: a local folder or a stored snapshot
    scan.py       one pass over a tree: files read once, problems as sentences
    node.py       npm / pnpm / yarn: client builds and Node servers
    python.py     Flask, FastAPI, Starlette, Django, Streamlit, Gradio
    overrides.py  previewd.toml
    project.py    which folders hold which parts, and the routes between them
    model.py      the result, and explain()
"""

from previewd.detection.model import PORT, Client, Detection, Server, Static, explain
from previewd.detection.project import detect
from previewd.detection.trees import DirectoryTree, SnapshotTree, SourceTree

__all__ = [
    "PORT",
    "Client",
    "Detection",
    "DirectoryTree",
    "Server",
    "SnapshotTree",
    "SourceTree",
    "Static",
    "detect",
    "explain",
]

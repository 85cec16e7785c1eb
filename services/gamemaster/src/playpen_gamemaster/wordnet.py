"""Opening the WordNet 3.0 database that Debian's `wordnet-base` installs, with NLTK's reader, offline.

Debian ships the data and index files but not `lexnames` (the numbered list of lexicographer files),
which NLTK's reader insists on. We give NLTK a folder holding copies of the Debian files (NLTK refuses
symbolic links that leave its corpus root) plus that list, which is a fixed part of WordNet 3.0's format
(the lexicographer file numbers used in data.* files). NLTK also refuses to read corpora outside its data
path, so the folder is added to it.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

DEBIAN_WORDNET = Path("/usr/share/wordnet")

# (name, syntactic category) in lexicographer-file-number order; 1 noun, 2 verb, 3 adjective, 4 adverb.
_LEXICOGRAPHER_FILES = (
    [("adj.all", 3), ("adj.pert", 3), ("adv.all", 4)]
    + [(f"noun.{topic}", 1) for topic in (
        "Tops act animal artifact attribute body cognition communication event feeling food group location "
        "motive object person phenomenon plant possession process quantity relation shape state substance "
        "time").split()]
    + [(f"verb.{topic}", 2) for topic in (
        "body change cognition communication competition consumption contact creation emotion motion "
        "perception possession social stative weather").split()]
    + [("adj.ppl", 3)]
)


class WordNetUnavailable(RuntimeError):
    pass


def _prepare(source: Path) -> Path:
    if not (source / "data.noun").is_file():
        raise WordNetUnavailable(f"no WordNet database at {source} (install Debian's wordnet-base)")
    if (source / "lexnames").is_file():
        return source
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "playpen" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        copy = target / entry.name
        if entry.is_file() and (not copy.is_file() or copy.stat().st_size != entry.stat().st_size):
            shutil.copyfile(entry, copy)
    lexnames = "".join(f"{number:02d}\t{name}\t{category}\n"
                       for number, (name, category) in enumerate(_LEXICOGRAPHER_FILES))
    (target / "lexnames").write_text(lexnames, encoding="ascii")
    return target


@lru_cache(maxsize=1)
def open_wordnet(source: Path = DEBIAN_WORDNET):
    """An NLTK WordNetCorpusReader over the installed database."""
    import warnings

    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class Reader(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            # This database is WordNet 3.0 itself: there is nothing to map (NLTK would look for its
            # downloadable copy to build the mapping).
            return None

    root = _prepare(Path(source))
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return Reader(str(root), None)

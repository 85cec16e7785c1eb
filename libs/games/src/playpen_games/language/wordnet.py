"""Opening the WordNet 3.0 database that Debian's `wordnet-base` installs, with NLTK's reader, offline.

Debian ships the data and index files but not `lexnames` (the numbered list of lexicographer files),
which NLTK's reader insists on reading; we serve that list from memory — it is a fixed part of WordNet
3.0's format (the lexicographer file numbers used in data.* files). NLTK also refuses to read corpora
outside its data path, so the folder is added to it, and it would look for its own downloadable copy to
map versions, which this database (3.0 itself) does not need.
"""

from __future__ import annotations

import io
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

DEBIAN_WORDNET = Path("/usr/share/wordnet")

# Lexicographer file names in number order (WordNet 3.0).
LEXICOGRAPHER_FILES = (
    ["adj.all", "adj.pert", "adv.all"]
    + [f"noun.{topic}" for topic in (
        "Tops act animal artifact attribute body cognition communication event feeling food group location "
        "motive object person phenomenon plant possession process quantity relation shape state substance "
        "time").split()]
    + [f"verb.{topic}" for topic in (
        "body change cognition communication competition consumption contact creation emotion motion "
        "perception possession social stative weather").split()]
    + ["adj.ppl"]
)
_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


class WordNetUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=1)
def open_wordnet(source: Path = DEBIAN_WORDNET) -> Any:
    """An NLTK WordNetCorpusReader over the installed database."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class DebianWordNet(WordNetCorpusReader):
        def open(self, fileid: str) -> Any:
            if fileid == "lexnames" and not (Path(self.root.path) / "lexnames").is_file():
                return io.StringIO("".join(f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n"
                                           for number, name in enumerate(LEXICOGRAPHER_FILES)))
            return super().open(fileid)

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    if not (Path(source) / "data.noun").is_file():
        raise WordNetUnavailable(f"no WordNet database at {source} (install Debian's wordnet-base)")
    if str(source) not in nltk.data.path:
        nltk.data.path.append(str(source))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return DebianWordNet(str(source), None)

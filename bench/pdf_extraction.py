"""PDF text extraction: pypdf vs pdfminer.six vs PDFium (pypdfium2), and semsearch's share of `index`.

1. Library comparison on a PDF with known text: N pages (default 500) of SciFact
   abstracts (generated words when ../shared is absent) typeset by reportlab, with a
   running header, a "Page n of N" footer, and long words hyphenated at line ends as
   a typesetter would.  Each library runs in its own child process over every page:
   - fidelity: word F1 and word-bigram F1 (reading order) of the extracted text
     against the known body text (headers, footers and broken words count against);
   - speed: pages/s of wall and of CPU time (the machine is shared: CPU is steadier);
   - memory: the child's peak RSS (VmHWM), and its growth over the peak after imports.
   "semsearch" is the reader semsearch uses (PDFium + cleaning: headers/footers
   dropped, hyphens mended, lines joined); the same N pages are also read at 4N pages
   to show that memory does not grow with the page count.
2. With --pdfs DIR (a folder of real PDFs, e.g. the CC-BY-SA collection
   github.com/py-pdf/sample-files), each library's pages/s on it, and the share of
   extraction in `semsearch index DIR` (real CLI, bundled model, fresh index): the
   time inside semsearch.formats.read over the time the CLI reports for indexing, and
   over the whole command (model load included).

Usage:  python bench/pdf_extraction.py [--pages 500] [--pdfs DIR] [--json out.json]
Needs the bench extra (pypdf, pdfminer.six, reportlab): pip install -e '.[bench]'
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import HERE, corpus_texts, table, write_results

LIBRARIES = ["pypdf", "pdfminer.six", "pypdfium2", "semsearch"]

# One child per library: extract every page of a PDF, write the text, print the figures.
CHILD = r"""
import json, sys, time
library, path, out = sys.argv[1:4]
def peak_kb():
    # VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a
    # child would report its parent's peak whenever that is higher.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
if library == "pypdf":
    from pypdf import PdfReader
    def pages():
        reader = PdfReader(path)
        for page in reader.pages:
            yield page.extract_text() or ""
elif library == "pdfminer.six":
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer
    def pages():
        for layout in extract_pages(path):
            yield "".join(el.get_text() for el in layout if isinstance(el, LTTextContainer))
elif library == "pypdfium2":
    import pypdfium2 as pdfium
    def pages():
        pdf = pdfium.PdfDocument(path)
        for i in range(len(pdf)):
            page = pdf[i]; textpage = page.get_textpage()
            yield textpage.get_text_range()
            textpage.close(); page.close()
        pdf.close()
else:
    from pathlib import Path
    from semsearch.formats import read
    def pages():
        found = read(Path(path))
        bounds = [*found.pages, len(found.text)]
        for i in range(len(found.pages)):
            yield found.text[bounds[i]:bounds[i + 1]]
base_kb = peak_kb()
wall, cpu = time.perf_counter(), time.process_time()
count, errors = 0, 0
with open(out, "w", encoding="utf-8") as handle:
    for path in path.split(":"):
        try:
            for text in pages():
                handle.write(text + "\f")
                count += 1
        except Exception as exc:
            errors += 1
            print(f"{library}: {path}: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak = peak_kb()
print(json.dumps({"pages": count, "errors": errors, "wall_s": wall, "cpu_s": cpu,
                  "peak_mb": peak / 1024, "growth_mb": (peak - base_kb) / 1024}))
"""

# Runs the real CLI with a stopwatch around semsearch.formats.read, and prints both.
INDEX_CHILD = r"""
import json, runpy, sys, time
start = time.perf_counter()
import semsearch.formats as formats
spent = [0.0, 0]
real = formats.read
def timed(path):
    began = time.perf_counter()
    try:
        return real(path)
    finally:
        spent[0] += time.perf_counter() - began
        spent[1] += 1
formats.read = timed
sys.argv = ["semsearch", *sys.argv[1:]]
try:
    runpy.run_module("semsearch", run_name="__main__")
except SystemExit:
    pass
print("FIGURES", json.dumps({"extract_s": spent[0], "files": spent[1], "wall_s": time.perf_counter() - start}),
      file=sys.stderr)
"""


def known_pdf(path: Path, pages: int) -> str:
    """Typeset ``pages`` pages of abstracts with reportlab; return the body text as placed."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    texts, _ = corpus_texts(limit=pages * 6)
    words = iter(" ".join(texts).split())
    font, size, leading = "Times-Roman", 10.5, 13
    width, height = A4
    left, right, top, bottom = 72, width - 72, height - 80, 80
    lines_per_page = int((top - bottom) / leading)
    doc = canvas.Canvas(str(path), pagesize=A4)
    doc.setTitle("Abstracts typeset for the PDF extraction benchmark")
    body: list[str] = []
    carry: str | None = None
    for number in range(1, pages + 1):
        doc.setFont("Helvetica", 8)
        doc.drawString(left, height - 50, "semsearch benchmark: SciFact abstracts")
        doc.drawRightString(right, 45, f"Page {number} of {pages}")
        doc.setFont(font, size)
        y = top
        for _ in range(lines_per_page):
            line: list[str] = []
            while True:
                word = carry if carry is not None else next(words, None)
                carry = None
                if word is None:
                    break
                trial = " ".join([*line, word])
                if stringWidth(trial, font, size) <= right - left:
                    line.append(word)
                    continue
                # Hyphenate a long word the way a typesetter does, if its first half fits.
                cut = len(word) // 2
                if len(word) >= 8 and word[:cut].isalpha() and word[cut:].isalpha():
                    head = " ".join([*line, word[:cut] + "-"])
                    if stringWidth(head, font, size) <= right - left:
                        line.append(word[:cut] + "-")
                        carry = "\0" + word[cut:]  # marks the rest of a broken word
                        break
                carry = word
                break
            text = " ".join(line)
            doc.drawString(left, y, text.replace("\0", ""))
            body.append(text)
            y -= leading
        doc.showPage()
    doc.save()
    return re.sub(r"-\s+\0", "", "\n".join(body)).replace("\0", "")


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def f1(found: list, expected: list) -> float:
    a, b = Counter(found), Counter(expected)
    overlap = sum((a & b).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(a.values()), overlap / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def run_child(library: str, path: str, timeout: float) -> tuple[dict, str]:
    with tempfile.NamedTemporaryFile("r", suffix=".txt", delete=False) as out:
        name = out.name
    try:
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        run = subprocess.run([sys.executable, "-c", CHILD, library, path, name], capture_output=True, text=True,
                             timeout=timeout, env=env)
        if run.returncode:
            return {"error": run.stderr.strip().splitlines()[-1][:200]}, ""
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        figures["stderr"] = run.stderr.strip()[-2000:]
        return figures, Path(name).read_text(encoding="utf-8")
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}, ""
    finally:
        Path(name).unlink(missing_ok=True)


def compare(pdf: Path, known: str, pages: int, timeout: float) -> list[dict]:
    expected = _tokens(known)
    expected_bigrams = list(zip(expected, expected[1:]))
    rows = []
    for library in LIBRARIES:
        figures, text = run_child(library, str(pdf), timeout)
        if "error" not in figures:
            tokens = _tokens(text)
            figures["word_f1"] = f1(tokens, expected)
            figures["bigram_f1"] = f1(list(zip(tokens, tokens[1:])), expected_bigrams)
            figures["pages_per_s"] = figures["pages"] / max(figures["wall_s"], 1e-9)
            figures["cpu_pages_per_s"] = figures["pages"] / max(figures["cpu_s"], 1e-9)
        rows.append({"library": library, "file_pages": pages, **figures})
        print(f"  {library}: {json.dumps({k: v for k, v in figures.items() if k != 'stderr'})}", file=sys.stderr)
    return rows


def index_share(folder: Path, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        run = subprocess.run([sys.executable, "-c", INDEX_CHILD, "index", str(folder), "-i", str(Path(tmp) / "idx"),
                              "--json", "--no-progress"], capture_output=True, text=True, timeout=timeout, env=env)
        figures = json.loads(run.stderr.split("FIGURES", 1)[1].strip().splitlines()[0])
        report = json.loads(run.stdout)
    figures.update(index_s=report["seconds"], embedding_s=report["embedding_seconds"], chunks=report["chunks"],
                   documents=report["added"], skipped=len(report["skipped"]))
    figures["share_of_indexing"] = figures["extract_s"] / max(figures["index_s"], 1e-9)
    figures["share_of_command"] = figures["extract_s"] / max(figures["wall_s"], 1e-9)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--pdfs", type=Path, help="a folder of real PDFs: pages/s there and the share of `index`")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict = {"pages": args.pages}
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "known.pdf"
        known = known_pdf(pdf, args.pages)
        print(f"known-text PDF: {args.pages} pages, {len(known.split()):,} words", file=sys.stderr)
        results["comparison"] = compare(pdf, known, args.pages, args.timeout)
        long_pdf = Path(tmp) / "long.pdf"
        known_pdf(long_pdf, args.pages * 4)
        figures, _ = run_child("semsearch", str(long_pdf), args.timeout)
        results["long"] = {"pages": args.pages * 4, **figures}
    rows = [[r["library"], f"{r.get('word_f1', float('nan')):.4f}", f"{r.get('bigram_f1', float('nan')):.4f}",
             f"{r.get('pages_per_s', 0):.1f}", f"{r.get('cpu_pages_per_s', 0):.1f}",
             f"{r.get('peak_mb', 0):.0f}", f"{r.get('growth_mb', 0):.0f}", r.get("error", "")]
            for r in results["comparison"]]
    header = ["library", "word F1", "bigram F1", "pages/s", "pages/CPU-s", "peak MB", "growth MB", "error"]
    print(f"\n{args.pages}-page PDF with known text (reportlab; header, footer, hyphenated line ends)")
    print(table(rows, header))
    long = results["long"]
    print(f"\nsemsearch reader on {long['pages']} pages: {long.get('pages_per_s', long['pages'] / long['wall_s']):.1f} "
          f"pages/s, peak {long['peak_mb']:.0f} MB, growth {long['growth_mb']:.0f} MB")
    if args.pdfs:
        files = sorted(str(p) for p in args.pdfs.rglob("*.pdf"))
        folder_rows = []
        results["folder"] = []
        for library in LIBRARIES:
            figures, _ = run_child(library, ":".join(files), args.timeout)
            figures["pages_per_s"] = figures.get("pages", 0) / max(figures.get("wall_s", 1e-9), 1e-9)
            figures["cpu_pages_per_s"] = figures.get("pages", 0) / max(figures.get("cpu_s", 1e-9), 1e-9)
            figures.pop("stderr", None)
            results["folder"].append({"library": library, **figures})
            folder_rows.append([library, figures.get("pages", ""), figures.get("errors", ""),
                                f"{figures['pages_per_s']:.1f}", f"{figures['cpu_pages_per_s']:.1f}",
                                f"{figures.get('peak_mb', 0):.0f}"])
        print(f"\n{len(files)} real PDFs in {args.pdfs}")
        print(table(folder_rows, ["library", "pages", "files failed", "pages/s", "pages/CPU-s", "peak MB"]))
        share = index_share(args.pdfs, args.timeout)
        results["index_share"] = share
        print(f"\n`semsearch index {args.pdfs}`: {share['documents']} documents, {share['skipped']} skipped, "
              f"{share['chunks']} chunks; extraction {share['extract_s']:.2f} s of {share['index_s']:.2f} s indexing "
              f"({100 * share['share_of_indexing']:.1f}%), of {share['wall_s']:.2f} s for the whole command "
              f"({100 * share['share_of_command']:.1f}%)")
    for row in results["comparison"]:
        row.pop("stderr", None)
    write_results("pdf_extraction", results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)

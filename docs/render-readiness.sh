#!/usr/bin/env bash
# Renders the Readiness sheet of the sample campaign's workbook to
# docs/readiness-sheet.png (the picture in the README), from the real file.
# Needs LibreOffice and poppler: apt-get install libreoffice-calc-nogui poppler-utils
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
cargo run --release -q -- run pipelines/harbolnas.toml --date 2026-11-27 --work-dir "$tmp/work" --quiet
cp "$tmp/work/latest/readiness.xlsx" "$tmp/"
(cd "$tmp" && soffice --headless --convert-to pdf readiness.xlsx >/dev/null)
# The sheet prints landscape, one page wide; crop the table and the chart.
pdftoppm -png -r 300 -x 200 -y 215 -W 2880 -H 430 -f 1 -l 1 "$tmp/readiness.pdf" "$tmp/crop"
cp "$tmp/crop-01.png" docs/readiness-sheet.png
rm -rf "$tmp"

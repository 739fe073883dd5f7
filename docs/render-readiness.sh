#!/usr/bin/env bash
# Renders the Readiness sheet of the sample campaign's workbook to a PNG
# (the pictures in the README), from the real file:
#   docs/render-readiness.sh        -> docs/readiness-sheet.png (English)
#   docs/render-readiness.sh id     -> docs/readiness-sheet-id.png (`[output] language = "id"`)
# Needs LibreOffice and poppler: apt-get install libreoffice-calc-nogui poppler-utils
set -euo pipefail
cd "$(dirname "$0")/.."
language=${1:-en}
out=docs/readiness-sheet.png
tmp=$(mktemp -d)
cp -r pipelines sample_data "$tmp/"
if [ "$language" != en ]; then
    printf '\n[output]\nlanguage = "%s"\n' "$language" >> "$tmp/pipelines/harbolnas.toml"
    out=docs/readiness-sheet-$language.png
fi
cargo run --release -q -- run "$tmp/pipelines/harbolnas.toml" --date 2026-11-27 --work-dir "$tmp/work" --quiet
cp "$tmp/work/latest/readiness.xlsx" "$tmp/"
(cd "$tmp" && soffice --headless --convert-to pdf readiness.xlsx >/dev/null)
# The sheet prints landscape, one page wide; crop the table and the chart.
pdftoppm -png -r 300 -x 200 -y 215 -W 2880 -H 430 -f 1 -l 1 "$tmp/readiness.pdf" "$tmp/crop"
cp "$tmp/crop-01.png" "$out"
rm -rf "$tmp"
